//! The reference runtime: the `wasmtime` CLI of the very release the guest embeds (the
//! `wasmtime` version in Cargo.lock), built from crates.io with only what running needs
//! and cached outside the repository (`~/.cache/hermit-wasm/wasmtime-VERSION`, or
//! `$HERMIT_WASM_REFERENCE_DIR`), so that a fresh clone on the same machine reuses it.
//! `cargo xtask compare` runs modules under it; never under our own runner.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::project::Project;

/// The Wasmtime release the guest embeds, read from Cargo.lock.
pub fn wasmtime_version(project: &Project) -> Result<String> {
    let lock =
        std::fs::read_to_string(project.root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasmtime\"" {
            if let Some(version) = lines
                .next()
                .and_then(|l| l.strip_prefix("version = \""))
                .and_then(|l| l.strip_suffix('"'))
            {
                return Ok(version.to_string());
            }
        }
    }
    bail!("Cargo.lock names no wasmtime package")
}

/// Where the reference CLI of `version` is installed.
fn install_root(version: &str) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("HERMIT_WASM_REFERENCE_DIR") {
        return Ok(PathBuf::from(dir).join(format!("wasmtime-{version}")));
    }
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(Path::new(&home).join(format!(".cache/hermit-wasm/wasmtime-{version}")))
}

/// The reference `wasmtime` executable, built first if it is not there yet (about ten
/// minutes on two cores).
pub fn wasmtime(project: &Project) -> Result<PathBuf> {
    let version = wasmtime_version(project)?;
    let root = install_root(&version)?;
    let exe = root.join("bin/wasmtime");
    if exe.exists() {
        return Ok(exe);
    }
    // From `/` with the machine's default toolchain: the CLI needs no nightly, and the
    // project's pinned one is not what its rust-version asks for.
    let mut command = std::process::Command::new("cargo");
    command
        .args(["install", "wasmtime-cli", "--locked", "--quiet"])
        .arg("--version")
        .arg(format!("={version}"))
        .args(["--no-default-features", "--features", "run,cranelift"])
        .arg("--root")
        .arg(&root)
        .current_dir("/");
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if (name.starts_with("CARGO") || name.starts_with("RUST"))
            && !["CARGO_HOME", "RUSTUP_HOME"].contains(&name)
        {
            command.env_remove(name);
        }
    }
    eprintln!("$ {command:?}   # the reference runtime, about ten minutes on two cores");
    let status = command
        .status()
        .context("running cargo install wasmtime-cli")?;
    if !status.success() || !exe.exists() {
        bail!(
            "building the reference wasmtime {version} failed ({status}); run the command \
             above by hand to see why"
        );
    }
    Ok(exe)
}
