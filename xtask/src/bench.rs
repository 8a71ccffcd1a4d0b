//! `cargo xtask bench`: boot-to-exit of the hello image per board (median of N runs),
//! against a baseline measured in the same run: the same module, precompiled for this
//! host, run by the guest kernel's runner natively. Also the re-image time (another module
//! into an existing board build). Results go to stdout and `docs/benchmarks.md`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use hermit_wasm_kernel::{engine, payload};
use xshell::Shell;

use crate::cargo_cmd::cargo;
use crate::flags::{BenchArgs, ImageArgs};
use crate::project::Project;
use crate::{image, profile};

struct BoardResult {
    board: String,
    reimage: Duration,
    boot: Duration,
    guest_size: u64,
}

pub fn run(sh: &Shell, project: &Project, args: &BenchArgs) -> Result<()> {
    let boards: Vec<String> = if args.boards.is_empty() {
        profile::load_all(&project.boards())?.into_keys().collect()
    } else {
        args.boards.clone()
    };
    let baseline = host_baseline(sh, project, args.runs)?;
    let mut results = Vec::new();
    for board in &boards {
        let image_args = |module: &str| ImageArgs {
            board: board.clone(),
            module: Some(module.to_string()),
            name: Some(format!("bench-{module}")),
            kernel_log: None,
        };
        image::run(sh, project, &image_args("exit-code"))?;
        let plan = image::run(sh, project, &image_args("hello"))?;
        // Re-image: a different module into the same image name; kernel and Wasmtime stay.
        let start = Instant::now();
        image::run(sh, project, &image_args("exit-code"))?;
        let reimage = start.elapsed();
        let plan_hello = image::run(sh, project, &image_args("hello"))?;
        let boot = median(args.runs, || {
            let out = Command::new(&plan_hello.image.run_qemu)
                .arg("--timeout=120")
                .output()?;
            ensure!(
                out.status.success(),
                "hello failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Ok(())
        })?;
        results.push(BoardResult {
            board: board.clone(),
            reimage,
            boot,
            guest_size: std::fs::metadata(&plan.image.guest)?.len(),
        });
    }

    let mut table = String::new();
    table.push_str(
        "| board | boot-to-exit (median) | native baseline | ratio | re-image | guest.elf |\n",
    );
    table.push_str("|---|---|---|---|---|---|\n");
    for r in &results {
        table.push_str(&format!(
            "| {} | {} ms | {} ms | {:.1}x | {:.1} s | {:.1} MiB |\n",
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
         kernel's runner built for the host (no VM): the ratio is the price of the VM. Re-image is \
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
    let target_dir = project.target().join("bench");
    {
        let _dir = sh.push_dir(&project.root);
        cargo(sh, &project.root)?
            .args([
                "build",
                "--release",
                "--locked",
                "--quiet",
                "--package=hermit-wasm-kernel",
                "--bin=hermit-wasm-kernel",
            ])
            .arg("--target-dir")
            .arg(&target_dir)
            .run()?;
    }
    let wasm_path = project
        .target()
        .join("modules/wasm32-wasip1/release/hello.wasm");
    let wasm =
        std::fs::read(&wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
    let engine = wasmtime::Engine::new(&engine::config())?;
    let cwasm = engine.precompile_module(&wasm)?;
    let manifest = host_manifest(&wasm_path)?;
    let blob = payload::encode(manifest.as_bytes(), &cwasm);
    let payload_path = target_dir.join("hello-host.payload");
    std::fs::write(&payload_path, blob)?;
    let runner = target_dir.join("release/hermit-wasm-kernel");
    median(runs, || {
        let out = Command::new(&runner)
            .arg(&payload_path)
            .arg("host")
            .output()?;
        ensure!(
            out.status.success(),
            "native run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    })
}

fn host_manifest(wasm: &Path) -> Result<String> {
    use hermit_wasm_kernel::manifest::*;
    let manifest = Manifest {
        format: FORMAT,
        image: "bench-host".into(),
        board: "host".into(),
        arch: std::env::consts::ARCH.into(),
        module: ModuleInfo {
            name: "hello".into(),
            sha256: String::new(),
            size: std::fs::metadata(wasm)?.len(),
            precompiled_size: 0,
        },
        run: RunConfig::default(),
        toolchain: String::new(),
        kernel: KernelInfo {
            version: String::new(),
            target: String::new(),
            features: Vec::new(),
            log_level: String::new(),
        },
        engine: EngineInfo {
            wasmtime: engine::WASMTIME_VERSION.into(),
            target: "host".into(),
            cpu_features: Vec::new(),
            settings: Vec::new(),
        },
    };
    Ok(serde_json::to_string(&manifest)?)
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
