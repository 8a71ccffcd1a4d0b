//! `cargo xtask compare --module M [--board B | --all-boards] [--map ...] [--env ...]
//! [--stdin FILE] -- ARGS...`: the differential harness. Runs the module under the
//! reference `wasmtime run` on this host (`reference.rs`) and inside the VM of each board,
//! with the same arguments, environment and stdin, and a fresh copy of each mapped folder
//! for each side; compares stdout, stderr (a trap's message may differ in wording, not in
//! kind), exit status and the folders afterwards (names, types, sizes, contents, symlink
//! targets), prints a unified diff of whatever differs, and succeeds only when nothing
//! does. The real programs it is run on in `cargo xtask test` are `corpus.rs`'s.
//!
//! Invariant: the reference is always the `wasmtime` CLI of the release the guest embeds
//! (`reference.rs` reads it from Cargo.lock), and each side works on its own copy of every
//! mapped folder.

pub mod adapter;
pub mod corpus;
pub mod reference;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{bail, Context, Result};
use hermit_wasm_kernel::map_spec::MapSpec;
use sha2::{Digest, Sha256};
use xshell::Shell;

use crate::flags::{CompareArgs, ImageArgs};
use crate::host::child_processes::Launcher;
use crate::image;
use crate::plan::profile;
use crate::plan::{ModuleBuild, ModuleSource};
use crate::project::Project;
use crate::wasi_testsuite;

/// What one comparison runs: the module, its launch, and where to work.
pub struct Run {
    pub wasm: PathBuf,
    pub maps: Vec<MapSpec>,
    pub env: Vec<String>,
    pub stdin: Option<PathBuf>,
    pub args: Vec<String>,
    /// Bytes each linear memory may grow to (`wasmtime run -W max-memory-size`, our
    /// `--limit memory=`).
    pub memory_limit: Option<u64>,
    /// Core modules preloaded for the module's imports, `(NAME, PATH)` in order: the
    /// reference gets `--preload NAME=PATH`, the image has them linked (`LINK`).
    pub preloads: Vec<(String, PathBuf)>,
    /// The function to call instead of the default: the reference gets `--invoke CALL`,
    /// the image has it as its ENTRYPOINT.
    pub invoke: Option<String>,
    /// Scratch folder (emptied first).
    pub work: PathBuf,
}

impl Run {
    /// `wasm` run with nothing given (no folders, environment, stdin, arguments, limit,
    /// preloads or invoke), working in `work`; a caller sets what it gives.
    pub fn new(wasm: PathBuf, work: PathBuf) -> Run {
        Run {
            wasm,
            maps: Vec::new(),
            env: Vec::new(),
            stdin: None,
            args: Vec::new(),
            memory_limit: None,
            preloads: Vec::new(),
            invoke: None,
            work,
        }
    }
}

pub fn run(sh: &Shell, project: &Project, args: &CompareArgs) -> Result<i32> {
    let boards: Vec<String> = match (&args.board, args.all_boards) {
        (Some(board), false) => vec![board.clone()],
        (None, true) => profile::load_all(&project.boards())?.into_keys().collect(),
        (None, false) => vec!["x86_64-kvm".to_string()],
        (Some(_), true) => bail!("--board and --all-boards exclude each other"),
    };
    let maps = args
        .maps
        .iter()
        .map(|map| MapSpec::parse(map).with_context(|| format!("--map {map:?}")))
        .collect::<Result<Vec<_>>>()?;
    for env in &args.env {
        crate::plan::hermitfile::parse_env_arg(env)?;
    }
    let reference = reference::wasmtime(project)?;
    let mut differ = 0;
    for board in &boards {
        // An example is compared as the plain `.wasm` a user would bring: nothing baked in.
        let plan = match ModuleSource::from_arg(&args.module) {
            ModuleSource::Example(module) => image::plain_example(sh, project, board, &module)?,
            ModuleSource::File(_) => image::run(
                sh,
                project,
                &ImageArgs::of_module(board, &args.module, None),
            )?,
        };
        let wasm = match &plan.module {
            ModuleBuild::Crate { wasm, .. } | ModuleBuild::File { wasm } => wasm.clone(),
        };
        let run = Run {
            wasm,
            maps: maps.clone(),
            env: args.env.clone(),
            stdin: args.stdin.clone(),
            args: args.args.clone(),
            memory_limit: None,
            preloads: Vec::new(),
            invoke: None,
            work: project
                .target()
                .join("compare")
                .join(board)
                .join(&plan.name),
        };
        match compare(&reference, &plan.image.run_qemu, board, &run)? {
            None => println!("{board}: same as wasmtime run"),
            Some(diff) => {
                println!("{board}: differs from wasmtime run:\n{diff}");
                differ += 1;
            }
        }
    }
    Ok(if differ == 0 { 0 } else { 1 })
}

