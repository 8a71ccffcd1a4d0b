//! `CLOCK_PROCESS_CPUTIME_ID` for corpus programs whose locked `libc` crate still names the
//! wasi-libc symbol behind it (`libc` before 0.2.185, RustPython 0.4.0's lockfile): the
//! wasi-libc in the pinned toolchain's wasm32-wasip1 sysroot no longer defines it (it moved
//! to an emulation library Rust does not ship), so such a program does not link. wasi-libc
//! names a clock by the address of a 4-byte record holding its WASI clock id, here 2
//! (`process_cputime_id` in WASI preview1). Compiled by the xtask to a wasm object and
//! linked into the program (`xtask/src/compare/corpus.rs`).
#![no_std]

#[unsafe(no_mangle)]
pub static _CLOCK_PROCESS_CPUTIME_ID: u32 = 2;
