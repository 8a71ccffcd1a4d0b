//! Copies fixed-size blocks of memory (16 to 128 bytes), which the compiler turns into
//! WebAssembly `memory.copy` with a constant length, as in nearly every real Rust or C
//! program. Wasmtime 46 and later expand such copies inline with 16-byte vector moves,
//! which Cranelift cannot lower for riscv64 without its vector extension
//! (wasmtime#13959): this module keeps that from coming back unnoticed. It prints a
//! checksum of what it copied.

use std::hint::black_box;

fn copy_block<const N: usize>(from: &[u8; N]) -> [u8; N] {
    let mut to = [0u8; N];
    to.copy_from_slice(black_box(from));
    black_box(to)
}

fn main() {
    let source: Vec<u8> = (0..128u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut sum = 0u64;
    sum += copy_block::<16>(source[..16].try_into().unwrap())
        .iter()
        .map(|&b| u64::from(b))
        .sum::<u64>();
    sum += copy_block::<72>(source[..72].try_into().unwrap())
        .iter()
        .map(|&b| u64::from(b))
        .sum::<u64>();
    sum += copy_block::<128>(source[..128].try_into().unwrap())
        .iter()
        .map(|&b| u64::from(b))
        .sum::<u64>();
    println!("copied 216 bytes in blocks of 16, 72 and 128, checksum {sum}");
}
