//! A parallel computation whose result is checked, to test that `std::thread::spawn` works
//! in a `wasm32-wasip1-threads` module (the `wasi` `thread-spawn` import and a shared
//! memory). Main fills a deterministic pseudo-random array of 2,000,000 numbers, shares it
//! with worker threads through an `Arc`, and each worker computes a checksum of its own
//! slice (a wrapping sum of weighted values). Main joins the workers, combines their
//! partial checksums and compares them with the checksum it computes sequentially.
//!
//! The first argument is the number of threads (4 without one). Expected output, the same
//! on every run and for any number of threads:
//!
//! ```text
//! threads: 4
//! checksum: 13931654504962573068
//! parallel and sequential checksums agree
//! ```
//!
//! and exit status 0. If they disagree, it prints both on stderr and exits with 1; a bad
//! argument exits with 2.

use std::sync::Arc;
use std::thread;

/// How many numbers are summed.
const LEN: usize = 2_000_000;

/// Fills the array with a xorshift sequence: the same numbers on every run and host.
fn numbers() -> Vec<u32> {
    let mut state: u32 = 0x2545_f491;
    (0..LEN)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        })
        .collect()
}

/// The checksum of `values`, which start at index `start` of the whole array: every value
/// weighted by its index, so that a slice summed twice or at the wrong place is noticed.
fn checksum(start: usize, values: &[u32]) -> u64 {
    values.iter().enumerate().fold(0u64, |acc, (i, &v)| {
        let index = (start + i) as u64;
        acc.wrapping_add(u64::from(v).wrapping_mul(index | 1))
    })
}

fn main() {
    let threads = match std::env::args().nth(1) {
        None => 4,
        Some(arg) => match arg.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("threads-sum: not a positive number of threads: {arg}");
                std::process::exit(2);
            }
        },
    };
    println!("threads: {threads}");

    let data = Arc::new(numbers());
    let chunk = LEN.div_ceil(threads);
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let data = Arc::clone(&data);
            thread::spawn(move || {
                let start = (t * chunk).min(LEN);
                let end = ((t + 1) * chunk).min(LEN);
                checksum(start, &data[start..end])
            })
        })
        .collect();
    let parallel = workers
        .into_iter()
        .map(|w| w.join().expect("a worker thread panicked"))
        .fold(0u64, u64::wrapping_add);

    let sequential = checksum(0, &data);
    println!("checksum: {parallel}");
    if parallel == sequential {
        println!("parallel and sequential checksums agree");
    } else {
        eprintln!("threads-sum: parallel checksum {parallel} != sequential checksum {sequential}");
        std::process::exit(1);
    }
}
