//! Nested cargo invocations: a `cargo` command with the outer build's CARGO*/RUST*
//! variables cleared (they would leak our host settings into bare-metal builds) and the
//! toolchain named explicitly, whatever folder the build runs in: the one
//! `rust-toolchain.toml` pins, or the kernel's own.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Cmd, Shell};

use crate::host::toolchain;
use crate::project::Project;

/// Variables that must survive the clean-up: where rustup and cargo live.
const KEEP: [&str; 2] = ["CARGO_HOME", "RUSTUP_HOME"];

/// `cargo` with a clean environment and `RUSTUP_TOOLCHAIN` set to the pinned toolchain.
pub fn cargo<'a>(sh: &'a Shell, root: &Path) -> Result<Cmd<'a>> {
    Ok(cargo_with(sh, &toolchain::channel(root)?))
}

/// `cargo` with a clean environment and `RUSTUP_TOOLCHAIN` set to `channel`.
pub fn cargo_with<'a>(sh: &'a Shell, channel: &str) -> Cmd<'a> {
    let mut cmd = cmd!(sh, "cargo");
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if (name.starts_with("CARGO") || name.starts_with("RUST")) && !KEEP.contains(&name) {
            cmd = cmd.env_remove(name);
        }
    }
    cmd.env("RUSTUP_TOOLCHAIN", channel)
}

/// The manifest of package `name`@`version` in cargo's registry: a dependency of the
/// workspace that cargo downloads but nothing here builds as one (the kernel's source, the
/// WASI crate whose examples the corpus runs). Located with `cargo metadata`.
pub fn registry_package(
    sh: &Shell,
    project: &Project,
    name: &str,
    version: &str,
) -> Result<PathBuf> {
    let _dir = sh.push_dir(&project.root);
    let metadata = cargo(sh, &project.root)?
        .args(["metadata", "--format-version", "1", "--locked"])
        .read()
        .context("cargo metadata (is the network to crates.io reachable?)")?;
    find_package_manifest(&metadata, name, version)
}

/// `manifest_path` of package `name`@`version` in `cargo metadata` output.
fn find_package_manifest(metadata: &str, name: &str, version: &str) -> Result<PathBuf> {
    let value: serde_json::Value =
        serde_json::from_str(metadata).context("parsing cargo metadata")?;
    let packages = value["packages"]
        .as_array()
        .context("cargo metadata lists no packages")?;
    for package in packages {
        if package["name"] == name && package["version"] == version {
            let path = package["manifest_path"]
                .as_str()
                .context("package without manifest_path")?;
            return Ok(PathBuf::from(path));
        }
    }
    bail!("{name} {version} is not among the workspace's dependencies (a Cargo.toml lists it)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_is_found_in_metadata_by_name_and_version() {
        let metadata = r#"{"packages":[
            {"name":"hermit-kernel","version":"0.10.0","manifest_path":"/old/Cargo.toml"},
            {"name":"hermit-kernel","version":"0.11.0","manifest_path":"/reg/hermit-kernel-0.11.0/Cargo.toml"}]}"#;
        assert_eq!(
            find_package_manifest(metadata, "hermit-kernel", "0.11.0").unwrap(),
            Path::new("/reg/hermit-kernel-0.11.0/Cargo.toml")
        );
        let err = find_package_manifest(metadata, "hermit-kernel", "0.12.0").unwrap_err();
        assert!(err.to_string().contains("not among"), "{err}");
    }
}
