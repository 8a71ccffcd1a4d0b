//! One measured run of a launch script for `cargo xtask bench`: its wall time, and the peak
//! resident memory of the launcher and everything it waited for (QEMU), from `wait4`; and
//! medians of several.
//!
//! The launcher is not the bench's own child but its grandchild, through a fresh `xtask
//! bench-child` process: Linux starts a new program's peak-memory count at the peak of the
//! memory it replaces, and a child the bench spawns replaces the bench's own, which holds
//! hundreds of MiB once it has precompiled a large module.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use crate::flags::{BenchChildArgs, ImageArgs};
use crate::image;
use crate::plan::profile::Board;
use crate::plan::BuildPlan;
use crate::project::Project;

/// What every section of the benchmarks measures with: the shell, the project, the boards
/// and how many runs each figure takes (the median is given).
pub struct Bench<'a> {
    pub sh: &'a xshell::Shell,
    pub project: &'a Project,
    pub boards: &'a [Board],
    pub runs: usize,
}

impl<'a> Bench<'a> {
    /// The shell, the project, the boards and the runs per figure, in that order.
    pub fn parts(&self) -> (&'a xshell::Shell, &'a Project, &'a [Board], usize) {
        (self.sh, self.project, self.boards, self.runs)
    }
}

/// One run: wall time, and the peak resident memory of the launcher and everything it
/// waited for (QEMU).
pub struct Run {
    pub wall: Duration,
    pub peak_rss_kib: u64,
}

/// Runs `script` with `args` and `env` to a successful end.
fn run_once(script: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<(Run, String)> {
    let (run, status, stderr) = run_to_end_with(script, args, env)?;
    ensure!(
        status.success(),
        "{} {args:?} ended with {status}: {}",
        script.display(),
        stderr.trim_end()
    );
    Ok((run, stderr))
}

/// Runs `script` with `args` to its end, whatever its status; gives the run, its status
/// and its stderr.
pub fn run_to_end(script: &Path, args: &[&str]) -> Result<(Run, std::process::ExitStatus, String)> {
    run_to_end_with(script, args, &[])
}

/// [`run_to_end`] with `env` added to the launcher's environment.
pub fn run_to_end_with(
    script: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<(Run, std::process::ExitStatus, String)> {
    let xtask = std::env::current_exe().context("the xtask's own path")?;
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let measures = MeasuresFile(std::env::temp_dir().join(format!(
        "hermit-wasm-bench-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    )));
    // Made new here (never a file or link someone left under that name); the child only
    // writes it.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&measures.0)
        .with_context(|| format!("creating {}", measures.0.display()))?;
    let mut child = Command::new(xtask)
        .arg("bench-child")
        .arg("--measures")
        .arg(&measures.0)
        .arg("--")
        .arg(script)
        .arg("--timeout=300")
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", script.display()))?;
    // Drained while the launcher runs (a full pipe would stop it), kept for a failure.
    let mut stderr = child.stderr.take().context("the launcher's stderr")?;
    let drain = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let status = child
        .wait()
        .with_context(|| format!("waiting for {}", script.display()))?;
    let stderr = drain.join().unwrap_or_default();
    let text = std::fs::read_to_string(&measures.0).unwrap_or_default();
    let run = parse_measures(&text)
        .with_context(|| format!("measuring {} ({status}): {stderr}", script.display()))?;
    Ok((run, status, stderr))
}

/// The file `bench-child` writes its measures to, removed when done with.
struct MeasuresFile(PathBuf);

impl Drop for MeasuresFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `WALL_MICROSECONDS PEAK_KIB`, as `bench-child` writes them.
fn parse_measures(text: &str) -> Result<Run> {
    let mut fields = text.split_whitespace().map(str::parse::<u64>);
    match (fields.next(), fields.next(), fields.next()) {
        (Some(Ok(wall_us)), Some(Ok(peak_rss_kib)), None) => Ok(Run {
            wall: Duration::from_micros(wall_us),
            peak_rss_kib,
        }),
        _ => anyhow::bail!("no measures from bench-child: {text:?}"),
    }
}

/// `xtask bench-child`: runs the command with this process's streams, writes its wall
/// time and its peak resident memory (with what it waited for, from `wait4`), and gives
/// its exit status (128 + the signal that ended it).
pub fn child(args: &BenchChildArgs) -> Result<i32> {
    let (program, rest) = args.command.split_first().context("no command")?;
    let start = Instant::now();
    let child = Command::new(program)
        .args(rest)
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value of that plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not waited for yet; `status` and `usage` are valid
    // for writes. Linux reports in `usage` the child and the children it waited for.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    ensure!(
        waited == pid,
        "waiting for {program}: {}",
        std::io::Error::last_os_error()
    );
    std::fs::write(
        &args.measures,
        format!("{} {}\n", wall.as_micros(), usage.ru_maxrss),
    )
    .with_context(|| format!("writing {}", args.measures.display()))?;
    let status = std::process::ExitStatus::from_raw(status);
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// The hello image the benchmarks boot on `board` (`bench-hello`), built if needed.
pub fn hello_image(sh: &xshell::Shell, project: &Project, board: &Board) -> Result<BuildPlan> {
    image::run(
        sh,
        project,
        &ImageArgs::of_module(&board.name, "hello", Some("bench-hello")),
    )
}

/// The median of `values` (sorted in place); `values` must not be empty.
pub fn median<T: Ord + Copy>(values: &mut [T]) -> T {
    values.sort();
    values[values.len() / 2]
}

/// The median wall time and the largest peak memory of `runs` runs.
pub fn measure(runs: usize, script: &Path, args: &[&str]) -> Result<Run> {
    measure_with(runs, script, args, &[], |_, _| Ok(()))
}

/// [`measure`] with `env` added to the launcher's environment, and `each` given every
/// run's stderr (for what the guest reports there, such as its phase marks).
pub fn measure_with(
    runs: usize,
    script: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    mut each: impl FnMut(&str, Duration) -> Result<()>,
) -> Result<Run> {
    let mut walls = Vec::new();
    let mut peak = 0;
    for _ in 0..runs.max(1) {
        let (run, stderr) = run_once(script, args, env)?;
        each(&stderr, run.wall)?;
        walls.push(run.wall);
        peak = peak.max(run.peak_rss_kib);
    }
    Ok(Run {
        wall: median(&mut walls),
        peak_rss_kib: peak,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_child_gives_the_status_and_its_measures() {
        let measures = MeasuresFile(
            std::env::temp_dir().join(format!("hermit-wasm-bench-test-{}", std::process::id())),
        );
        let args = |script: &str| BenchChildArgs {
            measures: measures.0.clone(),
            command: vec!["sh".into(), "-c".into(), script.into()],
        };
        assert_eq!(child(&args("exit 3")).unwrap(), 3);
        let run = parse_measures(&std::fs::read_to_string(&measures.0).unwrap()).unwrap();
        assert!(run.peak_rss_kib > 0);
        assert_eq!(child(&args("kill -TERM $$")).unwrap(), 128 + 15);
        assert!(parse_measures("12").is_err());
        assert!(parse_measures("12 34 56").is_err());
        assert_eq!(parse_measures("1500 72000\n").unwrap().peak_rss_kib, 72000);
    }
}
