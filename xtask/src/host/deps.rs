//! What booting needs on this machine besides Rust (QEMU for each board, OpenSBI 1.5 for
//! riscv64, virtiofsd for host folders, UEFI firmware and mtools for disks), and installing it when it is missing: `cargo
//! xtask qemu` and `cargo xtask test` call [`ensure`], which runs `.ci/install-deps` (the
//! same script CI runs) where it can (root, Debian's apt), and otherwise stops with the one
//! command to run.

use anyhow::{bail, Context, Result};

use crate::plan::profile::Board;
use crate::project::Project;

/// OpenSBI with the SBI debug console (>= 1.3), as Debian's `opensbi` installs it.
const OPENSBI: &str = "/usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin";
const VIRTIOFSD: [&str; 3] = [
    "virtiofsd",
    "/usr/libexec/virtiofsd",
    "/usr/lib/qemu/virtiofsd",
];

/// What `boards` need and this machine lacks.
pub fn missing(boards: &[Board]) -> Vec<String> {
    let mut missing = Vec::new();
    for board in boards {
        if which::which(&board.qemu.binary).is_err() {
            missing.push(format!("{} ({})", board.qemu.binary, board.qemu.package));
        }
        if board.qemu.firmware.is_some() && !std::path::Path::new(OPENSBI).exists() {
            missing.push(format!("OpenSBI firmware for {} ({OPENSBI})", board.name));
        }
        if let Some(disk) = &board.disk {
            for file in std::iter::once(&disk.firmware_code).chain(&disk.firmware_vars) {
                if !std::path::Path::new(file).exists() {
                    missing.push(format!("firmware {file} ({})", disk.firmware_package));
                }
            }
            if which::which("mcopy").is_err() {
                missing.push("mtools (disks)".to_string());
            }
        }
    }
    let wants_virtiofsd = boards.iter().any(|board| board.qemu.virtio_mmio.is_some());
    if wants_virtiofsd && !VIRTIOFSD.iter().any(|exe| which::which(exe).is_ok()) {
        missing.push("virtiofsd (host folders)".to_string());
    }
    missing.sort();
    missing.dedup();
    missing
}

/// Installs what `boards` need, if anything is missing and this machine allows it.
pub fn ensure(project: &Project, boards: &[Board]) -> Result<()> {
    let missing = missing(boards);
    if missing.is_empty() {
        return Ok(());
    }
    let script = project.root.join(".ci/install-deps");
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || which::which("apt-get").is_err() {
        bail!(
            "this machine lacks {}: install it as root with `sudo bash {}` (Debian or Ubuntu), \
             or install the packages named yourself",
            missing.join(", "),
            script.display()
        );
    }
    eprintln!("missing: {}; installing", missing.join(", "));
    eprintln!("$ bash {}", script.display());
    let status = std::process::Command::new("bash")
        .arg(&script)
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!("{} failed ({status})", script.display());
    }
    let still = self::missing(boards);
    if !still.is_empty() {
        bail!(
            "still missing after {}: {}",
            script.display(),
            still.join(", ")
        );
    }
    Ok(())
}
