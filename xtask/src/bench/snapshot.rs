//! The snapshot experiment of `cargo xtask bench` ("boot once, restore many"): the `cat`
//! image booted until it waits for stdin, saved with QEMU's migration to a file, then
//! started from that file (`-incoming`) instead of booting, against cold boots of the same
//! image in the same run. The launch script takes the extra QEMU options from
//! `HERMIT_WASM_QEMU_OPTIONS`. Measured only on boards whose stdin is a virtio console:
//! with semihosting stdin the guest's read blocks inside QEMU, which cannot save the VM then.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::bench::history::Figures;
use crate::bench::run::{measure, measure_with, Bench};
use crate::flags::ImageArgs;
use crate::image;
use crate::plan::profile::StdinDevice;

/// The launch script's variable for extra QEMU options.
const QEMU_OPTIONS: &str = "HERMIT_WASM_QEMU_OPTIONS";
/// How long the VM to be saved runs first: several boots' worth, so that it has started
/// the module and waits for stdin.
const SETTLE: Duration = Duration::from_secs(3);
/// How long a restored VM may run: a restore that works ends in well under a second.
const RESTORE_LIMIT: Duration = Duration::from_secs(30);

/// The section of `docs/benchmarks.md` for the bench's boards; keeps its figures in
/// `figures`.
pub fn section(bench: &Bench, figures: &mut Figures) -> Result<String> {
    let dir = std::env::temp_dir().join(format!("hermit-wasm-snapshot-{}", std::process::id()));
    ensure!(
        !dir.to_string_lossy().contains(char::is_whitespace),
        "the snapshot folder {} has a space, which QEMU's options cannot carry: set TMPDIR",
        dir.display()
    );
    // Ours alone (an existing folder of that name is refused), and passable for QEMU once
    // it has given root up.
    std::fs::DirBuilder::new()
        .mode(0o711)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711))?;
    let result = rows(bench, figures, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(format!(
        "\n## Boot once, restore many (an experiment)\n\n\
         The `cat` image booted until it waits for stdin, saved with QEMU's migration to a \
         file, and started from that file (`HERMIT_WASM_QEMU_OPTIONS=\"-incoming file:…\"`) \
         instead of booting; against cold boots of the same image in the same run (both with \
         an empty stdin, both ending with status 0; medians). Not shipped as \
         `run-qemu.sh --snapshot`: a restored VM has the arguments, environment and maps of \
         the boot that was saved, and the same random state and clocks in every run; the \
         runner would have to take those after the restore. And a restore still pays the \
         floor (QEMU's start and the launch script; see \"Phases\"), which bounds the \
         gain. Only on boards whose stdin is a virtio console: a guest waiting on \
         semihosting stdin blocks inside QEMU, which cannot save it then. A restored VM \
         that has not ended after 30 s is stopped and reported so, as is one that fails.\n\n\
         | board | cold boot-to-exit | restored to exit | cold / restored | snapshot file |\n\
         |---|---|---|---|---|\n{}",
        result?
    ))
}

