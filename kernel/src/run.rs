//! Runs one module: link WASI, instantiate, call the entry point, and turn what happened
//! into an exit status the way the `wasmtime` command does (the module's own status, or
//! 134 after printing the trap).
//!
//! A wasm32-wasip1-threads module also gets its shared memory and `wasi::thread-spawn`:
//! each new thread is a kernel thread running an instance of its own (one `InstancePre`,
//! a `Store` per thread, the same memory and WASI state). Returning from `_start` ends
//! the run with 0 while other threads still run; a trap or `proc_exit` in any thread ends
//! it once, with that thread's outcome.
//!
//! Every store has the run's memory limiter (`usage.rs`); a write cut at the output limit
//! ends the run with [`OUTPUT_LIMIT_STATUS`]. How the run ended and what it consumed make
//! the guest's part of the run report ([`RunRecord`]).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{bail, Context, Result};
use wasmtime::{
    Caller, Engine, ExternType, InstancePre, Linker, MemoryType, Module, SharedMemory, Store,
};

use crate::limit_spec::LimitName;
use crate::manifest::{ThreadsInfo, WASM_PAGE};
use crate::usage::{LimitExceeded, MemoryLimiter, RunRecord, Usage, UsageRecord};
use crate::wasi::{self, SharedWasi, Stdio, WasiConfig, WasiCtx};

/// Exit status of a module that trapped (as from SIGABRT, like `wasmtime` on Unix).
pub const TRAP_STATUS: i32 = 134;

/// Exit status when the runner itself fails before or around the module (as `wasmtime`
/// does).
pub const RUNNER_FAILURE_STATUS: i32 = 1;

/// Exit status of a run ended by the output limit: what a shell reports for a process
/// stopped by SIGXFSZ, the signal of the file-size limit.
pub const OUTPUT_LIMIT_STATUS: i32 = 128 + 25;

/// `err` and its causes as `wasmtime run` prints an error, without a Rust backtrace
/// (which `RUST_BACKTRACE` would add to anyhow's own rendering): the message, then
/// `Caused by:` and each cause indented (numbered when there are several).
pub fn error_report(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    let causes: Vec<String> = err.chain().skip(1).map(|c| c.to_string()).collect();
    if !causes.is_empty() {
        text.push_str("\n\nCaused by:");
        for (i, cause) in causes.iter().enumerate() {
            let cause = cause.replace('\n', "\n       ");
            if causes.len() == 1 {
                text.push_str(&format!("\n    {cause}"));
            } else {
                text.push_str(&format!("\n    {i}: {cause}"));
            }
        }
    }
    text
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// The entry point returned (status 0) or the module called `proc_exit`.
    Exited(i32),
    /// A trap; the error is printed by `status`.
    Failed(anyhow::Error),
    /// A host function ended the run with an error that is not a trap (a WASI call whose
    /// arguments Wasmtime refuses to decode, `proc_exit` out of range): printed by
    /// `status`, exit status 1, as `wasmtime run` ends then.
    Error(anyhow::Error),
    /// A limit the runner enforces ended it (`output`).
    Limit(LimitExceeded),
    /// The module did not start: it could not be linked or instantiated, or has no such
    /// entry point (the error is printed by `status`).
    NotStarted(anyhow::Error),
}

impl Outcome {
    /// The process exit status for this outcome: an exit code keeps its low 8 bits (what a
    /// Unix process status holds); a failure prints the error to `stderr` and gives 134,
    /// a limit prints which and gives its own status.
    pub fn status(&self, stderr: &mut dyn std::io::Write) -> i32 {
        let status = match self {
            Outcome::Exited(code) => return code & 0xff,
            Outcome::Failed(err) => {
                let _ = writeln!(stderr, "Error: {}", error_report(err));
                TRAP_STATUS
            }
            Outcome::Error(err) => {
                let _ = writeln!(stderr, "Error: {}", error_report(err));
                RUNNER_FAILURE_STATUS
            }
            Outcome::Limit(exceeded) => {
                let _ = writeln!(stderr, "Error: {exceeded}");
                OUTPUT_LIMIT_STATUS
            }
            Outcome::NotStarted(err) => {
                let _ = writeln!(stderr, "Error: {}", error_report(err));
                RUNNER_FAILURE_STATUS
            }
        };
        let _ = stderr.flush();
        status
    }

