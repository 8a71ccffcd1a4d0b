//! The WASI 0.2 front door: the `wasi:cli/command` world for components, over the same
//! capability core as preview1 (the context, its descriptor table, path sandbox, file
//! systems, standard streams, clocks, randomness and limits), so that a behaviour is fixed
//! once for both.
//!
//! The bindings are generated from the WIT ([`bindings`]); the host side of each package
//! is a module: [`io`] (errors, pollables, streams), [`filesystem`], [`cli`], [`clocks`]
//! (clocks and random), and [`stdin`] (standard input read ahead, so that it can be
//! polled). The linking is semver-tolerant: a component built against any WASI 0.2.x up
//! to [`WIT_VERSION`] links against these definitions.

pub mod bindings;
pub mod cli;
pub mod clocks;
pub mod filesystem;
pub mod io;
pub mod stdin;

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, ResourceTable};

use super::fd_table::{Handle, OpenDir};
use super::stdio::Stream;
use super::{Errno, Stdio, WasiConfig, WasiCtx};
use crate::usage::Usage;
use stdin::StdinPump;

/// The WASI version of the WIT the bindings were generated from.
pub const WIT_VERSION: &str = "0.2.12";

/// The interfaces provided (package and name, without version): a component's import of
/// any of them at a 0.2 version up to [`WIT_VERSION`] is satisfied.
pub const INTERFACES: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// The export a command runs: `run` of this interface.
pub const RUN_INTERFACE: &str = "wasi:cli/run";

/// Largest number of bytes one read moves (reads may be short): 64 KiB, as Wasmtime's
/// descriptor and stream reads move at most (a program that asks for more gets a short
/// read there too).
const MAX_READ: usize = 64 << 10;

/// One component's WASI state: the core's context and the component's resources.
pub struct WasiP2 {
    pub(crate) ctx: WasiCtx,
    pub(crate) table: ResourceTable,
    /// stdin, stdout, stderr, as the context was made with them.
    stdio: [Stream; 3],
    /// Read ahead once the component first asks for stdin.
    stdin: Option<Arc<StdinPump>>,
    /// The preopens' descriptor numbers and names, in order.
    preopens: Vec<(u32, String)>,
    /// How many resources (descriptors and file streams) use each descriptor number; the
    /// number is closed when the last goes (never for a preopen).
    holders: BTreeMap<u32, usize>,
}

impl std::fmt::Debug for WasiP2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasiP2")
            .field("ctx", &self.ctx)
            .field("preopens", &self.preopens)
            .finish_non_exhaustive()
    }
}

impl WasiP2 {
    /// The state for a component started with `config` and `stdio` (see [`WasiCtx::new`]).
    pub fn new(config: WasiConfig, stdio: Stdio) -> anyhow::Result<WasiP2> {
        let ctx = WasiCtx::new(config, stdio)?;
        let std = |fd| {
            ctx.stream(fd)
                .expect("a new context has its standard streams")
        };
        let stdio = [std(0), std(1), std(2)];
        let mut preopens = Vec::new();
        for fd in 3.. {
            match ctx.fds.get(fd) {
                Ok(Handle::Dir(OpenDir {
                    preopen: Some(name),
                    ..
                })) => preopens.push((fd, name.clone())),
                _ => break,
            }
        }
        Ok(WasiP2 {
            ctx,
            table: ResourceTable::new(),
            stdio,
            stdin: None,
            preopens,
            holders: BTreeMap::new(),
        })
    }

    /// Writes `data` to the component's stdout as its own writes go (counted against the
    /// output limit); for what the runner prints on the component's behalf.
    pub fn print(&self, data: &[u8]) -> wasmtime::Result<()> {
        match self.stdio[1].write(data) {
            Ok(_) => Ok(()),
            Err(errno) => match self.ctx.usage.output_limit_reached() {
                Some(exceeded) if errno == Errno::Fbig => Err(wasmtime::Error::new(exceeded)),
                _ => Err(wasmtime::format_err!(
                    "writing the results to stdout: {errno:?}"
                )),
            },
        }
    }

    /// What the component has consumed, and the limits counted against.
    pub fn usage(&self) -> &Arc<Usage> {
        &self.ctx.usage
    }

    /// One more resource uses descriptor number `fd`.
    fn hold(&mut self, fd: u32) {
        *self.holders.entry(fd).or_default() += 1;
    }

    /// A resource that used `fd` is gone; the last closes it unless it is a preopen.
    fn release(&mut self, fd: u32) {
        let Some(count) = self.holders.get_mut(&fd) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            self.holders.remove(&fd);
            if !self.preopens.iter().any(|(p, _)| *p == fd) {
                let _ = self.ctx.fd_close(fd);
            }
        }
    }
}

/// Defines in `linker` each interface of [`INTERFACES`] that `imported` takes (by its name
/// without a version, `wasi:io/error`); `get` finds the component's [`WasiP2`] in the
/// store's data. Only what the component imports: defining every function of all twenty
/// took about 20 ms of a hello's boot under the emulator (a component's imports name
/// every interface its own imports use, so nothing it needs is left out).
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut WasiP2,
    imported: &dyn Fn(&str) -> bool,
) -> anyhow::Result<()> {
    use bindings::wasi::{cli, clocks, filesystem, io, random};
    type Data = HasSelf<WasiP2>;
    macro_rules! define {
        ($($name:literal => $($path:ident)::+;)*) => {
            // Every name is one of INTERFACES, and INTERFACES are all here.
            const DEFINED: &[&str] = &[$($name),*];
            debug_assert_eq!(DEFINED, INTERFACES);
            $(
                if imported($name) {
                    $($path)::+::add_to_linker::<T, Data>(linker, get)?;
                }
            )*
        };
    }
    define! {
        "wasi:cli/environment" => cli::environment;
        "wasi:cli/exit" => cli::exit;
        "wasi:cli/stdin" => cli::stdin;
        "wasi:cli/stdout" => cli::stdout;
        "wasi:cli/stderr" => cli::stderr;
        "wasi:cli/terminal-input" => cli::terminal_input;
        "wasi:cli/terminal-output" => cli::terminal_output;
        "wasi:cli/terminal-stdin" => cli::terminal_stdin;
        "wasi:cli/terminal-stdout" => cli::terminal_stdout;
        "wasi:cli/terminal-stderr" => cli::terminal_stderr;
        "wasi:io/error" => io::error;
        "wasi:io/poll" => io::poll;
        "wasi:io/streams" => io::streams;
        "wasi:clocks/monotonic-clock" => clocks::monotonic_clock;
        "wasi:clocks/wall-clock" => clocks::wall_clock;
        "wasi:filesystem/types" => filesystem::types;
        "wasi:filesystem/preopens" => filesystem::preopens;
        "wasi:random/random" => random::random;
        "wasi:random/insecure" => random::insecure;
        "wasi:random/insecure-seed" => random::insecure_seed;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
