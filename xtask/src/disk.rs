//! `cargo xtask disk`: an image as a disk that UEFI firmware boots by itself (a cloud VM, a
//! USB stick, `run-disk.sh` under QEMU with OVMF). The disk (`disk_image.rs`) holds our
//! loader built as a UEFI application at the removable-media path, the image's guest ELF,
//! and the kernel command line as a text file a user can edit (`mcopy`) without rebuilding.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use hermit_wasm_kernel::manifest::Manifest;
use xshell::Shell;

use crate::cargo_cmd::cargo;
use crate::cloud_formats::{self, Format};
use crate::disk_image::{self, EspFile};
use crate::flags::DiskArgs;
use crate::launch_script::{self, Fill};
use crate::profile::{self, Board, DiskProfile};
use crate::project::Project;
use crate::{image, partial_file};

const TEMPLATE: &str = include_str!("../templates/run-disk.sh");

/// Where the guest and the command line lie on the EFI system partition (the loader reads
/// them there: `boards/loader/src/arch/x86_64/uefi/mod.rs`).
pub const GUEST_FILE: &str = "hermit-wasm/guest.elf";
pub const CMDLINE_FILE: &str = "hermit-wasm/cmdline.txt";

/// The command line a disk starts with: the runner on the serial platform, no launch
/// options, no module arguments beyond the image's own.
pub const DEFAULT_CMDLINE: &str = "env=HERMIT_WASM_PLATFORM=serial --\n";

pub fn run(sh: &Shell, project: &Project, args: &DiskArgs) -> Result<PathBuf> {
    let board = profile::find(&project.boards(), &args.image.board)?;
    let disk = board.disk.as_ref().with_context(|| {
        let boards = profile::load_all(&project.boards()).unwrap_or_default();
        let with_disks: Vec<&str> = boards
            .values()
            .filter(|b| b.disk.is_some())
            .map(|b| b.name.as_str())
            .collect();
        format!(
            "board {} has no UEFI route to boot a disk (no [disk] in boards/{}.toml); \
             disks are built for: {}",
            board.name,
            board.name,
            with_disks.join(", ")
        )
    })?;
    let formats = args
        .format
        .iter()
        .map(|name| Format::parse(name))
        .collect::<Result<Vec<_>>>()?;
    let plan = image::run(sh, project, &args.image)?;
    let loader_path = build_uefi_loader(sh, project, &board, disk)?;
    let loader = std::fs::read(&loader_path)
        .with_context(|| format!("reading {}", loader_path.display()))?;
    let guest = std::fs::read(&plan.image.guest)?;
    let manifest = Manifest::from_json(&std::fs::read(&plan.image.manifest)?)
        .with_context(|| format!("reading {}", plan.image.manifest.display()))?;
    let boot_path = format!("EFI/BOOT/{}", disk.boot_file);
    eprintln!("writing the disk: GPT, FAT32 EFI system partition with {boot_path}, {GUEST_FILE}, {CMDLINE_FILE}");
    let bytes = disk_image::build(&[
        EspFile {
            path: &boot_path,
            data: &loader,
        },
        EspFile {
            path: GUEST_FILE,
            data: &guest,
        },
        EspFile {
            path: CMDLINE_FILE,
            data: DEFAULT_CMDLINE.as_bytes(),
        },
    ])?;
    let out = plan.image.dir.join("disk.raw");
    partial_file::write(&out, &bytes, 0o644)?;
    let script = launch_script::fill(
        TEMPLATE,
        &[
            ("IMAGE", Fill::Word(&plan.name)),
            ("BOARD", Fill::Word(&board.name)),
            ("QEMU", Fill::Word(&board.qemu.binary)),
            ("PACKAGE", Fill::Word(&board.qemu.package)),
            ("MACHINE", Fill::Word(&disk.machine)),
            ("CPU", Fill::Word(&board.qemu.cpu)),
            ("MEMORY", Fill::Word(&board.qemu.memory)),
            ("FIRMWARE_CODE", Fill::Word(&disk.firmware_code)),
            ("FIRMWARE_VARS", Fill::Word(&disk.firmware_vars)),
            ("FIRMWARE_PACKAGE", Fill::Word(&disk.firmware_package)),
            ("CMDLINE_FILE", Fill::Word(CMDLINE_FILE)),
            ("MODULE_SHA256", Fill::Word(&manifest.module.sha256)),
            (
                "REPORT_FUNCTIONS",
                Fill::Code(launch_script::REPORT_FUNCTIONS),
            ),
        ],
    );
    partial_file::write(
        &plan.image.dir.join("run-disk.sh"),
        script.as_bytes(),
        0o755,
    )?;
    eprintln!(
        "disk {}: {} MiB; boot it with {}",
        out.display(),
        bytes.len() / (1024 * 1024),
        plan.image.dir.join("run-disk.sh").display()
    );
    for format in formats {
        cloud_formats::write(sh, &out, format, &board, &plan.name)?;
    }
    Ok(out)
}

/// Builds `boards/loader` as the board's UEFI application; returns the `.efi` file.
fn build_uefi_loader(
    sh: &Shell,
    project: &Project,
    board: &Board,
    disk: &DiskProfile,
) -> Result<PathBuf> {
    let manifest = project.root.join("boards/loader/Cargo.toml");
    let target_dir = project.target().join("loader-uefi");
    cargo(sh, &project.root)?
        .args(["build", "--release", "--locked", "--quiet"])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg(format!("--target={}", disk.loader_target))
        .args([
            "-Zbuild-std=core,alloc",
            "-Zbuild-std-features=compiler-builtins-mem",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .run()
        .context("building the UEFI loader")?;
    let efi = target_dir
        .join(&disk.loader_target)
        .join("release/hermit-wasm-loader.efi");
    let bytes = std::fs::read(&efi).with_context(|| format!("reading {}", efi.display()))?;
    check_pe_machine(&bytes, board).with_context(|| format!("refusing {}", efi.display()))?;
    Ok(efi)
}

/// A UEFI application is a PE file; its COFF machine must be the board's.
pub fn check_pe_machine(bytes: &[u8], board: &Board) -> Result<()> {
    let pe = goblin::pe::PE::parse(bytes).context("not a PE file")?;
    let want = match board.arch.elf_machine() {
        goblin::elf::header::EM_X86_64 => goblin::pe::header::COFF_MACHINE_X86_64,
        goblin::elf::header::EM_AARCH64 => goblin::pe::header::COFF_MACHINE_ARM64,
        other => bail!("no UEFI application machine for ELF machine {other}"),
    };
    if pe.header.coff_header.machine != want {
        bail!(
            "it is built for COFF machine {:#x}, the board needs {want:#x}",
            pe.header.coff_header.machine
        );
    }
    Ok(())
}
