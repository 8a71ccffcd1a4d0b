//! The pinned Rust toolchain: its name (from `rust-toolchain.toml`) and the LLVM tools that
//! ship with it (`llvm-objcopy`, `llvm-ar`) from the `llvm-tools` component.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

/// The channel `rust-toolchain.toml` pins, e.g. `nightly-2025-03-14`.
pub fn channel(root: &Path) -> Result<String> {
    let path = root.join("rust-toolchain.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    parse_channel(&text).with_context(|| format!("{} names no channel", path.display()))
}

fn parse_channel(text: &str) -> Option<String> {
    let value: toml::Value = toml::from_str(text).ok()?;
    Some(
        value
            .get("toolchain")?
            .get("channel")?
            .as_str()?
            .to_string(),
    )
}

/// Installs toolchain `channel` (minimal) with the standard library for `target`, unless
/// it has it.
pub fn ensure_target(sh: &Shell, channel: &str, target: &str) -> Result<()> {
    let sysroot = cmd!(sh, "rustc +{channel} --print sysroot")
        .quiet()
        .ignore_stderr()
        .read();
    if sysroot.is_ok_and(|root| {
        Path::new(root.trim())
            .join("lib/rustlib")
            .join(target)
            .join("lib")
            .is_dir()
    }) {
        return Ok(());
    }
    cmd!(
        sh,
        "rustup toolchain install {channel} --profile minimal --target {target}"
    )
    .run()
    .with_context(|| {
        format!("installing toolchain {channel} for {target} (is rustup on PATH, the network up?)")
    })
}

/// Installs toolchain `channel` with `components` through rustup unless it is there
/// (the kernel's toolchain is not the one `rust-toolchain.toml` names, so rustup does not
/// install it by itself).
pub fn ensure_installed(sh: &Shell, channel: &str, components: &[&str]) -> Result<()> {
    let sysroot = cmd!(sh, "rustc +{channel} --print sysroot")
        .quiet()
        .ignore_stderr()
        .read();
    let complete = sysroot.is_ok_and(|root| {
        let root = Path::new(root.trim());
        components.iter().all(|component| match *component {
            "rust-src" => root.join("lib/rustlib/src/rust/library").exists(),
            "llvm-tools" => std::fs::read_dir(root.join("lib/rustlib"))
                .map(|hosts| {
                    hosts
                        .flatten()
                        .any(|h| h.path().join("bin/llvm-objcopy").exists())
                })
                .unwrap_or(false),
            _ => true,
        })
    });
    if complete {
        return Ok(());
    }
    let components = components.join(",");
    cmd!(
        sh,
        "rustup toolchain install {channel} --profile minimal --component {components}"
    )
    .run()
    .with_context(|| format!("installing toolchain {channel} (is rustup on PATH, the network up?)"))
}

/// `rustc -vV` of the pinned toolchain, one line: `rustc 1.87.0-nightly (...)`.
pub fn rustc_version(sh: &Shell) -> Result<String> {
    let out = cmd!(sh, "rustc --version")
        .read()
        .context("running rustc --version")?;
    Ok(out.trim().to_string())
}

/// The host's target triple, as the pinned rustc names it (`x86_64-unknown-linux-gnu`).
pub fn host_triple(sh: &Shell) -> Result<String> {
    let verbose = cmd!(sh, "rustc -vV").read().context("rustc -vV")?;
    let host = verbose
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .context("rustc -vV names no host")?;
    Ok(host.to_string())
}

/// An LLVM tool of the `llvm-tools` component, e.g. `llvm-objcopy`.
pub fn llvm_tool(sh: &Shell, name: &str) -> Result<PathBuf> {
    let sysroot = cmd!(sh, "rustc --print sysroot")
        .read()
        .context("rustc --print sysroot")?;
    let path = Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(host_triple(sh)?)
        .join("bin")
        .join(name);
    if !path.exists() {
        bail!(
            "{} not found: the toolchain lacks the llvm-tools component \
             (rustup component add llvm-tools)",
            path.display()
        );
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_channel_is_read_from_the_toolchain_table() {
        let text = "[toolchain]\nchannel = \"nightly-2025-03-14\"\ncomponents = [\"rust-src\"]\n";
        assert_eq!(parse_channel(text).as_deref(), Some("nightly-2025-03-14"));
        assert_eq!(parse_channel("[other]\nchannel = \"x\"\n"), None);
    }

    #[test]
    fn the_repository_pins_a_nightly() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        assert!(channel(&root).unwrap().starts_with("nightly-"));
    }
}
