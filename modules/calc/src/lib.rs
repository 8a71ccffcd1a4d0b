//! A library module for `LINK`: built for wasm32-wasip1 as a cdylib, it is a WASI reactor
//! (it exports `_initialize` and no `_start`) whose functions `calc-user` imports from the
//! module `calc`. Preloaded with `LINK calc=calc.wasm` (or `wasmtime run --preload
//! calc=calc.wasm`), it is instantiated once, so its state lives across calls: `calls`
//! counts them. It has a memory and WASI of its own (`greet` prints through them).

use std::sync::atomic::{AtomicU32, Ordering};

static CALLS: AtomicU32 = AtomicU32::new(0);

fn count() {
    CALLS.fetch_add(1, Ordering::Relaxed);
}

/// `a + b`, wrapping as wasm's `i32.add` does.
#[no_mangle]
pub extern "C" fn add(a: i32, b: i32) -> i32 {
    count();
    a.wrapping_add(b)
}

/// The `n`th Fibonacci number (wrapping past `u64`).
#[no_mangle]
pub extern "C" fn fib(n: u32) -> u64 {
    count();
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        (a, b) = (b, a.wrapping_add(b));
    }
    a
}

/// Prints a line of its own to stdout.
#[no_mangle]
pub extern "C" fn greet() {
    count();
    println!("calc: hello from the linked module");
}

/// How many calls the functions above have had in this instance.
#[no_mangle]
pub extern "C" fn calls() -> u32 {
    CALLS.load(Ordering::Relaxed)
}
