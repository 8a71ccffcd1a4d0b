//! Stdio, as `wasmtime run` gives it, on every board: stdin whole, from a file, closed,
//! and streaming as it arrives; the caller's own files as stdout and stderr; pipes that
//! are not terminals and a terminal that is one.

use std::process::{Command, Stdio};
use std::sync::Arc;

use anyhow::{ensure, Context, Result};

use crate::host::child_processes::Launcher;
use crate::plan::profile::Board;
use crate::project::Project;
use crate::test::boot::{expect_status, expect_stdout, Boot};
use crate::test::case::{named, scratch, Case, Image};

pub fn cases(project: &Arc<Project>, board: &Board, cases: &mut Vec<Case>) {
    stdin_cases(project, board, cases);
    stdio_cases(project, board, cases);
}

/// Stdin from a file, closed, and streaming as it arrives (every board's stdin device
/// streams): `yes | head -n 1` ends, and a line comes back before the next is written.
fn stdin_cases(project: &Arc<Project>, board: &Board, cases: &mut Vec<Case>) {
    let b = board.name.clone();
    cases.push(Case::new(
        named(&b, "stdin"),
        vec![Image::example(&b, "cat")],
        |plans| {
            let input: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
            let out = Boot::default()
                .stdin(&input)
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            ensure!(
                out.stdout == input,
                "stdout has {} bytes, not the {} given",
                out.stdout.len(),
                input.len()
            );
            Ok(())
        },
    ));
    let head = || vec![Image::example(&b, "head")];
    let case = named(&b, "stdin-from-a-file");
    let project2 = project.clone();
    cases.push(Case::new(case.clone(), head(), move |plans| {
        let file = scratch(&project2, &case)?.join("input.txt");
        std::fs::write(&file, "one\ntwo\nthree\nfour\n")?;
        let mut command = Boot::args(&["-n", "3"]).command(&plans[0].image.run_qemu);
        command
            .stdin(std::fs::File::open(&file)?)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = Launcher::spawn(&mut command)?.wait_with_output()?;
        expect_status(&out, 0)?;
        expect_stdout(&out, "one\ntwo\nthree\n")
    }));
    cases.push(Case::new(
        named(&b, "stdin-closed-is-empty"),
        head(),
        |plans| {
            // bash closes its stdin, then becomes the launcher.
            let mut command = Command::new("bash");
            command
                .arg("-c")
                .arg("exec <&-; exec \"$0\" --timeout=120")
                .arg(&plans[0].image.run_qemu)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let out = Launcher::spawn(&mut command)?.wait_with_output()?;
            expect_status(&out, 0)?;
            expect_stdout(&out, "")
        },
    ));
    cases.push(Case::new(
        named(&b, "stdin-streams-yes-head-n-1"),
        head(),
        |plans| {
            let mut launcher = Boot::args(&["-n", "1"]).spawn(&plans[0].image.run_qemu)?;
            let mut stdin = launcher.child().stdin.take().context("stdin")?;
            // `yes`: writes until the reader goes away.
            let writer = std::thread::spawn(move || {
                use std::io::Write;
                while stdin.write_all(b"y\n").is_ok() {}
            });
            let out = launcher.wait_with_output()?;
            let _ = writer.join();
            expect_status(&out, 0)?;
            expect_stdout(&out, "y\n")
        },
    ));
    cases.push(Case::new(
        named(&b, "stdin-streams-line-by-line"),
        head(),
        |plans| {
            use std::io::{BufRead, Write};
            let mut launcher = Boot::args(&["-n", "2"]).spawn(&plans[0].image.run_qemu)?;
            let mut stdin = launcher.child().stdin.take().context("stdin")?;
            let mut stdout =
                std::io::BufReader::new(launcher.child().stdout.take().context("stdout")?);
            // The answer to the first line comes back while stdin is still open.
            stdin.write_all(b"first\n")?;
            let mut line = String::new();
            stdout.read_line(&mut line)?;
            ensure!(line == "first\n", "first answer {line:?}");
            stdin.write_all(b"second\n")?;
            line.clear();
            stdout.read_line(&mut line)?;
            ensure!(line == "second\n", "second answer {line:?}");
            let out = launcher.wait_with_output()?;
            drop(stdin);
            expect_status(&out, 0)
        },
    ));
}

