//! `cargo xtask bench`: boot-to-exit of the hello image per board (median of N runs),
//! against a baseline measured in the same run: the same module, precompiled for this
//! host, run by the guest kernel's runner natively. Also the re-image time (another module
//! into an existing board build), and boot-to-exit with a host folder shared (`--map`,
//! virtio-fs) where the board can. Results go to stdout and `docs/benchmarks.md`.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use xshell::Shell;

use crate::flags::{BenchArgs, ImageArgs};
use crate::project::Project;
use crate::{host_runner, image, profile};

struct BoardResult {
    board: String,
    reimage: Duration,
    boot: Duration,
    /// With an empty host folder mapped (virtiofsd started, and on x86 the q35 machine).
    boot_shared: Option<Duration>,
    guest_size: u64,
}

pub fn run(sh: &Shell, project: &Project, args: &BenchArgs) -> Result<()> {
    let boards: Vec<String> = if args.boards.is_empty() {
        profile::load_all(&project.boards())?.into_keys().collect()
    } else {
        args.boards.clone()
    };
    let mut results = Vec::new();
    for board in &boards {
        let image_args = |module: &str| ImageArgs::of_module(board, module, Some("bench"));
        image::run(sh, project, &image_args("hello"))?;
        // Re-image: another module into the same image; kernel and Wasmtime stay built.
        let start = Instant::now();
        image::run(sh, project, &image_args("exit-code"))?;
        let reimage = start.elapsed();
        let plan = image::run(sh, project, &image_args("hello"))?;
        let boot_with = |options: &[&str]| {
            median(args.runs, || {
                let out = Command::new(&plan.image.run_qemu)
                    .arg("--timeout=120")
                    .args(options)
                    .output()?;
                ensure!(
                    out.status.success(),
                    "hello failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                Ok(())
            })
        };
        let boot = boot_with(&[])?;
        let boot_shared = match plan.board.qemu.virtio_fs {
            Some(_) => {
                let folder = project.target().join("bench-shared");
                std::fs::create_dir_all(&folder)?;
                let map = format!("{}:/data:ro", folder.display());
                Some(boot_with(&["--map", &map])?)
            }
            None => None,
        };
        results.push(BoardResult {
            board: board.clone(),
            reimage,
            boot,
            boot_shared,
            guest_size: std::fs::metadata(&plan.image.guest)?.len(),
        });
    }
    let baseline = host_baseline(sh, project, args.runs)?;

    let mut table = String::new();
    table.push_str(
        "| board | boot-to-exit (median) | native baseline | ratio | with a shared folder | re-image | guest.elf |\n",
    );
    table.push_str("|---|---|---|---|---|---|---|\n");
    for r in &results {
        let shared = match r.boot_shared {
            Some(t) => format!(
                "{} ms ({:.2}x)",
                t.as_millis(),
                t.as_secs_f64() / r.boot.as_secs_f64()
            ),
            None => "no virtio-fs".into(),
        };
        table.push_str(&format!(
            "| {} | {} ms | {} ms | {:.1}x | {shared} | {:.1} s | {:.1} MiB |\n",
            r.board,
            r.boot.as_millis(),
            baseline.as_millis(),
            r.boot.as_secs_f64() / baseline.as_secs_f64(),
            r.reimage.as_secs_f64(),
            r.guest_size as f64 / (1024.0 * 1024.0)
        ));
    }
    println!("{table}");
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
         folder is the same boot with an empty host folder mapped (`--map`): virtiofsd starts, and \
         x86_64 boots `q35` instead of `microvm`; its ratio is against the plain boot. Re-image is \
         `cargo xtask image` with another module into a board whose kernel and guest are built.\n\n\
         Machine: {} cores, {}; no KVM (QEMU's emulator, TCG).\n\n{table}",
        args.runs,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        qemu
    );
    let path = project.root.join("docs/benchmarks.md");
    std::fs::create_dir_all(path.parent().context("docs folder")?)?;
    std::fs::write(&path, doc)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// The hello module run natively by the guest kernel's host build.
fn host_baseline(sh: &Shell, project: &Project, runs: usize) -> Result<Duration> {
    let runner = host_runner::build(sh, project)?;
    let wasm_path = project
        .target()
        .join("modules/wasm32-wasip1/release/hello.wasm");
    let payload_path = project.target().join("host-runner/hello.payload");
    host_runner::write_payload(&wasm_path, &payload_path)?;
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