/// A runtime a side of a comparison runs on.
pub enum Runtime<'a> {
    /// The reference `wasmtime` CLI at this path.
    Reference(&'a Path),
    /// A board's VM, through the image's launch script at this path.
    Vm(&'a Path),
    /// Our runner built for this host, with a payload of the module precompiled for it.
    Native { runner: &'a Path, payload: &'a Path },
}

/// Runs `run` under the reference and through `script` (a board's launch script); the
/// unified diff of what differs, or `None`.
pub fn compare(reference: &Path, script: &Path, board: &str, run: &Run) -> Result<Option<String>> {
    let _ = std::fs::remove_dir_all(&run.work);
    let want = side(
        &Runtime::Reference(reference),
        run,
        &run.work.join("wasmtime"),
    )?;
    let have = side(&Runtime::Vm(script), run, &run.work.join("vm"))?;
    Ok(diff(&want, &have, &format!("{board} VM")))
}

/// The unified diff of two sides' reports (`side`), the first the reference's, or `None`
/// when they agree.
pub fn diff(want: &str, have: &str, what: &str) -> Option<String> {
    if want == have {
        return None;
    }
    let diff = similar::TextDiff::from_lines(want, have)
        .unified_diff()
        .header("wasmtime run", what)
        .to_string();
    Some(diff)
}

/// Runs `run` on `runtime` with fresh copies of its maps under `dir`; what it did, as the
/// text a comparison compares (exit status, stdout, stderr, the folders afterwards).
pub fn side(runtime: &Runtime, run: &Run, dir: &Path) -> Result<String> {
    let copies = copy_maps(&run.maps, dir)?;
    let command = match runtime {
        // `wasmtime run --dir COPY::GUEST --env K=V NAME.wasm ARGS`, from the module's
        // folder so that argv[0] is its file name, as the guest's runner gives it.
        Runtime::Reference(reference) => {
            let wasm_dir = run.wasm.parent().context("the module's folder")?;
            let wasm_name = run.wasm.file_name().context("the module's file name")?;
            let mut command = Command::new(reference);
            command.arg("run");
            for (map, copy) in run.maps.iter().zip(&copies) {
                let guest = map.guest.as_deref().unwrap_or(&map.host);
                command
                    .arg("--dir")
                    .arg(format!("{}::{guest}", copy.display()));
            }
            for env in &run.env {
                command.arg("--env").arg(env);
            }
            if let Some(bytes) = run.memory_limit {
                command.arg("-W").arg(format!("max-memory-size={bytes}"));
            }
            if let Some(call) = &run.invoke {
                command.arg("--invoke").arg(call);
            }
            for (name, path) in &run.preloads {
                let path = std::path::absolute(path)?;
                command
                    .arg("--preload")
                    .arg(format!("{name}={}", path.display()));
            }
            command
                .arg("--")
                .arg(wasm_name)
                .args(&run.args)
                .current_dir(wasm_dir);
            command
        }
        Runtime::Vm(script) => {
            let mut command = Command::new(script);
            command.arg("--timeout=300");
            command.args(launch_options(run, &copies));
            command.arg("--").args(&run.args);
            command
        }
        Runtime::Native { .. } if !run.preloads.is_empty() => {
            bail!("the native runner's payloads link no modules: compare preloads in a VM")
        }
        Runtime::Native { runner, payload } => {
            // As a boot has: a hung module fails the comparison instead of hanging it.
            let mut command = Command::new("timeout");
            command
                .args(["--kill-after=5", "300"])
                .arg(runner)
                .arg(payload);
            command.args(launch_options(run, &copies));
            command.arg("--").args(&run.args);
            command
        }
    };
    Ok(Side::run(command, run.stdin.as_deref(), &run.maps, &copies)?.report())
}

/// The launch options our runner and our launch scripts share: `--map` (the copies),
/// `--env`, `--limit memory=`.
fn launch_options(run: &Run, copies: &[PathBuf]) -> Vec<String> {
    let mut options = Vec::new();
    for (map, copy) in run.maps.iter().zip(copies) {
        let guest = map.guest.as_deref().unwrap_or(&map.host);
        let mode = if map.read_only { ":ro" } else { "" };
        options.push("--map".to_string());
        options.push(format!("{}:{guest}{mode}", copy.display()));
    }
    for env in &run.env {
        options.push("--env".to_string());
        options.push(env.clone());
    }
    if let Some(bytes) = run.memory_limit {
        options.push("--limit".to_string());
        options.push(format!("memory={bytes}"));
    }
    options
}

/// A fresh copy of each map's host folder under `side` (`0`, `1`, ...).
fn copy_maps(maps: &[MapSpec], side: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(side)?;
    maps.iter()
        .enumerate()
        .map(|(k, map)| {
            let copy = side.join(k.to_string());
            wasi_testsuite::copy_dir(Path::new(&map.host), &copy)
                .with_context(|| format!("copying {}", map.host))?;
            Ok(copy)
        })
        .collect()
}

/// What one side did.
struct Side {
    output: Output,
    /// Each map's folder afterwards, as lines.
    trees: Vec<(String, Vec<String>)>,
}

impl Side {
    fn run(
        mut command: Command,
        stdin: Option<&Path>,
        maps: &[MapSpec],
        copies: &[PathBuf],
    ) -> Result<Side> {
        let input = match stdin {
            Some(path) => Stdio::from(
                std::fs::File::open(path).with_context(|| format!("--stdin {}", path.display()))?,
            ),
            None => Stdio::null(),
        };
        command
            .stdin(input)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let output = Launcher::spawn(&mut command)?.wait_with_output()?;
        let mut trees = Vec::new();
        for (map, copy) in maps.iter().zip(copies) {
            let mut lines = Vec::new();
            tree_lines(copy, Path::new(""), &mut lines)?;
            trees.push((map.guest.clone().unwrap_or_else(|| map.host.clone()), lines));
        }
        Ok(Side { output, trees })
    }

    /// Everything compared, as text (a trap's message reduced to its kind).
    fn report(&self) -> String {
        let mut text = String::new();
        let status = self.output.status.code();
        let _ = writeln!(text, "exit status: {status:?}");
        text.push_str("--- stdout\n");
        text.push_str(&printable(&self.output.stdout));
        text.push_str("--- stderr\n");
        let stderr = String::from_utf8_lossy(&self.output.stderr);
        match trap_kind(&stderr) {
            Some(kind) if status == Some(134) => {
                let _ = writeln!(text, "(a trap: {kind})");
            }
            _ => match runtime_error(&stderr) {
                Some(cause) if status == Some(1) => {
                    let _ = writeln!(text, "(an error ended the run: {cause})");
                }
                _ => text.push_str(&printable(&self.output.stderr)),
            },
        }
        for (guest, lines) in &self.trees {
            let _ = writeln!(text, "--- folder {guest}");
            for line in lines {
                let _ = writeln!(text, "{line}");
            }
        }
        text
    }
}

/// `bytes` as text lines; a missing final newline and non-UTF-8 bytes are said so.
fn printable(bytes: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    if std::str::from_utf8(bytes).is_err() {
        text.push_str("\n(not UTF-8)");
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push_str("\n(no newline at the end)\n");
    }
    text
}

/// The root cause of an error that ended a run (not a trap: a call the runtime refused,
/// an exit status out of range), when `stderr` is such an error's report (`Error: ...`
/// with its `Caused by:` chain, as `wasmtime run` and our runner print it): its last
/// line, which names the cause without the backtrace in front of it.
fn runtime_error(stderr: &str) -> Option<String> {
    if !stderr.starts_with("Error: ") || !stderr.contains("\nCaused by:\n") {
        return None;
    }
    let last = stderr
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())?
        .trim();
    let cause = match last.split_once(": ") {
        Some((n, rest)) if n.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => last,
    };
    Some(cause.to_string())
}

