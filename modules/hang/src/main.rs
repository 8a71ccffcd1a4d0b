//! Never finishes, to test that `--timeout` stops a hung guest.

fn main() {
    let mut spins: u64 = 0;
    loop {
        spins = std::hint::black_box(spins.wrapping_add(1));
    }
}
