//! The command line: subcommands and their options (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Build and boot Hermit-WASM images",
    version
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Build an image: kernel, loader, guest with the module attached, launch scripts.
    Image(ImageArgs),
    /// Build what is missing and boot it under QEMU; exits with the module's status.
    Qemu(QemuArgs),
    /// Build the image for one or more boards and pack it into one executable file that
    /// boots it under QEMU (`./app.run [OPTIONS] [-- ARGS]`, `./app.run --manifest`).
    Bundle(BundleArgs),
    /// Build the image and a disk of it that UEFI firmware boots (disk.raw, run-disk.sh).
    Disk(DiskArgs),
    /// Show what is inside an image, read back from its ELF files.
    Inspect(InspectArgs),
    /// List the board profiles and what each needs.
    Boards(BoardsArgs),
    /// Run the end-to-end tests: images for each board booted under QEMU.
    Test(TestArgs),
    /// Measure boot-to-exit times and write them to docs/benchmarks.md.
    Bench(BenchArgs),
    /// Run the official WASI preview1 test suite (../shared/wasi-testsuite).
    WasiTestsuite(WasiTestsuiteArgs),
    /// Run a module under the reference `wasmtime run` and in the VM; diff what differs.
    Compare(CompareArgs),
    /// Differential fuzzing of the WASI layer: generated scripts of preview1 calls under
    /// the reference `wasmtime run`, our runner on this host, and each board's VM.
    FuzzWasi(FuzzWasiArgs),
    /// (Used by `bench`.) Run a command to its end and write its wall time and the peak
    /// resident memory of it and what it waited for; exit with its status.
    #[command(hide = true)]
    BenchChild(BenchChildArgs),
}

#[derive(Args, Clone, Debug)]
pub struct ImageArgs {
    /// Board profile (boards/<BOARD>.toml).
    #[arg(long, default_value = "x86_64-kvm")]
    pub board: String,
    /// A .wasm file, or the name of an example under modules/ [default: hello].
    #[arg(long, conflicts_with = "hermitfile")]
    pub module: Option<String>,
    /// A Hermitfile: the module (FROM) and what it may touch (ENV, ARGS, ENTRYPOINT, MAP).
    #[arg(long, value_name = "PATH")]
    pub hermitfile: Option<PathBuf>,
    /// Image name: images/<board>/<NAME>/ [default: the module's name].
    #[arg(long)]
    pub name: Option<String>,
    /// Kernel log level compiled into the kernel (off, error, warn, info, debug, trace)
    /// [default: the board's].
    #[arg(long, value_name = "LEVEL")]
    pub kernel_log: Option<String>,
}

impl ImageArgs {
    /// An image of `module` (a path or an example's name) for `board`.
    pub fn of_module(board: &str, module: &str, name: Option<&str>) -> ImageArgs {
        ImageArgs {
            board: board.to_string(),
            module: Some(module.to_string()),
            hermitfile: None,
            name: name.map(str::to_string),
            kernel_log: None,
        }
    }
}

#[derive(Args, Clone, Debug)]
pub struct DiskArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    /// Cloud formats to write besides disk.raw, comma-separated: gce, azure, qcow2, aws, kubevirt.
    #[arg(long, value_name = "FORMATS", value_delimiter = ',')]
    pub format: Vec<String>,
}

#[derive(Args, Clone, Debug)]
pub struct BundleArgs {
    /// Board profile (boards/<BOARD>.toml); repeat it for a bundle of several boards, in
    /// the order the bundle tries them after the one of the host's architecture.
    #[arg(long = "board", value_name = "BOARD", default_value = "x86_64-kvm")]
    pub boards: Vec<String>,
    /// A .wasm file, or the name of an example under modules/ [default: hello].
    #[arg(long, conflicts_with = "hermitfile")]
    pub module: Option<String>,
    /// A Hermitfile: the module (FROM) and what it may touch (ENV, ARGS, ENTRYPOINT, MAP).
    #[arg(long, value_name = "PATH")]
    pub hermitfile: Option<PathBuf>,
    /// Image name inside the bundle [default: the module's name].
    #[arg(long)]
    pub name: Option<String>,
    /// The file to write (made executable).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
}

impl BundleArgs {
    /// The image arguments for one of the bundle's boards.
    pub fn image(&self, board: &str) -> ImageArgs {
        ImageArgs {
            board: board.to_string(),
            module: self.module.clone(),
            hermitfile: self.hermitfile.clone(),
            name: self.name.clone(),
            kernel_log: None,
        }
    }
}

