//! Nested cargo invocations: a `cargo` command with the outer build's CARGO*/RUST*
//! variables cleared (they would leak our host settings into bare-metal builds) and the
//! toolchain named explicitly, whatever folder the build runs in: the one
//! `rust-toolchain.toml` pins, or the kernel's own.

use std::path::Path;

use anyhow::Result;
use xshell::{cmd, Cmd, Shell};

use crate::host::toolchain;

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