    /// The guest's record of this outcome, with what the run consumed.
    pub fn record(&self, usage: UsageRecord) -> RunRecord {
        let (ended, limit, message) = match self {
            Outcome::Exited(_) => ("exit", None, None),
            Outcome::Failed(err) => ("trap", None, Some(error_report(err))),
            Outcome::Limit(exceeded) => (
                "limit",
                Some(exceeded.name.as_str()),
                Some(exceeded.to_string()),
            ),
            Outcome::Error(err) | Outcome::NotStarted(err) => {
                ("failure", None, Some(error_report(err)))
            }
        };
        RunRecord {
            ended,
            limit,
            message,
            usage,
        }
    }
}

/// A run's end: its outcome, and what it consumed.
#[derive(Debug)]
pub struct Ended {
    pub outcome: Outcome,
    pub usage: Arc<Usage>,
}

impl Ended {
    /// Prints what ended the run to `stderr` (see [`Outcome::status`]); gives the exit
    /// status and the guest's record. Once the end is claimed the module's output is
    /// closed (a thread still running writes nothing more), so the record counts exactly
    /// what went out.
    pub fn report(self, stderr: &mut dyn std::io::Write) -> (i32, RunRecord) {
        self.usage.close_output();
        let status = self.outcome.status(stderr);
        (status, self.outcome.record(self.usage.record()))
    }
}

/// Store data of a running module: every thread's store points to the same WASI state
/// and counts its memory against the same limit.
struct Guest {
    wasi: Arc<SharedWasi>,
    limiter: MemoryLimiter,
}

impl Guest {
    /// A store's data for a thread of the module run with `wasi`, whose memories may grow
    /// to `memory` bytes.
    fn store(engine: &Engine, wasi: &Arc<SharedWasi>, memory: Option<u64>) -> Store<Guest> {
        let mut store = Store::new(
            engine,
            Guest {
                wasi: Arc::clone(wasi),
                limiter: MemoryLimiter {
                    memory,
                    usage: Arc::clone(wasi.usage()),
                },
            },
        );
        store.limiter(|guest| &mut guest.limiter);
        store
    }
}

/// Ends the whole run from a thread other than the main one (a trap or `proc_exit` there):
/// reports the outcome the way the runner reports the main thread's, then ends the process
/// or VM. It must not return.
pub type EndRun = Arc<dyn Fn(Ended) -> std::convert::Infallible + Send + Sync>;

/// Set by the first thread that ends the run; any other waits for the end to come.
static ENDING: AtomicBool = AtomicBool::new(false);

/// Whether the caller is the first to end the run: the main thread's caller asks before it
/// reports, so that a run ends once even when two threads finish together. The loser
/// should call [`wait_for_the_end`].
pub fn claim_the_end() -> bool {
    !ENDING.swap(true, Ordering::SeqCst)
}

/// Parks the calling thread for good: another thread is ending the run.
pub fn wait_for_the_end() -> ! {
    loop {
        std::thread::park();
    }
}

/// What a threads module runs with (from its manifest): its shared memory's size and the
/// cap on threads, and what ends the run from another thread.
pub struct ThreadSupport {
    pub info: ThreadsInfo,
    /// Pages the shared memory may grow to in this run (the image's capacity, or a lower
    /// memory limit).
    pub budget_pages: u64,
    pub end: EndRun,
}

/// The name of the export a new thread starts in (wasi-threads).
pub const THREAD_START: &str = "wasi_thread_start";

/// Lets the timer preempt the calling thread. Kernel 0.11 on aarch64 starts a new thread
/// with IRQs masked (SPSR 0x3e5) until its first reschedule, and on riscv64 a thread first
/// switched to from inside the scheduler starts with `sstatus.SIE` clear as the scheduler
/// left it; so a wasm thread that spun from its start would never give the CPU back. It
/// unmasks them first thing. On x86_64 (and natively) threads start preemptible and this
/// does nothing.
fn unmask_interrupts() {
    #[cfg(all(target_os = "hermit", target_arch = "aarch64"))]
    // SAFETY: Hermit runs the application at EL1; clearing DAIF.I only lets IRQs, which the
    // kernel handles, interrupt this thread, as they do every other.
    unsafe {
        core::arch::asm!("msr daifclr, #2", options(nomem, nostack))
    };
    #[cfg(all(target_os = "hermit", target_arch = "riscv64"))]
    // SAFETY: Hermit runs the application in S-mode; setting `sstatus.SIE` (bit 1) only
    // lets interrupts, which the kernel handles, interrupt this thread, as they do others.
    unsafe {
        core::arch::asm!("csrsi sstatus, 2", options(nomem, nostack))
    };
}

