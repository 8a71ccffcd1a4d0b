//! One-file bundles (`cargo xtask bundle`): on every board they run with the launch
//! options and module arguments of run-qemu.sh, unpack only into a private temporary
//! folder, print their manifest without booting, and pass exit statuses and signals
//! through; a bundle of two boards boots the host's architecture first.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use anyhow::{ensure, Context, Result};

use crate::host::child_processes::Launcher;
use crate::plan::profile::{self, Board};
use crate::project::Project;
use crate::test::boot::{expect_status, expect_stdout, stderr_has};
use crate::test::case::{named, scratch, Case, Image};
use crate::test::signals::stop_running_vm;

/// `cargo xtask bundle` with `args`, writing `output`; fails with its stderr.
fn make_bundle(project: &Project, args: &[&str], output: &Path) -> Result<()> {
    let out = Command::new(std::env::current_exe()?)
        .arg("bundle")
        .args(args)
        .arg("-o")
        .arg(output)
        .current_dir(&project.root)
        .output()?;
    expect_status(&out, 0).context("cargo xtask bundle")
}

/// Runs the bundle `file` from the empty folder `cwd` with `TMPDIR` set to the empty folder
/// `tmp` (or to one that does not exist); afterwards both must still be empty (or absent).
fn run_bundle(file: &Path, args: &[&str], cwd: &Path, tmp: &Path) -> Result<Output> {
    let mut command = Command::new(file);
    command
        .args(args)
        .current_dir(cwd)
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = Launcher::spawn(&mut command)?.wait_with_output()?;
    for dir in [cwd, tmp].into_iter().filter(|dir| dir.exists()) {
        let left: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        ensure!(
            left.is_empty(),
            "the bundle left {left:?} in {}",
            dir.display()
        );
    }
    Ok(out)
}

/// A scratch folder for a bundle case, with empty `cwd` and `tmp` folders inside.
fn bundle_scratch(project: &Project, case: &str) -> Result<(PathBuf, PathBuf, PathBuf)> {
    let root = scratch(project, case)?;
    let (cwd, tmp) = (root.join("cwd"), root.join("tmp"));
    std::fs::create_dir_all(&cwd)?;
    std::fs::create_dir_all(&tmp)?;
    Ok((root, cwd, tmp))
}

/// One-file bundles of the board's images: they run with the launch options and module
/// arguments of run-qemu.sh, unpack only into a private temporary folder, print their
/// manifest without booting, and end their VM and folder when stopped by a signal.
pub fn cases(project: &Arc<Project>, board: &Board, cases: &mut Vec<Case>) {
    let b = board.name.clone();
    let arch = board.arch.name().to_string();
    let case = named(&b, "bundle-runs-in-a-private-folder");
    let project_ = project.clone();
    let board_name = b.clone();
    cases.push(Case::new(
        case.clone(),
        vec![Image::example(&b, "hello")],
        move |_| {
            let (root, cwd, tmp) = bundle_scratch(&project_, &case)?;
            let file = root.join("hello.run");
            make_bundle(
                &project_,
                &["--board", &board_name, "--module", "hello"],
                &file,
            )?;
            let out = run_bundle(
                &file,
                &["--timeout", "120", "--", "two words", "x"],
                &cwd,
                &tmp,
            )?;
            expect_status(&out, 0)?;
            expect_stdout(
                &out,
                &format!("Hello from WebAssembly on {arch}!\narguments: two words x\n"),
            )?;
            // Without booting: a boot would need a temporary folder, and there is none.
            let out = run_bundle(&file, &["--manifest"], &cwd, &tmp.join("missing"))?;
            expect_status(&out, 0)?;
            let manifest: serde_json::Value =
                serde_json::from_slice(&out.stdout).context("--manifest is not JSON")?;
            ensure!(
                manifest["bundle"] == "hello"
                    && manifest["boards"] == serde_json::json!([board_name])
                    && manifest["images"][0]["board"] == board_name.as_str()
                    && manifest["images"][0]["module"]["name"] == "hello",
                "--manifest printed {manifest}"
            );
            Ok(())
        },
    ));
    if board.arch.name() != std::env::consts::ARCH {
        return;
    }
    // On the host's own architecture only: the exit status and a signal, passed through.
    // The bundled module is a component (`exit-with-code`), the bundle's format the same.
    let case = named(&b, "bundle-exit-status-and-options");
    let project_ = project.clone();
    let board_name = b.clone();
    cases.push(Case::new(
        case.clone(),
        vec![Image::example(&b, "p2-tour")],
        move |_| {
            let (root, cwd, tmp) = bundle_scratch(&project_, &case)?;
            let file = root.join("exit.run");
            let args = [
                "--board",
                &board_name,
                "--module",
                "p2-tour",
                "--name",
                "exit",
            ];
            make_bundle(&project_, &args, &file)?;
            let out = run_bundle(
                &file,
                &["--timeout=120", "--", "exit-with-code", "7"],
                &cwd,
                &tmp,
            )?;
            expect_status(&out, 7)?;
            let out = run_bundle(&file, &["--board", "no-such-board", "--", "7"], &cwd, &tmp)?;
            expect_status(&out, 125)?;
            stderr_has(&out, "has no image for board 'no-such-board'")
        },
    ));
    let case = named(&b, "bundle-signal-term-ends-the-vm");
    let project_ = project.clone();
    cases.push(Case::new(
        case.clone(),
        vec![Image::example(&b, "hang")],
        move |_| {
            let root = scratch(&project_, &format!("{case}-file"))?;
            let file = root.join("hang.run");
            make_bundle(&project_, &["--board", &b, "--module", "hang"], &file)?;
            stop_running_vm(&project_, &case, &file, false, libc::SIGTERM, |_| Ok(()))
        },
    ));
}

/// A bundle of one module for two boards boots the host's architecture first, and the
/// other one when asked.
pub fn several_boards_case(project: &Arc<Project>, boards: &[String], cases: &mut Vec<Case>) {
    let pick = |arch: &str| {
        boards
            .iter()
            .filter_map(|name| profile::find(&project.boards(), name).ok())
            .find(|board| (board.arch.name() == std::env::consts::ARCH) == (arch == "host"))
    };
    let (Some(host), Some(other)) = (pick("host"), pick("other")) else {
        return;
    };
    let case = "bundle/several-boards-host-first".to_string();
    let project = project.clone();
    cases.push(Case::new(
        case.clone(),
        vec![
            Image::example(&other.name, "hello"),
            Image::example(&host.name, "hello"),
        ],
        move |_| {
            let (root, cwd, tmp) = bundle_scratch(&project, &case)?;
            let file = root.join("hello.run");
            let args = [
                "--board",
                &other.name,
                "--board",
                &host.name,
                "--module",
                "hello",
            ];
            make_bundle(&project, &args, &file)?;
            for (options, arch) in [
                (vec![], host.arch.name()),
                (vec!["--board", other.name.as_str()], other.arch.name()),
            ] {
                let out = run_bundle(&file, &options, &cwd, &tmp)?;
                expect_status(&out, 0)?;
                expect_stdout(&out, &format!("Hello from WebAssembly on {arch}!\n"))?;
            }
            let out = run_bundle(&file, &["--manifest"], &cwd, &tmp)?;
            let manifest: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            ensure!(
                manifest["boards"] == serde_json::json!([other.name, host.name]),
                "--manifest printed {manifest}"
            );
            Ok(())
        },
    ));
}
