//! The threads part of `cargo xtask bench`, for each board that runs wasm32-wasip1-threads
//! modules: `threads-hello` against the plain `hello` (boot-to-exit and QEMU's peak resident
//! memory: the shared memory is committed as it grows, so the two should be close), and
//! `threads-sum` with four threads on 1, 2 and 4 guest CPUs (up to the board's maximum), as
//! a speed-up against one CPU in the same run.

use anyhow::Result;

use crate::bench::run::{measure, Bench};
use crate::flags::ImageArgs;
use crate::image;

/// Rounds of `threads-sum` over its 2,000,000 numbers: enough that the summing, which is
/// what runs in parallel, outweighs the boot.
const SUM_ROUNDS: &str = "40";
/// Threads `threads-sum` runs.
const SUM_THREADS: &str = "4";

/// The section of `docs/benchmarks.md` for the bench's boards (those without threads are
/// skipped).
pub fn section(bench: &Bench) -> Result<String> {
    let (sh, project, boards, runs) = bench.parts();
    let mut memory_rows = String::new();
    let mut speed_rows = String::new();
    for board in boards
        .iter()
        .filter(|b| b.guest.threads_unsupported.is_none())
    {
        let image = |module: &str| {
            let name = format!("bench-{module}");
            image::run(
                sh,
                project,
                &ImageArgs::of_module(&board.name, module, Some(&name)),
            )
        };
        let hello = measure(runs, &image("hello")?.image.run_qemu, &[])?;
        let threads_hello = measure(runs, &image("threads-hello")?.image.run_qemu, &[])?;
        memory_rows.push_str(&format!(
            "| {} | {} ms | {} MiB | {} ms ({:.2}x) | {} MiB ({:+} MiB) |\n",
            board.name,
            hello.wall.as_millis(),
            hello.peak_rss_kib >> 10,
            threads_hello.wall.as_millis(),
            threads_hello.wall.as_secs_f64() / hello.wall.as_secs_f64(),
            threads_hello.peak_rss_kib >> 10,
            (threads_hello.peak_rss_kib as i64 - hello.peak_rss_kib as i64) >> 10,
        ));
        let sum = image("threads-sum")?;
        let mut one_cpu = None;
        let mut cells = Vec::new();
        for cpus in [1u32, 2, 4] {
            if cpus > board.qemu.max_cpus {
                cells.push("-".to_string());
                continue;
            }
            let cpus_arg = format!("--cpus={cpus}");
            let run = measure(
                runs,
                &sum.image.run_qemu,
                &[&cpus_arg, "--", SUM_THREADS, SUM_ROUNDS],
            )?;
            let base = *one_cpu.get_or_insert(run.wall);
            cells.push(format!(
                "{} ms ({:.2}x)",
                run.wall.as_millis(),
                base.as_secs_f64() / run.wall.as_secs_f64()
            ));
        }
        speed_rows.push_str(&format!("| {} | {} |\n", board.name, cells.join(" | ")));
    }
    let host_cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(format!(
        "\n## Threads\n\nOn the boards that run wasm32-wasip1-threads modules. `threads-hello` \
         (one thread prints, main joins it) against the plain `hello`: boot-to-exit (median) \
         and QEMU's peak resident memory (largest of the runs; the VM has RAM for the \
         shared memory's capacity, but the guest commits and the host backs only what the \
         module grows it to; see [threads.md](threads.md#memory)).\n\n\
         | board | hello | its peak memory | threads-hello | its peak memory |\n\
         |---|---|---|---|---|\n{memory_rows}\n\
         `threads-sum {SUM_THREADS} {SUM_ROUNDS}` (four threads summing 2,000,000 numbers \
         {SUM_ROUNDS} times, boot included) on 1, 2 and 4 guest CPUs (`--cpus`), with the \
         speed-up against one CPU (`-`: more than the board's `max-cpus`). Under the \
         emulator each guest CPU is a host thread while the host has a core for each, \
         and beyond that one host thread runs them all in turn (`run-qemu.sh`), so the \
         speed-up is bounded by the host's cores ({host_cores} here).\n\n\
         | board | 1 CPU | 2 CPUs | 4 CPUs |\n|---|---|---|---|\n{speed_rows}"
    ))
}