/// The import a threads module spawns threads through.
pub const THREAD_SPAWN: (&str, &str) = ("wasi", "thread-spawn");

/// Stack of each thread a module spawns: Wasmtime's default wasm stack limit (512 KiB)
/// with room for the host frames around it.
const THREAD_STACK: usize = 2 << 20;

/// Largest thread id the proposal allows.
const MAX_THREAD_ID: u32 = 0x1FFF_FFFF;

/// A core module the running one links, with the import module name it is found under
/// (Hermitfile `LINK`).
pub struct Link {
    pub name: String,
    pub module: Module,
}

/// The module that runs and the modules it links, in the order they are instantiated.
pub struct Program {
    pub module: Module,
    pub links: Vec<Link>,
}

/// Instantiates the `program`'s module with WASI and the modules it links and calls
/// `entrypoint` (`_start` if `None`); its memories and tables may grow to `memory` bytes.
/// `Err` means the runner could not set the module's WASI up; a module that could not
/// start (missing import, bad entry point, a memory over the limit) or ran is the
/// `Outcome`. A threads module gets its shared memory and `thread-spawn` from `threads`;
/// other threads that trap or exit end the run through it.
pub fn run(
    engine: &Engine,
    program: &Program,
    config: WasiConfig,
    stdio: Stdio,
    entrypoint: Option<&str>,
    memory: Option<u64>,
    threads: Option<ThreadSupport>,
) -> Result<Ended> {
    let wasi = WasiCtx::new(config, stdio).context("setting up WASI")?;
    let wasi = Arc::new(SharedWasi::new(wasi));
    let usage = Arc::clone(wasi.usage());
    let mut shared_memory = None;
    let outcome = match start(
        engine,
        program,
        &wasi,
        entrypoint,
        memory,
        threads,
        &mut shared_memory,
    ) {
        Ok((mut store, func)) => {
            crate::phases::mark("start");
            if shared_memory.is_some() {
                // A threads module: its main thread may spin while others wait their turn.
                unmask_interrupts();
            }
            let result = func.call(&mut store, ());
            crate::phases::mark("end");
            outcome(result)
        }
        Err(not_started) => not_started,
    };
    Ok(ended(outcome, &usage, shared_memory.as_ref()))
}

