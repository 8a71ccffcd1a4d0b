//! End-to-end cases of the limits (`LIMIT`, `--limit`) and the run report (`--report`), per
//! board: a table of runs of the `limits` example made to exceed one resource each (memory
//! growth, a spin loop, a flood of output, descriptors opened in a loop; and `threads-queue`
//! spawning more threads than the limit lets it, on boards that run threads), a module under
//! every limit, a trap, and an image whose Hermitfile bakes limits in. Each run writes a
//! report, checked against what the launcher returned and the image's manifest. The
//! comparison corpus (`test/corpus.rs`) also holds the memory limit to `wasmtime run -W
//! max-memory-size`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use crate::plan::profile::Board;
use crate::plan::BuildPlan;
use crate::project::Project;
use crate::test::boot::{expect_status, expect_stdout, stderr_has, Boot};
use crate::test::case::{named, scratch, Case, Image};

/// What a run's stdout must be.
#[derive(Clone, Copy)]
enum Stdout {
    Text(&'static str),
    /// `y\n` lines, this many bytes (the `flood` command's).
    Yes(usize),
}

/// One run and what must come back: status, output, and the report's account of it.
struct Run {
    label: &'static str,
    module: &'static str,
    args: &'static [&'static str],
    /// `--limit` values.
    limits: &'static [&'static str],
    /// A fresh folder mapped at `/d`.
    folder: bool,
    status: i32,
    stdout: Stdout,
    /// A fragment of stderr (empty: not checked).
    stderr: &'static str,
    /// The report's `ended` and `limit`, and its `limits_reached`.
    ended: &'static str,
    limit: Option<&'static str>,
    reached: &'static [&'static str],
    /// A fragment of the report's `message` (empty: none).
    message: &'static str,
}

const RUNS: &[Run] = &[
    // What `wasmtime run -W max-memory-size=16777216` prints for the same module.
    Run {
        label: "limits/memory",
        module: "limits",
        args: &["grow", "100"],
        limits: &["memory=16M"],
        folder: false,
        status: 0,
        stdout: Stdout::Text(
            "allocated 14 MiB, then: memory allocation failed because the memory allocator \
             returned an error\n",
        ),
        stderr: "",
        ended: "exit",
        limit: None,
        reached: &["memory"],
        message: "",
    },
    Run {
        label: "limits/cpu",
        module: "limits",
        args: &["spin"],
        limits: &["cpu=2s"],
        folder: false,
        status: 152,
        stdout: Stdout::Text(""),
        stderr: "CPU limit exceeded",
        ended: "limit",
        limit: Some("cpu"),
        reached: &["cpu"],
        message: "more than 2s of CPU time",
    },
    Run {
        label: "limits/wall",
        module: "limits",
        args: &["spin"],
        limits: &["wall=2"],
        folder: false,
        status: 124,
        stdout: Stdout::Text(""),
        stderr: "timed out",
        ended: "limit",
        limit: Some("wall"),
        reached: &["wall"],
        message: "longer than 2s",
    },
    Run {
        label: "limits/output",
        module: "limits",
        args: &["flood"],
        limits: &["output=1000"],
        folder: false,
        status: 153,
        stdout: Stdout::Yes(1000),
        stderr: "output limit exceeded",
        ended: "limit",
        limit: Some("output"),
        reached: &["output"],
        message: "more than 1000 bytes",
    },
    // Ten descriptors: stdin, stdout, stderr and the folder's leave six.
    Run {
        label: "limits/files",
        module: "limits",
        args: &["files", "/d", "100"],
        limits: &["files=10"],
        folder: true,
        status: 0,
        stdout: Stdout::Text("opened 6 files, then: No file descriptors available (os error 33)\n"),
        stderr: "",
        ended: "exit",
        limit: None,
        reached: &["files"],
        message: "",
    },
    Run {
        label: "limits/under-every-limit",
        module: "limits",
        args: &["files", "/d", "3"],
        limits: &["memory=64M", "cpu=1m", "wall=2m", "output=1M", "files=16"],
        folder: true,
        status: 0,
        stdout: Stdout::Text("opened 3 files\n"),
        stderr: "",
        ended: "exit",
        limit: None,
        reached: &[],
        message: "",
    },
    // Two threads may run besides main. threads-queue's two producers cannot finish before
    // a consumer runs (they fill a queue of 16 with 5,000 items each), so spawning the
    // first consumer fails whatever the timing, and Rust's `thread::spawn` panics on that.
    Run {
        label: "limits/threads",
        module: "threads-queue",
        args: &[],
        limits: &["threads=2"],
        folder: false,
        status: 134,
        stdout: Stdout::Text(""),
        stderr: "failed to spawn thread",
        ended: "trap",
        limit: None,
        reached: &["threads"],
        message: "unreachable",
    },
    Run {
        label: "limits/under-the-threads-limit",
        module: "threads-sum",
        args: &["2"],
        limits: &["threads=2"],
        folder: false,
        status: 0,
        stdout: Stdout::Text(
            "threads: 2\nchecksum: 13931654504962573068\nparallel and sequential checksums agree\n",
        ),
        stderr: "",
        ended: "exit",
        limit: None,
        reached: &[],
        message: "",
    },
    Run {
        label: "limits/trap",
        module: "trap",
        args: &[],
        limits: &[],
        folder: false,
        status: 134,
        stdout: Stdout::Text("about to trap\n"),
        stderr: "unreachable",
        ended: "trap",
        limit: None,
        reached: &[],
        message: "unreachable",
    },
];

