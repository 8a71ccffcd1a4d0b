//! `cargo xtask wasi-testsuite [--host | --board B]`: the official WASI preview1 test suite
//! (`../shared/wasi-testsuite`), each program run as its JSON asks (arguments, environment,
//! a fresh copy of `root` mapped as `/`, expected exit code and stdout), either by the
//! runner built for this host or booted as an image on a board through its launch script.
//! Prints one line per failure and ends with `N passed, M failed`.
//!
//! Inside a VM some programs are known to fail, for reasons of the guest kernel listed in
//! `xtask/wasi-testsuite-known-failures.toml` (and, on a board without virtio-fs, every
//! program that needs a mapped folder). The run fails on any other failure, and on a known
//! failure that passes, so the list stays true.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use serde::Deserialize;
use xshell::Shell;

use crate::flags::{ImageArgs, WasiTestsuiteArgs};
use crate::project::Project;
use crate::{host_runner, image, profile};

/// Where the known failures inside VMs are listed, relative to the repository.
const KNOWN_FAILURES: &str = "xtask/wasi-testsuite-known-failures.toml";

/// Why each program known to fail fails.
type Known = BTreeMap<String, String>;

/// The programs known to fail on `board` (none on the host), with why.
fn known_failures(project: &Project, board: Option<&str>, cases: &[Case]) -> Result<Known> {
    let Some(board) = board else {
        return Ok(Known::new());
    };
    let board = profile::find(&project.boards(), board)?;
    if board.qemu.virtio_fs.is_none() {
        return Ok(cases
            .iter()
            .filter(|case| case.spec.root.is_some())
            .map(|case| {
                let why = format!(
                    "needs a mapped folder; board {} has no virtio-fs",
                    board.name
                );
                (case.name.clone(), why)
            })
            .collect());
    }
    let path = project.root.join(KNOWN_FAILURES);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// How a run compares with the known failures.
#[derive(Debug, Default, PartialEq, Eq)]
struct Verdict {
    /// Failures not known.
    unexpected: Vec<String>,
    /// Known failures that failed.
    known: Vec<String>,
    /// Known failures that passed.
    fixed: Vec<String>,
}

fn verdict(ran: &[String], failures: &[String], known: &Known) -> Verdict {
    let mut verdict = Verdict::default();
    for name in ran {
        match (failures.contains(name), known.contains_key(name)) {
            (true, true) => verdict.known.push(name.clone()),
            (true, false) => verdict.unexpected.push(name.clone()),
            (false, true) => verdict.fixed.push(name.clone()),
            (false, false) => {}
        }
    }
    verdict
}

const LANGUAGES: [&str; 3] = ["assemblyscript", "c", "rust"];

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
struct Case {
    name: String,
    wasm: PathBuf,
    spec: Spec,
}

pub fn suite_dir(project: &Project) -> PathBuf {
    project.root.join("../shared/wasi-testsuite")
}

fn cases(suite: &Path, filter: Option<&str>) -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    for language in LANGUAGES {
        let dir = suite
            .join("tests")
            .join(language)
            .join("testsuite/wasm32-wasip1");
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
            let name = format!("{language}/{stem}");
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
            cases.push(Case { name, wasm, spec });
        }
    }
    Ok(cases)
}

