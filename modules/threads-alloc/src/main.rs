//! How far a `wasm32-wasip1-threads` module's shared memory grows: `threads-alloc MIB`
//! starts four threads, each of which allocates a quarter of MIB MiB (`try_reserve_exact`,
//! so a failure is seen, not a panic), fills it with a pattern of its own, reads it back and
//! sums it. Main joins them and prints:
//!
//! ```text
//! parts: 4 of 16 MiB
//! allocated: 4
//! checksum: 8388606895
//! ```
//!
//! (for 64) and exit status 0. Parts that could not be allocated are counted, not summed:
//! `allocated: 1` then `failed: 3`, and no checksum (which parts failed depends on which
//! thread asked first). A part whose bytes do not read back as written exits with 1; a bad
//! argument with 2.
//!
//! Part `t`'s byte `i` is `(31 i + 7 t) mod 251`, so its sum follows from its length: every
//! 251 bytes sum to 31375, and the rest is summed byte by byte.

use std::process::exit;
use std::thread;

const THREADS: usize = 4;

fn byte(t: usize, i: usize) -> u8 {
    ((31 * i + 7 * t) % 251) as u8
}

/// Allocates, fills, checks and sums part `t` of `len` bytes; `None` if it could not be
/// allocated.
fn part(t: usize, len: usize) -> Option<u64> {
    let mut bytes: Vec<u8> = Vec::new();
    bytes.try_reserve_exact(len).ok()?;
    bytes.extend((0..len).map(|i| byte(t, i)));
    let mut sum = 0u64;
    for (i, &b) in bytes.iter().enumerate() {
        if b != byte(t, i) {
            eprintln!("part {t}: byte {i} reads {b}, not {}", byte(t, i));
            exit(1);
        }
        sum += u64::from(b);
    }
    Some(sum)
}

fn main() {
    let mib: usize = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 64,
        Some(Ok(mib)) if mib > 0 => mib,
        Some(_) => {
            eprintln!("usage: threads-alloc [MIB]");
            exit(2);
        }
    };
    let len = (mib << 20) / THREADS;
    let workers: Vec<_> = (0..THREADS)
        .map(|t| thread::spawn(move || part(t, len)))
        .collect();
    let sums: Vec<Option<u64>> = workers
        .into_iter()
        .map(|w| w.join().expect("a part's thread panicked"))
        .collect();
    let allocated = sums.iter().flatten().count();
    println!("parts: {THREADS} of {} MiB", len >> 20);
    println!("allocated: {allocated}");
    if allocated == THREADS {
        println!("checksum: {}", sums.iter().flatten().sum::<u64>());
    } else {
        println!("failed: {}", THREADS - allocated);
    }
}
