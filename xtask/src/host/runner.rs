//! The guest kernel's runner built for this host (no VM), and payloads precompiled for it:
//! the native baseline of `bench` and the `--host` mode of `wasi-testsuite`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use hermit_wasm_kernel::manifest::{
    EngineInfo, KernelInfo, Manifest, ModuleInfo, RunConfig, FORMAT,
};
use hermit_wasm_kernel::{engine, payload};
use xshell::Shell;

use crate::host::cargo_cmd::cargo;
use crate::image::{component, precompile};
use crate::project::Project;

/// Builds `hermit-wasm-kernel` for the host (release) and returns its path.
pub fn build(sh: &Shell, project: &Project) -> Result<PathBuf> {
    let target_dir = project.target().join("host-runner");
    let _dir = sh.push_dir(&project.root);
    cargo(sh, &project.root)?
        .args(["build", "--release", "--locked", "--quiet"])
        .args(["--package=hermit-wasm-kernel", "--bin=hermit-wasm-kernel"])
        .arg("--target-dir")
        .arg(&target_dir)
        .run()
        .context("building the runner for the host")?;
    Ok(target_dir.join("release/hermit-wasm-kernel"))
}

/// Precompiles `wasm` for this host with the guest's engine settings and writes the
/// payload (with an empty run configuration: launch options supply the rest) to `out`.
/// The code uses every CPU feature this host has.
pub fn write_payload(wasm_path: &Path, out: &Path) -> Result<()> {
    write_payload_with(wasm_path, out, engine::config())
}

/// As [`write_payload`], for the baseline CPU of the host's architecture (`host`, its
/// triple): code that does not depend on the machine, and that runs where the host's CPU
/// is emulated without its newer extensions (valgrind has no AVX-512).
pub fn write_baseline_payload(wasm_path: &Path, out: &Path, host: &str) -> Result<()> {
    let mut config = engine::config();
    // An explicit target, even the host's, turns Wasmtime's CPU feature detection off.
    config
        .target(host)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("Cranelift cannot target {host}"))?;
    write_payload_with(wasm_path, out, config)
}

fn write_payload_with(wasm_path: &Path, out: &Path, config: wasmtime::Config) -> Result<()> {
    let wasm =
        std::fs::read(wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
    let name_for_errors = wasm_path.display().to_string();
    let engine = wasmtime::Engine::new(&config)?;
    let (cwasm, threads, component) = if wasmparser::Parser::is_component(&wasm) {
        let info = component::check(&name_for_errors, &wasm)?;
        let cwasm = engine
            .precompile_component(&wasm)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("compiling {}", wasm_path.display()))?;
        (cwasm, None, Some(info))
    } else {
        // On the host a shared memory may take what the module declares (at most 4 GiB).
        let threads = match precompile::threads_shape(&name_for_errors, &wasm)? {
            Some(shape) => Some(precompile::threads_info(&name_for_errors, &shape, 4 << 30)?),
            None => None,
        };
        let cwasm = engine
            .precompile_module(&wasm)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("compiling {}", wasm_path.display()))?;
        (cwasm, threads, None)
    };
    let name = wasm_path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("module")
        .to_string();
    let manifest = Manifest {
        format: FORMAT,
        image: name.clone(),
        board: "host".into(),
        arch: std::env::consts::ARCH.into(),
        module: ModuleInfo {
            name,
            sha256: String::new(),
            size: wasm.len() as u64,
            precompiled_size: cwasm.len() as u64,
            threads,
            component,
            links: Vec::new(),
        },
        run: RunConfig::default(),
        toolchain: String::new(),
        kernel: KernelInfo {
            version: "none (host)".into(),
            target: String::new(),
            features: Vec::new(),
            log_level: String::new(),
        },
        engine: EngineInfo {
            wasmtime: engine::WASMTIME_VERSION.into(),
            target: "host".into(),
            cpu_features: Vec::new(),
            settings: engine::SETTINGS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
    };
    let blob = payload::encode(&serde_json::to_vec(&manifest)?, &cwasm, &[]);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, blob).with_context(|| format!("writing {}", out.display()))
}
