//! `cargo xtask inspect IMAGE`: what an image holds, read back from its files. Each ELF
//! (guest, loader, and the precompiled module inside the guest) is parsed and checked
//! against the board's machine; the embedded manifest is compared with manifest.json.
//! When the folder holds a disk (`cargo xtask disk`), its partition table and files are
//! read back: the loader's machine, the guest against guest.elf, the command line.

use std::path::Path;

use anyhow::{bail, Context, Result};
use hermit_wasm_kernel::manifest::Manifest;
use hermit_wasm_kernel::payload;
use serde::Serialize;
use sha2::Digest;

use crate::disk;
use crate::flags::InspectArgs;
use crate::image::elf_info::{self, ElfInfo};
use crate::image::payload_segment;
use crate::plan::profile;
use crate::plan::profile::{Board, DiskRoute};
use crate::project::Project;

#[derive(Serialize)]
pub struct Report {
    pub image: String,
    pub board: String,
    pub arch: String,
    pub elfs: Vec<NamedElf>,
    pub modules: Vec<EmbeddedModule>,
    pub manifest: Manifest,
    /// What disk.raw holds, if the folder has one.
    pub disk: Option<DiskReport>,
}

#[derive(Serialize)]
pub struct DiskReport {
    pub file: String,
    pub size: u64,
    pub disk_guid: String,
    /// The EFI system partition's first and last 512-byte sector.
    pub esp_sectors: (u64, u64),
    pub fat_type: String,
    pub files: Vec<DiskFile>,
    /// The loader's path on the partition; checked: a UEFI application's PE machine is the
    /// board's, a flat image is the folder's loader.elf.
    pub loader: String,
    /// The guest on the disk is byte for byte the folder's guest.elf.
    pub guest_matches_image: bool,
    /// The kernel command line, as the disk's run configuration holds it.
    pub cmdline: String,
}

#[derive(Serialize)]
pub struct DiskFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Serialize)]
pub struct NamedElf {
    pub file: String,
    #[serde(flatten)]
    pub info: ElfInfo,
}

#[derive(Serialize)]
pub struct EmbeddedModule {
    pub name: String,
    pub sha256: String,
    pub wasm_size: u64,
    pub precompiled_size: u64,
    /// The precompiled module is itself an ELF object for the board's machine.
    pub precompiled: ElfInfo,
    pub matches_manifest_json: bool,
    /// For a module linked to the one that runs (`LINK`): the name its exports are under.
    pub linked_as: Option<String>,
}

