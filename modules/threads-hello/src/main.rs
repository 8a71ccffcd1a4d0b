//! The smallest threaded program: one spawned thread prints a greeting, main joins it and
//! says so. Built for `wasm32-wasip1-threads`, it needs the shared memory and
//! `wasi::thread-spawn`; `cargo xtask bench` compares its boot, time and memory with the
//! plain `hello`.
//!
//! Expected output, exit status 0:
//!
//! ```text
//! Hello from a WebAssembly thread!
//! joined
//! ```

fn main() {
    let worker = std::thread::spawn(|| println!("Hello from a WebAssembly thread!"));
    worker.join().expect("the thread panicked");
    println!("joined");
}
