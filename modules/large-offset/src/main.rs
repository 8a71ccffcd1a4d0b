//! Reads a `u64` at the constant address `0xFFFF_FFF0`, the way address-space tests and
//! some C code probe the top of memory. The compiler folds the address into the load's
//! offset immediate; bounds-checking that offset against the memory's size is an addition
//! that may overflow 64 bits, which Cranelift must lower on every board (Wasmtime 36 could
//! not on riscv64). The read is out of bounds, so the module ends with an out-of-bounds
//! trap (status 134) after its first line.

fn main() {
    println!("reading 8 bytes at 0xFFFF_FFF0");
    // SAFETY: none in general; in WebAssembly the address lies beyond the linear memory
    // and the read traps before anything is read, which is what this module tests.
    let value = unsafe { core::ptr::read_volatile(0xFFFF_FFF0usize as *const u64) };
    println!("read {value:#x}: the memory reaches 4 GiB");
}
