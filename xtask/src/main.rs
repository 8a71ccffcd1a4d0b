//! Hermit-WASM's build system (`cargo xtask`). One module per subcommand (image, qemu,
//! inspect, boards, test, bench); `plan.rs` turns arguments and a board profile into a
//! build plan, which `image.rs` executes with the builders (`kernel_build.rs`, ...).

#[path = "bench/mod.rs"]
mod bench;
#[path = "bench/history.rs"]
mod bench_history;
#[path = "bench/large.rs"]
mod bench_large;
#[path = "bench/memory.rs"]
mod bench_memory;
#[path = "bench/phases.rs"]
mod bench_phases;
#[path = "bench/run.rs"]
mod bench_run;
#[path = "bench/snapshot.rs"]
mod bench_snapshot;
#[path = "bench/threads.rs"]
mod bench_threads;
mod boards;
#[path = "image/build_lock.rs"]
mod build_lock;
mod bundle;
#[path = "host/cargo_cmd.rs"]
mod cargo_cmd;
#[path = "host/child_processes.rs"]
mod child_processes;
#[path = "disk/cloud_formats.rs"]
mod cloud_formats;
#[path = "compare/mod.rs"]
mod compare;
#[path = "test/corpus.rs"]
mod compare_corpus;
#[path = "compare/corpus.rs"]
mod corpus;
#[path = "disk/mod.rs"]
mod disk;
#[path = "disk/config.rs"]
mod disk_config;
#[path = "disk/layout.rs"]
mod disk_image;
#[path = "image/elf_info.rs"]
mod elf_info;
mod flags;
#[path = "plan/hermitfile.rs"]
mod hermitfile;
#[path = "host/deps.rs"]
mod host_deps;
#[path = "host/runner.rs"]
mod host_runner;
#[path = "image/mod.rs"]
mod image;
mod inspect;
#[path = "image/kernel_build.rs"]
mod kernel_build;
#[path = "image/launch_script.rs"]
mod launch_script;
#[path = "test/limits.rs"]
mod limits_cases;
#[path = "disk/oci_archive.rs"]
mod oci_archive;
#[path = "host/partial_file.rs"]
mod partial_file;
#[path = "image/payload_segment.rs"]
mod payload_segment;
#[path = "plan/mod.rs"]
mod plan;
#[path = "image/precompile.rs"]
mod precompile;
#[path = "plan/profile.rs"]
mod profile;
mod project;
mod qemu;
#[path = "compare/reference.rs"]
mod reference;
#[path = "image/symbols.rs"]
mod symbols;
#[path = "test/mod.rs"]
mod test;
#[path = "test/basics.rs"]
mod test_cases;
#[path = "test/threads.rs"]
mod threads_cases;
mod tidy;
#[path = "host/toolchain.rs"]
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
