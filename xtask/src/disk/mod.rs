//! `cargo xtask disk`: an image as a disk that firmware boots by itself (a cloud VM, a USB
//! stick, a board; `run-disk.sh` under QEMU with the board's firmware). The disk's bytes
//! (`layout.rs`: MBR, GPT, FAT32) hold our loader, the image's guest ELF and the run
//! configuration (`config.rs`), as the board's route wants them:
//! - `uefi`: the loader built as a UEFI application at the removable-media path;
//! - `u-boot-extlinux`: the board's loader as a flat image (`booti`), started by U-Boot from
//!   `extlinux/extlinux.conf`.
//!
//! `--format` writes what each cloud imports (`cloud_formats.rs`, `oci_archive.rs`).
//!
//! Invariants: a disk's bytes follow from its files alone (fixed FAT dates, GUIDs from the
//! contents); every output is written beside its final name and renamed when complete
//! (`host::partial_file`), so a failed build leaves nothing half-written under that name.

pub mod cloud_formats;
pub mod config;
pub mod layout;
pub mod oci_archive;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use hermit_wasm_kernel::manifest::{Manifest, WASM_PAGE};
use xshell::Shell;

use crate::disk::cloud_formats::Format;
use crate::disk::layout::EspFile;
use crate::flags::DiskArgs;
use crate::host::cargo_cmd::cargo;
use crate::host::partial_file;
use crate::image;
use crate::image::launch_script::{self, Fill};
use crate::plan::profile::{self, Board, DiskProfile, DiskRoute};
use crate::project::Project;

const TEMPLATE: &str = include_str!("../../templates/disk/run-disk.sh");
/// How `run-disk.sh` hands QEMU the board's firmware, per route.
const FIRMWARE_UEFI: &str = include_str!("../../templates/disk/disk-firmware-uefi.sh");
const FIRMWARE_U_BOOT: &str = include_str!("../../templates/disk/disk-firmware-u-boot.sh");

/// Where the guest lies on the EFI system partition (the UEFI loader reads it there:
/// `boards/loader/src/uefi_boot.rs`; extlinux.conf names it).
pub const GUEST_FILE: &str = "hermit-wasm/guest.elf";
/// The loader's flat image on a `u-boot-extlinux` disk (extlinux.conf names it).
pub const FLAT_LOADER_FILE: &str = "hermit-wasm/loader.bin";
/// The RISC-V Linux image header's `magic2` ("RSC\x05") and its offset: what `booti` checks.
const RISCV_IMAGE_MAGIC: (&[u8], usize) = (b"RSC\x05", 56);

/// The path of the loader on the disk, for `route`.
pub fn loader_file(disk: &DiskProfile) -> String {
    match (disk.route, &disk.boot_file) {
        (DiskRoute::Uefi, Some(boot_file)) => format!("EFI/BOOT/{boot_file}"),
        _ => FLAT_LOADER_FILE.to_string(),
    }
}

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
            "board {} has no route to boot a disk (no [disk] in boards/{}.toml); \
             disks are built for: {}",
            board.name,
            board.name,
            with_disks.join(", ")
        )
    })?;
    let formats = args
        .format
        .iter()
        .map(|name| {
            let format = Format::parse(name)?;
            format.check_arch(board.arch.name())?;
            Ok(format)
        })
        .collect::<Result<Vec<_>>>()?;
    let plan = image::run(sh, project, &args.image)?;
    let loader = match disk.route {
        DiskRoute::Uefi => {
            let path = build_uefi_loader(sh, project, &board, disk)?;
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?
        }
        DiskRoute::UBootExtlinux => {
            let elf = plan.image.dir.join("loader.elf");
            flat_image(&std::fs::read(&elf).with_context(|| format!("reading {}", elf.display()))?)
                .with_context(|| format!("making a flat image of {}", elf.display()))?
        }
    };
    let guest = std::fs::read(&plan.image.guest)?;
    let manifest = Manifest::from_json(&std::fs::read(&plan.image.manifest)?)
        .with_context(|| format!("reading {}", plan.image.manifest.display()))?;
    let loader_path = loader_file(disk);
    let config_path = config::file(disk.route);
    let config = config::render(disk.route, config::DEFAULT_CMDLINE);
    eprintln!(
        "writing the disk: GPT, FAT32 EFI system partition with {loader_path}, {GUEST_FILE}, \
         {config_path}"
    );
    let bytes = layout::build(&[
        EspFile {
            path: &loader_path,
            data: &loader,
        },
        EspFile {
            path: GUEST_FILE,
            data: &guest,
        },
        EspFile {
            path: config_path,
            data: config.as_bytes(),
        },
    ])?;
    let out = plan.image.dir.join("disk.raw");
    partial_file::write(&out, &bytes, 0o644)?;
    // A threads module's VM gets RAM for its shared memory to grow into, as run-qemu.sh
    // gives it.
    let memory = match &manifest.module.threads {
        Some(threads) => format!(
            "{}M",
            launch_script::threads_vm_memory_mib(
                threads.memory_capacity_pages * WASM_PAGE,
                guest.len() as u64
            )
        ),
        None => board.qemu.memory.clone(),
    };
    let script = disk_script(&board, disk, &plan.name, &manifest.module.sha256, &memory);
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

