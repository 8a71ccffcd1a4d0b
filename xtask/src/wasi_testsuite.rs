//! `cargo xtask wasi-testsuite [--host | --board B]`: the official WASI preview1 test suite
//! (`../shared/wasi-testsuite`), each program run as its JSON asks (arguments, environment,
//! a fresh copy of `root` mapped as `/`, expected exit code and stdout), either by the
//! runner built for this host or booted as an image on a board through its launch script.
//! Prints one line per failure and ends with `N passed, M failed`.
//!
//! Every program must pass, on the host and inside the VM on every board.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{bail, ensure, Context, Result};
use serde::Deserialize;
use xshell::Shell;

use crate::flags::{ImageArgs, WasiTestsuiteArgs};
use crate::host;
use crate::image;
use crate::project::Project;

const LANGUAGES: [&str; 3] = ["assemblyscript", "c", "rust"];

/// The wasi-threads proposal's programs (wasm32-wasip1-threads), named `threads/stem`.
const THREADS_PROPOSAL: &str = "proposals/wasi-threads";
const THREADS_PREFIX: &str = "threads";

/// The suite's folders of programs: `(name prefix, folder)`.
fn sources(suite: &Path) -> Vec<(&'static str, PathBuf)> {
    let mut sources: Vec<_> = LANGUAGES
        .iter()
        .map(|language| {
            (
                *language,
                suite
                    .join("tests")
                    .join(language)
                    .join("testsuite/wasm32-wasip1"),
            )
        })
        .collect();
    sources.push((THREADS_PREFIX, suite.join(THREADS_PROPOSAL)));
    sources
}

/// What `X.json` asks for.
#[derive(Debug, Default, Deserialize)]
struct Spec {
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: std::collections::BTreeMap<String, String>,
    root: Option<String>,
    #[serde(default)]
    exit_code: i32,
    stdout: Option<String>,
}

/// One program of the suite.
pub struct Program {
    /// `language/stem`, e.g. `c/fopen-with-access`.
    pub name: String,
    pub wasm: PathBuf,
    spec: Spec,
    /// Whether its stdin is a pipe that stays open until it ends (as the official runner
    /// gives it): the threads programs' `*_wasi_read` block in a read of stdin while another
    /// thread ends the run; at end of input they would end otherwise.
    pub stdin_stays_open: bool,
}

pub fn suite_dir(project: &Project) -> PathBuf {
    project.root.join("../shared/wasi-testsuite")
}

/// The suite's programs whose name contains `filter` (all without one), sorted.
pub fn programs(suite: &Path, filter: Option<&str>) -> Result<Vec<Program>> {
    let mut programs = Vec::new();
    for (prefix, dir) in sources(suite) {
        let entries = std::fs::read_dir(&dir).with_context(|| {
            format!(
                "{} not found: the WASI test suite belongs beside the repository",
                dir.display()
            )
        })?;
        let mut wasms: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .collect();
        wasms.sort();
        for wasm in wasms {
            let stem = wasm
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let name = format!("{prefix}/{stem}");
            if filter.is_some_and(|f| !name.contains(f)) {
                continue;
            }
            let json = wasm.with_extension("json");
            let spec = if json.exists() {
                serde_json::from_slice(&std::fs::read(&json)?)
                    .with_context(|| format!("reading {}", json.display()))?
            } else {
                Spec::default()
            };
            programs.push(Program {
                name,
                wasm,
                spec,
                stdin_stays_open: prefix == THREADS_PREFIX,
            });
        }
    }
    Ok(programs)
}

impl Program {
    /// The launch options and module arguments the program's JSON asks for, with a fresh
    /// copy of its `root` (if any) in `scratch`, mapped as `/`.
    pub fn prepare(&self, scratch: &Path) -> Result<(Vec<String>, Vec<String>)> {
        let _ = std::fs::remove_dir_all(scratch);
        std::fs::create_dir_all(scratch)?;
        let mut launch = Vec::new();
        for (key, value) in &self.spec.env {
            launch.push("--env".to_string());
            launch.push(format!("{key}={value}"));
        }
        if let Some(root) = &self.spec.root {
            let copy = scratch.join("root");
            copy_dir(
                &self.wasm.parent().context("test folder")?.join(root),
                &copy,
            )?;
            launch.push("--map".to_string());
            launch.push(format!("{}:/", copy.display()));
        }
        Ok((launch, self.spec.args.clone()))
    }

