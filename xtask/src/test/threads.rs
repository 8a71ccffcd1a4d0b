//! End-to-end cases of wasm32-wasip1-threads modules: the example modules under
//! `modules/threads-*` booted on each board that runs threads (a table of module, launch
//! options, expected stdout and status), the same examples again and again to catch races
//! (a flake is a bug), on one CPU, on two and on the board's most where it allows them
//! (`--cpus`; a row of `ROUNDS` each), and on a board that cannot run threads yet, the
//! refusal. Also `--cpus` beyond the board's maximum, the shared memory growing as far as
//! a module allocates (`ALLOCATIONS`), and a memory limit as the shared memory's budget.
//! The official wasi-threads programs are cases of `wasi.rs`.

use std::process::Command;
use std::sync::Arc;

use anyhow::{ensure, Context, Result};

use crate::plan::profile::Board;
use crate::project::Project;
use crate::test::boot::{expect_status, expect_stdout, stderr_has, Boot};
use crate::test::case::{named, scratch, Case, Image};

/// One example run: module, `--env` options, expected stdout, stderr fragment and status.
struct Example {
    module: &'static str,
    env: &'static [&'static str],
    stdout: &'static str,
    stderr: &'static str,
    status: i32,
}

/// What each example prints and how it ends, as `wasmtime run -S threads` gives it
/// (Wasmtime 45.0.3 built with wasi-threads, on the host; 47 and later dropped wasi-threads
/// from the CLI, so these stay as 45 printed them).
const EXAMPLES: &[Example] = &[
    Example {
        module: "threads-hello",
        env: &[],
        stdout: "Hello from a WebAssembly thread!\njoined\n",
        stderr: "",
        status: 0,
    },
    Example {
        module: "threads-sum",
        env: &[],
        stdout: "threads: 4\nchecksum: 13931654504962573068\nparallel and sequential checksums agree\n",
        stderr: "",
        status: 0,
    },
    Example {
        module: "threads-queue",
        env: &[],
        stdout: "queue: 10000 items, sum 50005000\n\
                 channel: 4 messages, sum of squares 333383335000\n",
        stderr: "",
        status: 0,
    },
    Example {
        module: "threads-panic",
        env: &[],
        stdout: "main: waiting for the worker\n",
        stderr: "wasm `unreachable` instruction executed",
        status: 134,
    },
    Example {
        module: "threads-exit",
        env: &[],
        stdout: "main: waiting for a message that never comes\n",
        stderr: "",
        status: 3,
    },
    Example {
        module: "threads-rayon",
        env: &["RAYON_NUM_THREADS=4"],
        stdout: "rayon threads: 4\nhash sum: 2803585375750068867\nparallel and sequential results agree\n",
        stderr: "",
        status: 0,
    },
];

/// A `threads-alloc` run: how many MiB its four threads allocate, under which memory
/// limit, and what it must print. The checksums follow from the parts' pattern (each 251
/// bytes of a part sum to 31375; `modules/threads-alloc`).
struct Allocation {
    name: &'static str,
    mib: &'static str,
    limit: Option<&'static str>,
    stdout: &'static str,
}

const ALLOCATIONS: &[Allocation] = &[
    Allocation {
        name: "threads-alloc-64-mib",
        mib: "64",
        limit: None,
        stdout: "parts: 4 of 16 MiB\nallocated: 4\nchecksum: 8388606895\n",
    },
    Allocation {
        name: "threads-alloc-256-mib",
        mib: "256",
        limit: None,
        stdout: "parts: 4 of 64 MiB\nallocated: 4\nchecksum: 33554431280\n",
    },
    // One part of 64 MiB fits under 128 MiB with what the module had; a second does not.
    Allocation {
        name: "threads-alloc-256-mib-under-a-128-mib-limit",
        mib: "256",
        limit: Some("memory=128M"),
        stdout: "parts: 4 of 64 MiB\nallocated: 1\nfailed: 3\n",
    },
];

