//! Signals to a launcher, on every board: SIGTERM and SIGINT end the VM and virtiofsd,
//! leave no process and no temporary file behind, and give 128 + the signal; while it ran,
//! QEMU was in its seccomp sandbox (and, where the board allows it, no longer root).
//! `stop_running_vm` is also how the bundle's signal case stops its VM.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use crate::host::child_processes::Launcher;
use crate::plan::profile::Board;
use crate::project::Project;
use crate::test::boot::{expect_status, Boot};
use crate::test::case::{named, scratch, Case, Image};

/// A launcher stopped by SIGTERM or SIGINT ends its VM and virtiofsd, leaves no temporary
/// file, and exits 128 + the signal; while it ran, QEMU was in its seccomp sandbox (and, as
/// root on a board that allows it, no longer root).
pub fn cases(project: &Arc<Project>, board: &Board, cases: &mut Vec<Case>) {
    let b = board.name.clone();
    let shares = board.qemu.virtio_mmio.is_some();
    for (name, number) in [
        ("signal-term-ends-the-vm", libc::SIGTERM),
        ("signal-int-ends-the-vm", libc::SIGINT),
    ] {
        let case = named(&b, name);
        let project = project.clone();
        cases.push(Case::new(
            case.clone(),
            vec![Image::example(&b, "hang")],
            move |plans| {
                let launcher = &plans[0].image.run_qemu;
                stop_running_vm(&project, &case, launcher, shares, number, |_| Ok(()))
            },
        ));
    }
    let case = named(&b, "qemu-runs-sandboxed");
    let project = project.clone();
    let drops = board.qemu.drop_privileges;
    cases.push(Case::new(
        case.clone(),
        vec![Image::example(&b, "hang")],
        move |plans| {
            stop_running_vm(
                &project,
                &case,
                &plans[0].image.run_qemu,
                false,
                libc::SIGTERM,
                |children| {
                    let (pid, cmd) = children
                        .iter()
                        .find(|(_, cmd)| is_vm(cmd))
                        .context("no QEMU")?;
                    ensure!(
                        cmd.contains(" -sandbox on,obsolete=deny,")
                            && cmd.contains("spawn=deny,resourcecontrol=deny"),
                        "QEMU runs without its sandbox options: {cmd}"
                    );
                    // QEMU installs its filter (and gives root up) while it sets up.
                    let field = |name: &str| -> Vec<String> {
                        std::fs::read_to_string(format!("/proc/{pid}/status"))
                            .unwrap_or_default()
                            .lines()
                            .find_map(|l| l.strip_prefix(name))
                            .map(|v| v.split_whitespace().map(str::to_string).collect())
                            .unwrap_or_default()
                    };
                    // SAFETY: getuid has no preconditions.
                    let root = unsafe { libc::getuid() } == 0;
                    // The filter comes first, the setuid only at the end of the machine's
                    // set-up: wait for both (a busy host stretches the gap between them).
                    let nobody = || field("Uid:").iter().all(|uid| *uid == "65534");
                    let settled = || field("Seccomp:") == ["2"] && (!(root && drops) || nobody());
                    let start = Instant::now();
                    while !settled() && start.elapsed() < Duration::from_secs(20) {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    ensure!(
                        field("Seccomp:") == ["2"],
                        "QEMU has no seccomp filter: {cmd}"
                    );
                    if root && drops {
                        ensure!(
                            nobody(),
                            "QEMU still runs as root 20 s after it started: {:?}",
                            field("Uid:")
                        );
                        ensure!(cmd.contains("-run-with user=nobody"), "{cmd}");
                    } else {
                        ensure!(cmd.contains("elevateprivileges=deny"), "{cmd}");
                    }
                    Ok(())
                },
            )
        },
    ));
}

/// Boots the hang image through `launcher` (its run-qemu.sh, or a bundle of it; with a
/// shared folder if `shares`), waits for QEMU (and virtiofsd) to run, hands the launcher's
/// processes to `inspect`, then sends `signal` to the launcher: it must exit 128 + `signal`
/// and leave no process and no temporary file.
pub fn stop_running_vm(
    project: &Project,
    case: &str,
    launcher: &Path,
    shares: bool,
    signal: i32,
    inspect: impl FnOnce(&[(u32, String)]) -> Result<()>,
) -> Result<()> {
    let tmp = scratch(project, case)?;
    let mut boot = Boot::default();
    if shares {
        let data = tmp.join("data");
        std::fs::create_dir_all(&data)?;
        boot = boot.option("--map", &format!("{}:/data", data.display()));
    }
    let mut command = boot.command(launcher);
    command
        .env("TMPDIR", &tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let launcher = Launcher::spawn(&mut command)?;
    let script = launcher.id();
    let start = Instant::now();
    let children = loop {
        let children = descendants(script);
        let qemu = children.iter().any(|(_, cmd)| is_vm(cmd));
        let fsd = !shares || children.iter().any(|(_, cmd)| cmd.contains("virtiofsd"));
        if qemu && fsd {
            break children;
        }
        ensure!(
            start.elapsed() < Duration::from_secs(60),
            "QEMU did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let inspected = inspect(&children);
    // SAFETY: our own child, running (waited for below).
    unsafe { libc::kill(script as libc::pid_t, signal) };
    let out = launcher.wait_with_output()?;
    inspected?;
    expect_status(&out, 128 + signal)?;
    let left: Vec<&(u32, String)> = children
        .iter()
        .filter(|(pid, _)| Path::new(&format!("/proc/{pid}")).exists())
        .collect();
    ensure!(
        left.is_empty(),
        "still running after the launcher ended: {left:?}"
    );
    let files: Vec<_> = std::fs::read_dir(&tmp)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n != "data")
        .collect();
    ensure!(files.is_empty(), "temporary files left behind: {files:?}");
    Ok(())
}

/// Whether `cmd` (a command line) is a QEMU running a VM: not the `timeout` that starts it,
/// nor the launcher's quick `-version` probes.
fn is_vm(cmd: &str) -> bool {
    cmd.split(' ')
        .next()
        .is_some_and(|argv0| argv0.contains("qemu-system"))
        && cmd.contains(" -machine ")
}

/// Every process below `pid`, with its command line.
fn descendants(pid: u32) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let mut parents = vec![pid];
    while let Some(parent) = parents.pop() {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            break;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
                continue;
            };
            // `pid (comm) state ppid ...`; comm may hold spaces, so read after the last ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(parent) {
                let cmd = std::fs::read(format!("/proc/{child}/cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                    .unwrap_or_default();
                found.push((child, cmd));
                parents.push(child);
            }
        }
    }
    found
}
