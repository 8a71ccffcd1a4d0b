//! Passes the linker script of the target architecture to the linker.

use std::env;
use std::path::PathBuf;

fn main() {
    // A UEFI application is a PE file the firmware relocates: rustc's own layout.
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("uefi") {
        return;
    }
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets CARGO_CFG_TARGET_ARCH");
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let script = manifest_dir.join("src/arch").join(&arch).join("link.ld");
    assert!(
        script.exists(),
        "no linker script for target architecture {arch}: {}",
        script.display()
    );

    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    if arch == "x86_64" {
        // `x86_64-unknown-none` links a static PIE by default; QEMU loads the PVH image at
        // its physical addresses without applying relocations, so link a plain executable.
        println!("cargo:rustc-link-arg-bins=--no-pie");
    }
}