pub fn cases(project: &Arc<Project>, board: &Board, cases: &mut Vec<Case>) {
    let b = board.name.clone();
    let has_folders = board.qemu.virtio_mmio.is_some();
    let has_threads = board.guest.threads_unsupported.is_none();
    for run in RUNS
        .iter()
        .filter(|run| has_folders || !run.folder)
        .filter(|run| has_threads || !run.module.starts_with("threads-"))
    {
        let project = project.clone();
        let name = named(&b, run.label);
        cases.push(Case::new(
            name.clone(),
            vec![Image::example(&b, run.module)],
            move |plans| {
                let work = scratch(&project, &name)?;
                let mut boot = Boot::args(run.args);
                for limit in run.limits {
                    boot = boot.option("--limit", limit);
                }
                if run.folder {
                    let folder = work.join("d");
                    std::fs::create_dir_all(&folder)?;
                    boot = boot.option("--map", &format!("{}:/d", folder.display()));
                }
                let report = work.join("report.json");
                let boot = boot.option("--report", &report.display().to_string());
                check(run, &plans[0], boot, &report)
            },
        ));
    }
    // Limits baked into the image: they hold without launch options, and `--limit`
    // replaces one of them for one run.
    let name = named(&b, "limits/hermitfile");
    let hermitfile_project = project.clone();
    cases.push(Case::new(
        name.clone(),
        vec![Image::Hermitfile {
            board: b.clone(),
            module: "limits".into(),
            name: "e2e-limits".into(),
            directives: "LIMIT output=1000 memory=16M\n".into(),
            data_folder: None,
            links: vec![],
        }],
        move |plans| {
            let script = &plans[0].image.run_qemu;
            let out = Boot::args(&["flood"]).run(script)?;
            expect_status(&out, 153)?;
            ensure!(out.stdout.len() == 1000, "{} bytes out", out.stdout.len());
            let out = Boot::args(&["grow", "100"]).run(script)?;
            expect_status(&out, 0)?;
            expect_stdout(
                &out,
                "allocated 14 MiB, then: memory allocation failed because the memory \
                 allocator returned an error\n",
            )?;
            let report = scratch(&hermitfile_project, &name)?.join("report.json");
            let out = Boot::args(&["flood", "5000"])
                .option("--limit", "output=10M")
                .option("--report", &report.display().to_string())
                .run(script)?;
            expect_status(&out, 0)?;
            ensure!(out.stdout.len() == 5000, "{} bytes out", out.stdout.len());
            let report = read_report(&report)?;
            ensure!(report["stdout_bytes"] == 5000, "report: {report}");
            Ok(())
        },
    ));
    if b == "x86_64-kvm" {
        let project = project.clone();
        cases.push(Case::new(
            named(&b, "limits/malformed-refused"),
            vec![Image::example(&b, "hello")],
            move |plans| {
                // A report asked for before the bad option still says how the launch ended,
                // in place of what an earlier run left there.
                let report =
                    scratch(&project, "x86_64-kvm/limits/malformed-refused")?.join("report.json");
                std::fs::write(&report, "an earlier run's report")?;
                let out = Boot::default()
                    .option("--report", &report.display().to_string())
                    .option("--limit", "memory=1T")
                    .run(&plans[0].image.run_qemu)?;
                expect_status(&out, 125)?;
                let report = read_report(&report)?;
                ensure!(
                    report["status"] == 125 && report["ended"] == "failure",
                    "report: {report}"
                );
                for (limit, why) in [
                    ("memory=12X", "unknown unit 'X'"),
                    ("fuel=9", "unknown limit 'fuel'"),
                    ("wall=0", "below the least limit"),
                ] {
                    let out = Boot::default()
                        .option("--limit", limit)
                        .run(&plans[0].image.run_qemu)?;
                    expect_status(&out, 125)?;
                    expect_stdout(&out, "")?;
                    stderr_has(&out, why)?;
                }
                Ok(())
            },
        ));
    }
}

