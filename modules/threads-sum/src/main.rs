//! A parallel computation whose result is checked, to test that `std::thread::spawn` works
//! in a `wasm32-wasip1-threads` module (the `wasi` `thread-spawn` import and a shared
//! memory). Main fills a deterministic pseudo-random array of 2,000,000 numbers, shares it
//! with worker threads through an `Arc`, and each worker computes a checksum of its own
//! slice (a wrapping sum of weighted values). Main joins the workers, combines their
//! partial checksums and compares them with the checksum it computes sequentially.
//!
//! The first argument is the number of threads (4 without one), the second how many rounds
//! each worker sums its slice (1 without one: more rounds make the parallel part dominate,
//! for `cargo xtask bench`; the result is then that many times the checksum). Expected
//! output, the same on every run and for any number of threads:
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

/// Argument `n` as a positive number, `default` without one; exits with 2 if it is not.
fn positive_arg(n: usize, what: &str, default: usize) -> usize {
    match std::env::args().nth(n) {
        None => default,
        Some(arg) => match arg.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("threads-sum: not a positive number of {what}: {arg}");
                std::process::exit(2);
            }
        },
    }
}

fn main() {
    let threads = positive_arg(1, "threads", 4);
    let rounds = positive_arg(2, "rounds", 1);
    println!("threads: {threads}");

    let data = Arc::new(numbers());
    let chunk = LEN.div_ceil(threads);
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let data = Arc::clone(&data);
            thread::spawn(move || {
                let start = (t * chunk).min(LEN);
                let end = ((t + 1) * chunk).min(LEN);
                (0..rounds).fold(0u64, |acc, _| {
                    // Opaque to the optimiser: each round really reads the slice again.
                    let slice = std::hint::black_box(&data[start..end]);
                    acc.wrapping_add(checksum(start, slice))
                })
            })
        })
        .collect();
    let parallel = workers
        .into_iter()
        .map(|w| w.join().expect("a worker thread panicked"))
        .fold(0u64, u64::wrapping_add);

    let sequential = checksum(0, &data).wrapping_mul(rounds as u64);
    println!("checksum: {parallel}");
    if parallel == sequential {
        println!("parallel and sequential checksums agree");
    } else {
        eprintln!("threads-sum: parallel checksum {parallel} != sequential checksum {sequential}");
        std::process::exit(1);
    }
}
