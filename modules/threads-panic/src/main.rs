//! A spawned thread panics while main waits for it in `join`, to test how a panic off the
//! main thread ends a `wasm32-wasip1-threads` module. Rust on wasm has `panic = abort`: the
//! worker prints its panic message on stderr and executes `unreachable`, a trap, which ends
//! the whole instance (every thread) rather than unwinding into `join`.
//!
//! Expected: stdout `main: waiting for the worker`, stderr starting with
//! `thread '<unnamed>' panicked at ...: the worker panics on purpose` followed by the
//! runtime's trap report, and the exit status of a trap (see the report of the run under
//! the reference Wasmtime in the commit that added this module). Main never gets past
//! `join`; if it does (a host build, where panics unwind), it says so on stderr and exits
//! with 101, the status of a Rust panic.

use std::thread;

fn main() {
    println!("main: waiting for the worker");
    let worker = thread::spawn(|| {
        panic!("the worker panics on purpose");
    });
    match worker.join() {
        Ok(()) => eprintln!("threads-panic: the worker returned instead of panicking"),
        Err(_) => eprintln!("threads-panic: the panic unwound into join (not wasm)"),
    }
    std::process::exit(101);
}
