//! The guest kernel's entry point. In the Hermit guest it runs the payload the xtask
//! attached to the image's copy of the guest ELF (found through the location record in
//! `payload.rs`) and ends the VM with the module's status.
//! On the host the same runner takes a payload file, precompiled for the host:
//! `hermit-wasm-kernel PAYLOAD [RUNNER OPTIONS] -- [ARGS...]` (options: `launch.rs`).

use anyhow::{Context, Result};
use hermit_wasm_kernel::launch::LaunchOptions;
use hermit_wasm_kernel::manifest::Manifest;
use hermit_wasm_kernel::wasi::Stdio;
use hermit_wasm_kernel::{command, engine, payload, run};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

/// Runs the module in `blob` with the runner's command line `argv`; returns how the main
/// thread's run ended. `end` ends the run when another thread traps or exits first.
fn run_payload(
    blob: &'static [u8],
    argv: Vec<String>,
    mut stdio: Stdio,
    end: run::EndRun,
) -> Result<run::Ended> {
    let launch = LaunchOptions::parse(argv)?;
    // In the guest only the launcher knows whether its streams are terminals; on the host
    // the runner's own streams are the launcher's.
    if cfg!(target_os = "hermit") {
        stdio.terminal = launch.terminals;
    }
    let payload = payload::decode(blob)?;
    let manifest =
        Manifest::from_json(payload.manifest).context("reading the embedded manifest")?;
    let has_maps = !manifest.run.maps.is_empty() || !launch.maps.is_empty();
    if cfg!(target_os = "hermit") && has_maps && !launch.maps_are_shared() {
        anyhow::bail!(
            "host directories (MAP, --map) need the launch script to share them with the \
             guest (virtio-fs), and this launch did not: boot the image with its run-qemu.sh \
             on a board that has virtio-fs"
        );
    }
    let share = match launch.virtio_fs {
        #[cfg(target_os = "hermit")]
        Some(slots) if has_maps => Some(
            hermit_wasm_kernel::platform::virtio_fs::connect(slots)
                .context("reaching the host directories (virtio-fs)")?,
        ),
        #[cfg(not(target_os = "hermit"))]
        Some(_) => anyhow::bail!("--virtio-fs is for the guest; on the host maps are host paths"),
        _ => None,
    };
    let config = launch.wasi_config(
        &format!("{}.wasm", manifest.module.name),
        &manifest.run,
        share,
    );
    let limits = launch.limits(&manifest.run.limits);
    let threads = manifest
        .module
        .threads
        .as_ref()
        .map(|info| info.within(&limits));
    hermit_wasm_kernel::phases::mark("configured");
    let engine_config = engine::runtime_config(threads.as_ref());
    #[cfg(target_os = "hermit")]
    let engine_config = hermit_wasm_kernel::platform::code_memory::configure(engine_config);
    let engine = Engine::new(&engine_config)
        .map_err(anyhow::Error::from)
        .context("creating the engine")?;
    hermit_wasm_kernel::phases::mark("engine");
    if payload.links.len() != manifest.module.links.len() {
        anyhow::bail!(
            "the payload holds {} linked modules and its manifest names {}",
            payload.links.len(),
            manifest.module.links.len()
        );
    }
    if manifest.module.component.is_some() {
        if !payload.links.is_empty() {
            anyhow::bail!("a component cannot link core modules (LINK)");
        }
        // SAFETY: as for a module below, with `Engine::precompile_component`.
        let component = unsafe { load_component(&engine, payload.module) }
            .context("loading the precompiled component")?;
        hermit_wasm_kernel::phases::mark("loaded");
        return command::run(
            &engine,
            &component,
            config,
            stdio,
            manifest.run.entrypoint.as_deref(),
            limits.memory,
        );
    }
    // SAFETY: the payload was produced by our xtask with `Engine::precompile_module` and the
    // same engine settings (Wasmtime still checks its version, target and settings), and
    // nothing writes it: it is borrowed for the whole program.
    let module = unsafe { load_module(&engine, payload.module) }
        .context("loading the precompiled module")?;
    let links = manifest
        .module
        .links
        .iter()
        .zip(&payload.links)
        .map(|(link, bytes)| {
            // SAFETY: as for the module above: precompiled by our xtask with this engine's
            // settings, borrowed for the whole program.
            let module = unsafe { load_module(&engine, bytes) }
                .with_context(|| format!("loading the precompiled {}", link.file))?;
            Ok(run::Link {
                name: link.name.clone(),
                module,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    hermit_wasm_kernel::phases::mark("loaded");
    run::run(
        &engine,
        &run::Program { module, links },
        config,
        stdio,
        manifest.run.entrypoint.as_deref(),
        limits.memory,
        threads.map(|info| run::ThreadSupport {
            budget_pages: info.memory_budget_pages(&limits),
            info,
            end,
        }),
    )
}

/// Loads a precompiled module: in the guest where the image holds it, on the host from a
/// copy (the host's heap is not executable).
///
/// # Safety
///
/// As for `Module::deserialize`: `bytes` come from `Engine::precompile_module` with
/// `engine`'s settings.
unsafe fn load_module(engine: &Engine, bytes: &'static [u8]) -> Result<Module> {
    #[cfg(target_os = "hermit")]
    // SAFETY: the caller's contract; 'static bytes are never written.
    return unsafe { hermit_wasm_kernel::platform::code_memory::load_module(engine, bytes) };
    #[cfg(not(target_os = "hermit"))]
    // SAFETY: the caller's contract.
    return unsafe { Module::deserialize(engine, bytes) }.map_err(anyhow::Error::from);
}

/// [`load_module`] for a component.
///
/// # Safety
///
/// As for `Component::deserialize`: `bytes` come from `Engine::precompile_component` with
/// `engine`'s settings.
unsafe fn load_component(engine: &Engine, bytes: &'static [u8]) -> Result<Component> {
    #[cfg(target_os = "hermit")]
    // SAFETY: the caller's contract; 'static bytes are never written.
    return unsafe { hermit_wasm_kernel::platform::code_memory::load_component(engine, bytes) };
    #[cfg(not(target_os = "hermit"))]
    // SAFETY: the caller's contract.
    return unsafe { Component::deserialize(engine, bytes) }.map_err(anyhow::Error::from);
}

#[cfg(target_os = "hermit")]
mod guest {
    use anyhow::{Context, Result};
    use hermit_wasm_kernel::payload::{Location, EMPTY_LOCATION, LOCATION_LEN};
    use hermit_wasm_kernel::platform::Host;

    /// Where the image's payload lies. Linked empty; `cargo xtask image` fills it in, in
    /// each image's copy of the guest ELF, when it appends the payload segment. A section
    /// of its own so that the xtask finds it.
    #[used]
    #[unsafe(link_section = ".hermit_wasm")]
    static LOCATION: [u8; LOCATION_LEN] = EMPTY_LOCATION;

    /// The payload blob the xtask appended to this guest.
    fn payload() -> Result<&'static [u8]> {
        let record_at = &raw const LOCATION;
        // SAFETY: `record_at` points to a live, aligned static. Volatile, because the
        // bytes there are the ones the xtask wrote after the link, not the initialiser
        // the compiler knows.
        let record = unsafe { core::ptr::read_volatile(record_at) };
        let location = Location::decode(&record)?.context(
            "this guest ELF carries no module: boot an image built by `cargo xtask image`, \
             not the bare guest from the cargo target folder",
        )?;
        let start = isize::try_from(location.offset)
            .ok()
            .and_then(|offset| record_at.addr().checked_add_signed(offset))
            .context("the payload location points outside the address space")?;
        let len = usize::try_from(location.len).context("payload length")?;
        // SAFETY: the location record and the payload segment were written together by
        // the xtask (`payload_segment::attach`); the loader copied that segment into the
        // image's memory with the rest of the guest, at the same distance from the record
        // as in the file. The kernel keeps its whole image range for the image and nothing
        // writes the segment, so the bytes stay valid and unchanged for the whole run.
        Ok(unsafe { std::slice::from_raw_parts(std::ptr::with_exposed_provenance(start), len) })
    }

    pub fn main() -> ! {
        hermit_wasm_kernel::phases::mark("runner");
        let host = Host::detect();
        host.on_panic();
        let mut stderr = host.stdio().stderr;
        let args = std::env::args().skip(1).collect();
        // Another thread of the module trapped or exited: report it as the main thread's.
        let end: run::EndRun = Arc::new(move |ended: run::Ended| {
            let (status, record) = ended.report(&mut host.stdio().stderr);
            host.exit(status, &record)
        });
        let result = hermit_wasm_kernel::platform::with_aligned_stack(|| {
            super::run_payload(payload()?, args, host.stdio(), end)
        });
        // Claimed before anything is reported: another thread may be ending the run.
        if !run::claim_the_end() {
            run::wait_for_the_end()
        }
        let (status, record) = match result {
            Ok(ended) => ended.report(&mut stderr),
            Err(err) => {
                let _ = writeln!(stderr, "Error: {err:?}");
                (run::RUNNER_FAILURE_STATUS, RunRecord::failure(&err))
            }
        };
        host.exit(status, &record)
    }

    use hermit_wasm_kernel::run;
    use hermit_wasm_kernel::usage::RunRecord;
    use std::io::Write;
    use std::sync::Arc;
}

#[cfg(target_os = "hermit")]
fn main() {
    guest::main()
}

#[cfg(not(target_os = "hermit"))]
fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!(
            "usage: hermit-wasm-kernel PAYLOAD [--env K=V]... [--map HOST:GUEST[:ro]]... -- [ARGS...]\n\
             (PAYLOAD precompiled for this host)"
        );
        std::process::exit(2);
    };
    use std::io::IsTerminal;
    let stdio = Stdio {
        stdin: Box::new(std::io::stdin()),
        stdout: Box::new(std::io::stdout()),
        stderr: Box::new(std::io::stderr()),
        terminal: [
            std::io::stdin().is_terminal(),
            std::io::stdout().is_terminal(),
            std::io::stderr().is_terminal(),
        ],
    };
    let mut stderr = std::io::stderr();
    // Another thread of the module trapped or exited: report it as the main thread's.
    let end: run::EndRun = std::sync::Arc::new(|ended: run::Ended| {
        std::process::exit(ended.report(&mut std::io::stderr()).0)
    });
    let result = std::fs::read(&path)
        .with_context(|| format!("reading {path}"))
        // Borrowed for the whole run, as the guest's payload is.
        .and_then(|blob| run_payload(blob.leak(), args.collect(), stdio, end));
    // Claimed before anything is reported: another thread may be ending the run.
    if !run::claim_the_end() {
        run::wait_for_the_end()
    }
    match result {
        Ok(ended) => std::process::exit(ended.report(&mut stderr).0),
        Err(err) => {
            eprintln!("Error: {err:?}");
            std::process::exit(run::RUNNER_FAILURE_STATUS);
        }
    }
}
