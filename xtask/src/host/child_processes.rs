//! The launchers the xtask starts (launch scripts booting VMs), and what happens to them
//! when the xtask itself is interrupted or killed: each gets SIGTERM, which a launch script
//! answers by ending its VM and virtiofsd, and the xtask exits with 128 + the signal's
//! number, as a shell does. Ctrl-C reaches the scripts directly too (same process group);
//! a `kill` of the xtask alone reaches them only through here.

use std::collections::BTreeSet;
use std::process::{Child, Command, Output};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Process ids of the launchers running now.
static RUNNING: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());
static WATCH: Once = Once::new();

/// How long the launchers get to end their VMs before the xtask exits anyway.
const GRACE: Duration = Duration::from_secs(15);

/// Starts the watcher for SIGINT, SIGTERM and SIGHUP (once).
fn watch_signals() {
    WATCH.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
            Ok(signals) => signals,
            Err(err) => {
                eprintln!("warning: cannot watch for signals ({err}); an interrupted run may leave VMs behind");
                return;
            }
        };
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                stop_all(signal);
                std::process::exit(128 + signal);
            }
        });
    });
}

/// Sends SIGTERM to every running launcher and waits (up to [`GRACE`]) for them to end.
fn stop_all(signal: i32) {
    let pids: Vec<u32> = RUNNING
        .lock()
        .map(|set| set.iter().copied().collect())
        .unwrap_or_default();
    if !pids.is_empty() {
        eprintln!(
            "signal {signal}: stopping {} launcher(s) and their VMs",
            pids.len()
        );
    }
    for &pid in &pids {
        // SAFETY: kill(2) with a pid we started and have not reaped (it is in RUNNING until
        // its wait returns), so the number is not yet reused.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    }
    let start = Instant::now();
    while start.elapsed() < GRACE && RUNNING.lock().map(|set| !set.is_empty()).unwrap_or(false) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A launcher that is stopped if the xtask is; leaves the registry when waited for.
pub struct Launcher {
    child: Option<Child>,
    pid: u32,
}

impl Launcher {
    /// Spawns `command` (printed first, as every long step is).
    pub fn spawn(command: &mut Command) -> Result<Launcher> {
        watch_signals();
        eprintln!("$ {command:?}");
        let child = command
            .spawn()
            .with_context(|| format!("starting {:?}", command.get_program()))?;
        let pid = child.id();
        if let Ok(mut set) = RUNNING.lock() {
            set.insert(pid);
        }
        Ok(Launcher {
            child: Some(child),
            pid,
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// The child, for its pipes.
    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("not yet waited for")
    }

    /// Waits for it and collects what it wrote to piped stdout and stderr.
    pub fn wait_with_output(mut self) -> Result<Output> {
        let child = self.child.take().expect("not yet waited for");
        let output = child.wait_with_output().context("waiting for the launcher");
        self.forget();
        output
    }

    fn forget(&self) {
        if let Ok(mut set) = RUNNING.lock() {
            set.remove(&self.pid);
        }
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: as in stop_all: our own child, not reaped yet.
            unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) };
            let _ = child.wait();
        }
        self.forget();
    }
}
