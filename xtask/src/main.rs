//! Hermit-WASM's build system (`cargo xtask`). A subcommand is a file (`boards.rs`,
//! `bundle.rs`, `inspect.rs`, `qemu.rs`, `wasi_testsuite.rs`) until it grows into a folder
//! (`image/`, `disk/`, `bench/`, `compare/`, `test/`); `plan/` is the pure function from
//! arguments, a board profile and a Hermitfile to a build plan, which `image/` executes;
//! `host/` is what touches the machine the xtask runs on. ARCHITECTURE.md is the map.

// The plan and what executes it.
mod image;
mod plan;

// Subcommands that grew into folders.
mod bench;
mod compare;
mod disk;
mod fuzz_wasi;
mod test;

// One-file subcommands.
mod boards;
mod bundle;
mod inspect;
mod qemu;
mod wasi_testsuite;

// What every subcommand shares.
mod flags;
mod host;
mod project;
mod tidy;

use clap::Parser;

use crate::flags::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    let project = project::Project::locate();
    let result = (|| -> anyhow::Result<i32> {
        let sh = xshell::Shell::new()?;
        match &cli.command {
            Command::Image(args) => image::run(&sh, &project, args).map(|_| 0),
            Command::Qemu(args) => qemu::run(&sh, &project, args),
            Command::Bundle(args) => bundle::run(&sh, &project, args).map(|_| 0),
            Command::Disk(args) => disk::run(&sh, &project, args).map(|_| 0),
            Command::Inspect(args) => inspect::run(&project, args).map(|_| 0),
            Command::Boards(args) => boards::run(&project, args).map(|_| 0),
            Command::Test(args) => test::run(&project, args).map(|_| 0),
            Command::Bench(args) => bench::run(&sh, &project, args).map(|_| 0),
            Command::WasiTestsuite(args) => wasi_testsuite::run(&sh, &project, args).map(|_| 0),
            Command::Compare(args) => compare::run(&sh, &project, args),
            Command::FuzzWasi(args) => fuzz_wasi::run(&sh, &project, args),
            Command::BenchChild(args) => bench::run::child(args),
        }
    })();
    match result {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::exit(1);
        }
    }
}
