//! Exceeds one resource on purpose, to test the limits (`LIMIT`, `--limit`):
//!
//! - `grow MIB`: allocates (and touches) 1 MiB at a time, up to MIB MiB; prints how far it
//!   got, and the allocation failure if there was one (exit 0 either way);
//! - `spin`: computes forever;
//! - `flood BYTES`: writes `y\n` lines to stdout, BYTES in all (forever with no BYTES);
//! - `files DIR N`: opens DIR up to N times and keeps every descriptor; prints how many it
//!   opened, and why it stopped if it did (exit 0 either way).

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |at: usize| -> Option<u64> { args.get(at).map(|n| n.parse().expect("a number")) };
    match args.first().map(String::as_str) {
        Some("grow") => grow(number(1).unwrap_or(u64::MAX)),
        Some("spin") => spin(),
        Some("flood") => flood(number(1)),
        Some("files") => files(&args[1], number(2).unwrap_or(u64::MAX)),
        _ => {
            eprintln!("usage: limits grow MIB | spin | flood [BYTES] | files DIR N");
            std::process::exit(2);
        }
    }
}

fn grow(most: u64) {
    const MIB: usize = 1 << 20;
    let mut held: Vec<Vec<u8>> = Vec::new();
    while (held.len() as u64) < most {
        let mut block = Vec::new();
        if let Err(err) = block.try_reserve_exact(MIB) {
            println!("allocated {} MiB, then: {err}", held.len());
            return;
        }
        block.resize(MIB, 1);
        held.push(block);
    }
    println!("allocated {} MiB", held.len());
}

fn spin() {
    let mut spins: u64 = 0;
    loop {
        spins = std::hint::black_box(spins.wrapping_add(1));
    }
}

fn flood(bytes: Option<u64>) {
    let line = b"y\n".repeat(2048);
    let mut out = std::io::stdout().lock();
    let mut written: u64 = 0;
    while bytes.is_none_or(|bytes| written < bytes) {
        let n = bytes.map_or(line.len() as u64, |b| (b - written).min(line.len() as u64));
        out.write_all(&line[..n as usize]).expect("writing stdout");
        written += n;
    }
}

fn files(dir: &str, most: u64) {
    let mut held = Vec::new();
    while (held.len() as u64) < most {
        match std::fs::File::open(dir) {
            Ok(file) => held.push(file),
            Err(err) => {
                println!("opened {} files, then: {err}", held.len());
                return;
            }
        }
    }
    println!("opened {} files", held.len());
}
