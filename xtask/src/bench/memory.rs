//! The memory part of `cargo xtask bench`: what one VM costs the host. For each board, hello
//! booted with the board's RAM and with a memory limit (`--limit memory=`, from which the
//! launch script sizes the VM's RAM): QEMU's peak resident memory and boot-to-exit.

use anyhow::Result;

use crate::bench::history::Figures;
use crate::bench::run::{hello_image, measure, Bench};
use crate::image::launch_script;

/// The memory limit the second boot runs under: hello's memory is about 1 MiB.
const LIMIT_MIB: u64 = 16;

/// The section of `docs/benchmarks.md` for the bench's boards; keeps its figures in
/// `figures`.
pub fn section(bench: &Bench, figures: &mut Figures) -> Result<String> {
    let (sh, project, boards, runs) = bench.parts();
    let mut rows = String::new();
    let limit = format!("--limit=memory={LIMIT_MIB}M");
    for board in boards {
        let plan = hello_image(sh, project, board)?;
        let script = &plan.image.run_qemu;
        let ram = launch_script::vm_memory_mib(&std::fs::read_to_string(script)?, LIMIT_MIB << 20)?;
        let plain = measure(runs, script, &[])?;
        let limited = measure(runs, script, &[&limit])?;
        figures.record(
            &board.name,
            "hello peak memory (MiB)",
            (plain.peak_rss_kib >> 10) as f64,
        );
        figures.record(
            &board.name,
            &format!("hello peak memory, memory={LIMIT_MIB}M (MiB)"),
            (limited.peak_rss_kib >> 10) as f64,
        );
        rows.push_str(&format!(
            "| {} | {} | {} MiB | {} ms | {} MiB | {} MiB ({:.2}x) | {} ms ({:.2}x) |\n",
            board.name,
            board.qemu.memory,
            plain.peak_rss_kib >> 10,
            plain.wall.as_millis(),
            ram,
            limited.peak_rss_kib >> 10,
            limited.peak_rss_kib as f64 / plain.peak_rss_kib as f64,
            limited.wall.as_millis(),
            limited.wall.as_secs_f64() / plain.wall.as_secs_f64(),
        ));
    }
    Ok(format!(
        "\n## Memory per VM\n\nQEMU's peak resident memory (the largest of the runs) and \
         boot-to-exit (median) for hello with the board's RAM, and with `--limit \
         memory={LIMIT_MIB}M`, from which the launch script sizes the VM's RAM (twice the \
         limit's next power of two, plus 32 MiB and twice the guest ELF, at least what the \
         board boots with); ratios against the board's RAM in the same run.\n\n\
         | board | RAM | peak memory | boot-to-exit | RAM with memory={LIMIT_MIB}M | peak memory | boot-to-exit |\n\
         |---|---|---|---|---|---|---|\n{rows}"
    ))
}
