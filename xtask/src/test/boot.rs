//! How a case boots an image (`Boot`: launch options, module arguments, stdin, folder,
//! always through the image's own launch script and with a timeout), what it then checks
//! (`expect_status`, `expect_stdout`, `stderr_has`), and the shape most cases share
//! (`BootCase`, a row of a topic's `const` table: one example booted with arguments and
//! options, its status, its stdout and a fragment of its stderr).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use anyhow::{ensure, Context, Result};

use crate::host::child_processes::Launcher;
use crate::plan::profile::Board;
use crate::test::case::{named, Case, Image};

/// A case of the common shape, as a row of a table: boot example `module` with `args` and
/// the launch `options`, feed it `stdin`, and compare what comes back.
pub struct BootCase {
    /// The case's name on each board (`hello` becomes `x86_64-kvm/hello`).
    pub name: &'static str,
    pub module: &'static str,
    pub args: &'static [&'static str],
    /// Launch options with their values (`("--timeout", "5")`).
    pub options: &'static [(&'static str, &'static str)],
    pub stdin: &'static [u8],
    pub status: i32,
    /// The whole stdout, `{arch}` standing for the board's architecture.
    pub stdout: Option<&'static str>,
    /// A fragment of stderr (empty: not checked).
    pub stderr: &'static str,
}

impl BootCase {
    /// A row's defaults: no arguments, options or stdin; status 0, stdout and stderr
    /// unchecked.
    pub const DEFAULT: BootCase = BootCase {
        name: "",
        module: "",
        args: &[],
        options: &[],
        stdin: b"",
        status: 0,
        stdout: None,
        stderr: "",
    };

    /// The row as a case on `board`.
    pub fn case(&'static self, board: &Board) -> Case {
        let arch = board.arch.name();
        Case::new(
            named(&board.name, self.name),
            vec![Image::example(&board.name, self.module)],
            move |plans| {
                let mut boot = Boot::args(self.args).stdin(self.stdin);
                for (option, value) in self.options {
                    boot = boot.option(option, value);
                }
                let out = boot.run(&plans[0].image.run_qemu)?;
                expect_status(&out, self.status)?;
                if let Some(stdout) = self.stdout {
                    expect_stdout(&out, &stdout.replace("{arch}", arch))?;
                }
                if !self.stderr.is_empty() {
                    stderr_has(&out, self.stderr)?;
                }
                Ok(())
            },
        )
    }
}

/// How a case boots an image: launch options, module arguments, stdin, folder.
#[derive(Default)]
pub struct Boot<'a> {
    pub options: Vec<String>,
    pub args: Vec<String>,
    pub stdin: Vec<u8>,
    /// Keep stdin open after `stdin` until the launcher ends (no end of input).
    pub stdin_stays_open: bool,
    pub cwd: Option<&'a Path>,
    /// Extra QEMU options (`HERMIT_WASM_QEMU_OPTIONS`), e.g. another `-cpu`.
    pub qemu_options: Option<String>,
}

impl Boot<'_> {
    pub fn args(args: &[&str]) -> Boot<'static> {
        Boot {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Boot::default()
        }
    }

    pub fn option(mut self, option: &str, value: &str) -> Self {
        self.options.push(option.to_string());
        self.options.push(value.to_string());
        self
    }

    pub fn stdin(mut self, input: &[u8]) -> Self {
        self.stdin = input.to_vec();
        self
    }

    /// Runs the launch script `script` (a 120 s timeout keeps a hung guest from hanging
    /// the run) and collects its output.
    pub fn run(self, script: &Path) -> Result<Output> {
        let mut launcher = self.spawn(script)?;
        let mut stdin = launcher.child().stdin.take().context("stdin")?;
        let (feed, stays_open) = (self.stdin, self.stdin_stays_open);
        // The writer hands the pipe back when it must stay open: it is then closed only
        // when joined, after the launcher has ended.
        let writer = std::thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut stdin, &feed);
            stays_open.then_some(stdin)
        });
        let out = launcher.wait_with_output()?;
        // A guest that does not read all of its stdin closes the pipe early: not an error.
        let _ = writer.join();
        Ok(out)
    }

    /// Starts the launch script with stdin, stdout and stderr piped (`stdin` is not fed).
    pub fn spawn(&self, script: &Path) -> Result<Launcher> {
        let mut command = self.command(script);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Launcher::spawn(&mut command)
    }

    /// The command, not started.
    pub fn command(&self, script: &Path) -> Command {
        let mut command = Command::new(script);
        // The cases judge stderr: the kernel's log joins it only where a case asks.
        command
            .env_remove("HERMIT_WASM_KERNEL_LOG")
            .arg("--timeout=120")
            .args(&self.options)
            .arg("--")
            .args(&self.args);
        if let Some(cwd) = self.cwd {
            command.current_dir(cwd);
        }
        if let Some(options) = &self.qemu_options {
            command.env("HERMIT_WASM_QEMU_OPTIONS", options);
        }
        command
    }
}

pub fn expect_status(out: &Output, want: i32) -> Result<()> {
    let got = out.status.code();
    ensure!(
        got == Some(want),
        "exit status {got:?}, expected {want}; stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

pub fn expect_stdout(out: &Output, want: &str) -> Result<()> {
    let got = String::from_utf8_lossy(&out.stdout);
    ensure!(
        got == want,
        "stdout {got:?}, expected {want:?}; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

pub fn stderr_has(out: &Output, needle: &str) -> Result<()> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        stderr.contains(needle),
        "stderr lacks {needle:?}:\n{stderr}"
    );
    Ok(())
}
