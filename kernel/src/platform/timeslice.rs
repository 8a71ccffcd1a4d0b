//! Time slices for the threads of a threads module. Kernel 0.11 has no periodic tick: its
//! timer is armed only for a thread's timed wait, and on riscv64 it is disarmed after
//! every timer interrupt. A thread that spins therefore keeps its CPU until it blocks,
//! and a thread that is merely runnable on the same CPU never runs (the official
//! `wasi_threads_*_busy` programs hang that way).
//!
//! The remedy is ours, not the kernel's: one high-priority thread per CPU that sleeps a
//! slice (10 ms) in a loop. Each sleep arms the CPU's timer; when it fires, the kernel
//! makes the sleeper ready and, because its priority is above every module thread's,
//! switches to it at once; it goes back to sleep at once, and the kernel picks the next
//! ready thread of the CPU, round robin. So every slice the running thread goes to the
//! back of its CPU's queue, and a thread another CPU woke is seen within a slice too.
//!
//! What it cannot mend: kernel 0.11 re-arms its one timer for each new timed wait even
//! when an earlier one is due, so a module thread's long timed wait postpones the next
//! slice until that wait ends (a wait with no deadline does not).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

/// The slice: short enough that a thread waiting behind a spinning one is late by
/// milliseconds, long enough that the tick costs little under the emulator (where each
/// one is a context switch there and back). At least the 10 ms below which kernel 0.11
/// busy-waits instead of sleeping.
const SLICE_MICROS: u64 = 10_000;

/// Kernel 0.11's priorities (its `HIGH_PRIO`): std's threads run at the normal one (2).
const TICK_PRIORITY: u8 = 3;

/// Stack of a ticker: it calls the kernel's sleep in a loop and nothing else.
const TICK_STACK: usize = 16 << 10;

/// Tickers that have run: each must sleep once before the module starts, or no timer is
/// armed and a module thread that spins from the start keeps the CPU from them too.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// How long [`start`] waits for the tickers of other CPUs to run (a CPU may take its
/// new thread only at its next interrupt).
const START_WAIT: Duration = Duration::from_secs(1);

/// Starts one ticker on each of the kernel's CPUs and waits until each has run; does
/// nothing if they already run.
pub fn start() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        // SAFETY: a system call of kernel 0.11 with no argument.
        let cpus = unsafe { hermit_abi::available_parallelism() };
        for cpu in 0..cpus {
            // SAFETY: `tick` is an `extern "C" fn(usize)` that never returns and touches
            // nothing but an atomic counter and the kernel's sleep; the kernel gives it a
            // stack of `TICK_STACK` bytes on CPU `cpu`, which exists (below the count the
            // kernel gave).
            crate::platform::page_tables::edit(|| unsafe {
                hermit_abi::spawn2(tick, 0, TICK_PRIORITY, TICK_STACK, cpu as isize)
            });
        }
        // This CPU's ticker runs at the first yield (its priority is higher); the others
        // as their CPUs pick them up.
        let since = Instant::now();
        while RUNNING.load(Ordering::Acquire) < cpus {
            if since.elapsed() > START_WAIT {
                eprintln!(
                    "hermit-wasm: {} of {cpus} time-slice threads started; a spinning thread \
                     may starve others on the remaining CPUs",
                    RUNNING.load(Ordering::Acquire)
                );
                break;
            }
            std::thread::yield_now();
        }
    });
}

/// A ticker's body: say it runs, then sleep a slice, for ever.
extern "C" fn tick(_: usize) {
    RUNNING.fetch_add(1, Ordering::Release);
    loop {
        // SAFETY: a system call of kernel 0.11 that blocks the caller for the given
        // microseconds (it arms the CPU's timer, as 10 ms and more do).
        unsafe { hermit_abi::usleep(SLICE_MICROS) };
    }
}