#[derive(Args, Debug)]
pub struct QemuArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    /// Stop the guest after this many seconds (exit status 124).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// CPUs for the VM (the board's default otherwise; the launch script refuses more than
    /// the board's `max-cpus`).
    #[arg(long, value_name = "N")]
    pub cpus: Option<u32>,
    /// An environment variable for the module, added at launch.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// A host directory for the module, added at launch (shared through virtio-fs).
    #[arg(long = "map", value_name = "HOST:GUEST[:ro]")]
    pub maps: Vec<String>,
    /// A limit for this run (memory=SIZE, cpu=DURATION, wall=DURATION, output=SIZE,
    /// files=COUNT, threads=COUNT), replacing the image's LIMIT of that kind.
    #[arg(long = "limit", value_name = "NAME=VALUE")]
    pub limits: Vec<String>,
    /// Write the run report (JSON: status, how the run ended, times, usage) to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<std::path::PathBuf>,
    /// Boot the image's disk with the board's firmware (`cargo xtask disk`, run-disk.sh)
    /// instead of QEMU's direct boot.
    #[arg(long)]
    pub disk: bool,
    /// With --disk: the bus the disk is on (the board's first by default).
    #[arg(long, value_name = "BUS", requires = "disk")]
    pub disk_bus: Option<String>,
    /// Arguments for the module.
    #[arg(last = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The image folder (images/<board>/<name>).
    pub image: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct BoardsArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct TestArgs {
    /// Only the cases whose name holds one of these (`x86_64-kvm/hello`, `wasi/c/`, `cli/`).
    #[arg(value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Boards to boot in the end-to-end tests [default: all].
    #[arg(long = "board")]
    pub boards: Vec<String>,
    /// Cases run at once [default: the machine's cores].
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Print the selected cases' names, one a line, and build or boot nothing.
    #[arg(long)]
    pub list: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Boards to measure [default: all].
    #[arg(long = "board")]
    pub boards: Vec<String>,
    /// Runs per measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Measure one section only and print it, writing nothing (`components`).
    #[arg(long, value_parser = ["components"])]
    pub only: Option<String>,
}

#[derive(Args, Debug)]
pub struct BenchChildArgs {
    /// The file that gets `WALL_MICROSECONDS PEAK_KIB`.
    #[arg(long)]
    pub measures: PathBuf,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct WasiTestsuiteArgs {
    /// Boot each program on this board [default: run them with the runner built for this host].
    #[arg(long, conflicts_with = "host")]
    pub board: Option<String>,
    /// Run with the runner built for this host, no VM (the default).
    #[arg(long)]
    pub host: bool,
    /// Only the programs whose name (`c/fopen-with-access`, ...) contains this.
    #[arg(long)]
    pub filter: Option<String>,
}

#[derive(Args, Debug)]
pub struct FuzzWasiArgs {
    /// Also run scripts in this board's VM (repeat for more boards).
    #[arg(long = "board")]
    pub boards: Vec<String>,
    /// The first script's seed (script K has seed SEED + K).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Scripts to run on this host (our runner against the reference).
    #[arg(long, default_value_t = 1000)]
    pub scripts: u64,
    /// Of those, how many also run in each board's VM [default: all of them, at most 200].
    #[arg(long)]
    pub vm_scripts: Option<u64>,
    /// Random calls per script, after its fixture.
    #[arg(long, default_value_t = 30)]
    pub calls: usize,
    /// Scripts per run of a runtime (each in a folder of its own).
    #[arg(long, default_value_t = 50)]
    pub batch: u64,
    /// Run one script file (the grammar of modules/wasi-fuzz) instead of generated ones.
    #[arg(long, value_name = "FILE", conflicts_with = "seed")]
    pub script: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// A .wasm file, or the name of an example under modules/.
    #[arg(long)]
    pub module: String,
    /// Board whose VM to compare [default: x86_64-kvm].
    #[arg(long)]
    pub board: Option<String>,
    /// Compare on every board.
    #[arg(long)]
    pub all_boards: bool,
    /// A host folder, copied afresh for each side (`wasmtime run --dir COPY::GUEST`). A
    /// `:ro` map is read-only in the VM only: the `wasmtime` CLI's `--dir` has no read-only
    /// form.
    #[arg(long = "map", value_name = "HOST[:GUEST][:ro]")]
    pub maps: Vec<String>,
    /// Environment for the module, on both sides.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// The module's stdin, on both sides [default: empty].
    #[arg(long, value_name = "FILE")]
    pub stdin: Option<PathBuf>,
    /// Arguments for the module.
    #[arg(last = true)]
    pub args: Vec<String>,
}