pub fn report(project: &Project, dir: &Path) -> Result<Report> {
    let manifest_path = dir.join("manifest.json");
    let text = std::fs::read(&manifest_path).with_context(|| {
        format!(
            "{} is not an image folder (no manifest.json)",
            dir.display()
        )
    })?;
    let manifest = Manifest::from_json(&text)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let board = profile::find(&project.boards(), &manifest.board)?;
    let machine = board.arch.elf_machine();

    let mut elfs = Vec::new();
    for file in ["guest.elf", "loader.elf"] {
        let info = elf_info::read_checked(&dir.join(file), machine)?;
        elfs.push(NamedElf {
            file: file.to_string(),
            info,
        });
    }

    let guest = std::fs::read(dir.join("guest.elf"))?;
    let blob = payload_segment::read(&guest).context("guest.elf")?;
    let embedded = payload::decode(blob)?;
    let embedded_manifest =
        Manifest::from_json(embedded.manifest).context("the embedded manifest")?;
    let precompiled =
        elf_info::parse(embedded.module).context("the embedded precompiled module")?;
    elf_info::check_machine(&precompiled, machine).context("the embedded precompiled module")?;
    if embedded.module.len() as u64 != embedded_manifest.module.precompiled_size {
        bail!("the embedded module's size differs from what its manifest records");
    }
    let matches_manifest_json = embedded_manifest == manifest;
    let mut modules = vec![EmbeddedModule {
        name: embedded_manifest.module.name.clone(),
        sha256: embedded_manifest.module.sha256.clone(),
        wasm_size: embedded_manifest.module.size,
        precompiled_size: embedded.module.len() as u64,
        precompiled,
        matches_manifest_json,
        linked_as: None,
    }];
    if embedded.links.len() != embedded_manifest.module.links.len() {
        bail!(
            "the payload holds {} linked modules and its manifest names {}",
            embedded.links.len(),
            embedded_manifest.module.links.len()
        );
    }
    for (link, code) in embedded_manifest.module.links.iter().zip(&embedded.links) {
        let what = format!(
            "the embedded precompiled {} (LINK {})",
            link.file, link.name
        );
        let precompiled = elf_info::parse(code).with_context(|| what.clone())?;
        elf_info::check_machine(&precompiled, machine).with_context(|| what.clone())?;
        if code.len() as u64 != link.precompiled_size {
            bail!("{what}: its size differs from what the manifest records");
        }
        modules.push(EmbeddedModule {
            name: link.file.clone(),
            sha256: link.sha256.clone(),
            wasm_size: link.size,
            precompiled_size: code.len() as u64,
            precompiled,
            matches_manifest_json,
            linked_as: Some(link.name.clone()),
        });
    }

    let raw = dir.join("disk.raw");
    let disk = if raw.exists() {
        Some(
            disk_report(&raw, &board, &guest)
                .with_context(|| format!("reading {}", raw.display()))?,
        )
    } else {
        None
    };

    Ok(Report {
        image: manifest.image.clone(),
        board: manifest.board.clone(),
        arch: manifest.arch.clone(),
        elfs,
        modules,
        manifest,
        disk,
    })
}

/// A flat loader on a disk must be the image folder's loader.elf made flat.
fn check_flat_loader(bytes: &[u8], raw: &Path) -> Result<()> {
    let elf = raw.with_file_name("loader.elf");
    let expected = disk::flat_image(&std::fs::read(&elf)?)?;
    if bytes != expected {
        bail!(
            "it is not {} made flat: rebuild the disk with cargo xtask disk",
            elf.display()
        );
    }
    Ok(())
}

/// The disk `raw` taken apart: its loader must be a UEFI application for the board's
/// machine, and the guest and the command line must be where the loader reads them.
fn disk_report(raw: &Path, board: &Board, guest: &[u8]) -> Result<DiskReport> {
    let contents = disk::layout::read(raw)?;
    let file = |path: &str| -> Result<&[u8]> {
        contents
            .files
            .iter()
            .find(|(p, _)| p.eq_ignore_ascii_case(path))
            .map(|(_, data)| &data[..])
            .with_context(|| format!("the disk has no {path}: rebuild it with cargo xtask disk"))
    };
    let disk_profile = board
        .disk
        .as_ref()
        .with_context(|| format!("board {} boots no disk, yet the folder has one", board.name))?;
    let loader = disk::loader_file(disk_profile);
    match disk_profile.route {
        DiskRoute::Uefi => disk::check_pe_machine(file(&loader)?, board),
        DiskRoute::UBootExtlinux => check_flat_loader(file(&loader)?, raw),
    }
    .with_context(|| format!("the disk's {loader}"))?;
    let guest_matches_image = file(disk::GUEST_FILE)? == guest;
    let config_file = disk::config::file(disk_profile.route);
    let config = std::str::from_utf8(file(config_file)?)
        .with_context(|| format!("the disk's {config_file} is not UTF-8"))?;
    let cmdline = disk::config::cmdline(disk_profile.route, config)?;
    Ok(DiskReport {
        file: "disk.raw".to_string(),
        size: std::fs::metadata(raw)?.len(),
        disk_guid: contents.disk_guid.clone(),
        esp_sectors: contents.esp_sectors,
        fat_type: contents.fat_type.clone(),
        files: contents
            .files
            .iter()
            .map(|(path, data)| DiskFile {
                path: path.clone(),
                size: data.len() as u64,
                sha256: format!("{:x}", sha2::Sha256::digest(data)),
            })
            .collect(),
        loader,
        guest_matches_image,
        cmdline,
    })
}

