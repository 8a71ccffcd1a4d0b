//! The reference runtime: the `wasmtime` CLI of the release line the guest embeds, built
//! from crates.io with what running a module, a component or a `wasi:http` server needs,
//! and cached outside the repository (`~/.cache/hermit-wasm/wasmtime-VERSION-FEATURES`,
//! or under `$HERMIT_WASM_REFERENCE_DIR`), so that a fresh clone on the same machine
//! reuses it. `cargo xtask compare` runs modules under it; never under our own runner.
//!
//! Invariant: the CLI's release line (major version) is the guest's; its patch level is
//! [`CLI_VERSION`], the newest `wasmtime-cli` of that line crates.io serves (the library
//! crates of a later patch may be published without the CLI).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::project::Project;

/// The reference CLI's version. Wasmtime 48's library crates are at 48.0.10 here, but
/// crates.io serves `wasmtime-cli` only up to 48.0.8: the patch releases between them are
/// security backports to the library, which the guest takes.
pub const CLI_VERSION: &str = "48.0.8";

/// The CLI's cargo features: running (`run`, `cranelift`) modules and components. Only
/// what the comparisons use: `serve` (which in 48.0.8 also needs `component-model-async`)
/// made the build of a reset machine's CI several minutes longer for nothing yet.
const CLI_FEATURES: &str = "run,cranelift,component-model";

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

/// The reference CLI's version, checked to be of the guest's release line.
fn cli_version(project: &Project) -> Result<&'static str> {
    let guest = wasmtime_version(project)?;
    let major = |v: &str| v.split('.').next().unwrap_or_default().to_string();
    if major(&guest) != major(CLI_VERSION) {
        bail!(
            "the guest embeds Wasmtime {guest} but the reference CLI is {CLI_VERSION}: set \
             CLI_VERSION in xtask/src/compare/reference.rs to a wasmtime-cli of the same line"
        );
    }
    Ok(CLI_VERSION)
}

/// Where the reference CLI of `version` is installed.
fn install_root(version: &str) -> Result<PathBuf> {
    let name = format!("wasmtime-{version}-{}", CLI_FEATURES.replace(',', "-"));
    if let Some(dir) = std::env::var_os("HERMIT_WASM_REFERENCE_DIR") {
        return Ok(PathBuf::from(dir).join(name));
    }
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(Path::new(&home).join(".cache/hermit-wasm").join(name))
}

/// The reference `wasmtime` executable, built first if it is not there yet (about ten
/// minutes on two cores).
pub fn wasmtime(project: &Project) -> Result<PathBuf> {
    let version = cli_version(project)?;
    let root = install_root(version)?;
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
        .args(["--no-default-features", "--features", CLI_FEATURES])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_cli_is_of_the_release_line_the_guest_embeds() {
        let project = Project::locate();
        assert_eq!(cli_version(&project).unwrap(), CLI_VERSION);
    }

    #[test]
    fn the_cache_names_the_features_so_a_change_rebuilds() {
        let root = install_root("48.0.8").unwrap();
        let name = root.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("wasmtime-48.0.8-run-"), "{name}");
        assert!(name.contains("component-model"), "{name}");
    }
}
