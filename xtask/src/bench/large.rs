//! The large-module part of `cargo xtask bench`: RustPython (an interpreter from crates.io,
//! 13 MB of wasm, about 75 MB precompiled; `compare/corpus.rs`) running a one-line script, against
//! hello on the same board: boot-to-exit, the runner's deserialise step (`--phases`), and
//! QEMU's peak resident memory. Then the native runner's instruction counts for both
//! (`valgrind --tool=callgrind`), a figure that does not depend on the machine's load, with
//! the share spent in `memset` and `memcpy`.

use std::path::Path;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::bench::history::Figures;
use crate::bench::phases;
use crate::bench::run::{hello_image, measure_with, median, Bench};
use crate::compare::corpus;
use crate::flags::ImageArgs;
use crate::host;
use crate::host::toolchain;
use crate::image;
use crate::project::Project;

/// The script RustPython runs (its standard library is not mapped: it says so on stderr,
/// as `wasmtime run` shows too, and runs the line).
const SCRIPT: [&str; 2] = ["-c", "print(6 * 7)"];

/// One image measured: boot-to-exit (median), deserialise (median, ms), the module's own
/// run from `_start` to its return and the boot without it (medians, ms), peak memory (MiB).
struct Measured {
    wall_ms: u128,
    deserialise_ms: f64,
    own_run_ms: f64,
    without_own_run_ms: f64,
    peak_mib: u64,
}

fn measure(runs: usize, script: &Path, args: &[&str]) -> Result<Measured> {
    let mut with_phases = vec!["--phases"];
    with_phases.extend_from_slice(args);
    let (mut deserialise, mut own_run, mut without) = (Vec::new(), Vec::new(), Vec::new());
    let run = measure_with(runs, script, &with_phases, &[], |stderr, wall| {
        deserialise.push(phases::step_us(stderr, "engine", "loaded")?);
        let own = phases::step_us(stderr, "start", "end")?;
        own_run.push(own);
        without.push((wall.as_micros() as u64).saturating_sub(own));
        Ok(())
    })?;
    let ms = |us: u64| us as f64 / 1000.0;
    Ok(Measured {
        wall_ms: run.wall.as_millis(),
        deserialise_ms: ms(median(&mut deserialise)),
        own_run_ms: ms(median(&mut own_run)),
        without_own_run_ms: ms(median(&mut without)),
        peak_mib: run.peak_rss_kib >> 10,
    })
}

/// The section of `docs/benchmarks.md` for the bench's boards; keeps its figures in
/// `figures`.
pub fn section(bench: &Bench, figures: &mut Figures) -> Result<String> {
    let (sh, project, boards, runs) = bench.parts();
    let wasm = corpus::RUSTPYTHON.wasm(project)?;
    let wasm_arg = wasm.to_str().context("the corpus path is not UTF-8")?;
    let mut rows = String::new();
    let mut own_rows = String::new();
    for board in boards {
        let hello = measure(runs, &hello_image(sh, project, board)?.image.run_qemu, &[])?;
        let large_image = image::run(
            sh,
            project,
            &ImageArgs::of_module(&board.name, wasm_arg, Some("bench-large")),
        )?;
        let mut args = vec!["--"];
        args.extend_from_slice(&SCRIPT);
        let large = measure(runs, &large_image.image.run_qemu, &args)?;
        let guest_mib = std::fs::metadata(&large_image.image.guest)?.len() >> 20;
        rows.push_str(&format!(
            "| {} | {} ms | {:.1} ms | {} MiB | {} MiB | {} ms ({:.2}x) | {:.1} ms | {} MiB |\n",
            board.name,
            hello.wall_ms,
            hello.deserialise_ms,
            hello.peak_mib,
            guest_mib,
            large.wall_ms,
            large.wall_ms as f64 / hello.wall_ms as f64,
            large.deserialise_ms,
            large.peak_mib,
        ));
        own_rows.push_str(&format!(
            "| {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms ({:.2}x) |\n",
            board.name,
            hello.own_run_ms,
            hello.without_own_run_ms,
            large.own_run_ms,
            large.without_own_run_ms,
            large.without_own_run_ms / hello.without_own_run_ms,
        ));
        figures.record(
            &board.name,
            "large module boot-to-exit (ms)",
            large.wall_ms as f64,
        );
        figures.record(
            &board.name,
            "large module deserialised (ms)",
            (large.deserialise_ms * 10.0).round() / 10.0,
        );
        figures.record(
            &board.name,
            "large module peak memory (MiB)",
            large.peak_mib as f64,
        );
        figures.record(
            &board.name,
            "large module's own run, `_start` to its return (ms)",
            large.own_run_ms.round(),
        );
        figures.record(
            &board.name,
            "large module boot-to-exit without its own run (ms)",
            large.without_own_run_ms.round(),
        );
    }
    let counts = instruction_counts(sh, project, &wasm)?;
    for (name, count) in &counts {
        figures.record("native", &format!("{name} instructions (millions)"), {
            (count.total as f64 / 1e4).round() / 100.0
        });
    }
    let count_rows: String = counts
        .iter()
        .map(|(name, count)| {
            format!(
                "| {name} | {:.2} M | {:.0}% |\n",
                count.total as f64 / 1e6,
                100.0 * count.memory_ops as f64 / count.total.max(1) as f64
            )
        })
        .collect();
    Ok(format!(
        "\n## A large module\n\nRustPython {} (built from crates.io for wasm32-wasip1; {} MiB \
         of wasm) running `{}` (its standard library not mapped), against hello on the same \
         board: boot-to-exit (median), the runner's deserialise step (`--phases`, median) and \
         QEMU's peak resident memory (largest of the runs).\n\n\
         | board | hello | its deserialise | its peak memory | large guest.elf | large module | \
         its deserialise | its peak memory |\n|---|---|---|---|---|---|---|---|\n{rows}\n\
         The same runs split at the module's own work (`--phases`: from `_start` to its \
         return, on the guest's clock; medians): what the module does itself, which a VM \
         under the emulator runs through translated code, and everything else of the boot \
         (boot-to-exit minus that run, per run), the part the VM adds:\n\n\
         | board | hello's own run | hello without it | large module's own run | large \
         module without it |\n|---|---|---|---|---|\n{own_rows}\n\
         Instructions the guest kernel's runner, built for this host, executes for the same \
         runs (`valgrind --tool=callgrind`, the whole process; the module precompiled for the \
         host architecture's baseline CPU, so that the count does not depend on the machine's \
         extensions), and the share of them in `memset` and `memcpy`/`memmove`:\n\n\
         | module | instructions | memset, memcpy |\n|---|---|---|\n{count_rows}",
        corpus::RUSTPYTHON.version,
        std::fs::metadata(&wasm)?.len() >> 20,
        SCRIPT.join(" "),
    ))
}

