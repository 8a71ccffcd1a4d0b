//! `random_get`: random bytes for the guest.
//!
//! On x86_64 CPUs with `rdrand` the bytes come from the CPU's hardware generator.
//! Elsewhere (or if `rdrand` keeps failing) a xoshiro256** generator is used, seeded
//! from std's per-process random hash keys (OS entropy on Linux, the kernel's entropy
//! source on Hermit) mixed with the clocks. The software generator is not meant for
//! cryptography; a dedicated hardware source is to replace it.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The random source of one WASI context.
pub struct Random {
    hardware: bool,
    state: [u64; 4],
}

impl std::fmt::Debug for Random {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Random")
            .field("hardware", &self.hardware)
            .finish_non_exhaustive()
    }
}

impl Default for Random {
    fn default() -> Self {
        Self::new()
    }
}

impl Random {
    /// A source using `rdrand` when the CPU has it, with a freshly seeded fallback.
    pub fn new() -> Random {
        Random {
            hardware: hardware_available(),
            state: seed(),
        }
    }

    /// A software-only generator with a fixed seed (tests).
    pub fn with_seed(seed: u64) -> Random {
        let mut sm = seed;
        Random {
            hardware: false,
            state: [0; 4].map(|_| splitmix64(&mut sm)),
        }
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next_u64();
            chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
        }
    }

    fn next_u64(&mut self) -> u64 {
        if self.hardware {
            if let Some(word) = hardware_u64() {
                return word;
            }
            // The hardware generator is exhausted or broken: use the software one.
            self.hardware = false;
        }
        self.xoshiro()
    }

    fn xoshiro(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Four seed words from std's random hash keys, the clocks and an address.
fn seed() -> [u64; 4] {
    let keys = RandomState::new();
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let local = 0u8;
    let address = &local as *const u8 as u64;
    let start = Instant::now();
    let mut out = [0u64; 4];
    for (i, word) in out.iter_mut().enumerate() {
        let mut h = keys.build_hasher();
        h.write_u64(i as u64);
        h.write_u64(wall);
        h.write_u64(address);
        h.write_u128(start.elapsed().as_nanos());
        *word = h.finish();
    }
    if out == [0; 4] {
        out[0] = 1; // xoshiro's only forbidden state
    }
    out
}

#[cfg(target_arch = "x86_64")]
fn hardware_available() -> bool {
    std::arch::is_x86_feature_detected!("rdrand")
}

#[cfg(not(target_arch = "x86_64"))]
fn hardware_available() -> bool {
    false
}

/// One word from `rdrand`, retrying a few times as Intel recommends.
#[cfg(target_arch = "x86_64")]
fn hardware_u64() -> Option<u64> {
    // Calling it needs `unsafe`: the caller must know the CPU has rdrand.
    #[target_feature(enable = "rdrand")]
    fn step(out: &mut u64) -> i32 {
        core::arch::x86_64::_rdrand64_step(out)
    }
    let mut word = 0u64;
    for _ in 0..10 {
        // SAFETY: only called when `hardware_available()` said the CPU has rdrand.
        if unsafe { step(&mut word) } == 1 {
            return Some(word);
        }
    }
    None
}

#[cfg(not(target_arch = "x86_64"))]
fn hardware_u64() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_every_byte_of_odd_lengths() {
        let mut rng = Random::new();
        let mut buf = [0u8; 4099];
        rng.fill(&mut buf);
        // 4099 zero bytes by chance is impossible in practice.
        assert!(buf.iter().any(|&b| b != 0));
        assert!(buf[4091..].iter().any(|&b| b != 0));
        rng.fill(&mut []);
    }

    #[test]
    fn software_generator_is_deterministic_per_seed_and_varies() {
        let (mut a, mut b) = (Random::with_seed(7), Random::with_seed(7));
        let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
        a.fill(&mut x);
        b.fill(&mut y);
        assert_eq!(x, y);
        a.fill(&mut y);
        assert_ne!(x, y);
    }
}