/// Links and instantiates the module; gives its store and entry point, or the outcome of
/// a module that did not start. Sets `shared_memory` to a threads module's memory.
fn start(
    engine: &Engine,
    program: &Program,
    wasi: &Arc<SharedWasi>,
    entrypoint: Option<&str>,
    memory: Option<u64>,
    threads: Option<ThreadSupport>,
    shared_memory: &mut Option<SharedMemory>,
) -> Result<(Store<Guest>, wasmtime::TypedFunc<(), ()>), Outcome> {
    // Wasmtime's errors are its own type; ours are anyhow's (`From` converts, keeping the
    // chain of causes).
    let not_started = |err: anyhow::Error| Outcome::NotStarted(err);
    let (module, links) = (&program.module, &program.links);
    let mut linker: Linker<Guest> = Linker::new(engine);
    // Only the WASI functions the modules import: defining all 46 took about 40 ms of a
    // hello's boot under the emulator.
    let imported: std::collections::HashSet<&str> = std::iter::once(module)
        .chain(links.iter().map(|link| &link.module))
        .flat_map(|module| module.imports())
        .filter(|import| import.module() == wasi::MODULE)
        .map(|import| import.name())
        .collect();
    wasi::add_to_linker(
        &mut linker,
        |guest: &mut Guest| &guest.wasi,
        &|name: &str| imported.contains(name),
    )
    .map_err(not_started)?;
    let mut store = Guest::store(engine, wasi, memory);
    let pre = Arc::new(OnceLock::new());
    if let Some(threads) = threads {
        // Before any module thread exists: a thread that spins must not starve the others.
        // (Natively, the host's scheduler has time slices of its own.)
        #[cfg(target_os = "hermit")]
        crate::platform::timeslice::start();
        let memory_of_threads = define_shared_memory(
            &mut linker,
            &store,
            module,
            &threads,
            memory.is_some(),
            wasi.usage(),
        )
        .map_err(|err| {
            if memory.is_some() {
                wasi.usage().refused(LimitName::Memory);
            }
            not_started(err)
        })?;
        *shared_memory = Some(memory_of_threads.clone());
        let spawner = Arc::new(Spawner {
            pre: Arc::clone(&pre),
            next_id: AtomicU32::new(1),
            running: AtomicU32::new(0),
            max_threads: threads.info.max_threads,
            memory,
            shared_memory: memory_of_threads,
            end: threads.end,
        });
        linker
            .func_wrap(
                THREAD_SPAWN.0,
                THREAD_SPAWN.1,
                move |caller: Caller<'_, Guest>, arg: i32| -> i32 {
                    Arc::clone(&spawner).spawn(&caller.data().wasi, arg)
                },
            )
            .map_err(|err| not_started(err.into()))?;
    }
    crate::phases::mark("wasi");
    // In order, as `wasmtime run --preload` does: a reactor is instantiated now (its
    // `_initialize` runs), a command's exports each run a fresh instance; a link may use
    // the ones before it.
    for link in links {
        linker
            .module(&mut store, &link.name, &link.module)
            .map_err(|err| match outcome(Err(err)) {
                Outcome::Failed(err) | Outcome::Error(err) => not_started(
                    err.context(format!("instantiating the linked module `{}`", link.name)),
                ),
                ended => ended,
            })?;
    }
    let instance_pre = linker
        .instantiate_pre(module)
        .map_err(|err| not_started(anyhow::Error::from(err).context("instantiating the module")))?;
    crate::phases::mark("linked");
    // Set first: the module's start function may already spawn threads.
    let _ = pre.set(instance_pre.clone());
    // A start function may exit or reach the output limit like `_start`; any other error
    // (a trap there, a memory over the limit) means the module did not start.
    let instance = instance_pre
        .instantiate(&mut store)
        .map_err(|err| match outcome(Err(err)) {
            Outcome::Failed(err) | Outcome::Error(err) => {
                not_started(err.context("instantiating the module"))
            }
            ended => ended,
        })?;
    crate::phases::mark("instantiated");
    let entry = entrypoint.unwrap_or("_start");
    let func = instance
        .get_typed_func::<(), ()>(&mut store, entry)
        .map_err(|err| {
            not_started(anyhow::Error::from(err).context(format!(
                "the module exports no function `{entry}` of type () -> ()"
            )))
        })?;
    Ok((store, func))
}

/// The end of a run with `outcome`: what `usage` counts, and the size a shared memory
/// reached (it never shrinks, and Wasmtime grows it without asking the limiter).
fn ended(outcome: Outcome, usage: &Arc<Usage>, shared_memory: Option<&SharedMemory>) -> Ended {
    if let Some(memory) = shared_memory {
        usage.memory_is(memory.data_size() as u64);
    }
    Ended {
        outcome,
        usage: Arc::clone(usage),
    }
}

/// The outcome of a call into the module.
pub(crate) fn outcome(result: wasmtime::Result<()>) -> Outcome {
    match result {
        Ok(()) => Outcome::Exited(0),
        Err(err) => {
            if let Some(exit) = err.downcast_ref::<wasi::Exit>() {
                return Outcome::Exited(exit.0);
            }
            if let Some(exceeded) = err.downcast_ref::<LimitExceeded>() {
                return Outcome::Limit(*exceeded);
            }
            if err.is::<wasmtime::Trap>() {
                Outcome::Failed(err.into())
            } else {
                Outcome::Error(err.into())
            }
        }
    }
}