/// `run-disk.sh` for image `image` of `board` (whose disk profile is `disk`), built from
/// a module whose sha256 is `module_sha256`, booting a VM with `memory` of RAM.
pub fn disk_script(
    board: &Board,
    disk: &DiskProfile,
    image: &str,
    module_sha256: &str,
    memory: &str,
) -> String {
    launch_script::fill(
        TEMPLATE,
        &[
            ("IMAGE", Fill::Word(image)),
            ("BOARD", Fill::Word(&board.name)),
            ("QEMU", Fill::Word(&board.qemu.binary)),
            ("PACKAGE", Fill::Word(&board.qemu.package)),
            ("MACHINE", Fill::Word(&disk.machine)),
            ("CPU", Fill::Word(&board.qemu.cpu)),
            ("MEMORY", Fill::Word(memory)),
            ("FIRMWARE_CODE", Fill::Word(&disk.firmware_code)),
            (
                "FIRMWARE_VARS",
                Fill::Word(disk.firmware_vars.as_deref().unwrap_or("")),
            ),
            ("FIRMWARE_PACKAGE", Fill::Word(&disk.firmware_package)),
            (
                "FIRMWARE_SETUP",
                Fill::Code(match disk.route {
                    DiskRoute::Uefi => FIRMWARE_UEFI,
                    DiskRoute::UBootExtlinux => FIRMWARE_U_BOOT,
                }),
            ),
            ("BUSES", Fill::Word(&disk.buses.join(" "))),
            ("CMDLINE_FILE", Fill::Word(config::file(disk.route))),
            ("CMDLINE_LINE", Fill::Code(config::line_glob(disk.route))),
            (
                "CMDLINE_ESCAPE",
                Fill::Code(config::bash_escape(disk.route)),
            ),
            ("MODULE_SHA256", Fill::Word(module_sha256)),
            (
                "REPORT_FUNCTIONS",
                Fill::Code(launch_script::REPORT_FUNCTIONS),
            ),
        ],
    )
}

/// The loader ELF `elf` as the flat image U-Boot's `booti` loads: its segments' bytes from
/// the lowest physical address on (`.bss` left out: the image header's `image_size` counts
/// it); the image must begin with the RISC-V image header.
pub fn flat_image(elf: &[u8]) -> Result<Vec<u8>> {
    let object = goblin::elf::Elf::parse(elf).context("not an ELF file")?;
    let loads: Vec<_> = object
        .program_headers
        .iter()
        .filter(|ph| ph.p_type == goblin::elf::program_header::PT_LOAD && ph.p_filesz > 0)
        .collect();
    let base = loads
        .iter()
        .map(|ph| ph.p_paddr)
        .min()
        .context("no loadable segment")?;
    let end = loads
        .iter()
        .map(|ph| ph.p_paddr + ph.p_filesz)
        .max()
        .context("no loadable segment")?;
    let mut image = vec![0u8; usize::try_from(end - base)?];
    for ph in loads {
        let at = usize::try_from(ph.p_paddr - base)?;
        let bytes = elf
            .get(ph.file_range())
            .context("a segment lies outside the file")?;
        image[at..at + bytes.len()].copy_from_slice(bytes);
    }
    let (magic, offset) = RISCV_IMAGE_MAGIC;
    if image.get(offset..offset + magic.len()) != Some(magic) {
        bail!("it does not begin with the RISC-V image header U-Boot's booti needs");
    }
    Ok(image)
}

/// Builds `boards/loader` as the board's UEFI application; returns the `.efi` file.
fn build_uefi_loader(
    sh: &Shell,
    project: &Project,
    board: &Board,
    disk: &DiskProfile,
) -> Result<PathBuf> {
    let loader_target = disk
        .loader_target
        .as_deref()
        .context("the board's [disk] names no loader-target")?;
    let manifest = project.root.join("boards/loader/Cargo.toml");
    let target_dir = project.target().join("loader-uefi");
    cargo(sh, &project.root)?
        .args(["build", "--release", "--locked", "--quiet"])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg(format!("--target={loader_target}"))
        .args([
            "-Zbuild-std=core,alloc",
            "-Zbuild-std-features=compiler-builtins-mem",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .run()
        .context("building the UEFI loader")?;
    let efi = target_dir
        .join(loader_target)
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
