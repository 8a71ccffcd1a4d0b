//! `cargo xtask inspect IMAGE`: what an image holds, read back from its files. Each ELF
//! (guest, loader, and the precompiled module inside the guest) is parsed and checked
//! against the board's machine; the embedded manifest is compared with manifest.json.

use std::path::Path;

use anyhow::{bail, Context, Result};
use hermit_wasm_kernel::manifest::Manifest;
use hermit_wasm_kernel::payload;
use serde::Serialize;

use crate::elf_info::{self, ElfInfo};
use crate::flags::InspectArgs;
use crate::project::Project;
use crate::{payload_segment, profile};

#[derive(Serialize)]
pub struct Report {
    pub image: String,
    pub board: String,
    pub arch: String,
    pub elfs: Vec<NamedElf>,
    pub modules: Vec<EmbeddedModule>,
    pub manifest: Manifest,
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
    let modules = vec![EmbeddedModule {
        name: embedded_manifest.module.name.clone(),
        sha256: embedded_manifest.module.sha256.clone(),
        wasm_size: embedded_manifest.module.size,
        precompiled_size: embedded.module.len() as u64,
        precompiled,
        matches_manifest_json: embedded_manifest == manifest,
    }];

    Ok(Report {
        image: manifest.image.clone(),
        board: manifest.board.clone(),
        arch: manifest.arch.clone(),
        elfs,
        modules,
        manifest,
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
        println!("module {} (embedded in guest.elf)", module.name);
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
        let mib = |pages: u64| (pages * hermit_wasm_kernel::engine::WASM_PAGE) >> 20;
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
    println!(
        "run     args {:?}, env {:?}, entrypoint {}",
        m.run.args,
        m.run.env,
        m.run.entrypoint.as_deref().unwrap_or("_start")
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
