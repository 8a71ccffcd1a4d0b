//! Copies stdin to stdout until EOF, to test that the launch command's stdin reaches the
//! module and that its end is seen as the end.

use std::io::{Read, Write};

fn main() {
    let mut input = Vec::new();
    if let Err(err) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("cat: reading stdin: {err}");
        std::process::exit(1);
    }
    std::io::stdout().write_all(&input).expect("writing stdout");
}