/// The repeated cases: every example, one after the other, round after round (a race
/// shows up as a flake, and a flake is a bug): on one CPU, on two where the board allows
/// them, and on the board's most CPUs where that is more than two (`rounds_for`; a test
/// holds every board's `max-cpus` to a row). Twenty rounds on one CPU and on two; on the
/// most fewer: where the guest's CPUs outnumber the host's cores they run on one host
/// thread in turn (run-qemu.sh), each boot slower.
struct Rounds {
    name: &'static str,
    cpus: u32,
    rounds: usize,
}

const ROUNDS: &[Rounds] = &[
    Rounds {
        name: "threads-examples-20-rounds-on-1-cpus",
        cpus: 1,
        rounds: 20,
    },
    Rounds {
        name: "threads-examples-20-rounds-on-2-cpus",
        cpus: 2,
        rounds: 20,
    },
    Rounds {
        name: "threads-examples-5-rounds-on-4-cpus",
        cpus: 4,
        rounds: 5,
    },
];

fn boot(example: &Example, script: &std::path::Path, cpus: u32) -> Result<()> {
    let mut boot = Boot::default().option("--cpus", &cpus.to_string());
    for env in example.env {
        boot = boot.option("--env", env);
    }
    let out = boot.run(script)?;
    expect_status(&out, example.status)?;
    expect_stdout(&out, example.stdout)?;
    if !example.stderr.is_empty() {
        stderr_has(&out, example.stderr)?;
    }
    Ok(())
}