/// Stdio streams look as `wasmtime run` shows the same host streams: pipes are no
/// terminals; a terminal (a pseudo-terminal from util-linux `script`) is one.
fn stdio_cases(project: &Arc<Project>, board: &Board, cases: &mut Vec<Case>) {
    let b = board.name.clone();
    let case = named(&b, "stdio-files-shared-with-the-caller");
    let project = project.clone();
    cases.push(Case::new(
        case.clone(),
        vec![Image::example(&b, "trap")],
        move |plans| {
            // The caller's own open files (written-only, not appending, as `>` opens them):
            // the module's output goes at their offset, and what the caller writes next
            // comes after it.
            let dir = scratch(&project, &case)?;
            let open = |name: &str| -> Result<std::fs::File> {
                let mut file = std::fs::File::create(dir.join(name))?;
                std::io::Write::write_all(&mut file, b"before\n")?;
                Ok(file)
            };
            let (mut stdout, mut stderr) = (open("stdout")?, open("stderr")?);
            let mut command = Boot::default().command(&plans[0].image.run_qemu);
            command
                .stdin(Stdio::null())
                .stdout(stdout.try_clone()?)
                .stderr(stderr.try_clone()?);
            let status = Launcher::spawn(&mut command)?.wait_with_output()?.status;
            std::io::Write::write_all(&mut stdout, b"after\n")?;
            std::io::Write::write_all(&mut stderr, b"after\n")?;
            let read = |name: &str| std::fs::read_to_string(dir.join(name));
            let (stdout, stderr) = (read("stdout")?, read("stderr")?);
            ensure!(
                status.code() == Some(134),
                "exit status {status}; stderr:\n{stderr}"
            );
            ensure!(
                stdout == "before\nabout to trap\nafter\n",
                "the caller's stdout file holds {stdout:?}"
            );
            ensure!(
                stderr.starts_with("before\n")
                    && stderr.contains("unreachable")
                    && stderr.ends_with("\nafter\n"),
                "the caller's stderr file holds {stderr:?}"
            );
            Ok(())
        },
    ));
    cases.push(Case::new(
        named(&b, "stdio-pipes-are-not-terminals"),
        vec![Image::example(&b, "isatty")],
        |plans| {
            let out = Boot::default().run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            stdio_looks_like(&String::from_utf8_lossy(&out.stdout), 0, "no")
        },
    ));
    cases.push(Case::new(
        named(&b, "stdio-terminal-is-a-terminal"),
        vec![Image::example(&b, "isatty")],
        |plans| {
            // `script` gives the launcher a pseudo-terminal as stdin, stdout and stderr.
            let boot = Boot::default();
            let command = boot.command(&plans[0].image.run_qemu);
            let line = std::iter::once(command.get_program())
                .chain(command.get_args())
                .map(|word| crate::image::launch_script::bash_quote(&word.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(" ");
            let mut script = Command::new("script");
            script
                .args(["--quiet", "--return", "--command", &line, "/dev/null"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let out = Launcher::spawn(&mut script)
                .context("util-linux `script` gives the test a terminal")?
                .wait_with_output()?;
            expect_status(&out, 0)?;
            let stdout = String::from_utf8_lossy(&out.stdout).replace('\r', "");
            stdio_looks_like(&stdout, 2, "yes")
        },
    ));
}

/// Whether the `isatty` module's report (`stdout`) shows fds 0, 1 and 2 with file type
/// `filetype` and std's `IsTerminal` answering `terminal`.
fn stdio_looks_like(stdout: &str, filetype: u8, terminal: &str) -> Result<()> {
    for fd in 0..3 {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("fd {fd}:")))
            .with_context(|| format!("no line for fd {fd}:\n{stdout}"))?;
        ensure!(
            line.contains(&format!("filetype {filetype} "))
                && line.ends_with(&format!("terminal {terminal}")),
            "fd {fd} is not a stream of type {filetype} with terminal {terminal}: {line}"
        );
    }
    Ok(())
}
