//! `tee [-a] FILE...`: copies stdin to stdout and into each FILE (created, or emptied first;
//! appended to with `-a`). Exits 1 if a file could not be written, after saying why. Tests
//! that a mapped host directory takes writes, and that a read-only one refuses them.

use std::fs::OpenOptions;
use std::io::{Read, Write};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let append = args.first().is_some_and(|a| a == "-a");
    if append {
        args.remove(0);
    }
    let mut input = Vec::new();
    if let Err(err) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("tee: reading stdin: {err}");
        std::process::exit(1);
    }
    std::io::stdout().write_all(&input).expect("writing stdout");
    let mut status = 0;
    for path in &args {
        let written = OpenOptions::new()
            .write(true)
            .create(true)
            .append(append)
            .truncate(!append)
            .open(path)
            .and_then(|mut file| file.write_all(&input));
        if let Err(err) = written {
            eprintln!("tee: {path}: {err}");
            status = 1;
        }
    }
    std::process::exit(status);
}
