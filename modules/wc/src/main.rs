//! `wc FILE...`: prints the lines and bytes of each file (`LINES BYTES FILE`), reading
//! it in 64 KiB pieces. Used to check and to time reading large files from a mapped host
//! directory.

use std::io::Read;

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    let mut status = 0;
    for file in &files {
        match count(file) {
            Ok((lines, bytes)) => println!("{lines} {bytes} {file}"),
            Err(err) => {
                eprintln!("wc: {file}: {err}");
                status = 1;
            }
        }
    }
    std::process::exit(status);
}

fn count(path: &str) -> std::io::Result<(u64, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let (mut lines, mut bytes) = (0u64, 0u64);
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok((lines, bytes));
        }
        bytes += n as u64;
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}