pub fn run(project: &Project, args: &InspectArgs) -> Result<()> {
    let report = report(project, &args.image)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "image {} for board {} ({})",
        report.image, report.board, report.arch
    );
    for elf in &report.elfs {
        print_elf(&elf.file, &elf.info);
    }
    for module in &report.modules {
        match &module.linked_as {
            None => println!("module {} (embedded in guest.elf)", module.name),
            Some(name) => println!(
                "linked module {} as {name} (embedded in guest.elf)",
                module.name
            ),
        }
        println!(
            "  wasm        {} bytes, sha256 {}",
            module.wasm_size, module.sha256
        );
        println!("  precompiled {} bytes", module.precompiled_size);
        print_elf("  precompiled module", &module.precompiled);
        let agreement = if module.matches_manifest_json {
            "matches"
        } else {
            "DIFFERS FROM"
        };
        println!("  embedded manifest {agreement} manifest.json");
    }
    let m = &report.manifest;
    if let Some(t) = &m.module.threads {
        let mib = |pages: u64| (pages * hermit_wasm_kernel::manifest::WASM_PAGE) >> 20;
        println!(
            "threads wasm32-wasip1-threads: shared memory {}..{} pages, room for {} pages \
             ({} MiB); up to {} threads besides the main one",
            t.memory_minimum_pages,
            t.memory_maximum_pages,
            t.memory_capacity_pages,
            mib(t.memory_capacity_pages),
            t.max_threads
        );
    }
    if let Some(c) = &m.module.component {
        println!("component (WASI 0.2) imports {}", c.imports.join(", "));
    }
    let default_entry = if m.module.component.is_some() {
        "wasi:cli/run"
    } else {
        "_start"
    };
    println!(
        "run     args {:?}, env {:?}, entrypoint {}",
        m.run.args,
        m.run.env,
        m.run.entrypoint.as_deref().unwrap_or(default_entry)
    );
    let limits = m.run.limits.specs();
    if !limits.is_empty() {
        println!("limits  {}", limits.join(" "));
    }
    println!(
        "kernel  hermit-kernel {} for {} [{}], log {}",
        m.kernel.version,
        m.kernel.target,
        m.kernel.features.join(","),
        m.kernel.log_level
    );
    println!(
        "engine  wasmtime {} for {} (cpu {}), {}",
        m.engine.wasmtime,
        m.engine.target,
        m.engine.cpu_features.join(","),
        m.engine
            .settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("toolchain {}", m.toolchain);
    if let Some(disk) = &report.disk {
        println!(
            "disk    {}: {} bytes, GPT {}, EFI system partition sectors {}..={} ({})",
            disk.file,
            disk.size,
            disk.disk_guid,
            disk.esp_sectors.0,
            disk.esp_sectors.1,
            disk.fat_type
        );
        for file in &disk.files {
            println!(
                "    {:<28} {:>9} bytes  sha256 {}",
                file.path, file.size, file.sha256
            );
        }
        let agreement = if disk.guest_matches_image {
            "is"
        } else {
            "DIFFERS FROM (rebuild the disk: cargo xtask disk)"
        };
        println!(
            "    the disk's guest {agreement} guest.elf; loader {} for {}",
            disk.loader, report.arch
        );
        println!("    command line: {}", disk.cmdline.trim_end());
    }
    Ok(())
}

fn print_elf(name: &str, info: &ElfInfo) {
    println!(
        "{name}: {} {}, entry {:#x}, {} bytes",
        info.class, info.machine, info.entry, info.size
    );
    for s in &info.segments {
        println!(
            "    LOAD vaddr {:#012x} paddr {:#012x} filesz {:#9x} memsz {:#9x} {}",
            s.vaddr, s.paddr, s.file_size, s.mem_size, s.flags
        );
    }
    for n in &info.notes {
        println!("    NOTE {} type {:#x} ({} bytes)", n.name, n.kind, n.size);
    }
}