/// The run report at `path`, as JSON.
pub fn read_report(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("the run report {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("the run report is not JSON: {text}"))
}

/// Boots `run` and checks the status, the output and the report.
fn check(run: &Run, plan: &BuildPlan, boot: Boot, report: &Path) -> Result<()> {
    let out = boot.run(&plan.image.run_qemu)?;
    expect_status(&out, run.status)?;
    match run.stdout {
        Stdout::Text(text) => expect_stdout(&out, text)?,
        Stdout::Yes(bytes) => ensure!(
            out.stdout == "y\n".repeat(bytes / 2).as_bytes(),
            "stdout is not {bytes} bytes of y lines: {} bytes",
            out.stdout.len()
        ),
    }
    if !run.stderr.is_empty() {
        stderr_has(&out, run.stderr)?;
    }
    let report = read_report(report)?;
    let manifest: Value = serde_json::from_slice(&std::fs::read(&plan.image.manifest)?)?;
    let reached: Vec<Value> = run.reached.iter().map(|&r| r.into()).collect();
    let expected = [
        ("status", Value::from(run.status)),
        ("ended", run.ended.into()),
        ("limit", run.limit.map_or(Value::Null, Value::from)),
        ("limits_reached", reached.into()),
        ("module_sha256", manifest["module"]["sha256"].clone()),
    ];
    for (field, want) in expected {
        ensure!(
            report[field] == want,
            "report {field}: {}, expected {want}; report: {report}",
            report[field]
        );
    }
    let message = report["message"].as_str().unwrap_or_default();
    ensure!(
        message.contains(run.message) && run.message.is_empty() == message.is_empty(),
        "report message {message:?}, expected one with {:?}",
        run.message
    );
    ensure!(
        report["wall_ms"].as_u64().is_some_and(|ms| ms > 0)
            && report["cpu_ms"].as_u64().is_some_and(|ms| ms > 0),
        "report times: {report}"
    );
    // The guest counts what the module wrote when it ends the run itself; when the
    // launcher stops the VM, the guest could not say.
    if matches!(run.limit, Some("cpu" | "wall")) {
        ensure!(report["stdout_bytes"].is_null(), "report: {report}");
        let cpu_ms = report["cpu_ms"].as_u64().unwrap_or_default();
        // (The host's account of a child that ended may fall a few ticks short of the
        // time it checked the limit against.)
        if run.limit == Some("cpu") {
            ensure!(cpu_ms >= 1500, "stopped after {cpu_ms} ms of CPU: {report}");
        }
    } else {
        ensure!(
            report["stdout_bytes"] == out.stdout.len(),
            "report stdout_bytes vs {} bytes out: {report}",
            out.stdout.len()
        );
        let peak = report["peak_memory_bytes"].as_u64().unwrap_or_default();
        ensure!(peak >= 65536, "peak memory {peak}: {report}");
        if run.limits.contains(&"memory=16M") {
            ensure!(peak <= 16 << 20, "peak memory {peak} above the limit");
        }
    }
    Ok(())
}
