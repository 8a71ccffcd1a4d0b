//! `cat [FILE]...`: copies each FILE, or stdin when none is given, to stdout. Tests that
//! the launch command's stdin reaches the module (and its end is seen as the end), and that
//! mapped host directories can be read.

use std::io::{Read, Write};

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    let mut out = std::io::stdout().lock();
    if files.is_empty() {
        let mut input = Vec::new();
        if let Err(err) = std::io::stdin().read_to_end(&mut input) {
            eprintln!("cat: reading stdin: {err}");
            std::process::exit(1);
        }
        out.write_all(&input).expect("writing stdout");
        return;
    }
    let mut status = 0;
    for file in &files {
        match std::fs::read(file) {
            Ok(bytes) => out.write_all(&bytes).expect("writing stdout"),
            Err(err) => {
                eprintln!("cat: {file}: {err}");
                status = 1;
            }
        }
    }
    out.flush().expect("writing stdout");
    std::process::exit(status);
}