pub fn run(sh: &Shell, project: &Project, args: &WasiTestsuiteArgs) -> Result<()> {
    let suite = suite_dir(project);
    let cases = cases(&suite, args.filter.as_deref())?;
    ensure!(!cases.is_empty(), "no test programs matched");
    let known = known_failures(project, args.board.as_deref(), &cases)?;
    let work = project.target().join("wasi-testsuite");
    let mut failures = Vec::new();
    let runner = match &args.board {
        None => Some(host_runner::build(sh, project)?),
        Some(_) => None,
    };
    let mut fatal = None;
    for case in &cases {
        let result = (|| -> Result<()> {
            let scratch = work.join(case.name.replace('/', "-"));
            let _ = std::fs::remove_dir_all(&scratch);
            std::fs::create_dir_all(&scratch)?;
            let mut launch = Vec::new();
            for (key, value) in &case.spec.env {
                launch.push("--env".to_string());
                launch.push(format!("{key}={value}"));
            }
            if let Some(root) = &case.spec.root {
                let copy = scratch.join("root");
                copy_dir(
                    &case.wasm.parent().context("test folder")?.join(root),
                    &copy,
                )?;
                launch.push("--map".to_string());
                launch.push(format!("{}:/", copy.display()));
            }
            let mut command = match (&runner, &args.board) {
                (Some(runner), _) => {
                    let payload = scratch.join("module.payload");
                    host_runner::write_payload(&case.wasm, &payload)?;
                    let mut command = Command::new(runner);
                    command.arg(payload);
                    command
                }
                (None, Some(board)) => {
                    let image_args = ImageArgs::of_module(
                        board,
                        &case.wasm.display().to_string(),
                        Some("wasi-testsuite"),
                    );
                    // An image that cannot be built fails the whole run, not each case.
                    let plan = match image::run(sh, project, &image_args) {
                        Ok(plan) => plan,
                        Err(err) => {
                            fatal = Some(err);
                            return Ok(());
                        }
                    };
                    let mut command = Command::new(&plan.image.run_qemu);
                    command.arg("--timeout=120");
                    command
                }
                (None, None) => unreachable!("a runner or a board"),
            };
            command
                .args(&launch)
                .arg("--")
                .args(&case.spec.args)
                .current_dir(&scratch);
            let out = command
                .output()
                .with_context(|| format!("running {command:?}"))?;
            let code = out.status.code();
            ensure!(
                code == Some(case.spec.exit_code),
                "exit status {code:?}, expected {}; stderr: {}",
                case.spec.exit_code,
                String::from_utf8_lossy(&out.stderr).trim_end()
            );
            if let Some(want) = &case.spec.stdout {
                let got = String::from_utf8_lossy(&out.stdout);
                ensure!(&got == want, "stdout {got:?}, expected {want:?}");
            }
            Ok(())
        })();
        if let Some(err) = fatal.take() {
            return Err(err.context(format!("building the image for {}", case.name)));
        }
        match (result, known.get(&case.name)) {
            (Err(err), Some(why)) => println!("FAIL {} (known: {why}): {err:#}", case.name),
            (Err(err), None) => println!("FAIL {}: {err:#}", case.name),
            (Ok(()), Some(_)) => {
                println!(
                    "PASS {}, listed as a known failure: remove it from {KNOWN_FAILURES}",
                    case.name
                );
                continue;
            }
            (Ok(()), None) => continue,
        }
        failures.push(case.name.clone());
    }
    let ran: Vec<String> = cases.iter().map(|c| c.name.clone()).collect();
    let verdict = verdict(&ran, &failures, &known);
    let mode = args.board.as_deref().unwrap_or("host");
    println!(
        "wasi-testsuite ({mode}): {} passed, {} failed ({} known)",
        cases.len() - failures.len(),
        failures.len(),
        verdict.known.len()
    );
    if !verdict.unexpected.is_empty() || !verdict.fixed.is_empty() {
        bail!(
            "{} WASI test programs failed unexpectedly, {} known failures passed",
            verdict.unexpected.len(),
            verdict.fixed.len()
        );
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
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
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn known_failures_pass_the_run_and_anything_else_fails_it() {
        let known: Known = [("rust/a", "why"), ("rust/b", "why")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let ran = names(&["rust/a", "rust/b", "rust/c", "rust/d"]);
        assert_eq!(
            verdict(&ran, &names(&["rust/a", "rust/b"]), &known),
            Verdict {
                known: names(&["rust/a", "rust/b"]),
                ..Verdict::default()
            }
        );
        assert_eq!(
            verdict(&ran, &names(&["rust/a", "rust/c"]), &known),
            Verdict {
                unexpected: names(&["rust/c"]),
                known: names(&["rust/a"]),
                fixed: names(&["rust/b"]),
            }
        );
        // A filtered run only judges what it ran.
        assert_eq!(
            verdict(&names(&["rust/c"]), &[], &known),
            Verdict::default()
        );
    }

    #[test]
    fn the_known_failures_file_parses_and_names_programs_of_the_suite() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = std::fs::read_to_string(root.join(KNOWN_FAILURES)).unwrap();
        let known: Known = toml::from_str(&text).unwrap();
        assert!(!known.is_empty());
        for (name, why) in &known {
            let (language, stem) = name.split_once('/').unwrap();
            assert!(LANGUAGES.contains(&language), "{name}");
            assert!(!stem.is_empty() && !why.is_empty(), "{name}");
        }
    }
}
