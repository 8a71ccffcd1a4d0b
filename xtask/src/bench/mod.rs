//! `cargo xtask bench`: boot-to-exit of the hello image per board (median of N runs),
//! against a baseline measured in the same run: the same module, precompiled for this
//! host, run by the guest kernel's runner natively. Also the re-image time (another module
//! into an existing board build), boot-to-exit with a host folder shared (`--map`,
//! virtio-fs) where the board can, and reading a 16 MiB file from that folder (`wc`) against
//! the same read by the native runner; then the phases (`phases.rs`), memory
//! (`memory.rs`), large-module (`large.rs`), component (`components.rs`), threads
//! (`threads.rs`) and snapshot
//! (`snapshot.rs`) sections, each measured as `run.rs` says. Results go to stdout and
//! `docs/benchmarks.md`, with the figures kept in `docs/benchmarks.json` and set beside the
//! previous run's (`history.rs`).
//!
//! Invariant: no timing decides whether anything passes. Each section compares its
//! figures with a baseline measured in the same run, as ratios; the figures of the
//! previous run are shown beside them for reference only (`history.rs`).

pub mod components;
pub mod history;
pub mod large;
pub mod memory;
pub mod phases;
pub mod run;
pub mod snapshot;
pub mod threads;

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use xshell::Shell;

use crate::bench::history::Figures;
use crate::bench::run::Bench;
use crate::flags::{BenchArgs, ImageArgs};
use crate::host;
use crate::image;
use crate::plan::profile;
use crate::project::Project;

struct BoardResult {
    board: String,
    reimage: Duration,
    boot: Duration,
    /// With a host folder mapped (virtiofsd started).
    boot_shared: Option<Duration>,
    /// `wc` of the big file in the mapped folder, boot included.
    read_big: Option<Duration>,
    guest_size: u64,
}

pub fn run(sh: &Shell, project: &Project, args: &BenchArgs) -> Result<()> {
    let boards: Vec<String> = if args.boards.is_empty() {
        profile::load_all(&project.boards())?.into_keys().collect()
    } else {
        args.boards.clone()
    };
    let profiles: Vec<profile::Board> = boards
        .iter()
        .map(|name| profile::find(&project.boards(), name))
        .collect::<Result<_>>()?;
    let bench = Bench {
        sh,
        project,
        boards: &profiles,
        runs: args.runs,
    };
    if args.only.as_deref() == Some("components") {
        println!("{}", components::section(&bench, &mut Figures::default())?);
        return Ok(());
    }
    let mut results = Vec::new();
    for board in &boards {
        let image_args = |module: &str| ImageArgs::of_module(board, module, Some("bench"));
        image::run(sh, project, &image_args("hello"))?;
        let reimage = reimage(args.runs, board)?;
        let plan = image::run(sh, project, &image_args("hello"))?;
        let boot_with = |options: &[&str]| time_runs(args.runs, &plan.image.run_qemu, options);
        let boot = boot_with(&[])?;
        let (boot_shared, read_big) = match plan.board.qemu.virtio_mmio {
            Some(_) => {
                let map = format!("{}:/data:ro", shared_folder(project)?.display());
                let boot_shared = boot_with(&["--map", &map])?;
                let wc = image::run(sh, project, &image_args("wc"))?;
                let read_big = time_runs(
                    args.runs,
                    &wc.image.run_qemu,
                    &["--map", &map, "--", BIG_FILE],
                )?;
                (Some(boot_shared), Some(read_big))
            }
            None => (None, None),
        };
        results.push(BoardResult {
            board: board.clone(),
            reimage,
            boot,
            boot_shared,
            read_big,
            guest_size: std::fs::metadata(&plan.image.guest)?.len(),
        });
    }
    let baseline = host_baseline(sh, project, args.runs)?;
    // The native read needs the wc module, which the boards with virtio-fs built.
    let read_baseline = match results.iter().any(|r| r.read_big.is_some()) {
        true => Some(host_read_baseline(sh, project, args.runs)?),
        false => None,
    };

    let mut table = String::new();
    table.push_str(
        "| board | boot-to-exit (median) | native baseline | ratio | with a shared folder | \
         read 16 MiB from it (wc) | native wc | ratio | re-image | guest.elf |\n",
    );
    table.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for r in &results {
        let shared = match r.boot_shared {
            Some(t) => format!(
                "{} ms ({:.2}x)",
                t.as_millis(),
                t.as_secs_f64() / r.boot.as_secs_f64()
            ),
            None => "no virtio-fs".into(),
        };
        let (read, read_ratio) = match (r.read_big, read_baseline) {
            (Some(t), Some(read_baseline)) => (
                format!("{} ms", t.as_millis()),
                format!("{:.1}x", t.as_secs_f64() / read_baseline.as_secs_f64()),
            ),
            _ => ("no virtio-fs".into(), "-".into()),
        };
        table.push_str(&format!(
            "| {} | {} ms | {} ms | {:.1}x | {shared} | {read} | {} ms | {read_ratio} | {:.1} s | {:.1} MiB |\n",
            r.board,
            r.boot.as_millis(),
            baseline.as_millis(),
            r.boot.as_secs_f64() / baseline.as_secs_f64(),
            read_baseline.map_or(0, |t| t.as_millis()),
            r.reimage.as_secs_f64(),
            r.guest_size as f64 / (1024.0 * 1024.0)
        ));
    }
    println!("{table}");
    let mut figures = Figures::default();
    for r in &results {
        figures.record(&r.board, "boot-to-exit (ms)", r.boot.as_millis() as f64);
        figures.record(
            &r.board,
            "re-image (s)",
            (r.reimage.as_secs_f64() * 100.0).round() / 100.0,
        );
        figures.record(&r.board, "guest.elf (KiB)", (r.guest_size >> 10) as f64);
    }
    let qemu = Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let doc = format!(
        "# Benchmarks\n\nWritten by `cargo xtask bench` ({} runs per figure, median). Boot-to-exit is the \
         wall time of `run-qemu.sh` for the hello image, from the script's start to QEMU's exit. \
         The native baseline runs the same module, precompiled for the host, with the guest \
         kernel's runner built for the host (no VM): the ratio is the price of the VM. With a shared \
         folder is the same boot with a host folder mapped (`--map`): virtiofsd starts and the \
         guest sets up its virtio-fs driver; its ratio is against the plain boot. Read 16 MiB is \
         the `wc` module counting the lines of a 16 MiB file in that folder, boot included, \
         against the native runner doing the same (its ratio). Re-image is \
         an `xtask image` process putting another module into a board whose kernel, loader and \
         guest are built (precompilation, cargo's checks that nothing changed, the payload attached to \
         a copy of the guest).\n\n\
         Machine: {} cores, {}; no KVM (QEMU's emulator, TCG).\n\n{table}",
        args.runs,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        qemu
    );
    let phases = phases::section(&bench, &mut figures)?;
    println!("{phases}");
    let memory = memory::section(&bench, &mut figures)?;
    println!("{memory}");
    let large = large::section(&bench, &mut figures)?;
    println!("{large}");
    let components = components::section(&bench, &mut figures)?;
    println!("{components}");
    let threads = threads::section(&bench)?;
    println!("{threads}");
    let snapshot = snapshot::section(&bench, &mut figures)?;
    println!("{snapshot}");
    let kept = project.root.join("docs/benchmarks.json");
    let previous = Figures::load(&kept)?;
    let history = history::section(previous.as_ref(), &figures);
    println!("{history}");
    let doc = format!("{doc}{phases}{memory}{large}{components}{threads}{snapshot}{history}");
    let path = project.root.join("docs/benchmarks.md");
    std::fs::create_dir_all(path.parent().context("docs folder")?)?;
    std::fs::write(&path, doc)?;
    figures.save(previous.as_ref(), &kept)?;
    eprintln!("wrote {} and {}", path.display(), kept.display());
    Ok(())
}

