//! `cargo xtask bundle`: one image, for one or more boards, in a single executable file.
//!
//! The file is `xtask/templates/bundle.sh` (filled in like the launch scripts) followed by
//! a gzip'd tar of the image folders (`BOARD/guest.elf`, `loader.elf`, `manifest.json`,
//! `run-qemu.sh`, ...) and `bundle.json`. The script finds the archive by its byte offset,
//! written into the script with a fixed width so that writing it does not move it. The
//! bytes depend only on the images: fixed timestamps, owners and order.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use anyhow::{bail, ensure, Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use hermit_wasm_kernel::manifest::Manifest;
use serde::Serialize;
use xshell::Shell;

use crate::flags::BundleArgs;
use crate::host::partial_file;
use crate::image;
use crate::image::launch_script::{self, Fill};
use crate::plan::BuildPlan;
use crate::project::Project;

const TEMPLATE: &str = include_str!("../templates/bundle.sh");
/// Digits of the archive offset in the script (fixed, so that filling it in moves nothing).
const OFFSET_DIGITS: usize = 12;

/// What `./app.run --manifest` prints.
#[derive(Serialize)]
struct BundleManifest<'a> {
    bundle: &'a str,
    /// The boards in the order the bundle lists them.
    boards: Vec<&'a str>,
    /// Each board's `manifest.json`.
    images: Vec<&'a Manifest>,
}

pub fn run(sh: &Shell, project: &Project, args: &BundleArgs) -> Result<()> {
    for (i, board) in args.boards.iter().enumerate() {
        ensure!(
            !args.boards[..i].contains(board),
            "--board {board} is given twice"
        );
    }
    let output = &args.output;
    if output.is_dir() {
        bail!(
            "-o {}: is a folder; give the bundle's file name",
            output.display()
        );
    }
    let mut plans = Vec::new();
    for board in &args.boards {
        plans.push(image::run(sh, project, &args.image(board))?);
    }
    let bytes = bundle(&plans)?;
    partial_file::write(output, &bytes, 0o755).context("writing the bundle")?;
    eprintln!(
        "bundle {}: image {} for {}, {} KiB; run it with {} [-- ARGS]",
        output.display(),
        plans[0].name,
        args.boards.join(", "),
        bytes.len() / 1024,
        output.display()
    );
    Ok(())
}

/// The bundle file for the images `plans` (one per board, same image name).
fn bundle(plans: &[BuildPlan]) -> Result<Vec<u8>> {
    let first = plans.first().context("a bundle needs at least one board")?;
    let mut manifests = Vec::new();
    for plan in plans {
        let path = &plan.image.manifest;
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        manifests.push(Manifest::from_json(&text).with_context(|| path.display().to_string())?);
    }
    let manifest = BundleManifest {
        bundle: &first.name,
        boards: plans.iter().map(|p| p.board.name.as_str()).collect(),
        images: manifests.iter().collect(),
    };
    let archive = archive(plans, &serde_json::to_vec_pretty(&manifest)?)?;

    let words = |words: Vec<&str>| {
        words
            .into_iter()
            .map(launch_script::bash_quote)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let boards = words(plans.iter().map(|p| p.board.name.as_str()).collect());
    let arches = words(plans.iter().map(|p| p.board.arch.name()).collect());
    let script = |offset: usize| {
        let offset = format!("{offset:0width$}", width = OFFSET_DIGITS);
        launch_script::fill(
            TEMPLATE,
            &[
                ("IMAGE", Fill::Word(&first.name)),
                ("BOARDS", Fill::Code(&boards)),
                ("ARCHES", Fill::Code(&arches)),
                ("ARCHIVE_START", Fill::Code(&offset)),
            ],
        )
    };
    let offset = script(0).len();
    let mut bytes = script(offset).into_bytes();
    ensure!(bytes.len() == offset, "the bundle script changed length");
    bytes.extend_from_slice(&archive);
    Ok(bytes)
}

/// A gzip'd tar of `bundle.json` and every image folder under its board's name.
fn archive(plans: &[BuildPlan], manifest: &[u8]) -> Result<Vec<u8>> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    tar.mode(tar::HeaderMode::Deterministic);
    append(&mut tar, "bundle.json", manifest, 0o644)?;
    for plan in plans {
        let dir = &plan.image.dir;
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .collect::<std::io::Result<_>>()?;
        files.sort_by_key(|entry| entry.file_name());
        for entry in files {
            let path = entry.path();
            if !entry.file_type()?.is_file() {
                continue;
            }
            let data =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let executable = entry.metadata()?.permissions().mode() & 0o111 != 0;
            let name = format!(
                "{}/{}",
                plan.board.name,
                entry.file_name().to_string_lossy()
            );
            append(
                &mut tar,
                &name,
                &data,
                if executable { 0o755 } else { 0o644 },
            )?;
        }
    }
    let gz = tar.into_inner().context("finishing the bundle's archive")?;
    Ok(gz.finish()?)
}

fn append<W: Write>(tar: &mut tar::Builder<W>, name: &str, data: &[u8], mode: u32) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, name, data)
        .with_context(|| format!("adding {name} to the bundle"))
}
