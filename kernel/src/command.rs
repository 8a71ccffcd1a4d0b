//! Runs one component, a WASI 0.2 command: link the 0.2 front door (`wasi/p2`),
//! instantiate, call `wasi:cli/run`'s `run`, and turn what happened into an exit status as
//! `wasmtime run` does, through the same [`Outcome`]s as a core module (`run.rs`).
//!
//! A component runs on one thread (a component that needs threads is refused when its
//! image is made), with the run's memory limiter and the same WASI context as a module.
//!
//! An entry point (`ENTRYPOINT`) is what `wasmtime run --invoke` takes for a component: a
//! call in WAVE, `name(arguments)`. The function is found as Wasmtime finds it (an export
//! of the component, or the one function of that name among its exported instances), the
//! arguments are read against its parameter types, and its results are printed in WAVE
//! on stdout, a line; errors read as Wasmtime's.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::wasm_wave::untyped::UntypedFuncCall;
use wasmtime::component::wasm_wave::wasm::{DisplayFuncResults, WasmFunc};
use wasmtime::component::{Component, ComponentExportIndex, Linker, Val};
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

/// Instantiates `component` with WASI 0.2 and calls its `wasi:cli/run` export, or the
/// function `entrypoint` invokes (a WAVE call, as `wasmtime run --invoke` takes it); its
/// memories and tables may grow to `memory` bytes.
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
        Ok(Started::Command(command)) => {
            crate::phases::mark("start");
            let result = command.wasi_cli_run().call_run(&mut store);
            crate::phases::mark("end");
            match result {
                Ok(Ok(())) => Outcome::Exited(0),
                Ok(Err(())) => Outcome::Error(RunFailed.into()),
                Err(err) => outcome(Err(err)),
            }
        }
        Ok(Started::Invoked {
            func,
            params,
            results,
        }) => {
            crate::phases::mark("start");
            let mut results = vec![Val::Bool(false); results];
            let result = func.call(&mut store, &params, &mut results);
            crate::phases::mark("end");
            match result {
                Ok(()) => {
                    let line = format!("{}\n", DisplayFuncResults(&results));
                    match store.data().wasi.print(line.as_bytes()) {
                        Ok(()) => Outcome::Exited(0),
                        Err(err) => outcome(Err(err)),
                    }
                }
                Err(err) => outcome(Err(err)),
            }
        }
        Err(not_started) => not_started,
    };
    Ok(Ended { outcome, usage })
}

/// A started component: its command, or the function an entry point invokes with its
/// arguments and how many results it gives.
enum Started {
    Command(Command),
    Invoked {
        func: wasmtime::component::Func,
        params: Vec<Val>,
        results: usize,
    },
}

/// Links and instantiates the component; gives what to call, or the outcome of a component
/// that did not start.
fn start(
    engine: &Engine,
    component: &Component,
    store: &mut Store<Guest>,
    entrypoint: Option<&str>,
) -> Result<Started, Outcome> {
    let not_started = |err: anyhow::Error| Outcome::NotStarted(err);
    // Before anything is linked: a call that does not read fails as it does in Wasmtime.
    // Worded as Wasmtime's, under the module's name (its argv[0]).
    let invoked = match entrypoint {
        Some(call) => Some(invoked(engine, component, call).map_err(|err| {
            let program = store
                .data()
                .wasi
                .ctx
                .args
                .first()
                .cloned()
                .unwrap_or_default();
            not_started(err.context(format!("failed to run main module `{program}`")))
        })?),
        None => None,
    };
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
    if let Some((index, params, results)) = invoked {
        let func = instance
            .get_func(&mut *store, index)
            .ok_or_else(|| not_started(anyhow!("the invoked export is not a function")))?;
        return Ok(Started::Invoked {
            func,
            params,
            results,
        });
    }
    Command::new(&mut *store, &instance)
        .map(Started::Command)
        .map_err(|err| {
            not_started(anyhow::Error::from(err).context(format!(
                "the component exports no `{}` (it is not a WASI command)",
                p2::RUN_INTERFACE
            )))
        })
}

/// Reads the WAVE call `call` against `component`: the export it names, its arguments and
/// the number of its results. Errors are worded as `wasmtime run --invoke` words them.
fn invoked(
    engine: &Engine,
    component: &Component,
    call: &str,
) -> Result<(ComponentExportIndex, Vec<Val>, usize)> {
    let untyped = UntypedFuncCall::parse(call)
        .map_err(|err| anyhow!("{err}"))
        .with_context(|| {
            format!(
                "Failed to parse invoke '{call}': See \
                 https://docs.wasmtime.dev/cli-options.html#run for syntax"
            )
        })?;
    let name = untyped
        .item_name()
        .with_context(|| format!("parsing `{}` as a wit item name", untyped.name()))?;
    let (index, func) = find_func(engine, component, &name)?;
    let types: Vec<_> = WasmFunc::params(&func).collect();
    let params = untyped
        .to_wasm_params(&types)
        .map_err(|err| anyhow!("{err}"))
        .with_context(|| format!("while interpreting parameters in invoke \"{call}\""))?;
    let results = func.results().len();
    Ok((index, params, results))
}

/// The exported function `name`: an export of the component itself, or, for a bare name,
/// the one function of that name among its exported instances.
fn find_func(
    engine: &Engine,
    component: &Component,
    name: &wasmtime::component::wit_parser::ItemName,
) -> Result<(ComponentExportIndex, ComponentFunc)> {
    if let Some((ComponentItem::ComponentFunc(func), index)) = component.get_export(None, name) {
        return Ok((index, func));
    }
    if name.interface.is_some() || name.package.is_some() {
        bail!("No exported func named `{name}` in component.");
    }
    let wanted = name.to_string();
    let mut found = Vec::new();
    for (instance, item) in component.component_type().exports(engine) {
        let ComponentItem::ComponentInstance(ty) = item.ty else {
            continue;
        };
        for (leaf, item) in ty.exports(engine) {
            if let (ComponentItem::ComponentFunc(func), true) = (item.ty, leaf == wanted) {
                let (_, at) = component
                    .get_export(None, instance)
                    .context("an exported instance the component lists")?;
                let (_, index) = component
                    .get_export(Some(&at), leaf)
                    .context("a function the instance lists")?;
                found.push((index, func, instance.to_string()));
            }
        }
    }
    match found.len() {
        0 => bail!("No exported func named `{wanted}` in component."),
        1 => Ok(found.pop().map(|(index, func, _)| (index, func)).unwrap()),
        _ => {
            let names: Vec<String> = found
                .iter()
                .map(|(_, _, instance)| format!("`{instance}#{wanted}`"))
                .collect();
            bail!(
                "Multiple instances contained funcs named `{wanted}`, retry with a more \
                 specific name: {}",
                names.join(", ")
            )
        }
    }
}
