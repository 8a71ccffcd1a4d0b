//! The phases part of `cargo xtask bench`: where a boot's time goes, per board. The floor is
//! the same launch script and QEMU machine with the guest ELF left empty, so that our loader
//! finds no guest and stops the machine at once (QEMU's start, firmware, the loader, the
//! script's own work); hello's boot-to-exit is given against it. Then the whole boot, phase
//! by phase, on the guest's clock, which starts with the machine (`run-qemu.sh --phases`):
//! firmware, loader, kernel, runner, module, and what lies outside the guest's clock (QEMU's
//! own start and exit, the script). Last the runner's own steps: from its start to the
//! module loaded (deserialised), to its entry point called (WASI set up, instantiated), to
//! its return.

use std::collections::BTreeMap;

use anyhow::{ensure, Context, Result};

use crate::bench::history::Figures;
use crate::bench::run::{hello_image, median, run_to_end, Bench};

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

/// The boot's phases, each from the mark in its second field to the one in its third
/// (`None`: the machine's start, or the end of the run as the host sees it). `loader` and
/// `kernel` are the loader's marks (`boards/loader/src/clock.rs`): when it started and when
/// it jumped into the kernel, which `run-qemu.sh --phases` gives on the runner's clock.
const BOOT_PHASES: [(&str, Option<&str>, Option<&str>); 6] = [
    (
        "machine start to our loader (firmware)",
        None,
        Some("loader"),
    ),
    ("loader", Some("loader"), Some("kernel")),
    ("kernel", Some("kernel"), Some("runner")),
    ("runner, to `_start`", Some("runner"), Some("start")),
    ("module, `_start` to its return", Some("start"), Some("end")),
    (
        "outside the guest's clock: QEMU's start and exit, the script, the run's record",
        Some("end"),
        None,
    ),
];

/// The section of `docs/benchmarks.md` for the bench's boards; keeps its figures in
/// `figures`.
pub fn section(bench: &Bench, figures: &mut Figures) -> Result<String> {
    let (sh, project, boards, runs) = bench.parts();
    let mut rows = String::new();
    let mut boot_rows = String::new();
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
        let mut boot_phases: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
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
            for (k, us) in boot_phases_us(&stderr, run.wall.as_micros() as u64)?
                .into_iter()
                .enumerate()
            {
                boot_phases.entry(k).or_default().push(us);
            }
            let marks = marks(&stderr)?;
            for (k, pair) in marks.windows(2).enumerate() {
                deltas.entry(k).or_default().push(pair[1] - pair[0]);
            }
        }
        let (floor, hello) = (median(&mut floor), median(&mut hello));
        let steps: Vec<u64> = deltas.values_mut().map(|d| median(d)).collect();
        let runner: u64 = steps.iter().sum();
        let boot: Vec<u64> = boot_phases.values_mut().map(|d| median(d)).collect();
        let ms = |us: u64| (us as f64 / 100.0).round() / 10.0;
        for ((phase, _, _), us) in BOOT_PHASES.iter().zip(&boot) {
            figures.record(&board.name, &format!("boot: {phase} (ms)"), ms(*us));
        }
        boot_rows.push_str(&format!(
            "| {} | {} ms | {} |\n",
            board.name,
            hello.as_millis(),
            boot.iter()
                .map(|us| format!("{:.1}", *us as f64 / 1000.0))
                .collect::<Vec<_>>()
                .join(" | ")
        ));
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
    let phases: Vec<&str> = BOOT_PHASES.iter().map(|(phase, _, _)| *phase).collect();
    Ok(format!(
        "\n## Phases\n\nThe floor is the same launch script and QEMU machine with the guest \
         ELF left empty: our loader finds no guest and stops the machine at once (QEMU's \
         start, the firmware, the loader, the script's own work). Hello's boot-to-exit is \
         given against it (medians of the same runs, alternating). Then the runner's own \
         marks inside the guest (`run-qemu.sh --phases`, the guest's monotonic clock, \
         medians of each step, in ms): from the runner's start, the steps to the module's \
         end, and their sum.\n\n\
         | board | floor | hello | hello / floor | runner, start to end | {} |\n\
         |---|---|---|---|---|{}\n{rows}\n\
         The same hello boots phase by phase, in ms (medians of each phase over the runs, so \
         that they need not add up to the median boot-to-exit). The guest's clock counts from \
         the machine's start: the loader marks when it starts and when it jumps into the \
         kernel in the machine's counter ticks, which the runner's one reading of the same \
         counter beside its clock converts; what lies outside that clock is the host's \
         boot-to-exit minus the module's end.\n\n\
         | board | boot-to-exit | {} |\n|---|---|{}\n{boot_rows}",
        steps.join(" | "),
        "---|".repeat(steps.len()),
        phases.join(" | "),
        "---|".repeat(phases.len())
    ))
}

