//! `cargo xtask image`: executes the build plan. Module and precompilation
//! (`precompile.rs`), then kernel (`kernel_build.rs`, `symbols.rs`; cached), loader and
//! guest (each built once per board under a per-board lock, `build_lock.rs`, and kept in
//! memory for the process's later images), the payload attached to a copy of the guest
//! (`payload_segment.rs`), ELF checks (`elf_info.rs`), then the image folder with its
//! manifest and launch scripts (`launch_script.rs`).
//!
//! Invariants: every ELF written is read back and refused if its machine is not the
//! board's; an image's guest carries exactly the payload its manifest describes (read back
//! the way the guest finds it before the image is written); every value in a generated
//! script is one single-quoted bash word (`launch_script::fill`), and only our own
//! fragments go in as code.

pub mod build_lock;
pub mod component;
pub mod elf_info;
pub mod kernel_build;
pub mod launch_script;
pub mod link;
pub mod payload_segment;
pub mod precompile;
pub mod symbols;
pub mod vectorless_copies;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use hermit_wasm_kernel::manifest::{
    EngineInfo, KernelInfo, LinkInfo, Manifest, Map, ModuleInfo, RunConfig, FORMAT, WASM_PAGE,
};
use hermit_wasm_kernel::{engine, payload};
use xshell::{cmd, Shell};

use crate::flags::ImageArgs;
use crate::host::cargo_cmd::{cargo, cargo_with};
use crate::host::toolchain;
use crate::image::build_lock::BuildLock;
use crate::image::launch_script::ScriptInfo;
use crate::plan::hermitfile::Hermitfile;
use crate::plan::profile;
use crate::plan::profile::{Board, BootProtocol, GuestDelivery};
use crate::plan::{self, BuildPlan, GuestBuild, ModuleBuild, ModuleSource, Request};
use crate::project::Project;

/// Builds the image `args` ask for; returns its plan (paths included).
pub fn run(sh: &Shell, project: &Project, args: &ImageArgs) -> Result<BuildPlan> {
    let board = profile::find(&project.boards(), &args.board)?;
    let request = match &args.hermitfile {
        None => Request {
            module: ModuleSource::from_arg(args.module.as_deref().unwrap_or(plan::DEFAULT_MODULE)),
            name: args.name.clone(),
            kernel_log: args.kernel_log.clone(),
            grants: RunConfig::default(),
            links: Vec::new(),
        },
        Some(path) => {
            let hermitfile = Hermitfile::load(path)?;
            Request {
                module: ModuleSource::File(hermitfile.from.clone()),
                name: args.name.clone(),
                kernel_log: args.kernel_log.clone(),
                grants: grants(&hermitfile, &board)?,
                links: hermitfile.links.clone(),
            }
        }
    };
    check_module_source(project, &request.module)?;
    plan::image_name(&request)?;
    let plan = plan::plan(project, &board, &request, plan::KERNEL_TOOLCHAIN);
    build(sh, project, &plan)?;
    Ok(plan)
}

/// The image of example `module`'s `.wasm` taken as a plain file (`plain-MODULE`): what a
/// user's own module gets, with nothing baked in.
pub fn plain_example(
    sh: &Shell,
    project: &Project,
    board: &str,
    module: &str,
) -> Result<BuildPlan> {
    run(sh, project, &ImageArgs::of_module(board, module, None))?;
    let wasm = plan::example_wasm(project, module).display().to_string();
    let name = format!("plain-{module}");
    run(
        sh,
        project,
        &ImageArgs::of_module(board, &wasm, Some(&name)),
    )
}

/// What a Hermitfile grants, as the guest reads it. Host directories are stored as
/// absolute paths: the launch script shares them from wherever it runs.
fn grants(hermitfile: &Hermitfile, board: &Board) -> Result<RunConfig> {
    hermitfile.check_maps()?;
    if !hermitfile.maps.is_empty() && board.qemu.virtio_mmio.is_none() {
        bail!(
            "{}: MAP: board {} cannot give host directories to its guest (its kernel has no \
             virtio-fs, see boards/{}.toml); build for another board or remove the MAP lines",
            hermitfile.path.display(),
            board.name,
            board.name
        );
    }
    let maps = hermitfile
        .maps
        .iter()
        .map(|map| {
            let host = std::fs::canonicalize(&map.host)
                .with_context(|| format!("MAP {}", map.host.display()))?;
            let host = host
                .to_str()
                .with_context(|| format!("MAP {}: the host path is not UTF-8", host.display()))?;
            Ok(Map {
                host: host.to_string(),
                guest: map.guest.clone(),
                read_only: map.read_only,
            })
        })
        .collect::<Result<_>>()?;
    Ok(RunConfig {
        args: hermitfile.args.clone(),
        env: hermitfile.env.clone(),
        env_pwd_is_host_cwd: hermitfile.env_pwd_is_host_cwd,
        env_exe_name_is_host_exe_name: hermitfile.env_exe_name_is_host_exe_name,
        maps,
        entrypoint: hermitfile.entrypoint.clone(),
        limits: hermitfile.limits,
    })
}

