//! `cargo xtask wasi-testsuite [--host | --board B]`: the official WASI preview1 test suite
//! (`../shared/wasi-testsuite`), each program run as its JSON asks (arguments, environment,
//! a fresh copy of `root` mapped as `/`, expected exit code and stdout), either by the
//! runner built for this host or booted as an image on a board through its launch script.
//! Prints one line per failure and ends with `N passed, M failed`.
//!
//! Every program must pass, on the host and inside the VM on every board.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use serde::Deserialize;
use xshell::Shell;

use crate::flags::{ImageArgs, WasiTestsuiteArgs};
use crate::project::Project;
use crate::{host_runner, image};

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
        if let Err(err) = result {
            println!("FAIL {}: {err:#}", case.name);
            failures.push(case.name.clone());
        }
    }
    let mode = args.board.as_deref().unwrap_or("host");
    println!(
        "wasi-testsuite ({mode}): {} passed, {} failed",
        cases.len() - failures.len(),
        failures.len()
    );
    if !failures.is_empty() {
        bail!("{} WASI test programs failed", failures.len());
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

    #[test]
    fn the_suite_beside_the_repository_has_its_72_programs() {
        let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/wasi-testsuite");
        let all = cases(&suite, None).unwrap();
        assert_eq!(all.len(), 72);
        assert!(all
            .iter()
            .all(|c| LANGUAGES.contains(&c.name.split('/').next().unwrap())));
        let some = cases(&suite, Some("rust/path_")).unwrap();
        assert!(!some.is_empty() && some.len() < all.len());
        assert!(some.iter().all(|c| c.name.starts_with("rust/path_")));
        // Programs that need a folder say which one.
        assert!(all
            .iter()
            .any(|c| c.spec.root.as_deref() == Some("fs-tests.dir")));
    }
}