fn rows(bench: &Bench, figures: &mut Figures, dir: &Path) -> Result<String> {
    let (sh, project, boards, runs) = bench.parts();
    let mut rows = String::new();
    for board in boards {
        if board.qemu.stdin != StdinDevice::VirtioConsole {
            rows.push_str(&format!(
                "| {} | semihosting stdin | - | - | - |\n",
                board.name
            ));
            continue;
        }
        let plan = image::run(
            sh,
            project,
            &ImageArgs::of_module(&board.name, "cat", Some("bench-cat")),
        )?;
        let script = &plan.image.run_qemu;
        let snapshot = dir.join(format!("{}.snapshot", board.name));
        save(
            script,
            &dir.join(format!("{}.monitor", board.name)),
            &snapshot,
        )
        .with_context(|| format!("saving a snapshot of {}", script.display()))?;
        let size = std::fs::metadata(&snapshot)?.len();
        let cold = measure(runs, script, &[])?;
        let incoming = format!("-incoming file:{}", snapshot.display());
        let restore_timeout = format!("--timeout={}", RESTORE_LIMIT.as_secs());
        let restored = measure_with(
            runs,
            script,
            &[&restore_timeout],
            &[(QEMU_OPTIONS, &incoming)],
            |_, _| Ok(()),
        );
        // A restore that fails is a finding of the experiment, not the bench's end: its row
        // says how it ended (the launcher's status), the whole error goes to stderr.
        let restored = match restored {
            Ok(restored) => restored,
            Err(err) => {
                eprintln!("{}: a restored VM failed: {err:#}", board.name);
                let text = format!("{err:#}");
                let how = if text.contains("exit status: 124") {
                    format!("did not end within {} s", RESTORE_LIMIT.as_secs())
                } else {
                    "failed (stderr of the bench)".to_string()
                };
                rows.push_str(&format!(
                    "| {} | {} ms | {how} | - | {:.1} MiB |\n",
                    board.name,
                    cold.wall.as_millis(),
                    size as f64 / (1024.0 * 1024.0)
                ));
                continue;
            }
        };
        figures.record(
            &board.name,
            "restored from a snapshot to exit (ms)",
            restored.wall.as_millis() as f64,
        );
        rows.push_str(&format!(
            "| {} | {} ms | {} ms | {:.2}x | {:.1} MiB |\n",
            board.name,
            cold.wall.as_millis(),
            restored.wall.as_millis(),
            cold.wall.as_secs_f64() / restored.wall.as_secs_f64(),
            size as f64 / (1024.0 * 1024.0)
        ));
    }
    Ok(rows)
}

/// Boots `script` with a monitor on `socket`, lets it reach its read of stdin (which stays
/// open), and saves the VM to `snapshot`.
fn save(script: &Path, socket: &Path, snapshot: &Path) -> Result<()> {
    // Made here, new, writable by all: QEMU may have given root up (`-run-with
    // user=nobody`) by the time it writes the snapshot.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(snapshot)
        .with_context(|| format!("creating {}", snapshot.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o666))?;
    drop(file);
    let monitor = format!("-monitor unix:{},server=on,wait=off", socket.display());
    let mut launcher = Command::new(script)
        .env(QEMU_OPTIONS, &monitor)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", script.display()))?;
    let saved = (|| -> Result<()> {
        let mut monitor = Monitor::connect(socket)?;
        std::thread::sleep(SETTLE);
        monitor.command(&format!("migrate file:{}", snapshot.display()))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let info = monitor.command("info migrate")?;
            if info.contains("completed") {
                break;
            }
            let ended = ["failed", "cancelled", "cancelling"];
            if ended.iter().any(|word| info.contains(word)) || Instant::now() > deadline {
                bail!("QEMU's migration did not complete: {info}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = monitor.command("quit");
        Ok(())
    })();
    drop(launcher.stdin.take());
    if saved.is_err() {
        // SIGTERM, so that the launcher ends QEMU (its trap) before it exits.
        // SAFETY: a signal to our own child, not waited for yet.
        unsafe { libc::kill(launcher.id() as libc::pid_t, libc::SIGTERM) };
    }
    let _ = launcher.wait();
    saved
}

/// QEMU's human monitor on a unix socket.
struct Monitor {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Monitor {
    /// Connects once QEMU has made the socket, and reads its greeting.
    fn connect(socket: &Path) -> Result<Monitor> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(stream) => break stream,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(err) => {
                    return Err(err).with_context(|| format!("QEMU's monitor {}", socket.display()))
                }
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut monitor = Monitor {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        };
        monitor.until_prompt()?;
        Ok(monitor)
    }

    /// Sends `command` and gives what QEMU answered before its next prompt.
    fn command(&mut self, command: &str) -> Result<String> {
        writeln!(self.writer, "{command}")?;
        self.until_prompt()
    }

    fn until_prompt(&mut self) -> Result<String> {
        const PROMPT: &[u8] = b"(qemu) ";
        let mut text = Vec::new();
        while !text.ends_with(PROMPT) {
            let buffer = self.reader.fill_buf().context("reading QEMU's monitor")?;
            if buffer.is_empty() {
                break; // QEMU closed the monitor (after `quit`)
            }
            // Byte by byte up to the prompt, so that nothing after it is taken.
            text.push(buffer[0]);
            self.reader.consume(1);
        }
        Ok(String::from_utf8_lossy(&text).into_owned())
    }
}
