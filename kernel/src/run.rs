//! Runs one module: link WASI, instantiate, call the entry point, and turn what happened
//! into an exit status the way the `wasmtime` command does (the module's own status, or
//! 134 after printing the trap).

use anyhow::{Context, Result};
use wasmtime::{Engine, Linker, Module, Store};

use crate::wasi::{self, Stdio, WasiConfig, WasiCtx};

/// Exit status of a module that trapped (as from SIGABRT, like `wasmtime` on Unix).
pub const TRAP_STATUS: i32 = 134;

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// The entry point returned (status 0) or the module called `proc_exit`.
    Exited(i32),
    /// A trap or another runtime error; the error is printed by `status`.
    Failed(anyhow::Error),
}

impl Outcome {
    /// The process exit status for this outcome: an exit code keeps its low 8 bits (what a
    /// Unix process status holds); a failure prints the error to `stderr` and gives 134.
    pub fn status(&self, stderr: &mut dyn std::io::Write) -> i32 {
        match self {
            Outcome::Exited(code) => code & 0xff,
            Outcome::Failed(err) => {
                let _ = writeln!(stderr, "Error: {err:?}");
                let _ = stderr.flush();
                TRAP_STATUS
            }
        }
    }
}

/// Store data of a running module.
struct Guest {
    wasi: WasiCtx,
}

/// Instantiates `module` with WASI and calls `entrypoint` (`_start` if `None`).
/// `Err` means the module could not start (missing import, bad entry point); what happens
/// once it runs is the `Outcome`.
pub fn run(
    engine: &Engine,
    module: &Module,
    config: WasiConfig,
    stdio: Stdio,
    entrypoint: Option<&str>,
) -> Result<Outcome> {
    let mut linker: Linker<Guest> = Linker::new(engine);
    wasi::add_to_linker(&mut linker, |guest: &mut Guest| &mut guest.wasi)?;
    let wasi = WasiCtx::new(config, stdio).context("setting up WASI")?;
    let mut store = Store::new(engine, Guest { wasi });
    // Wasmtime's errors are its own type; ours are anyhow's (`From` converts, keeping the
    // chain of causes).
    let instance = linker
        .instantiate(&mut store, module)
        .map_err(anyhow::Error::from)
        .context("instantiating the module")?;
    let entry = entrypoint.unwrap_or("_start");
    let func = instance
        .get_typed_func::<(), ()>(&mut store, entry)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("the module exports no function `{entry}` of type () -> ()"))?;
    let outcome = match func.call(&mut store, ()) {
        Ok(()) => Outcome::Exited(0),
        Err(err) => match err.downcast_ref::<wasi::Exit>() {
            Some(exit) => Outcome::Exited(exit.0),
            None => Outcome::Failed(err.into()),
        },
    };
    Ok(outcome)
}

/// The imports among `(module, name, is_function)` that we do not provide, as `module::name`.
pub fn unsupported_imports<'a>(
    imports: impl IntoIterator<Item = (&'a str, &'a str, bool)>,
) -> Vec<String> {
    imports
        .into_iter()
        .filter(|(module, name, is_function)| {
            !is_function || *module != wasi::MODULE || !wasi::FUNCTIONS.contains(name)
        })
        .map(|(module, name, _)| format!("{module}::{name}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasi_functions_are_provided_and_nothing_else() {
        let imports = [
            ("wasi_snapshot_preview1", "fd_write", true),
            ("wasi_snapshot_preview1", "proc_exit", true),
            ("wasi_snapshot_preview1", "no_such_call", true),
            ("env", "fd_write", true),
            ("wasi_snapshot_preview1", "fd_read", false),
        ];
        assert_eq!(
            unsupported_imports(imports),
            vec![
                "wasi_snapshot_preview1::no_such_call".to_string(),
                "env::fd_write".to_string(),
                "wasi_snapshot_preview1::fd_read".to_string(),
            ]
        );
    }

    #[test]
    fn a_trap_gives_134_and_an_exit_keeps_its_low_byte() {
        let mut err = Vec::new();
        assert_eq!(Outcome::Exited(7).status(&mut err), 7);
        assert_eq!(Outcome::Exited(256 + 3).status(&mut err), 3);
        assert!(err.is_empty());
        let failed = Outcome::Failed(anyhow::anyhow!("wasm trap: unreachable"));
        assert_eq!(failed.status(&mut err), TRAP_STATUS);
        assert!(String::from_utf8(err).unwrap().contains("unreachable"));
    }
}
