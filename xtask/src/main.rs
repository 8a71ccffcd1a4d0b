//! Hermit-WASM's build system (`cargo xtask`). One module per subcommand (image, qemu,
//! inspect, boards, test, bench); `plan.rs` turns arguments and a board profile into a
//! build plan, which `image.rs` executes with the builders (`kernel_build.rs`, ...).

mod bench;
mod bench_history;
mod bench_large;
mod bench_memory;
mod bench_phases;
mod bench_run;
mod bench_snapshot;
mod bench_threads;
mod boards;
mod build_lock;
mod bundle;
mod cargo_cmd;
mod child_processes;
mod cloud_formats;
mod compare;
mod compare_corpus;
mod corpus;
mod disk;
mod disk_config;
mod disk_image;
mod elf_info;
mod flags;
mod hermitfile;
mod host_deps;
mod host_runner;
mod image;
mod inspect;
mod kernel_build;
mod launch_script;
mod limits_cases;
mod oci_archive;
mod partial_file;
mod payload_segment;
mod plan;
mod precompile;
mod profile;
mod project;
mod qemu;
mod reference;
mod symbols;
mod test;
mod test_cases;
mod threads_cases;
mod tidy;
mod toolchain;
mod wasi_testsuite;

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
            Command::BenchChild(args) => bench_run::child(args),
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
