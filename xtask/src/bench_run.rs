//! One measured run of a launch script for `cargo xtask bench`: its wall time, and the peak
//! resident memory of the launcher and everything it waited for (QEMU), from `wait4`; and
//! medians of several.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use crate::flags::ImageArgs;
use crate::image;
use crate::plan::BuildPlan;
use crate::profile::Board;
use crate::project::Project;

/// One run: wall time, and the peak resident memory of the launcher and everything it
/// waited for (QEMU).
pub struct Run {
    pub wall: Duration,
    pub peak_rss_kib: u64,
}

/// Runs `script` with `args` to a successful end.
fn run_once(script: &Path, args: &[&str]) -> Result<Run> {
    let (run, status, stderr) = run_to_end(script, args)?;
    ensure!(
        status.success(),
        "{} {args:?} ended with {status}: {}",
        script.display(),
        stderr.trim_end()
    );
    Ok(run)
}

/// Runs `script` with `args` to its end, whatever its status; gives the run, its status
/// and its stderr.
pub fn run_to_end(script: &Path, args: &[&str]) -> Result<(Run, std::process::ExitStatus, String)> {
    let start = Instant::now();
    let mut child = Command::new(script)
        .arg("--timeout=300")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", script.display()))?;
    let pid = child.id() as libc::pid_t;
    // Drained while the launcher runs (a full pipe would stop it), kept for a failure.
    let mut stderr = child.stderr.take().context("the launcher's stderr")?;
    let drain = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value of that plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not waited for yet; `status` and `usage` are valid
    // for writes. Linux reports in `usage` the child and the children it waited for.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    ensure!(
        waited == pid,
        "waiting for {}: {}",
        script.display(),
        std::io::Error::last_os_error()
    );
    let status = std::process::ExitStatus::from_raw(status);
    let stderr = drain.join().unwrap_or_default();
    let run = Run {
        wall,
        peak_rss_kib: usage.ru_maxrss as u64,
    };
    Ok((run, status, stderr))
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
    let mut walls = Vec::new();
    let mut peak = 0;
    for _ in 0..runs.max(1) {
        let run = run_once(script, args)?;
        walls.push(run.wall);
        peak = peak.max(run.peak_rss_kib);
    }
    walls.sort();
    Ok(Run {
        wall: walls[walls.len() / 2],
        peak_rss_kib: peak,
    })
}
