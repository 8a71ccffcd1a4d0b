//! Builds `libhermit.a` for a board, following the kernel's own recipe: compile the
//! `hermit-kernel` crate (source from crates.io) for the bare-metal target, keep only its
//! system calls global, append our builtins (libm, mem*) likewise renamed, and mark every
//! member standalone. The result is cached per board and kernel key.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::host::cargo_cmd::{cargo_with, registry_package};
use crate::host::toolchain;
use crate::image::symbols;
use crate::plan::KernelBuild;
use crate::project::Project;

/// Builds the kernel archive unless the cache holds it. Returns its path.
pub fn ensure(sh: &Shell, project: &Project, kernel: &KernelBuild) -> Result<PathBuf> {
    let archive = kernel.archive();
    if archive.exists() {
        eprintln!(
            "kernel {} ({}) cached: {}",
            kernel.version,
            kernel.key,
            archive.display()
        );
        return Ok(archive);
    }
    toolchain::ensure_installed(sh, &kernel.toolchain, &["rust-src", "llvm-tools"])?;
    let source = kernel_source(sh, project, &kernel.version)?;
    let staging = kernel.out_dir.with_extension("partial");
    sh.remove_path(&staging)?;
    sh.create_dir(&staging)?;

    let built = build_kernel(sh, &source, kernel)?;
    let staged = staging.join("libhermit.a");
    sh.copy_file(&built, &staged)?;
    export_kernel_symbols(sh, &staged)?;

    let builtins = build_builtins(sh, kernel)?;
    let staged_builtins = staging.join("libhermit_builtins.a");
    sh.copy_file(&builtins, &staged_builtins)?;
    export_builtins_symbols(sh, project, &staged_builtins)?;
    let ar = toolchain::llvm_tool(sh, "llvm-ar")?;
    cmd!(sh, "{ar} qL {staged} {staged_builtins}").run()?;
    sh.remove_path(&staged_builtins)?;

    let mut bytes = std::fs::read(&staged)?;
    let members = symbols::set_standalone_osabi(&mut bytes)?;
    std::fs::write(&staged, bytes)?;
    eprintln!("marked {members} archive members standalone (EI_OSABI = 0xFF)");

    sh.remove_path(&kernel.out_dir)?;
    std::fs::rename(&staging, &kernel.out_dir)
        .with_context(|| format!("moving {} into place", staging.display()))?;
    Ok(archive)
}

/// The kernel's source, copied out of cargo's registry (located with `cargo metadata`)
/// so that building it never writes into the registry.
fn kernel_source(sh: &Shell, project: &Project, version: &str) -> Result<PathBuf> {
    let copy = project
        .target()
        .join(format!("hermit-kernel/src-{version}"));
    if copy.join("Cargo.toml").exists() {
        return Ok(copy);
    }
    let manifest = registry_package(sh, project, "hermit-kernel", version)?;
    let source = manifest.parent().context("manifest has a folder")?;
    eprintln!("copying the kernel source from {}", source.display());
    copy_tree(source, &copy)?;
    Ok(copy)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let partial = to.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    copy_dir(from, &partial)?;
    // The copy lies inside our workspace's folder: make it a workspace of its own.
    let manifest = partial.join("Cargo.toml");
    let mut text = std::fs::read_to_string(&manifest)?;
    text.push_str("\n[workspace]\n");
    std::fs::write(&manifest, text)?;
    std::fs::rename(&partial, to)?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

fn build_kernel(sh: &Shell, source: &Path, kernel: &KernelBuild) -> Result<PathBuf> {
    let _dir = sh.push_dir(source);
    let target = &kernel.target;
    let target_dir = &kernel.cargo_target_dir;
    let features = kernel.features.join(",");
    cargo_with(sh, &kernel.toolchain)
        .args(["build", "--release", "--locked", "--lib"])
        .arg(format!("--target={target}"))
        .args([
            "-Zbuild-std=core,alloc",
            "-Zbuild-std-features=compiler-builtins-mem",
        ])
        .arg("--no-default-features")
        .arg(format!("--features={features}"))
        .arg("--target-dir")
        .arg(target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", kernel.rustflags.join("\x1f"))
        .env("HERMIT_LOG_LEVEL_FILTER", &kernel.log_level)
        // Plain text in the kernel log: it ends up in files and CI output.
        .env("NO_COLOR", "1")
        .run()
        .context("building the Hermit kernel")?;
    Ok(target_dir.join(target).join("release/libhermit.a"))
}

fn build_builtins(sh: &Shell, kernel: &KernelBuild) -> Result<PathBuf> {
    let target = &kernel.builtins_target;
    let target_dir = kernel.cargo_target_dir.join("builtins");
    // Part of the kernel archive: built by the kernel's toolchain.
    cargo_with(sh, &kernel.toolchain)
        .args(["build", "--release", "--locked"])
        .arg("--manifest-path")
        .arg(&kernel.builtins_manifest)
        .arg(format!("--target={target}"))
        .args([
            "-Zbuild-std=core",
            "-Zbuild-std-features=compiler-builtins-mem",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .run()
        .context("building the builtins (libm, mem*) for the kernel archive")?;
    Ok(target_dir
        .join(target)
        .join("release/libhermit_wasm_builtins.a"))
}

fn export_kernel_symbols(sh: &Shell, archive: &Path) -> Result<()> {
    let index = symbols::index(&std::fs::read(archive)?)?;
    let keep = symbols::kernel_exports(&index);
    let syscalls = keep.iter().filter(|s| s.starts_with("sys_")).count();
    if syscalls == 0 {
        bail!(
            "{} defines no sys_* symbols: not a Hermit kernel",
            archive.display()
        );
    }
    eprintln!("kernel exports {syscalls} system calls; renaming its other symbols");
    redefine(sh, archive, &symbols::rename_map(&index, &keep, "hermit"))
}

fn export_builtins_symbols(sh: &Shell, project: &Project, archive: &Path) -> Result<()> {
    let exports_path = project.builtins().join("exports");
    let exports = std::fs::read_to_string(&exports_path)
        .with_context(|| format!("reading {}", exports_path.display()))?;
    let keep = exports
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let index = symbols::index(&std::fs::read(archive)?)?;
    redefine(
        sh,
        archive,
        &symbols::rename_map(&index, &keep, "hermit_builtins"),
    )
}

fn redefine(sh: &Shell, archive: &Path, map: &str) -> Result<()> {
    let map_path = archive.with_extension("redefine-syms");
    std::fs::write(&map_path, map)?;
    let objcopy = toolchain::llvm_tool(sh, "llvm-objcopy")?;
    cmd!(sh, "{objcopy} --redefine-syms={map_path} {archive}").run()?;
    std::fs::remove_file(&map_path)?;
    Ok(())
}
