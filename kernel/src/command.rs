//! Runs one component, a WASI 0.2 command: link the 0.2 front door (`wasi/p2`),
//! instantiate, call `wasi:cli/run`'s `run`, and turn what happened into an exit status as
//! `wasmtime run` does, through the same [`Outcome`]s as a core module (`run.rs`).
//!
//! A component runs on one thread (a component that needs threads is refused when its
//! image is made), with the run's memory limiter and the same WASI context as a module.

use std::sync::Arc;

use anyhow::{Context, Result};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

use crate::run::{outcome, Ended, Outcome};
use crate::usage::MemoryLimiter;
use crate::wasi::p2::{self, bindings::Command, WasiP2};
use crate::wasi::{Stdio, WasiConfig};

/// Store data of a running component.
struct Guest {
    wasi: WasiP2,
    limiter: MemoryLimiter,
}

/// The error a component's `run` returning `err` ends the run with (exit status 1).
#[derive(Debug)]
pub struct RunFailed;

impl std::fmt::Display for RunFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the component's `run` returned an error")
    }
}

impl std::error::Error for RunFailed {}

/// Instantiates `component` with WASI 0.2 and calls its `wasi:cli/run` export; its memories
/// and tables may grow to `memory` bytes. `entrypoint` (an export to invoke instead) is not
/// supported for components yet and leaves the component unstarted with the reason.
/// `Err` means the runner could not set WASI up; anything the component did is the outcome.
pub fn run(
    engine: &Engine,
    component: &Component,
    config: WasiConfig,
    stdio: Stdio,
    entrypoint: Option<&str>,
    memory: Option<u64>,
) -> Result<Ended> {
    let wasi = WasiP2::new(config, stdio).context("setting up WASI")?;
    let usage = Arc::clone(wasi.usage());
    let mut store = Store::new(
        engine,
        Guest {
            limiter: MemoryLimiter {
                memory,
                usage: Arc::clone(&usage),
            },
            wasi,
        },
    );
    store.limiter(|guest| &mut guest.limiter);
    let outcome = match start(engine, component, &mut store, entrypoint) {
        Ok(command) => {
            crate::phases::mark("start");
            let result = command.wasi_cli_run().call_run(&mut store);
            crate::phases::mark("end");
            match result {
                Ok(Ok(())) => Outcome::Exited(0),
                Ok(Err(())) => Outcome::Error(RunFailed.into()),
                Err(err) => outcome(Err(err)),
            }
        }
        Err(not_started) => not_started,
    };
    Ok(Ended { outcome, usage })
}

/// Links and instantiates the component; gives its command, or the outcome of a component
/// that did not start.
fn start(
    engine: &Engine,
    component: &Component,
    store: &mut Store<Guest>,
    entrypoint: Option<&str>,
) -> Result<Command, Outcome> {
    let not_started = |err: anyhow::Error| Outcome::NotStarted(err);
    if let Some(entry) = entrypoint {
        return Err(not_started(anyhow::anyhow!(
            "an entry point (`{entry}`) for a component is not supported yet: a component \
             runs its `wasi:cli/run` export"
        )));
    }
    let mut linker: Linker<Guest> = Linker::new(engine);
    // The interfaces it imports, without their versions (`wasi:io/error@0.2.0`).
    let imports: std::collections::HashSet<String> = component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.split('@').next().unwrap_or(name).to_string())
        .collect();
    p2::add_to_linker(
        &mut linker,
        |guest: &mut Guest| &mut guest.wasi,
        &|name: &str| imports.contains(name),
    )
    .map_err(not_started)?;
    crate::phases::mark("wasi");
    let pre = linker.instantiate_pre(component).map_err(|err| {
        not_started(anyhow::Error::from(err).context("instantiating the component"))
    })?;
    crate::phases::mark("linked");
    let instance = pre
        .instantiate(&mut *store)
        .map_err(|err| match outcome(Err(err)) {
            Outcome::Failed(err) | Outcome::Error(err) => {
                not_started(err.context("instantiating the component"))
            }
            ended => ended,
        })?;
    crate::phases::mark("instantiated");
    Command::new(&mut *store, &instance).map_err(|err| {
        not_started(anyhow::Error::from(err).context(format!(
            "the component exports no `{}` (it is not a WASI command)",
            p2::RUN_INTERFACE
        )))
    })
}