/// Instructions of one native run, and those in the C library's memory fills and copies.
struct Count {
    total: u64,
    memory_ops: u64,
}

/// The native runner's instruction counts for hello and for the large module.
fn instruction_counts(
    sh: &Shell,
    project: &Project,
    large_wasm: &Path,
) -> Result<Vec<(&'static str, Count)>> {
    cmd!(sh, "valgrind --version")
        .quiet()
        .ignore_stdout()
        .run()
        .context("valgrind is needed for the instruction counts: apt-get install valgrind")?;
    let runner = host::runner::build(sh, project)?;
    let dir = project.target().join("host-runner");
    let hello_wasm = project
        .target()
        .join("modules/wasm32-wasip1/release/hello.wasm");
    let host = toolchain::host_triple(sh)?;
    let mut counts = Vec::new();
    for (name, wasm, args) in [
        ("hello", hello_wasm.as_path(), &["host"][..]),
        ("large module", large_wasm, &SCRIPT[..]),
    ] {
        let payload = dir.join(format!("bench-{}.payload", name.replace(' ', "-")));
        host::runner::write_baseline_payload(wasm, &payload, &host)?;
        let out = dir.join(format!("bench-{}.callgrind", name.replace(' ', "-")));
        cmd!(
            sh,
            "valgrind --tool=callgrind --callgrind-out-file={out} {runner} {payload} -- {args...}"
        )
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .with_context(|| format!("counting the native runner's instructions for {name}"))?;
        let annotated = cmd!(sh, "callgrind_annotate --threshold=100 {out}")
            .quiet()
            .read()
            .context("reading callgrind's output (callgrind_annotate, part of valgrind)")?;
        counts.push((name, count(&annotated)?));
    }
    Ok(counts)
}

/// The totals of `callgrind_annotate`'s output: all instructions, and those in functions
/// whose name says memset, memcpy or memmove (in its function listing: the lines after the
/// `file:function` header and its rule, up to the first empty line).
fn count(annotated: &str) -> Result<Count> {
    let ir = |line: &str| -> Option<u64> {
        let first = line.split_whitespace().next()?;
        first.replace(',', "").parse().ok()
    };
    let total = annotated
        .lines()
        .find(|line| line.contains("PROGRAM TOTALS"))
        .and_then(ir)
        .context("no PROGRAM TOTALS in callgrind_annotate's output")?;
    let memory_ops = annotated
        .lines()
        .skip_while(|line| !line.contains("file:function"))
        .skip(2)
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| {
            ["memset", "memcpy", "memmove"]
                .iter()
                .any(|f| line.contains(f))
        })
        .filter_map(ir)
        .sum();
    Ok(Count { total, memory_ops })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callgrind_totals_are_read() {
        let annotated = "\
--------------------------------------------------------------------------------
Ir                 
--------------------------------------------------------------------------------
2,453,177 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                  file:function
--------------------------------------------------------------------------------
1,114,371 (45.43%)  ./string/../memset-vec-unaligned-erms.S:__memset_avx2_unaligned_erms [libc.so.6]
  456,931 (18.63%)  ./string/../memmove-vec-unaligned-erms.S:__memcpy_avx_unaligned_erms [libc.so.6]
  120,688 ( 4.92%)  ???:postcard::de::from_bytes [hermit-wasm-kernel]

-- Auto-annotated source: ./string/../memset-vec-unaligned-erms.S
   10,000  memset loop
";
        let count = count(annotated).unwrap();
        assert_eq!(count.total, 2_453_177);
        assert_eq!(count.memory_ops, 1_114_371 + 456_931);
        assert!(super::count("nothing").is_err());
    }
}