pub fn cases(project: &Arc<Project>, board: &Board, cases: &mut Vec<Case>) {
    let b = board.name.clone();
    let max = board.qemu.max_cpus;
    cases.push(Case::new(
        named(&b, "more-cpus-than-the-board-has"),
        vec![Image::example(&b, "hello")],
        move |plans| {
            let out = Boot::default()
                .option("--cpus", &(max + 1).to_string())
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 125)?;
            expect_stdout(&out, "")?;
            stderr_has(&out, &format!("--cpus takes a number from 1 to {max}"))
        },
    ));
    if let Some(reason) = &board.guest.threads_unsupported {
        let (project, reason) = (project.clone(), reason.clone());
        cases.push(Case::new(named(&b, "threads-refused"), vec![], move |_| {
            let out = Command::new(std::env::current_exe()?)
                .args(["image", "--board", &b, "--module", "threads-sum"])
                .current_dir(&project.root)
                .output()?;
            ensure!(!out.status.success(), "a threads image was built");
            let stderr = String::from_utf8_lossy(&out.stderr);
            ensure!(
                stderr.contains("wasm32-wasip1-threads") && stderr.contains(&reason),
                "{stderr}"
            );
            Ok(())
        }));
        return;
    }
    for (i, example) in EXAMPLES.iter().enumerate() {
        cases.push(Case::new(
            named(&b, example.module),
            vec![Image::example(&b, example.module)],
            move |plans| boot(&EXAMPLES[i], &plans[0].image.run_qemu, 1),
        ));
    }
    // The board's shared-memory-max in pages, within the module's maximum (16384): what
    // each profile says, written out here so that a change there is seen.
    let capacity: Option<u64> = match board.name.as_str() {
        "x86_64-kvm" => Some(16384),
        "aarch64-virt" => Some(7040),
        "riscv64-virt" => Some(5120),
        _ => None,
    };
    cases.push(Case::new(
        named(&b, "threads-manifest"),
        vec![Image::example(&b, "threads-sum")],
        move |plans| {
            let capacity = capacity.context("no expected capacity for this board in threads.rs")?;
            let out = Command::new(std::env::current_exe()?)
                .arg("inspect")
                .arg(&plans[0].image.dir)
                .arg("--json")
                .output()?;
            expect_status(&out, 0)?;
            let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            let threads = &report["manifest"]["module"]["threads"];
            // Rust's wasm32-wasip1-threads links 17..16384 pages; the capacity is the
            // board's shared-memory-max in pages, within that maximum.
            ensure!(
                threads["memory_minimum_pages"] == 17
                    && threads["memory_maximum_pages"] == 16384
                    && threads["memory_capacity_pages"] == capacity
                    && threads["max_threads"] == 64,
                "threads in the manifest: {threads}"
            );
            Ok(())
        },
    ));
    // A memory limit is the shared memory's budget: enough for the sum, too little for
    // the memory's minimum (17 pages), which is then refused with the numbers.
    cases.push(Case::new(
        named(&b, "threads-memory-limit"),
        vec![Image::example(&b, "threads-sum")],
        |plans| {
            let script = &plans[0].image.run_qemu;
            let sum = EXAMPLES
                .iter()
                .find(|e| e.module == "threads-sum")
                .expect("threads-sum is an example");
            let out = Boot::default()
                .option("--limit", "memory=32M")
                .run(script)?;
            expect_status(&out, sum.status)?;
            expect_stdout(&out, sum.stdout)?;
            let out = Boot::default().option("--limit", "memory=1M").run(script)?;
            expect_status(&out, 1)?;
            expect_stdout(&out, "")?;
            stderr_has(
                &out,
                "needs 17 pages (1 MiB) to start, more than the 16 pages",
            )
        },
    ));
    // The shared memory grows as far as the module asks (four threads allocating 64 and
    // 256 MiB, each part checked), and a memory limit refuses it past the limit: the
    // module sees the failure, and the run report names the limit.
    for row in ALLOCATIONS {
        let project = project.clone();
        let case = named(&b, row.name);
        cases.push(Case::new(
            case.clone(),
            vec![Image::example(&b, "threads-alloc")],
            move |plans| {
                let report = scratch(&project, &case)?.join("report.json");
                let mut boot = Boot::args(&[row.mib]);
                if let Some(limit) = row.limit {
                    boot = boot.option("--limit", limit);
                }
                let out = boot
                    .option("--report", &report.display().to_string())
                    .run(&plans[0].image.run_qemu)?;
                expect_status(&out, 0)?;
                expect_stdout(&out, row.stdout)?;
                let report: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&report)?)?;
                let reached = &report["limits_reached"];
                let named_memory = reached
                    .as_array()
                    .is_some_and(|l| l.iter().any(|n| n == "memory"));
                ensure!(
                    named_memory == row.limit.is_some() && report["ended"] == "exit",
                    "report: {report}"
                );
                Ok(())
            },
        ));
    }
    // Every example again and again, on one CPU and on several where the board has them.
    for row in rounds_for(board.qemu.max_cpus) {
        let (cpus, rounds) = (row.cpus, row.rounds);
        let images = EXAMPLES
            .iter()
            .map(|e| Image::example(&b, e.module))
            .collect();
        cases.push(Case::new(named(&b, row.name), images, move |plans| {
            for round in 1..=rounds {
                for (example, plan) in EXAMPLES.iter().zip(plans) {
                    boot(example, &plan.image.run_qemu, cpus).map_err(|err| {
                        err.context(format!("{}, round {round} of {rounds}", example.module))
                    })?;
                }
            }
            Ok(())
        }));
    }
}

/// The rows of `ROUNDS` a board with `max_cpus` runs: one CPU, two where it has them, and
/// its most where that is more than two.
fn rounds_for(max_cpus: u32) -> impl Iterator<Item = &'static Rounds> {
    ROUNDS
        .iter()
        .filter(move |row| row.cpus <= 2.min(max_cpus) || row.cpus == max_cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_boards_most_cpus_have_their_rounds() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards");
        for board in crate::plan::profile::load_all(&dir).unwrap().values() {
            let max = board.qemu.max_cpus;
            let cpus: Vec<u32> = rounds_for(max).map(|row| row.cpus).collect();
            let want: Vec<u32> =
                [1, 2, max]
                    .into_iter()
                    .filter(|&n| n <= max)
                    .fold(Vec::new(), |mut all, n| {
                        if !all.contains(&n) {
                            all.push(n);
                        }
                        all
                    });
            assert_eq!(
                cpus, want,
                "{}: add a ROUNDS row for {max} CPUs",
                board.name
            );
        }
        for row in ROUNDS {
            let name = format!(
                "threads-examples-{}-rounds-on-{}-cpus",
                row.rounds, row.cpus
            );
            assert_eq!(row.name, name);
        }
    }
}