/// The kind of a WebAssembly trap named in `stderr` (Wasmtime's trap descriptions).
fn trap_kind(stderr: &str) -> Option<&'static str> {
    const KINDS: [&str; 10] = [
        "unreachable",
        "out of bounds memory access",
        "integer divide by zero",
        "integer overflow",
        "indirect call type mismatch",
        "uninitialized element",
        "undefined element",
        "call stack exhausted",
        "out of bounds table access",
        "invalid conversion to integer",
    ];
    KINDS.into_iter().find(|kind| stderr.contains(kind))
}

/// A file's size and the SHA-256 of its contents, read in pieces; of a file over
/// `WHOLE_FILE_LIMIT` (a sparse one a module made by writing far out), of its first and
/// last `WHOLE_FILE_LIMIT / 2` bytes only.
fn file_digest(path: &Path) -> Result<(u64, Vec<u8>)> {
    use std::io::{Read, Seek, SeekFrom};
    const WHOLE_FILE_LIMIT: u64 = 64 << 20;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let size = file.metadata()?.len();
    let mut hasher = Sha256::new();
    let mut hash_range = |file: &mut std::fs::File, len: u64| -> Result<()> {
        let mut chunk = vec![0u8; 1 << 20];
        let mut left = len;
        while left > 0 {
            let n = file.read(&mut chunk[..left.min(1 << 20) as usize])?;
            if n == 0 {
                break;
            }
            hasher.update(&chunk[..n]);
            left -= n as u64;
        }
        Ok(())
    };
    if size <= WHOLE_FILE_LIMIT {
        hash_range(&mut file, size)?;
    } else {
        hash_range(&mut file, WHOLE_FILE_LIMIT / 2)?;
        file.seek(SeekFrom::Start(size - WHOLE_FILE_LIMIT / 2))?;
        hash_range(&mut file, WHOLE_FILE_LIMIT / 2)?;
    }
    Ok((size, hasher.finalize().to_vec()))
}

/// One line per entry under `dir` (sorted): type, path, and size and SHA-256 for files,
/// the target for symlinks. Times are not compared.
fn tree_lines(dir: &Path, relative: &Path, lines: &mut Vec<String>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = relative.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            let target = std::fs::read_link(entry.path())?;
            lines.push(format!("link {} -> {}", path.display(), target.display()));
        } else if kind.is_dir() {
            lines.push(format!("dir  {}", path.display()));
            tree_lines(&entry.path(), &path, lines)?;
        } else {
            let (size, hash) = file_digest(&entry.path())?;
            let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
            lines.push(format!("file {} {size} bytes sha256:{hex}", path.display()));
        }
    }
    Ok(())
}
