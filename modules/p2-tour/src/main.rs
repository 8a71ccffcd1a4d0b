//! A WASI 0.2 command (built for `wasm32-wasip2`, so a component) that walks through the
//! interfaces the guest provides, one per subcommand, printing what it saw so that a run
//! in the VM can be compared with `wasmtime run`:
//!
//! - `hello [ARGS...]`: greets and echoes its arguments (wasi:cli/environment, stdout);
//! - `env NAME...`: each variable's value, or `(unset)`;
//! - `cat`: copies stdin to stdout (streams, stdin at its end);
//! - `stderr TEXT`: writes TEXT to stderr;
//! - `files DIR`: makes, writes, reads, lists, renames and removes files under DIR
//!   (wasi:filesystem through a preopen);
//! - `read PATH`: prints the file at PATH;
//! - `sleep MS`: sleeps (a monotonic-clock pollable) and says it slept at least that long;
//! - `random`: draws random bytes (wasi:random) and says how many;
//! - `terminals`: whether stdin, stdout and stderr are terminals;
//! - `exit CODE`: std's exit with CODE (which the libc of wasm32-wasip2 turns into
//!   wasi:cli/exit's `exit(err)` for any non-zero CODE: status 1);
//! - `exit-with-code CODE`: wasi:cli/exit's `exit-with-code` (WASI 0.2.12), status CODE.

use std::io::{IsTerminal, Read, Write};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((command, rest)) => (command.as_str(), rest),
        None => ("hello", &[][..]),
    };
    let result = match command {
        "hello" => {
            println!("Hello from a WASI 0.2 component!");
            if !rest.is_empty() {
                println!("arguments: {}", rest.join(" "));
            }
            Ok(())
        }
        "env" => {
            for name in rest {
                let value = std::env::var(name).unwrap_or_else(|_| "(unset)".into());
                println!("{name}={value}");
            }
            Ok(())
        }
        "cat" => cat(),
        "stderr" => {
            eprintln!("{}", rest.join(" "));
            Ok(())
        }
        "files" => files(rest.first().map_or(".", String::as_str)),
        "read" => std::fs::read_to_string(rest.first().map_or("", String::as_str))
            .map(|text| print!("{text}")),
        "sleep" => {
            let ms: u64 = rest.first().and_then(|s| s.parse().ok()).unwrap_or(10);
            let start = Instant::now();
            std::thread::sleep(Duration::from_millis(ms));
            let enough = start.elapsed() >= Duration::from_millis(ms);
            println!(
                "slept {ms} ms: {}",
                if enough { "at least" } else { "too short" }
            );
            Ok(())
        }
        "random" => {
            let mut map = std::collections::HashMap::new();
            // HashMap's keys are seeded from wasi:random.
            map.insert(1, 2);
            let bytes: Vec<u8> = (0..32).map(|_| rand_byte()).collect();
            println!("random: {} bytes, map of {}", bytes.len(), map.len());
            Ok(())
        }
        "terminals" => {
            println!(
                "stdin {} stdout {} stderr {}",
                std::io::stdin().is_terminal(),
                std::io::stdout().is_terminal(),
                std::io::stderr().is_terminal()
            );
            Ok(())
        }
        "exit" => {
            let code: i32 = rest.first().and_then(|s| s.parse().ok()).unwrap_or(1);
            std::io::stdout().flush().unwrap();
            std::process::exit(code)
        }
        "exit-with-code" => {
            let code: u8 = rest.first().and_then(|s| s.parse().ok()).unwrap_or(1);
            std::io::stdout().flush().unwrap();
            #[cfg(target_os = "wasi")]
            wasip2::cli::exit::exit_with_code(code);
            std::process::exit(i32::from(code))
        }
        other => {
            eprintln!("p2-tour: unknown command {other}");
            std::process::exit(2)
        }
    };
    if let Err(err) = result {
        eprintln!("p2-tour {command}: {err}");
        std::process::exit(1);
    }
}

/// A byte from the random source std seeds its hash maps with.
fn rand_byte() -> u8 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    hasher.finish() as u8
}

fn cat() -> std::io::Result<()> {
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input)?;
    std::io::stdout().write_all(&input)?;
    eprintln!("cat: {} bytes", input.len());
    Ok(())
}

fn files(dir: &str) -> std::io::Result<()> {
    let base = std::path::Path::new(dir).join("p2-tour");
    std::fs::create_dir_all(&base)?;
    std::fs::write(base.join("a.txt"), "first line\n")?;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(base.join("a.txt"))?;
    file.write_all(b"second line\n")?;
    drop(file);
    std::fs::write(base.join("b.txt"), vec![b'x'; 100_000])?;
    print!("a.txt: {}", std::fs::read_to_string(base.join("a.txt"))?);
    let mut names: Vec<String> = std::fs::read_dir(&base)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    println!("listed: {}", names.join(" "));
    println!(
        "b.txt: {} bytes",
        std::fs::metadata(base.join("b.txt"))?.len()
    );
    std::fs::rename(base.join("b.txt"), base.join("c.txt"))?;
    println!(
        "renamed: {}",
        base.join("c.txt").exists() && !base.join("b.txt").exists()
    );
    match std::fs::read(base.join("missing")) {
        Ok(_) => println!("missing: found?"),
        Err(err) => println!("missing: {:?}", err.kind()),
    }
    std::fs::remove_file(base.join("c.txt"))?;
    std::fs::remove_file(base.join("a.txt"))?;
    std::fs::remove_dir(&base)?;
    println!("removed: {}", !base.exists());
    Ok(())
}