    /// Whether `out` is what the program's JSON expects.
    pub fn judge(&self, out: &Output) -> Result<()> {
        let code = out.status.code();
        ensure!(
            code == Some(self.spec.exit_code),
            "exit status {code:?}, expected {}; stderr: {}",
            self.spec.exit_code,
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
        if let Some(want) = &self.spec.stdout {
            let got = String::from_utf8_lossy(&out.stdout);
            ensure!(&got == want, "stdout {got:?}, expected {want:?}");
        }
        Ok(())
    }

    /// Whether it is one of the wasi-threads proposal's programs.
    pub fn is_threads(&self) -> bool {
        self.name.starts_with(&format!("{THREADS_PREFIX}/"))
    }

    /// The name of its image on a board.
    pub fn image_name(&self) -> String {
        format!("wasi-{}", self.name.replace('/', "-"))
    }
}

pub fn run(sh: &Shell, project: &Project, args: &WasiTestsuiteArgs) -> Result<()> {
    let suite = suite_dir(project);
    let programs = programs(&suite, args.filter.as_deref())?;
    ensure!(!programs.is_empty(), "no test programs matched");
    let work = project.target().join("wasi-testsuite");
    let mut failures = Vec::new();
    let runner = match &args.board {
        None => Some(host::runner::build(sh, project)?),
        Some(_) => None,
    };
    for program in &programs {
        let scratch = work.join(program.name.replace('/', "-"));
        let mut command = match (&runner, &args.board) {
            (Some(runner), _) => {
                std::fs::create_dir_all(&scratch)?;
                let payload = work.join(format!("{}.payload", program.name.replace('/', "-")));
                host::runner::write_payload(&program.wasm, &payload)?;
                // As a boot has (`--timeout=120`): a hung program fails, the run goes on.
                let mut command = Command::new("timeout");
                command
                    .args(["--kill-after=5", "120"])
                    .arg(runner)
                    .arg(payload);
                command
            }
            (None, Some(board)) => {
                let image_args = ImageArgs::of_module(
                    board,
                    &program.wasm.display().to_string(),
                    Some(&program.image_name()),
                );
                // An image that cannot be built fails the whole run, not each program.
                let plan = image::run(sh, project, &image_args)
                    .with_context(|| format!("building the image for {}", program.name))?;
                let mut command = Command::new(&plan.image.run_qemu);
                command.arg("--timeout=120");
                command
            }
            (None, None) => unreachable!("a runner or a board"),
        };
        let result = (|| -> Result<()> {
            let (launch, module_args) = program.prepare(&scratch)?;
            command
                .args(&launch)
                .arg("--")
                .args(&module_args)
                .current_dir(&scratch);
            eprintln!("$ {command:?}");
            let out = if program.stdin_stays_open {
                command
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                let mut child = command
                    .spawn()
                    .with_context(|| format!("running {command:?}"))?;
                // Held until the program has ended: its stdin never reaches its end.
                let _stdin = child.stdin.take();
                child.wait_with_output()?
            } else {
                command
                    .output()
                    .with_context(|| format!("running {command:?}"))?
            };
            program.judge(&out)
        })();
        if let Err(err) = result {
            println!("FAIL {}: {err:#}", program.name);
            failures.push(program.name.clone());
        }
    }
    let mode = args.board.as_deref().unwrap_or("host");
    println!(
        "wasi-testsuite ({mode}): {} passed, {} failed",
        programs.len() - failures.len(),
        failures.len()
    );
    if !failures.is_empty() {
        bail!("{} WASI test programs failed", failures.len());
    }
    Ok(())
}

/// Copies the folder `from` to `to`: files with their modification times (two copies of a
/// folder look the same to a program that compares times, such as Python's bytecode
/// cache), symlinks as symlinks, folders below.
pub fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)?;
            let modified = entry.metadata()?.modified()?;
            std::fs::File::options()
                .write(true)
                .open(&dest)?
                .set_modified(modified)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suite_beside_the_repository_has_its_72_programs_and_15_of_threads() {
        let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/wasi-testsuite");
        let all = programs(&suite, None).unwrap();
        assert_eq!(all.len(), 72 + 15);
        let threads: Vec<_> = all.iter().filter(|p| p.is_threads()).collect();
        assert_eq!(threads.len(), 15);
        assert!(threads.iter().all(|p| p.stdin_stays_open));
        assert!(all.iter().filter(|p| !p.is_threads()).all(|c| {
            !c.stdin_stays_open && LANGUAGES.contains(&c.name.split('/').next().unwrap())
        }));
        let some = programs(&suite, Some("rust/path_")).unwrap();
        assert!(!some.is_empty() && some.len() < all.len());
        assert!(some.iter().all(|c| c.name.starts_with("rust/path_")));
        // Programs that need a folder say which one.
        assert!(all
            .iter()
            .any(|c| c.spec.root.as_deref() == Some("fs-tests.dir")));
    }
}