/// The file `wc` reads, in the shared folder as the guest sees it.
const BIG_FILE: &str = "/data/big.bin";
const BIG_SIZE: usize = 16 << 20;

/// The folder the benchmarks share with the guest, holding the 16 MiB file.
fn shared_folder(project: &Project) -> Result<std::path::PathBuf> {
    let folder = project.target().join("bench-shared");
    std::fs::create_dir_all(&folder)?;
    let big = folder.join("big.bin");
    if std::fs::metadata(&big).map(|m| m.len() as usize).ok() != Some(BIG_SIZE) {
        let bytes: Vec<u8> = (0..BIG_SIZE)
            .map(|i| {
                if i % 80 == 79 {
                    b'\n'
                } else {
                    b'a' + (i % 26) as u8
                }
            })
            .collect();
        std::fs::write(&big, bytes)?;
    }
    Ok(folder)
}

/// `wc` of the 16 MiB file, run natively by the guest kernel's host build.
fn host_read_baseline(sh: &Shell, project: &Project, runs: usize) -> Result<Duration> {
    let runner = host::runner::build(sh, project)?;
    let wasm_path = project
        .target()
        .join("modules/wasm32-wasip1/release/wc.wasm");
    let payload_path = project.target().join("host-runner/wc.payload");
    host::runner::write_payload(&wasm_path, &payload_path)?;
    let map = format!("{}:/data:ro", shared_folder(project)?.display());
    median(runs, || {
        let out = Command::new(&runner)
            .arg(&payload_path)
            .args(["--map", &map, "--", BIG_FILE])
            .output()?;
        ensure!(
            out.status.success(),
            "native wc failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    })
}

/// The hello module run natively by the guest kernel's host build.
fn host_baseline(sh: &Shell, project: &Project, runs: usize) -> Result<Duration> {
    let runner = host::runner::build(sh, project)?;
    let wasm_path = project
        .target()
        .join("modules/wasm32-wasip1/release/hello.wasm");
    let payload_path = project.target().join("host-runner/hello.payload");
    host::runner::write_payload(&wasm_path, &payload_path)?;
    median(runs, || {
        let out = Command::new(&runner)
            .arg(&payload_path)
            .args(["--", "host"])
            .output()?;
        ensure!(
            out.status.success(),
            "native run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    })
}

/// Median wall time of `runs` runs of `command` with `args`, each of which must succeed.
/// Re-image as a user does it: a new `xtask image` process putting another module into
/// an image of a board whose kernel, loader and guest are built (two modules taken in
/// turn, so that every run changes the image).
fn reimage(runs: usize, board: &str) -> Result<Duration> {
    let xtask = std::env::current_exe().context("the xtask's own path")?;
    let mut modules = ["exit-code", "trap"].into_iter().cycle();
    median(runs, || {
        let module = modules.next().unwrap_or("exit-code");
        let out = Command::new(&xtask)
            .args([
                "image",
                "--board",
                board,
                "--module",
                module,
                "--name",
                "bench-reimage",
            ])
            .output()?;
        ensure!(
            out.status.success(),
            "re-imaging {module} for {board} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    })
}

fn time_runs(runs: usize, command: &std::path::Path, args: &[&str]) -> Result<Duration> {
    median(runs, || {
        let out = Command::new(command)
            .arg("--timeout=300")
            .args(args)
            .output()?;
        ensure!(
            out.status.success(),
            "{} failed: {}",
            command.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    })
}

/// Median wall time of `runs` calls of `f`.
fn median(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<Duration> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}