/// Creates the module's imported shared memory and defines it in `linker` under the
/// import's name. It may grow to `threads.budget_pages`: in the guest its reservation is
/// the image's capacity and pages are committed as it grows, within the budget
/// (`platform/shared_memory.rs`; a refusal there counts as the memory limit reached when
/// `limited`); on the host the budget is its maximum.
fn define_shared_memory(
    linker: &mut Linker<Guest>,
    store: &Store<Guest>,
    module: &Module,
    threads: &ThreadSupport,
    limited: bool,
    usage: &Arc<Usage>,
) -> Result<SharedMemory> {
    let (import, ty) = module
        .imports()
        .find_map(|import| match import.ty() {
            ExternType::Memory(ty) if ty.is_shared() => Some((import, ty)),
            _ => None,
        })
        .context("the manifest says the module uses threads, but it imports no shared memory")?;
    let budget = threads.budget_pages;
    if ty.minimum() > budget {
        bail!(
            "the module's shared memory needs {} pages ({} MiB) to start, more than the {} \
             pages ({} MiB) this image and its memory limit grant it",
            ty.minimum(),
            (ty.minimum() * WASM_PAGE) >> 20,
            budget,
            (budget * WASM_PAGE) >> 20,
        );
    }
    #[cfg(target_os = "hermit")]
    let maximum = {
        let bytes = usize::try_from(budget * WASM_PAGE).context("shared memory budget")?;
        let reservation = usize::try_from(threads.info.memory_capacity_pages * WASM_PAGE)
            .context("shared memory capacity")?;
        crate::platform::shared_memory::expect(crate::platform::shared_memory::Budget {
            reservation,
            bytes,
            // A refusal is the limit's only when the limit set the budget.
            limited: limited && budget < threads.info.memory_capacity_pages,
            usage: Arc::clone(usage),
        });
        threads.info.memory_capacity_pages
    };
    #[cfg(not(target_os = "hermit"))]
    let maximum = {
        let _ = (limited, usage);
        budget
    };
    let maximum = ty.maximum().unwrap_or(u64::MAX).min(maximum);
    let (minimum, maximum) = (
        u32::try_from(ty.minimum()).context("shared memory minimum")?,
        u32::try_from(maximum).context("shared memory maximum")?,
    );
    let memory = SharedMemory::new(module.engine(), MemoryType::shared(minimum, maximum))
        .map_err(anyhow::Error::from)
        .inspect_err(|_| {
            #[cfg(target_os = "hermit")]
            crate::platform::shared_memory::forget();
        })
        .with_context(|| {
            format!(
                "creating the shared memory ({minimum} pages, room for {maximum}): the \
                 guest has not the memory for it"
            )
        })?;
    linker
        .define(store, import.module(), import.name(), memory.clone())
        .map_err(anyhow::Error::from)?;
    Ok(memory)
}

/// `wasi::thread-spawn`: starts module threads, each an instance of its own (sharing the
/// memory and the WASI state) on a thread of the kernel.
struct Spawner {
    /// Set once the main instance exists (the import is defined before it).
    pre: Arc<OnceLock<InstancePre<Guest>>>,
    next_id: AtomicU32,
    /// Threads started and not yet returned.
    running: AtomicU32,
    /// The cap on `running`: the image's, or the run's `threads` limit.
    max_threads: u32,
    /// The memory limit of every thread's store.
    memory: Option<u64>,
    /// The module's memory.
    shared_memory: SharedMemory,
    end: EndRun,
}

impl Spawner {
    /// Starts a thread calling `wasi_thread_start(id, arg)`; returns its id, or -1 when it
    /// cannot (no thread left under the cap, ids used up, the kernel refused a thread).
    fn spawn(self: Arc<Self>, wasi: &Arc<SharedWasi>, arg: i32) -> i32 {
        self.try_spawn(wasi, arg).unwrap_or(-1)
    }

    fn try_spawn(self: &Arc<Self>, wasi: &Arc<SharedWasi>, arg: i32) -> Result<i32> {
        let pre = self
            .pre
            .get()
            .context("thread-spawn before the module started")?;
        let running = self.running.fetch_add(1, Ordering::SeqCst);
        let release = || self.running.fetch_sub(1, Ordering::SeqCst);
        if running >= self.max_threads {
            release();
            wasi.usage().refused(LimitName::Threads);
            bail!("{running} threads are running, the most the threads limit allows");
        }
        let Ok(id) = self
            .next_id
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |id| {
                (id <= MAX_THREAD_ID).then_some(id + 1)
            })
        else {
            release();
            bail!("thread ids are used up");
        };
        let started = (|| {
            let mut store = Guest::store(pre.module().engine(), wasi, self.memory);
            let instance = pre.instantiate(&mut store)?;
            let start = instance.get_typed_func::<(i32, i32), ()>(&mut store, THREAD_START)?;
            let spawner = Arc::clone(self);
            let id = id as i32;
            let builder = std::thread::Builder::new()
                .name(format!("wasm thread {id}"))
                .stack_size(THREAD_STACK);
            let body = move || {
                unmask_interrupts();
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    on_aligned_stack(|| start.call(&mut store, (id, arg)))
                }));
                let ending = match result {
                    Ok(Ok(())) => {
                        spawner.running.fetch_sub(1, Ordering::SeqCst);
                        return;
                    }
                    Ok(Err(err)) => outcome(Err(err)),
                    // Where panics unwind (natively), a panic in the runner ends the
                    // run rather than one thread silently.
                    Err(_) => {
                        Outcome::Failed(anyhow::anyhow!("the runner panicked in wasm thread {id}"))
                    }
                };
                if claim_the_end() {
                    let usage = store.data().wasi.usage();
                    let end = ended(ending, usage, Some(&spawner.shared_memory));
                    match (spawner.end)(end) {}
                }
                wait_for_the_end();
            };
            // The kernel maps the new thread's stack.
            editing_page_tables(|| builder.spawn(body))?;
            anyhow::Ok(id)
        })();
        if started.is_err() {
            release();
        }
        started
    }
}