fn check_module_source(project: &Project, module: &ModuleSource) -> Result<()> {
    match module {
        ModuleSource::File(path) => {
            if !path.is_file() {
                bail!("module {} not found", path.display());
            }
        }
        ModuleSource::Example(name) => {
            if !project.modules().join(name).join("Cargo.toml").is_file() {
                let mut known: Vec<String> = std::fs::read_dir(project.modules())?
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().join("Cargo.toml").is_file())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                known.sort();
                bail!(
                    "no example module {name:?} in modules/ (known: {}); give a .wasm file by its path",
                    known.join(", ")
                );
            }
        }
    }
    Ok(())
}

fn build(sh: &Shell, project: &Project, plan: &BuildPlan) -> Result<()> {
    let board = &plan.board;
    let machine = board.arch.elf_machine();

    // The module first: bad input fails in seconds, before any kernel is built.
    let wasm_path = build_module(sh, project, &plan.module)?;
    let wasm =
        std::fs::read(&wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
    eprintln!(
        "precompiling {} for {}",
        wasm_path.display(),
        plan.guest.target
    );
    let name = wasm_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let links = read_links(plan, &name, &wasm)?;
    let link_names: Vec<&str> = plan.links.iter().map(|l| l.name.as_str()).collect();
    let precompiled = precompile::precompile(
        &name,
        &wasm,
        &plan.guest.target,
        &board.guest.cpu_features,
        &link_names,
    )?;
    if precompiled.threads.is_some() && !links.is_empty() {
        bail!(
            "{name} is a wasm32-wasip1-threads module, and LINK does not take one yet: its              linked modules would have to run in every thread (remove the LINK lines)"
        );
    }
    let links = precompile_links(plan, links)?;
    if let Some(entry) = &plan.run.entrypoint {
        match precompiled.component {
            Some(_) => component::check_invoke(&name, entry)?,
            None => precompile::check_entrypoint(&name, &wasm, entry)?,
        }
    }
    let threads = match &precompiled.threads {
        Some(_) if board.guest.threads_unsupported.is_some() => bail!(
            "{} is a wasm32-wasip1-threads module, which board {} cannot run yet: {}",
            plan.module_name,
            board.name,
            board
                .guest
                .threads_unsupported
                .as_deref()
                .unwrap_or_default()
        ),
        Some(shape) => Some(precompile::threads_info(
            &plan.module_name,
            shape,
            board.shared_memory_budget()?,
        )?),
        None => None,
    };

    // From here on the board's shared build outputs are ours alone.
    let _lock = BuildLock::acquire(
        &project
            .target()
            .join("locks")
            .join(format!("{}.lock", board.name)),
    )?;
    let archive = kernel_build::ensure(sh, project, &plan.kernel)?;
    let loader = built_once(&plan.loader.elf, Path::new(""), || {
        build_loader(sh, project, plan)
    })?;
    elf_info::check_machine(&elf_info::parse(&loader)?, machine)
        .with_context(|| plan.loader.elf.display().to_string())?;
    let libhermit_dir = archive.parent().context("archive folder")?;
    let guest = built_once(&plan.guest.stripped, libhermit_dir, || {
        build_guest(sh, project, plan, libhermit_dir)?;
        strip_guest(sh, &plan.guest)
    })?;
    elf_info::check_machine(&elf_info::parse(&guest)?, machine)
        .with_context(|| plan.guest.stripped.display().to_string())?;

    let manifest = Manifest {
        format: FORMAT,
        image: plan.name.clone(),
        board: board.name.clone(),
        arch: board.arch.name().to_string(),
        module: ModuleInfo {
            name: plan.module_name.clone(),
            sha256: precompiled.sha256.clone(),
            size: precompiled.wasm_size,
            precompiled_size: precompiled.cwasm.len() as u64,
            threads,
            component: precompiled.component.clone(),
            links: links.iter().map(|(info, _)| info.clone()).collect(),
        },
        run: plan.run.clone(),
        toolchain: toolchain::rustc_version(sh)?,
        kernel: KernelInfo {
            version: plan.kernel.version.clone(),
            target: plan.kernel.target.clone(),
            features: plan.kernel.features.clone(),
            log_level: plan.kernel.log_level.clone(),
        },
        engine: EngineInfo {
            wasmtime: engine::WASMTIME_VERSION.to_string(),
            target: plan.guest.target.clone(),
            cpu_features: board.guest.cpu_features.clone(),
            settings: engine::SETTINGS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
    };
    let manifest_json = serde_json::to_vec_pretty(&manifest)?;
    let link_code: Vec<&[u8]> = links.iter().map(|(_, cwasm)| &cwasm[..]).collect();
    let blob = payload::encode(&manifest_json, &precompiled.cwasm, &link_code);
    let mut guest_image = payload_segment::attach(&guest, &blob)
        .with_context(|| format!("attaching the payload to {}", plan.guest.elf.display()))?;
    if payload_segment::read(&guest_image)? != blob.as_slice() {
        bail!("the payload read back from the image's guest differs from the one attached");
    }

    if let (Some(threads), Some(max)) = (&manifest.module.threads, board.threads_memory_max()?) {
        let mib = launch_script::threads_vm_memory_mib(
            threads.memory_capacity_pages * WASM_PAGE,
            guest_image.len() as u64,
        );
        if mib << 20 > max {
            bail!(
                "{}: its VM on {} would need {mib} MiB of RAM (the shared memory's {} MiB, \
                 the threads' stacks and a guest of {} MiB), more than the {} MiB a threads \
                 module's VM may have there (threads-memory-max in boards/{}.toml); a smaller \
                 module fits",
                plan.module_name,
                board.name,
                (threads.memory_capacity_pages * WASM_PAGE) >> 20,
                guest_image.len() >> 20,
                max >> 20,
                board.name,
            );
        }
    }
    let image = &plan.image;
    sh.create_dir(&image.dir)?;
    if board.qemu.boot == BootProtocol::Pvh && board.qemu.guest_delivery() == GuestDelivery::Initrd
    {
        pad_for_pvh_initrd(&mut guest_image);
    }
    std::fs::write(&image.guest, &guest_image)?;
    std::fs::write(&image.loader, &*loader)?;
    std::fs::write(&image.manifest, &manifest_json)?;
    let info = ScriptInfo {
        image: &plan.name,
        module: &name,
        maps: &plan.run.maps,
        limits: &plan.run.limits,
        module_sha256: &precompiled.sha256,
        guest_size: guest_image.len() as u64,
        shared_memory: manifest
            .module
            .threads
            .as_ref()
            .map(|t| t.memory_capacity_pages * WASM_PAGE),
    };
    write_script(&image.run_qemu, &launch_script::qemu_script(board, &info))?;
    if let (Some(path), Some(script)) =
        (&image.run_uhyve, launch_script::uhyve_script(board, &info))
    {
        write_script(path, &script)?;
    }
    eprintln!(
        "image {}: guest {} KiB, loader {} KiB, module {} KiB precompiled",
        image.dir.display(),
        std::fs::metadata(&image.guest)?.len() / 1024,
        std::fs::metadata(&image.loader)?.len() / 1024,
        precompiled.cwasm.len() / 1024
    );
    Ok(())
}

/// The modules `plan` links (`LINK`), read and checked against the module `wasm` (named
/// `name`): `(link, file name, bytes)` in order.
fn read_links<'p>(
    plan: &'p BuildPlan,
    name: &str,
    wasm: &[u8],
) -> Result<Vec<(&'p crate::plan::hermitfile::Link, String, Vec<u8>)>> {
    let links = plan
        .links
        .iter()
        .map(|link| {
            let bytes = std::fs::read(&link.path)
                .with_context(|| format!("LINK {}: reading {}", link.name, link.path.display()))?;
            let file = link
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok((link, file, bytes))
        })
        .collect::<Result<Vec<_>>>()?;
    let linked: Vec<link::Linked<'_>> = links
        .iter()
        .map(|(link, file, bytes)| link::Linked {
            name: &link.name,
            file,
            wasm: bytes,
        })
        .collect();
    link::check(name, wasm, &linked)?;
    Ok(links)
}

/// Precompiles the modules read by [`read_links`] for the board, each as the module is.
fn precompile_links(
    plan: &BuildPlan,
    links: Vec<(&crate::plan::hermitfile::Link, String, Vec<u8>)>,
) -> Result<Vec<(LinkInfo, Vec<u8>)>> {
    let mut out = Vec::new();
    for (i, (link, file, bytes)) in links.iter().enumerate() {
        eprintln!(
            "precompiling {} (LINK {}) for {}",
            link.path.display(),
            link.name,
            plan.guest.target
        );
        let earlier: Vec<&str> = plan.links[..i].iter().map(|l| l.name.as_str()).collect();
        let precompiled = precompile::precompile(
            file,
            bytes,
            &plan.guest.target,
            &plan.board.guest.cpu_features,
            &earlier,
        )
        .with_context(|| format!("LINK {}", link.name))?;
        if precompiled.threads.is_some() {
            bail!(
                "LINK {}: {file} is a wasm32-wasip1-threads module, which LINK does not take                  yet",
                link.name
            );
        }
        let info = LinkInfo {
            name: link.name.clone(),
            file: file.clone(),
            sha256: precompiled.sha256,
            size: precompiled.wasm_size,
            precompiled_size: precompiled.cwasm.len() as u64,
        };
        out.push((info, precompiled.cwasm));
    }
    Ok(out)
}

fn build_loader(sh: &Shell, project: &Project, plan: &BuildPlan) -> Result<()> {
    let loader = &plan.loader;
    cargo(sh, &project.root)?
        .args(["build", "--release", "--locked", "--quiet"])
        .arg("--manifest-path")
        .arg(&loader.manifest)
        .arg(format!("--target={}", loader.target))
        .args([
            "-Zbuild-std=core,alloc",
            "-Zbuild-std-features=compiler-builtins-mem",
        ])
        .arg("--target-dir")
        .arg(&loader.cargo_target_dir)
        .run()
        .context("building the loader")?;
    Ok(())
}

/// Builds example `package`'s `.wasm` alone, without an image; returns its path.
pub fn example_module(sh: &Shell, project: &Project, package: &str) -> Result<PathBuf> {
    example_module_as(sh, project, package, plan::ExampleTarget::of(package))
}

/// [`example_module`] for the target `how` says, whatever the example's name would choose.
pub fn example_module_as(
    sh: &Shell,
    project: &Project,
    package: &str,
    how: plan::ExampleTarget,
) -> Result<PathBuf> {
    let module = ModuleBuild::Crate {
        package: package.to_string(),
        wasm: how.wasm(&project.target(), package),
        how,
    };
    build_module(sh, project, &module)
}

fn build_module(sh: &Shell, project: &Project, module: &ModuleBuild) -> Result<PathBuf> {
    match module {
        ModuleBuild::File { wasm } => Ok(wasm.clone()),
        ModuleBuild::Crate { package, how, wasm } => {
            let _dir = sh.push_dir(&project.root);
            let target_dir = wasm
                .ancestors()
                .nth(3)
                .context("module output path")?
                .to_path_buf();
            let target = how.target;
            let command = match how.toolchain {
                Some(toolchain) => {
                    toolchain::ensure_target(sh, toolchain, target)?;
                    cargo_with(sh, toolchain)
                }
                None => cargo(sh, &project.root)?,
            };
            command
                .args(["build", "--release", "--locked", "--quiet"])
                .arg(format!("--target={target}"))
                .arg(format!("--package={package}"))
                .arg("--target-dir")
                .arg(&target_dir)
                .run()
                .with_context(|| {
                    format!("building module {package} (rustup target add {target}?)")
                })?;
            Ok(wasm.clone())
        }
    }
}

fn build_guest(
    sh: &Shell,
    project: &Project,
    plan: &BuildPlan,
    libhermit_dir: &Path,
) -> Result<()> {
    let _dir = sh.push_dir(&project.root);
    let guest = &plan.guest;
    cargo(sh, &project.root)?
        .args(["build", "--release", "--locked", "--quiet"])
        .args(["--package=hermit-wasm-kernel", "--bin=hermit-wasm-kernel"])
        .arg(format!("--target={}", guest.target))
        .arg("-Zbuild-std=std,panic_abort")
        .arg("--target-dir")
        .arg(&guest.cargo_target_dir)
        .env("HERMIT_WASM_LIBHERMIT_DIR", libhermit_dir)
        .run()
        .context("building the guest kernel")?;
    Ok(())
}

/// Writes the guest without its symbol table (about a third of the file; nothing in the
/// VM reads it), keeping the linked ELF for debuggers: both have the same addresses.
///
/// Skipped when the stripped file was made from this very linked file: its identity (inode,
/// size, modification time) is kept beside the stripped file. Times alone would not do:
/// cargo may put back an older build's guest (its own older time, under a hard link) after
/// a newer stripped file was written from another build.
fn strip_guest(sh: &Shell, guest: &GuestBuild) -> Result<()> {
    let strip = toolchain::llvm_tool(sh, "llvm-strip")?;
    let (elf, stripped) = (&guest.elf, &guest.stripped);
    let identity = file_identity(elf)?;
    let stamp = stripped.with_extension("stripped-from");
    let made_from = std::fs::read_to_string(&stamp).ok();
    if stripped.exists() && made_from.as_deref() == Some(identity.as_str()) {
        return Ok(());
    }
    // Gone until the stripped file is whole again: a strip or stamp write that fails
    // halfway must not leave a stamp naming another build.
    match std::fs::remove_file(&stamp) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(err).with_context(|| format!("removing {}", stamp.display()));
        }
        _ => {}
    }
    cmd!(sh, "{strip} --strip-all -o {stripped} {elf}")
        .run()
        .context("removing the guest's symbol table")?;
    std::fs::write(&stamp, identity).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(())
}

