//! `head [-n N]`: copies the first N lines of stdin (10 by default) to stdout, each as soon
//! as it is read, then exits without reading further. Tests that stdin streams: `yes |
//! run-qemu.sh` ends after one line, and a line written to the launcher comes back before
//! the next one is written. Stops early, status 0, at the end of stdin.

use std::io::{BufRead, Write};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lines = match args.as_slice() {
        [] => 10,
        [flag, n] if flag == "-n" => match n.parse::<usize>() {
            Ok(n) => n,
            Err(_) => usage(),
        },
        _ => usage(),
    };
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = std::io::stdout().lock();
    let mut line = Vec::new();
    for _ in 0..lines {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {
                out.write_all(&line).expect("writing stdout");
                out.flush().expect("writing stdout");
            }
            Err(err) => {
                eprintln!("head: reading stdin: {err}");
                std::process::exit(1);
            }
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: head [-n LINES]");
    std::process::exit(2);
}