/// Runs `f`, a kernel call that maps or unmaps pages, so that the timer cannot preempt it
/// (`platform::page_tables`).
fn editing_page_tables<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_os = "hermit")]
    {
        crate::platform::page_tables::edit(f)
    }
    #[cfg(not(target_os = "hermit"))]
    {
        f()
    }
}

/// Runs `f` where Wasmtime may run wasm: on a 16-byte aligned stack (`platform`).
fn on_aligned_stack<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_os = "hermit")]
    {
        crate::platform::with_aligned_stack(f)
    }
    #[cfg(not(target_os = "hermit"))]
    {
        f()
    }
}

/// The imports among `(module, name, is_function)` that we do not provide, as `module::name`.
/// A threads module, whose shared memory is imported as `shared_memory`, also gets that
/// memory and `wasi::thread-spawn` (the precompiler checks the memory's shape).
pub fn unsupported_imports<'a>(
    imports: impl IntoIterator<Item = (&'a str, &'a str, bool)>,
    shared_memory: Option<(&str, &str)>,
) -> Vec<String> {
    imports
        .into_iter()
        .filter(|&(module, name, is_function)| {
            let provided = if is_function {
                (module == wasi::MODULE && wasi::FUNCTIONS.contains(&name))
                    || (shared_memory.is_some() && (module, name) == THREAD_SPAWN)
            } else {
                shared_memory == Some((module, name))
            };
            !provided
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
            unsupported_imports(imports, None),
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

    #[test]
    fn the_output_limit_gives_153_and_says_so() {
        let mut err = Vec::new();
        let limit = Outcome::Limit(LimitExceeded {
            name: crate::limit_spec::LimitName::Output,
            limit: 10,
        });
        assert_eq!(limit.status(&mut err), OUTPUT_LIMIT_STATUS);
        assert_eq!(OUTPUT_LIMIT_STATUS, 153);
        assert!(String::from_utf8(err)
            .unwrap()
            .contains("output limit exceeded"));
    }

    /// The launch scripts read `ended` and `limit` at the start of the record line
    /// (`xtask/templates/launch/report.sh`), and splice the rest into the report.
    #[test]
    fn the_record_starts_with_how_the_run_ended() {
        let usage = UsageRecord {
            peak_memory_bytes: 65536,
            stdout_bytes: 3,
            stderr_bytes: 0,
            limits_reached: vec!["files"],
        };
        let exited = serde_json::to_string(&Outcome::Exited(0).record(usage.clone())).unwrap();
        assert_eq!(
            exited,
            r#"{"ended":"exit","limit":null,"message":null,"peak_memory_bytes":65536,"stdout_bytes":3,"stderr_bytes":0,"limits_reached":["files"]}"#
        );
        let limit = Outcome::Limit(LimitExceeded {
            name: crate::limit_spec::LimitName::Output,
            limit: 10,
        });
        let json = serde_json::to_string(&limit.record(usage.clone())).unwrap();
        assert!(
            json.starts_with(r#"{"ended":"limit","limit":"output","message":"output limit"#),
            "{json}"
        );
        let trap = Outcome::Failed(anyhow::anyhow!("wasm trap: \"unreachable\"\nbacktrace"));
        let json = serde_json::to_string(&trap.record(usage)).unwrap();
        assert!(!json.contains('\n'), "one line: {json}");
        assert!(
            json.starts_with(r#"{"ended":"trap","limit":null,"#),
            "{json}"
        );
        let failure = RunRecord::failure(&anyhow::anyhow!("no such export"));
        let json = serde_json::to_string(&failure).unwrap();
        assert!(
            json.starts_with(r#"{"ended":"failure","limit":null,"#),
            "{json}"
        );
    }
}
