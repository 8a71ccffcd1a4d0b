//! The phases part of `cargo xtask bench`: where a boot's time goes, per board. The floor is
//! the same launch script and QEMU machine with the guest ELF left empty, so that our loader
//! finds no guest and stops the machine at once (QEMU's start, firmware, the loader, the
//! script's own work); hello's boot-to-exit is given against it. Inside the guest, the
//! runner's phase marks (`run-qemu.sh --phases`): from the runner's start to the module
//! loaded (deserialised), to its entry point called (WASI set up, instantiated), to its
//! return.

use std::collections::BTreeMap;

use anyhow::{ensure, Context, Result};

use crate::bench_history::Figures;
use crate::bench_run::{hello_image, median, run_to_end, Bench};

/// The marks the runner prints, in order (`kernel/src/phases.rs`), and what each step up to
/// the next one does.
const MARKS: [(&str, &str); 9] = [
    (
        "runner",
        "host, payload, manifest, options, WASI configuration",
    ),
    ("configured", "engine"),
    ("engine", "module deserialised"),
    ("loaded", "WASI context, imported functions defined, store"),
    ("wasi", "linked (`instantiate_pre`)"),
    ("linked", "instantiated (memories, data)"),
    ("instantiated", "entry point found"),
    ("start", "`_start` run to its return"),
    ("end", ""),
];

/// The section of `docs/benchmarks.md` for the bench's boards; keeps its figures in
/// `figures`.
pub fn section(bench: &Bench, figures: &mut Figures) -> Result<String> {
    let (sh, project, boards, runs) = bench.parts();
    let mut rows = String::new();
    for board in boards {
        let plan = hello_image(sh, project, board)?;
        // The floor: a copy of the image folder whose guest ELF is empty.
        let floor_dir = project.target().join("bench-floor").join(&board.name);
        let _ = std::fs::remove_dir_all(&floor_dir);
        std::fs::create_dir_all(&floor_dir)?;
        for entry in std::fs::read_dir(&plan.image.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::copy(entry.path(), floor_dir.join(entry.file_name()))?;
            }
        }
        std::fs::write(floor_dir.join("guest.elf"), b"")?;
        let floor_script = floor_dir.join("run-qemu.sh");
        let script = &plan.image.run_qemu;

        let mut floor = Vec::new();
        let mut hello = Vec::new();
        let mut deltas: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
        for _ in 0..runs.max(1) {
            let (run, _, stderr) = run_to_end(&floor_script, &[])?;
            ensure!(
                stderr.contains("[LOADER]"),
                "the floor boot did not reach our loader: {stderr}"
            );
            floor.push(run.wall);
            let (run, status, stderr) = run_to_end(script, &["--phases"])?;
            ensure!(status.success(), "hello ended with {status}: {stderr}");
            hello.push(run.wall);
            let marks = marks(&stderr)?;
            for (k, pair) in marks.windows(2).enumerate() {
                deltas.entry(k).or_default().push(pair[1] - pair[0]);
            }
        }
        let (floor, hello) = (median(&mut floor), median(&mut hello));
        let steps: Vec<u64> = deltas.values_mut().map(|d| median(d)).collect();
        let runner: u64 = steps.iter().sum();
        let ms = |us: u64| (us as f64 / 100.0).round() / 10.0;
        figures.record(&board.name, "floor (ms)", floor.as_millis() as f64);
        figures.record(&board.name, "hello (ms)", hello.as_millis() as f64);
        figures.record(
            &board.name,
            "hello / floor",
            (hello.as_secs_f64() / floor.as_secs_f64() * 100.0).round() / 100.0,
        );
        figures.record(&board.name, "runner, start to end (ms)", ms(runner));
        for ((_, step), us) in MARKS.iter().zip(&steps) {
            figures.record(&board.name, &format!("runner: {step} (ms)"), ms(*us));
        }
        let cells: Vec<String> = steps
            .iter()
            .map(|us| format!("{:.1}", *us as f64 / 1000.0))
            .collect();
        rows.push_str(&format!(
            "| {} | {} ms | {} ms | {:.2}x | {:.1} ms | {} |\n",
            board.name,
            floor.as_millis(),
            hello.as_millis(),
            hello.as_secs_f64() / floor.as_secs_f64(),
            runner as f64 / 1000.0,
            cells.join(" | ")
        ));
    }
    let steps: Vec<&str> = MARKS[..MARKS.len() - 1]
        .iter()
        .map(|(_, step)| *step)
        .collect();
    Ok(format!(
        "\n## Phases\n\nThe floor is the same launch script and QEMU machine with the guest \
         ELF left empty: our loader finds no guest and stops the machine at once (QEMU's \
         start, the firmware, the loader, the script's own work). Hello's boot-to-exit is \
         given against it (medians of the same runs, alternating). Then the runner's own \
         marks inside the guest (`run-qemu.sh --phases`, the guest's monotonic clock, \
         medians of each step, in ms): from the runner's start, the steps to the module's \
         end, and their sum.\n\n\
         | board | floor | hello | hello / floor | runner, start to end | {} |\n\
         |---|---|---|---|---|{}\n{rows}",
        steps.join(" | "),
        "---|".repeat(steps.len())
    ))
}

/// Microseconds from mark `from` to mark `to` in a `--phases` run's stderr.
pub fn step_us(stderr: &str, from: &str, to: &str) -> Result<u64> {
    let position = |name: &str| {
        MARKS
            .iter()
            .position(|(mark, _)| *mark == name)
            .with_context(|| format!("{name:?} is not one of the runner's marks"))
    };
    let (from, to) = (position(from)?, position(to)?);
    let marks = marks(stderr)?;
    marks[to]
        .checked_sub(marks[from])
        .context("the runner's marks go back in time")
}

/// The runner's marks in a `--phases` run's stderr, in microseconds, in [`MARKS`] order.
fn marks(stderr: &str) -> Result<Vec<u64>> {
    let found: BTreeMap<&str, u64> = stderr
        .lines()
        .filter_map(|line| line.split_once(": phase ").map(|(_, rest)| rest))
        .filter_map(|rest| {
            let (name, us) = rest.split_once(' ')?;
            Some((name, us.trim().parse().ok()?))
        })
        .collect();
    MARKS
        .iter()
        .map(|(name, _)| {
            found
                .get(name)
                .copied()
                .with_context(|| format!("no phase mark {name:?} in: {stderr}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_read_in_order() {
        let stderr: String = MARKS
            .iter()
            .enumerate()
            .map(|(k, (name, _))| format!("run-qemu.sh: phase {name} {}\nnoise\n", 100 + k))
            .collect();
        assert_eq!(
            marks(&stderr).unwrap(),
            (100..100 + MARKS.len() as u64).collect::<Vec<_>>()
        );
        assert!(marks("run-qemu.sh: phase runner 1\n").is_err());
        assert_eq!(step_us(&stderr, "engine", "loaded").unwrap(), 1);
        assert_eq!(
            step_us(&stderr, "runner", "end").unwrap(),
            MARKS.len() as u64 - 1
        );
        assert!(step_us(&stderr, "engine", "nowhere").is_err());
    }
}