/// The boot's phases of a `--phases` run (its stderr, and its wall time as the host
/// measured it), in microseconds, in [`BOOT_PHASES`] order.
fn boot_phases_us(stderr: &str, wall_us: u64) -> Result<Vec<u64>> {
    let found = found_marks(stderr);
    let at = |mark: Option<&str>, otherwise: u64| match mark {
        None => Ok(otherwise),
        Some(name) => found
            .get(name)
            .copied()
            .with_context(|| format!("no phase mark {name:?} in: {stderr}")),
    };
    BOOT_PHASES
        .iter()
        .map(|(phase, from, to)| {
            at(*to, wall_us)?
                .checked_sub(at(*from, 0)?)
                .with_context(|| format!("the boot's marks go back in time at {phase:?}: {stderr}"))
        })
        .collect()
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
    let found = found_marks(stderr);
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

/// The boot's marks in a `--phases` run's stderr, the loader's then the runner's, in
/// microseconds since the machine started; an error if one is missing or comes before the
/// one it follows.
pub fn boot_marks(stderr: &str) -> Result<Vec<(&'static str, u64)>> {
    let found = found_marks(stderr);
    let names = ["loader", "kernel"]
        .into_iter()
        .chain(MARKS.iter().map(|(name, _)| *name));
    let mut marks: Vec<(&'static str, u64)> = Vec::new();
    for name in names {
        let us = *found
            .get(name)
            .with_context(|| format!("no phase mark {name:?} in: {stderr}"))?;
        if let Some((before, then)) = marks.last() {
            ensure!(
                *then <= us,
                "phase {name} at {us} us comes before {before} at {then} us: {stderr}"
            );
        }
        marks.push((name, us));
    }
    Ok(marks)
}

/// Every `phase NAME MICROSECONDS` line of a `--phases` run's stderr.
fn found_marks(stderr: &str) -> BTreeMap<&str, u64> {
    stderr
        .lines()
        .filter_map(|line| line.split_once(": phase ").map(|(_, rest)| rest))
        .filter_map(|rest| {
            let (name, us) = rest.split_once(' ')?;
            Some((name, us.trim().parse().ok()?))
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

    #[test]
    fn the_boot_is_cut_into_phases_from_the_machine_start_to_the_host_end() {
        let stderr = "run-qemu.sh: phase loader 2000\n\
                      run-qemu.sh: phase kernel 10000\n\
                      run-qemu.sh: phase runner 90000\n\
                      run-qemu.sh: phase start 150000\n\
                      run-qemu.sh: phase end 160000\n";
        assert_eq!(
            boot_phases_us(stderr, 200_000).unwrap(),
            [2000, 8000, 80000, 60000, 10000, 40000]
        );
        // A run whose host time is shorter than its guest clock says, or a mark missing.
        assert!(boot_phases_us(stderr, 100_000).is_err());
        assert!(boot_phases_us(&stderr.replace("kernel", "other"), 200_000).is_err());
    }

    #[test]
    fn the_boot_marks_must_all_be_there_in_order() {
        let runner: String = MARKS
            .iter()
            .enumerate()
            .map(|(k, (name, _))| format!("run-qemu.sh: phase {name} {}\n", 100 + k))
            .collect();
        let stderr =
            format!("run-qemu.sh: phase loader 20\nrun-qemu.sh: phase kernel 50\n{runner}");
        let marks = boot_marks(&stderr).unwrap();
        assert_eq!(
            marks[..3],
            [("loader", 20), ("kernel", 50), ("runner", 100)]
        );
        assert_eq!(marks.len(), MARKS.len() + 2);
        // The loader's marks missing (no counter reading), or after the runner's start.
        assert!(boot_marks(&runner).is_err());
        assert!(boot_marks(&stderr.replace("kernel 50", "kernel 500")).is_err());
    }
}