/// What tells one build's file from another's at the same path: inode, size and
/// modification time (nanoseconds).
fn file_identity(path: &Path) -> Result<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(format!(
        "{} {} {}.{:09}\n",
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec()
    ))
}

/// The bytes of `elf` after running `build` once in this process for that file and
/// `variant` (what else the build depends on).
///
/// Every image of a board shares its loader and guest, and a cargo build that has nothing
/// to do still costs a good part of a second; the bytes are kept rather than the fact of
/// the build, so that another process rebuilding the same file (for another kernel)
/// cannot change what this one copies.
fn built_once(
    elf: &Path,
    variant: &Path,
    build: impl FnOnce() -> Result<()>,
) -> Result<Arc<Vec<u8>>> {
    type Built = BTreeMap<(PathBuf, PathBuf), Arc<Vec<u8>>>;
    static BUILT: Mutex<Built> = Mutex::new(BTreeMap::new());
    let key = (elf.to_path_buf(), variant.to_path_buf());
    if let Some(bytes) = BUILT.lock().unwrap().get(&key) {
        return Ok(bytes.clone());
    }
    build()?;
    let bytes = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    let bytes = Arc::new(bytes);
    BUILT.lock().unwrap().insert(key, bytes.clone());
    Ok(bytes)
}

/// QEMU's `microvm` puts the `-initrd` file at the very top of RAM, over the last page,
/// where its firmware has already written the ACPI tables: the file's last bytes overwrite
/// them. Padding the guest ELF (zeros after its end change nothing for an ELF reader) to
/// one byte past a page boundary leaves a single byte of that page overlapped, where the
/// tables begin with a field nobody reads (checked against QEMU 10's layout by booting
/// all 72 WASI test programs, of every size).
fn pad_for_pvh_initrd(elf: &mut Vec<u8>) {
    const PAGE: usize = 4096;
    let pad = (PAGE + 1 - elf.len() % PAGE) % PAGE;
    elf.resize(elf.len() + pad, 0);
}

fn write_script(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_put_back_under_its_name_has_another_identity() {
        let dir = std::env::temp_dir().join(format!("identity-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (older, path) = (dir.join("older"), dir.join("guest"));
        std::fs::write(&older, b"an older build").unwrap();
        std::fs::write(&path, b"a newer build!").unwrap();
        let newer = file_identity(&path).unwrap();
        assert_eq!(file_identity(&path).unwrap(), newer);
        // What cargo does when it brings an older artifact back: a hard link, older time.
        std::fs::remove_file(&path).unwrap();
        std::fs::hard_link(&older, &path).unwrap();
        assert_ne!(file_identity(&path).unwrap(), newer);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pvh_padding_leaves_one_byte_past_a_page() {
        for len in [1, 4095, 4096, 4097, 10_000, 2_448_800] {
            let mut elf = vec![1u8; len];
            pad_for_pvh_initrd(&mut elf);
            assert_eq!(elf.len() % 4096, 1, "from {len}");
            assert!(elf.len() >= len && elf.len() < len + 4096);
            assert!(elf[len..].iter().all(|&b| b == 0));
        }
    }
}
