//! A parallel map/reduce with `rayon`, to test a work-stealing thread pool in a
//! `wasm32-wasip1-threads` module. It sums a hash of every number from 1 to 3,000,000
//! with `into_par_iter().map(..).reduce(..)` and checks the result against a sequential
//! loop.
//!
//! `std::thread::available_parallelism()` fails on wasip1-threads, so rayon's pool has one
//! thread unless `RAYON_NUM_THREADS` says otherwise: run it with `RAYON_NUM_THREADS=4`.
//! Expected output then (only the first line depends on the variable):
//!
//! ```text
//! rayon threads: 4
//! hash sum: 2803585375750068867
//! parallel and sequential results agree
//! ```
//!
//! and exit status 0. If they disagree, it prints both on stderr and exits with 1.

use rayon::prelude::*;

const N: u64 = 3_000_000;

/// A hash of `x` (SplitMix64's finaliser), so that the sum has no closed form to shortcut.
fn hash(x: u64) -> u64 {
    let mut z = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn main() {
    println!("rayon threads: {}", rayon::current_num_threads());
    let parallel = (1..=N)
        .into_par_iter()
        .map(hash)
        .reduce(|| 0, u64::wrapping_add);
    let sequential = (1..=N).map(hash).fold(0, u64::wrapping_add);
    println!("hash sum: {parallel}");
    if parallel == sequential {
        println!("parallel and sequential results agree");
    } else {
        eprintln!("threads-rayon: parallel result {parallel} != sequential result {sequential}");
        std::process::exit(1);
    }
}
