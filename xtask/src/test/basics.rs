//! The end-to-end cases of `cargo xtask test`, as a table: per board, what a user does with
//! an image (boot it, pass arguments, stdin, host folders, signals, terminals) and what must
//! come back; the official WASI suite on the host and in every board's VM; the command
//! line's answers to bad input. Every case boots through the image's own launch script,
//! as a user would. `test.rs` builds the images and runs the cases.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context, Result};

use crate::disk;
use crate::host;
use crate::host::child_processes::Launcher;
use crate::plan::profile::{self, Board, DiskProfile, DiskRoute};
use crate::plan::BuildPlan;
use crate::project::Project;
use crate::test::corpus;
use crate::test::limits;
use crate::test::threads;
use crate::test::{expect_status, expect_stdout, scratch, stderr_has, Boot, Case, Image};
use crate::wasi_testsuite;

/// Every case, for `boards`.
pub fn all(project: &Project, boards: &[String]) -> Result<Vec<Case>> {
    let project = Arc::new(project.clone());
    let mut cases = Vec::new();
    for name in boards {
        let board = profile::find(&project.boards(), name)?;
        board_cases(&project, &board, &mut cases)?;
        threads::cases(&project, &board, &mut cases);
        limits::cases(&project, &board, &mut cases);
    }
    cli_cases(&project, &mut cases);
    several_boards_bundle_case(&project, boards, &mut cases);
    wasi_cases(&project, boards, &mut cases)?;
    corpus::cases(&project, boards, &mut cases);
    Ok(cases)
}

fn board_cases(project: &Arc<Project>, board: &Board, cases: &mut Vec<Case>) -> Result<()> {
    let b = board.name.clone();
    let arch = board.arch.name().to_string();
    let example = |module: &str| Image::example(&b, module);
    let name = |case: &str| format!("{b}/{case}");

    let hello = format!("Hello from WebAssembly on {arch}!\n");
    cases.push(Case::new(name("hello"), vec![example("hello")], {
        let hello = hello.clone();
        move |plans| {
            let out = Boot::default().run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            expect_stdout(&out, &hello)
        }
    }));
    cases.push(Case::new(
        name("args"),
        vec![example("hello")],
        move |plans| {
            let out = Boot::args(&["two words", "it's", "--flag"]).run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            expect_stdout(&out, &format!("{hello}arguments: two words it's --flag\n"))
        },
    ));
    cases.push(Case::new(name("phases"), vec![example("hello")], |plans| {
        // The boot's marks, the loader's converted to the guest's clock, all there in order.
        let out = Boot {
            options: vec!["--phases".into()],
            ..Boot::default()
        }
        .run(&plans[0].image.run_qemu)?;
        expect_status(&out, 0)?;
        crate::bench::phases::boot_marks(&String::from_utf8_lossy(&out.stderr))?;
        Ok(())
    }));
    cases.push(Case::new(
        name("inspect-json"),
        vec![example("hello")],
        |plans| inspect_json(&plans[0]),
    ));
    for code in ["7", "0", "200"] {
        cases.push(Case::new(
            name(&format!("exit-code-{code}")),
            vec![example("exit-code")],
            move |plans| {
                let out = Boot::args(&[code]).run(&plans[0].image.run_qemu)?;
                expect_status(&out, code.parse()?)?;
                expect_stdout(&out, "")
            },
        ));
    }
    cases.push(Case::new(name("trap"), vec![example("trap")], |plans| {
        let out = Boot::default().run(&plans[0].image.run_qemu)?;
        expect_status(&out, 134)?;
        expect_stdout(&out, "about to trap\n")?;
        stderr_has(&out, "unreachable")
    }));
    cases.push(Case::new(name("timeout"), vec![example("hang")], |plans| {
        let out = Boot::default()
            .option("--timeout", "5")
            .run(&plans[0].image.run_qemu)?;
        expect_status(&out, 124)?;
        stderr_has(&out, "timed out")
    }));
    cases.push(Case::new(
        name("hermitfile-grants"),
        vec![Image::Hermitfile {
            board: b.clone(),
            module: "printenv".into(),
            name: "e2e-hermitfile".into(),
            directives: "ARGS [\"baked\"]\nenv A=1 B=\"two words\"\nENV_PWD_IS_HOST_CWD\n".into(),
        }],
        |plans| {
            let cwd = std::env::current_dir()?;
            let out = Boot::args(&["given"])
                .option("--env", "C=3")
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            expect_stdout(
                &out,
                &format!(
                    "arg baked\narg given\nenv A=1\nenv B=two words\nenv PWD={}\nenv C=3\n",
                    cwd.display()
                ),
            )
        },
    ));
    cases.push(Case::new(name("stdin"), vec![example("cat")], |plans| {
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
    }));

    stdin_cases(project, board, cases);
    stdio_cases(project, board, cases);
    signal_cases(project, board, cases);
    bundle_cases(project, board, cases);
    if let Some(disk) = &board.disk {
        disk_cases(project, board, disk, cases);
    }
    if board.qemu.virtio_mmio.is_some() {
        map_cases(project, board, cases)?;
    } else {
        cases.push(Case::new(
            name("map-refused"),
            vec![example("cat")],
            |plans| {
                let out = Boot::default()
                    .option("--map", "/tmp:/data:ro")
                    .run(&plans[0].image.run_qemu)?;
                expect_status(&out, 125)?;
                stderr_has(&out, "cannot give host directories")
            },
        ));
    }
    Ok(())
}

/// A host folder for a case: `greeting.txt`, a file outside it and a symlink pointing
/// there, in a fresh scratch folder; returns the folder.
fn data_folder(project: &Project, case: &str) -> Result<PathBuf> {
    let root = scratch(project, case)?;
    let data = root.join("data");
    std::fs::create_dir_all(&data)?;
    std::fs::write(data.join("greeting.txt"), "hello from the host\n")?;
    std::fs::write(root.join("outside.txt"), "secret\n")?;
    std::os::unix::fs::symlink("../outside.txt", data.join("escape"))?;
    Ok(data)
}

/// Host folders through virtio-fs: read, written, refused where read-only, never left;
/// renames, links and large reads are the host's own; preopen names as given.
fn map_cases(project: &Arc<Project>, board: &Board, cases: &mut Vec<Case>) -> Result<()> {
    let b = board.name.clone();
    let example = |module: &str| Image::example(&b, module);
    let name = |case: &str| format!("{b}/{case}");

    cases.push(folder_case(
        project,
        name("map-read"),
        vec![example("cat")],
        move |data, plans| {
            let out = Boot::args(&["/data/greeting.txt"])
                .option("--map", &format!("{}:/data:ro", data.display()))
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            expect_stdout(&out, "hello from the host\n")
        },
    ));
    cases.push(folder_case(
        project,
        name("map-escapes-refused"),
        vec![example("cat")],
        move |data, plans| {
            let out = Boot::args(&["/data/../outside.txt", "/outside.txt", "/data/escape"])
                .option("--map", &format!("{}:/data", data.display()))
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 1)?;
            expect_stdout(&out, "")
        },
    ));
    cases.push(folder_case(
        project,
        name("map-read-only-refuses-writes"),
        vec![example("tee")],
        move |data, plans| {
            let out = Boot::args(&["/data/new.txt", "/data/greeting.txt"])
                .option("--map", &format!("{}:/data:ro", data.display()))
                .stdin(b"written in the guest\n")
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 1)?;
            stderr_has(&out, "tee: /data/new.txt")?;
            stderr_has(&out, "tee: /data/greeting.txt")?;
            ensure!(
                !data.join("new.txt").exists(),
                "new.txt appeared on the host"
            );
            let greeting = std::fs::read_to_string(data.join("greeting.txt"))?;
            ensure!(
                greeting == "hello from the host\n",
                "greeting.txt now holds {greeting:?}"
            );
            Ok(())
        },
    ));
    cases.push(folder_case(
        project,
        name("map-write"),
        vec![example("tee")],
        move |data, plans| {
            let out = Boot::args(&["/data/new.txt"])
                .option("--map", &format!("{}:/data", data.display()))
                .stdin(b"written in the guest\n")
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            let written = std::fs::read_to_string(data.join("new.txt"))?;
            ensure!(
                written == "written in the guest\n",
                "new.txt holds {written:?}"
            );
            Ok(())
        },
    ));
    // The folder a Hermitfile maps must exist when the image is built.
    let fixed = data_folder(project, &name("hermitfile-map"))?;
    cases.push(Case::new(
        name("hermitfile-map"),
        vec![Image::Hermitfile {
            board: b.clone(),
            module: "cat".into(),
            name: "e2e-hermitfile-map".into(),
            directives: format!(
                "MAP [\"{}:/srv:ro\"]\nARGS [\"/srv/greeting.txt\"]\n",
                fixed.display()
            ),
        }],
        |plans| {
            let out = Boot::default().run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            expect_stdout(&out, "hello from the host\n")
        },
    ));
    cases.push(folder_case(
        project,
        name("map-mv"),
        vec![example("mv")],
        move |data, plans| {
            std::fs::write(data.join("old.txt"), "moved\n")?;
            let script = &plans[0].image.run_qemu;
            let out = Boot::args(&["/data/old.txt", "/data/new.txt"])
                .option("--map", &format!("{}:/data:ro", data.display()))
                .run(script)?;
            expect_status(&out, 1)?;
            ensure!(data.join("old.txt").exists(), "old.txt went away");
            let out = Boot::args(&["/data/old.txt", "/data/new.txt"])
                .option("--map", &format!("{}:/data", data.display()))
                .run(script)?;
            expect_status(&out, 0)?;
            ensure!(!data.join("old.txt").exists(), "old.txt is still there");
            let moved = std::fs::read_to_string(data.join("new.txt"))?;
            ensure!(moved == "moved\n", "new.txt holds {moved:?}");
            Ok(())
        },
    ));
    cases.push(folder_case(
        project,
        name("map-links"),
        vec![example("ln"), example("cat")],
        move |data, plans| {
            let map = format!("{}:/data", data.display());
            let out = Boot::args(&["-s", "greeting.txt", "/data/link.txt"])
                .option("--map", &map)
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            let target = std::fs::read_link(data.join("link.txt"))?;
            ensure!(
                target == Path::new("greeting.txt"),
                "link.txt points at {target:?}"
            );
            let out = Boot::args(&["/data/greeting.txt", "/data/hard.txt"])
                .option("--map", &map)
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            let (a, h) = (
                std::fs::metadata(data.join("greeting.txt"))?,
                std::fs::metadata(data.join("hard.txt"))?,
            );
            ensure!(
                a.ino() == h.ino() && a.nlink() == 2,
                "hard.txt is not a second link of greeting.txt"
            );
            let out = Boot::args(&["/data/link.txt"])
                .option("--map", &format!("{map}:ro"))
                .run(&plans[1].image.run_qemu)?;
            expect_status(&out, 0)?;
            expect_stdout(&out, "hello from the host\n")
        },
    ));
    cases.push(folder_case(
        project,
        name("map-large-read"),
        vec![example("wc")],
        move |data, plans| {
            let big: String = (0..150_000).map(|i| format!("line {i}\n")).collect();
            std::fs::write(data.join("big.txt"), &big)?;
            let out = Boot::args(&["/data/big.txt"])
                .option("--map", &format!("{}:/data:ro", data.display()))
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            expect_stdout(&out, &format!("150000 {} /data/big.txt\n", big.len()))
        },
    ));

    // Preopen names are the guest names as given, `.` and relative ones included, and a
    // directory opened again with no rights works as under `wasmtime run --dir`.
    for (label, guest) in [("dot", "."), ("relative", "data"), ("absolute", "/data")] {
        cases.push(folder_case(
            project,
            name(&format!("preopen-{label}-reopened-without-rights")),
            vec![example("reopen")],
            move |data, plans| {
                let out = Boot::args(&[guest])
                    .option("--map", &format!("{}:{guest}", data.display()))
                    .run(&plans[0].image.run_qemu)?;
                reopen_worked(&out, data)
            },
        ));
    }
    let fixed = data_folder(project, &name("hermitfile-map-dot"))?;
    cases.push(Case::new(
        name("hermitfile-map-dot"),
        vec![Image::Hermitfile {
            board: b.clone(),
            module: "reopen".into(),
            name: "e2e-hermitfile-dot".into(),
            directives: format!("MAP [\"{}:.\"]\nARGS [\".\"]\n", fixed.display()),
        }],
        move |plans| {
            let out = Boot::default().run(&plans[0].image.run_qemu)?;
            reopen_worked(&out, &fixed)
        },
    ));
    let project2 = project.clone();
    let board_name = b.clone();
    cases.push(folder_case(
        project,
        name("xtask-qemu-map-dot"),
        vec![example("reopen")],
        {
            move |data, _| {
                let mut command = Command::new(std::env::current_exe()?);
                command
                    .args([
                        "qemu",
                        "--board",
                        &board_name,
                        "--module",
                        "reopen",
                        "--timeout",
                        "120",
                    ])
                    .arg("--map")
                    .arg(format!("{}:.", data.display()))
                    .args(["--", "."])
                    .current_dir(&project2.root)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                let out = Launcher::spawn(&mut command)?.wait_with_output()?;
                reopen_worked(&out, data)
            }
        },
    ));
    Ok(())
}

/// A case that gets a fresh host folder (`data_folder`) besides the plans of its images.
fn folder_case(
    project: &Arc<Project>,
    name: String,
    images: Vec<Image>,
    check: impl FnOnce(&Path, &[BuildPlan]) -> Result<()> + Send + 'static,
) -> Case {
    let project = project.clone();
    let case = name.clone();
    Case::new(name, images, move |plans| {
        let data = data_folder(&project, &case)?;
        check(&data, plans)
    })
}

/// What the `reopen` module must have done in `data`: every step ok, the renamed file with
/// its contents on the host, the greeting read back.
fn reopen_worked(out: &std::process::Output, data: &Path) -> Result<()> {
    expect_status(out, 0)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        stdout.contains("hello from the host") && !stdout.contains("errno"),
        "stdout:\n{stdout}"
    );
    let renamed = std::fs::read_to_string(data.join("reopen-renamed.txt"))
        .context("reopen-renamed.txt on the host")?;
    ensure!(
        renamed == "created through a re-opened directory\n",
        "reopen-renamed.txt holds {renamed:?}"
    );
    ensure!(
        !data.join("reopen-new.txt").exists(),
        "reopen-new.txt is still there"
    );
    ensure!(
        !data.join("reopen-dir").exists(),
        "reopen-dir is still there"
    );
    Ok(())
}

/// Stdin from a file, closed, and streaming as it arrives (every board's stdin device
/// streams): `yes | head -n 1` ends, and a line comes back before the next is written.
fn stdin_cases(project: &Arc<Project>, board: &Board, cases: &mut Vec<Case>) {
    let b = board.name.clone();
    let head = || vec![Image::example(&b, "head")];
    let case = format!("{b}/stdin-from-a-file");
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
        format!("{b}/stdin-closed-is-empty"),
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
        format!("{b}/stdin-streams-yes-head-n-1"),
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
        format!("{b}/stdin-streams-line-by-line"),
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
    let case = format!("{b}/stdio-files-shared-with-the-caller");
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
        format!("{b}/stdio-pipes-are-not-terminals"),
        vec![Image::example(&b, "isatty")],
        |plans| {
            let out = Boot::default().run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            stdio_looks_like(&String::from_utf8_lossy(&out.stdout), 0, "no")
        },
    ));
    cases.push(Case::new(
        format!("{b}/stdio-terminal-is-a-terminal"),
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

/// A launcher stopped by SIGTERM or SIGINT ends its VM and virtiofsd, leaves no temporary
/// file, and exits 128 + the signal; while it ran, QEMU was in its seccomp sandbox (and, as
/// root on a board that allows it, no longer root).
fn signal_cases(project: &Arc<Project>, board: &Board, cases: &mut Vec<Case>) {
    let b = board.name.clone();
    let shares = board.qemu.virtio_mmio.is_some();
    for (signal, number) in [("term", libc::SIGTERM), ("int", libc::SIGINT)] {
        let case = format!("{b}/signal-{signal}-ends-the-vm");
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
    let case = format!("{b}/qemu-runs-sandboxed");
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

/// `cargo xtask disk` for the example `module` on `board`, as image `name`; returns the
/// image's folder (disk.raw, run-disk.sh).
fn make_disk(project: &Project, board: &str, module: &str, name: &str) -> Result<PathBuf> {
    let out = Command::new(std::env::current_exe()?)
        .args(["disk", "--board", board, "--module", module, "--name", name])
        .current_dir(&project.root)
        .output()?;
    expect_status(&out, 0).context("cargo xtask disk")?;
    Ok(project.images().join(board).join(name))
}

/// Boots a disk with its run-disk.sh (a 120 s timeout) and collects the output.
fn boot_disk(dir: &Path, options: &[&str]) -> Result<Output> {
    boot_disk_with(dir, options, "")
}

/// What a disk case gets: the image folder with its disk, a scratch folder, the board's
/// architecture and disk profile.
struct DiskTrial<'a> {
    dir: &'a Path,
    scratch: &'a Path,
    arch: &'a str,
    disk: &'a DiskProfile,
}

/// The file `path` on `disk`'s EFI system partition, read by mtools.
fn mtype(disk: &Path, path: &str) -> Result<String> {
    let out = Command::new("mtype")
        .arg("-i")
        .arg(format!("{}@@1M", disk.display()))
        .arg(format!("::/{path}"))
        .output()?;
    expect_status(&out, 0).with_context(|| format!("mtype (mtools) reads {path}"))?;
    Ok(String::from_utf8(out.stdout)?)
}

/// Writes `data` as `path` on `disk`'s EFI system partition with mtools (through a file in
/// `scratch`).
fn mcopy(disk: &Path, path: &str, data: &[u8], scratch: &Path) -> Result<()> {
    let file = scratch.join("mcopy.tmp");
    std::fs::write(&file, data)?;
    let out = Command::new("mcopy")
        .arg("-o")
        .arg("-i")
        .arg(format!("{}@@1M", disk.display()))
        .arg(&file)
        .arg(format!("::/{path}"))
        .output()?;
    expect_status(&out, 0).with_context(|| format!("mcopy (mtools) writes {path}"))
}

/// `boot_disk` with `qemu_options` added through HERMIT_WASM_QEMU_OPTIONS.
fn boot_disk_with(dir: &Path, options: &[&str], qemu_options: &str) -> Result<Output> {
    let mut command = Command::new(dir.join("run-disk.sh"));
    if !qemu_options.is_empty() {
        command.env("HERMIT_WASM_QEMU_OPTIONS", qemu_options);
    }
    command
        .arg("--timeout=120")
        .args(options)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = Launcher::spawn(&mut command)?.wait_with_output()?;
    // A run whose machine halted instead of powering off ends at the timeout with the
    // module's status: that is a failure of the disk's power-off here.
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !stderr.contains("did not power off"),
        "the machine did not power off after the module ended:\n{stderr}"
    );
    Ok(out)
}

/// Disks that UEFI firmware boots (QEMU's `q35` + OVMF, `virt` + AAVMF here): the module's output and
/// status through the serial console alone, on NVMe and virtio-scsi, with the run
/// configuration edited on the disk after the build; the machine powers itself off
/// (run-disk.sh refuses a second boot in the console).
fn disk_cases(project: &Arc<Project>, board: &Board, disk: &DiskProfile, cases: &mut Vec<Case>) {
    let b = board.name.clone();
    let arch = board.arch.name().to_string();
    type DiskCheck = fn(&DiskTrial) -> Result<()>;
    let table: [(&str, &str, DiskCheck); 5] = [
        ("hello", "hello", |t| {
            // Words that a boot route must not re-split or unquote on the way.
            let out = boot_disk(t.dir, &["--", "it's", "two  spaces", "$HOME", r"a\b"])?;
            expect_status(&out, 0)?;
            expect_stdout(
                &out,
                &format!(
                    "Hello from WebAssembly on {}!\narguments: it's two  spaces $HOME a\\b\n",
                    t.arch
                ),
            )
        }),
        ("exit-7-last-bus", "exit-code", |t| {
            let bus = t.disk.buses.last().context("the board lists no disk bus")?;
            let out = boot_disk(t.dir, &["--disk-bus", bus, "--", "7"])?;
            expect_status(&out, 7)?;
            expect_stdout(&out, "")
        }),
        ("trap", "trap", |t| {
            let report = t.scratch.join("report.json");
            let out = boot_disk(t.dir, &["--report", &report.display().to_string()])?;
            expect_status(&out, 134)?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            ensure!(
                stdout.starts_with("about to trap\n") && stdout.contains("unreachable"),
                "the console shows:\n{stdout}"
            );
            // The guest's record comes through the serial console too.
            let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report)?)?;
            ensure!(
                report["status"] == 134
                    && report["ended"] == "trap"
                    && report["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("unreachable")),
                "report: {report}"
            );
            Ok(())
        }),
        ("config-edited-with-mtools", "hello", |t| {
            // A copy of the image folder, its disk's command line rewritten by mtools.
            for file in ["disk.raw", "run-disk.sh"] {
                std::fs::copy(t.dir.join(file), t.scratch.join(file))?;
            }
            let old = mtype(
                &t.scratch.join("disk.raw"),
                disk::config::file(t.disk.route),
            )?;
            let cmdline = disk::config::cmdline(t.disk.route, &old)?;
            let edited = format!("{cmdline} -- 'edited' 'on the disk'");
            mcopy(
                &t.scratch.join("disk.raw"),
                disk::config::file(t.disk.route),
                disk::config::render(t.disk.route, &edited).as_bytes(),
                t.scratch,
            )?;
            let out = boot_disk(t.scratch, &["--console"])?;
            expect_status(&out, 0)?;
            let console = String::from_utf8_lossy(&out.stdout).replace('\r', "");
            ensure!(
                console.contains(&format!(
                    "Hello from WebAssembly on {}!\narguments: edited on the disk\n",
                    t.arch
                )) && console.matches("[LOADER] Hermit-WASM loader").count() == 1,
                "the console shows:\n{console}"
            );
            Ok(())
        }),
        ("inspect-reads-back", "hello", |t| {
            // The disk as built: the folder's guest, the default command line.
            let report = inspect_disk(t.dir)?;
            ensure!(
                report["guest_matches_image"] == true
                    && report["cmdline"] == disk::config::DEFAULT_CMDLINE
                    && report["fat_type"] == "Fat32",
                "inspect: {report}"
            );
            // A copy whose disk got another command line and another guest (mtools).
            for file in ["disk.raw", "manifest.json", "guest.elf", "loader.elf"] {
                std::fs::copy(t.dir.join(file), t.scratch.join(file))?;
            }
            let disk = t.scratch.join("disk.raw");
            let edited = "env=HERMIT_WASM_PLATFORM=serial -- -- edited";
            let config = disk::config::render(t.disk.route, edited);
            mcopy(
                &disk,
                disk::config::file(t.disk.route),
                config.as_bytes(),
                t.scratch,
            )?;
            mcopy(
                &disk,
                crate::disk::GUEST_FILE,
                b"not the image's guest",
                t.scratch,
            )?;
            let report = inspect_disk(t.scratch)?;
            let guest_size = report["files"]
                .as_array()
                .and_then(|files| files.iter().find(|f| f["path"] == crate::disk::GUEST_FILE))
                .map(|f| f["size"].clone());
            ensure!(
                report["guest_matches_image"] == false
                    && report["cmdline"] == edited
                    && guest_size == Some(serde_json::json!(21)),
                "inspect of the edited copy: {report}"
            );
            Ok(())
        }),
    ];
    if let Some(dt_options) = disk.device_tree_options.clone() {
        // The same disk under firmware that gives ACPI only (as Arm clouds do) and under
        // firmware that gives a device tree: the loader says which it used.
        let case = format!("{b}/disk-acpi-and-device-tree-firmware");
        let name = "disk-firmware".to_string();
        let (project, board_name, arch) = (project.clone(), b.clone(), arch.clone());
        cases.push(Case::new(
            case,
            vec![Image::Module {
                board: b.clone(),
                module: "hello".into(),
                name: Some(name.clone()),
            }],
            move |_| {
                let dir = make_disk(&project, &board_name, "hello", &name)?;
                let hello = format!("Hello from WebAssembly on {arch}!\narguments: x\n");
                for (options, says) in [
                    ("", "[LOADER] ACPI: GICD "),
                    (dt_options.as_str(), "[LOADER] the firmware's device tree"),
                ] {
                    let out = boot_disk_with(&dir, &["--console", "--", "x"], options)?;
                    expect_status(&out, 0)?;
                    let console = String::from_utf8_lossy(&out.stdout).replace('\r', "");
                    ensure!(
                        console.contains(says) && console.contains(&hello),
                        "with QEMU options {options:?} the console shows:\n{console}"
                    );
                }
                Ok(())
            },
        ));
    }
    if board.arch.name() == "x86_64" {
        // The runner powers an x86_64 disk boot off itself and halts where it cannot
        // (`platform/power_off.rs`): with the sleep register withheld, the machine must
        // halt after the status line, never reset and run the module again.
        let case = format!("{b}/disk-halts-when-it-cannot-power-off");
        let name = "disk-no-power-off".to_string();
        let (project, board_name, disk) = (project.clone(), b.clone(), disk.clone());
        cases.push(Case::new(
            case.clone(),
            vec![Image::Module {
                board: b.clone(),
                module: "exit-code".into(),
                name: Some(name.clone()),
            }],
            move |_| {
                let dir = make_disk(&project, &board_name, "exit-code", &name)?;
                let scratch = scratch(&project, &case)?;
                for file in ["disk.raw", "run-disk.sh"] {
                    std::fs::copy(dir.join(file), scratch.join(file))?;
                }
                let cmdline = format!(
                    "env=HERMIT_WASM_POWER_OFF=none {} -- 5",
                    disk::config::DEFAULT_CMDLINE
                );
                let config = disk::config::render(disk.route, &cmdline);
                let raw = scratch.join("disk.raw");
                mcopy(
                    &raw,
                    disk::config::file(disk.route),
                    config.as_bytes(),
                    &scratch,
                )?;
                let mut command = Command::new(scratch.join("run-disk.sh"));
                command
                    .args(["--timeout=40", "--console"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                let out = Launcher::spawn(&mut command)?.wait_with_output()?;
                expect_status(&out, 5)?;
                stderr_has(&out, "did not power off (it halted)")?;
                let console = String::from_utf8_lossy(&out.stdout).replace('\r', "");
                ensure!(
                    console.matches("[LOADER] Hermit-WASM loader").count() == 1
                        && console.matches("hermit-wasm: exit status 5").count() == 1,
                    "the console shows:\n{console}"
                );
                Ok(())
            },
        ));
    }
    // `cargo xtask qemu --disk` builds the disk and boots it through run-disk.sh.
    let case = format!("{b}/disk-from-cargo-xtask-qemu");
    let (project_, board_name) = (project.clone(), b.clone());
    cases.push(Case::new(
        case,
        vec![Image::Module {
            board: b.clone(),
            module: "exit-code".into(),
            name: Some("disk-xtask-qemu".into()),
        }],
        move |_| {
            let mut command = Command::new(std::env::current_exe()?);
            command
                .args(["qemu", "--disk", "--board", &board_name])
                .args(["--module", "exit-code", "--name", "disk-xtask-qemu"])
                .args(["--timeout", "120", "--", "3"])
                .current_dir(&project_.root)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let out = Launcher::spawn(&mut command)?.wait_with_output()?;
            expect_status(&out, 3)?;
            stderr_has(&out, "run-disk.sh")
        },
    ));
    // Clouds take UEFI disks only.
    if disk.route == DiskRoute::Uefi {
        let case = format!("{b}/disk-cloud-formats");
        let project_ = project.clone();
        let board_name = b.clone();
        cases.push(Case::new(
            case,
            vec![Image::Module {
                board: b.clone(),
                module: "hello".into(),
                name: Some("disk-formats".into()),
            }],
            move |_| cloud_formats_read_back(&project_, &board_name),
        ));
    }
    for (label, module, check) in table {
        let case = format!("{b}/disk-{label}");
        let name = format!("disk-{label}");
        let project = project.clone();
        let (board_name, arch, disk) = (b.clone(), arch.clone(), disk.clone());
        cases.push(Case::new(
            case.clone(),
            vec![Image::Module {
                board: b.clone(),
                module: module.to_string(),
                name: Some(name.clone()),
            }],
            move |_| {
                let dir = make_disk(&project, &board_name, module, &name)?;
                let scratch = scratch(&project, &case)?;
                check(&DiskTrial {
                    dir: &dir,
                    scratch: &scratch,
                    arch: &arch,
                    disk: &disk,
                })
            },
        ));
    }
}

/// `cargo xtask disk --format gce,azure,qcow2,aws,kubevirt`, each output read back by a
/// reader nobody here wrote (GNU tar, `qemu-img`, `skopeo`, `umoci`) and checked against
/// what its cloud takes.
fn cloud_formats_read_back(project: &Project, board: &str) -> Result<()> {
    let out = Command::new(std::env::current_exe()?)
        .args([
            "disk",
            "--board",
            board,
            "--module",
            "hello",
            "--name",
            "disk-formats",
        ])
        .args(["--format", "gce,azure,qcow2,aws,kubevirt"])
        .current_dir(&project.root)
        .output()?;
    expect_status(&out, 0).context("cargo xtask disk --format")?;
    stderr_has(&out, "register-image --boot-mode uefi")?;
    stderr_has(&out, "hw_firmware_type=uefi")?;
    stderr_has(&out, "skopeo copy oci-archive:")?;
    let dir = project.images().join(board).join("disk-formats");
    let raw = std::fs::metadata(dir.join("disk.raw"))?.len();
    const GIB: u64 = 1 << 30;

    // GCE: exactly one member, disk.raw, a whole number of GiB, in an (old)GNU header.
    let gce = dir.join("disk-gce.tar.gz");
    let listing = Command::new("tar").arg("-tvzf").arg(&gce).output()?;
    expect_status(&listing, 0).context("tar -tvzf")?;
    let listing = String::from_utf8_lossy(&listing.stdout).to_string();
    let lines: Vec<&str> = listing.lines().collect();
    let size: u64 = lines
        .first()
        .and_then(|line| line.split_whitespace().nth(2))
        .and_then(|size| size.parse().ok())
        .context("no size in tar's listing")?;
    ensure!(
        lines.len() == 1
            && lines[0].ends_with(" disk.raw")
            && size.is_multiple_of(GIB)
            && size >= raw,
        "the GCE tarball holds:\n{listing}"
    );
    let mut header = [0u8; 512];
    std::io::Read::read_exact(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&gce)?),
        &mut header,
    )?;
    ensure!(&header[257..265] == b"ustar  \0", "not a GNU tar header");

    // Azure: a fixed VHD (a footer after the data) of the disk's size, a whole number of MiB.
    let info = |file: &str, format: Option<&str>| -> Result<serde_json::Value> {
        let mut command = Command::new("qemu-img");
        command.args(["info", "--output=json"]);
        if let Some(format) = format {
            command.args(["-f", format]);
        }
        let out = command.arg(dir.join(file)).output()?;
        expect_status(&out, 0).context("qemu-img info")?;
        Ok(serde_json::from_slice(&out.stdout)?)
    };
    let vhd = info("disk-azure.vhd", Some("vpc"))?;
    ensure!(
        vhd["virtual-size"] == raw && raw.is_multiple_of(1 << 20),
        "the VHD: {vhd}"
    );
    let vhd_bytes = std::fs::read(dir.join("disk-azure.vhd"))?;
    ensure!(
        vhd_bytes.len() as u64 == raw + 512
            && vhd_bytes[vhd_bytes.len() - 512..].starts_with(b"conectix"),
        "the VHD is not the disk followed by a fixed-disk footer"
    );
    // OpenStack, KubeVirt: qcow2 of the same virtual size.
    let qcow2 = info("disk.qcow2", None)?;
    ensure!(
        qcow2["format"] == "qcow2" && qcow2["virtual-size"] == raw,
        "the qcow2: {qcow2}"
    );
    kubevirt_read_back(project, board, &dir)
}

/// KubeVirt: skopeo reads the OCI archive as an image of the board's architecture with one
/// layer; umoci unpacks it (checking every digest); the layer holds `disk/disk.qcow2`
/// owned by 107:107, mode 0440, the same disk as disk.raw; the VM manifest boots it with EFI.
fn kubevirt_read_back(project: &Project, board: &str, dir: &Path) -> Result<()> {
    let archive = dir.join("disk-kubevirt.oci.tar");
    let out = Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}", archive.display()))
        .output()
        .context("running skopeo (apt-get install skopeo umoci)")?;
    expect_status(&out, 0).context("skopeo inspect")?;
    let image: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let arch = match board.split('-').next() {
        Some("aarch64") => "arm64",
        _ => "amd64",
    };
    ensure!(
        image["Architecture"] == arch
            && image["Os"] == "linux"
            && image["Layers"].as_array().map(Vec::len) == Some(1),
        "skopeo inspect: {image}"
    );

    let scratch = scratch(project, &format!("{board}/kubevirt-read-back"))?;
    let layout = scratch.join("layout");
    std::fs::create_dir_all(&layout)?;
    let out = Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&layout)
        .output()?;
    expect_status(&out, 0).context("tar -xf the OCI archive")?;
    let bundle = scratch.join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:latest", layout.display()))
        .arg(&bundle)
        .output()?;
    expect_status(&out, 0).context("umoci unpack")?;
    let qcow2 = bundle.join("rootfs/disk/disk.qcow2");
    let out = Command::new("qemu-img")
        .args(["compare", "-f", "qcow2", "-F", "raw"])
        .arg(&qcow2)
        .arg(dir.join("disk.raw"))
        .output()?;
    expect_status(&out, 0).context("qemu-img compare: the container's disk and disk.raw")?;

    // Ownership as the tar in the layer says it (a rootless unpack maps owners to ours).
    let layer = image["Layers"][0]
        .as_str()
        .and_then(|digest| digest.strip_prefix("sha256:"))
        .context("the layer's digest")?;
    let out = Command::new("tar")
        .args(["-tvzf"])
        .arg(layout.join("blobs/sha256").join(layer))
        .output()?;
    expect_status(&out, 0).context("tar -tvzf the layer")?;
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    ensure!(
        listing
            .lines()
            .any(|line| line.starts_with("-r--r----- 107/107 ")
                && line.ends_with(" disk/disk.qcow2")),
        "the layer holds:\n{listing}"
    );

    let vm = std::fs::read_to_string(dir.join("kubevirt-vm.yaml"))?;
    for line in [
        "kind: VirtualMachine",
        "secureBoot: false",
        "image: REGISTRY/disk-formats:latest",
    ] {
        ensure!(vm.contains(line), "kubevirt-vm.yaml lacks {line:?}:\n{vm}");
    }
    Ok(())
}

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
fn bundle_cases(project: &Arc<Project>, board: &Board, cases: &mut Vec<Case>) {
    let b = board.name.clone();
    let arch = board.arch.name().to_string();
    let case = format!("{b}/bundle-runs-in-a-private-folder");
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
    let case = format!("{b}/bundle-exit-status-and-options");
    let project_ = project.clone();
    let board_name = b.clone();
    cases.push(Case::new(
        case.clone(),
        vec![Image::example(&b, "exit-code")],
        move |_| {
            let (root, cwd, tmp) = bundle_scratch(&project_, &case)?;
            let file = root.join("exit.run");
            let args = [
                "--board",
                &board_name,
                "--module",
                "exit-code",
                "--name",
                "exit",
            ];
            make_bundle(&project_, &args, &file)?;
            let out = run_bundle(&file, &["--timeout=120", "--", "7"], &cwd, &tmp)?;
            expect_status(&out, 7)?;
            let out = run_bundle(&file, &["--board", "no-such-board", "--", "7"], &cwd, &tmp)?;
            expect_status(&out, 125)?;
            stderr_has(&out, "has no image for board 'no-such-board'")
        },
    ));
    let case = format!("{b}/bundle-signal-term-ends-the-vm");
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
fn several_boards_bundle_case(project: &Arc<Project>, boards: &[String], cases: &mut Vec<Case>) {
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

/// Boots the hang image through `launcher` (its run-qemu.sh, or a bundle of it; with a
/// shared folder if `shares`), waits for QEMU (and virtiofsd) to run, hands the launcher's
/// processes to `inspect`, then sends `signal` to the launcher: it must exit 128 + `signal`
/// and leave no process and no temporary file.
fn stop_running_vm(
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

/// `cargo xtask inspect --json` of the image folder `dir`: its `disk` part.
fn inspect_disk(dir: &Path) -> Result<serde_json::Value> {
    let out = Command::new(std::env::current_exe()?)
        .arg("inspect")
        .arg(dir)
        .arg("--json")
        .output()?;
    expect_status(&out, 0).context("cargo xtask inspect")?;
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("inspect --json is not JSON")?;
    Ok(report["disk"].clone())
}

/// `cargo xtask inspect --json`, checked against the guest ELF's header read by hand.
fn inspect_json(plan: &BuildPlan) -> Result<()> {
    let out = Command::new(std::env::current_exe()?)
        .arg("inspect")
        .arg(&plan.image.dir)
        .arg("--json")
        .output()?;
    expect_status(&out, 0)?;
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("inspect --json is not JSON")?;
    ensure!(
        report["arch"] == plan.board.arch.name(),
        "arch {}",
        report["arch"]
    );
    let guest = std::fs::read(&plan.image.guest)?;
    let entry = u64::from_le_bytes(guest[24..32].try_into()?);
    let machine = u16::from_le_bytes(guest[18..20].try_into()?);
    let elf = &report["elfs"][0];
    ensure!(elf["file"] == "guest.elf", "first ELF is {}", elf["file"]);
    ensure!(
        elf["entry"] == entry,
        "entry {} in JSON, {entry:#x} in the file",
        elf["entry"]
    );
    ensure!(
        machine == plan.board.arch.elf_machine(),
        "guest machine {machine}"
    );
    let want_machine = match plan.board.arch.name() {
        "x86_64" => "X86_64",
        "aarch64" => "AARCH64",
        _ => "RISCV",
    };
    ensure!(
        elf["machine"] == want_machine,
        "machine {} in JSON",
        elf["machine"]
    );
    Ok(())
}

/// Bad input through the command line: clear errors, non-zero exits, nothing written.
fn cli_cases(project: &Arc<Project>, cases: &mut Vec<Case>) {
    // `cargo xtask ARGS` must fail, and its stderr hold every one of `needles`.
    fn refused(project: &Project, args: &[&str], needles: &[&str]) -> Result<()> {
        let out = Command::new(std::env::current_exe()?)
            .args(args)
            .current_dir(&project.root)
            .output()?;
        ensure!(!out.status.success(), "succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(needles.iter().all(|n| stderr.contains(n)), "{stderr}");
        Ok(())
    }
    fn write(project: &Project, case: &str, file: &str, text: &str) -> Result<String> {
        let path = scratch(project, case)?.join(file);
        std::fs::write(&path, text)?;
        Ok(path.display().to_string())
    }
    let mut add = |name: &str, check: fn(&Project, &str) -> Result<()>| {
        let project = project.clone();
        let name = format!("cli/{name}");
        let case = name.clone();
        cases.push(Case::new(name, vec![], move |_| check(&project, &case)));
    };
    add("disk-format-that-does-not-exist", |project, _| {
        refused(
            project,
            &["disk", "--module", "hello", "--format", "qcow2,vmdk"],
            &["\"vmdk\" is not a disk format", "gce, azure, qcow2, aws"],
        )
    });
    add("qemu-disk-refuses-direct-boot-options", |project, _| {
        refused(
            project,
            &[
                "qemu",
                "--disk",
                "--board",
                "x86_64-kvm",
                "--module",
                "hello",
                "--map",
                "/tmp:/tmp",
            ],
            &["--map is a launch option of the direct boot"],
        )
    });
    add("disk-cloud-format-for-riscv64", |project, _| {
        refused(
            project,
            &[
                "disk",
                "--board",
                "riscv64-virt",
                "--module",
                "hello",
                "--format",
                "gce",
            ],
            &["--format gce: no cloud offers riscv64 VMs"],
        )
    });
    add(
        "bundle-of-an-unknown-board-writes-nothing",
        |project, case| {
            let file = scratch(project, case)?.join("app.run");
            let file_arg = file.display().to_string();
            refused(
                project,
                &["bundle", "--board", "no-such-board", "-o", &file_arg],
                &["no-such-board"],
            )?;
            ensure!(!file.exists(), "{} was written", file.display());
            Ok(())
        },
    );
    add("hermitfile-error-names-line-and-column", |project, case| {
        let path = write(project, case, "Hermitfile", "FROM x.wasm\n  COPY a b\n")?;
        refused(
            project,
            &["image", "--hermitfile", &path],
            &["Hermitfile:2:3", "COPY"],
        )
    });
    add("hermitfile-map-of-a-missing-folder", |project, case| {
        let path = write(
            project,
            case,
            "Hermitfile",
            "FROM x.wasm\nMAP [\"missing:/data:ro\"]\n",
        )?;
        refused(
            project,
            &["image", "--hermitfile", &path],
            &["MAP", "does not exist"],
        )
    });
    add("unknown-board-lists-the-known-ones", |project, _| {
        refused(
            project,
            &["image", "--board", "pdp11"],
            &["unknown board", "x86_64-kvm"],
        )
    });
    add("not-wasm-is-refused", |project, case| {
        let path = write(project, case, "not-wasm.wasm", "this is text")?;
        refused(
            project,
            &["image", "--module", &path, "--name", "e2e-bad"],
            &["not a WebAssembly module"],
        )
    });
    add("name-outside-images-is-refused", |project, case| {
        let outside = scratch(project, case)?.join("x");
        let name = outside.display().to_string();
        refused(project, &["image", "--name", &name], &["[A-Za-z0-9._-]+"])?;
        ensure!(!outside.exists(), "{name} was written");
        Ok(())
    });
    add("name-with-a-newline-is-refused", |project, _| {
        refused(
            project,
            &["image", "--name", "x\ntouch /tmp/pwned"],
            &["[A-Za-z0-9._-]+"],
        )
    });
    add("compare-reports-a-difference", |project, case| {
        // A read-only map: the VM refuses the write that `wasmtime run --dir` allows.
        let work = scratch(project, case)?;
        let data = work.join("data");
        std::fs::create_dir_all(&data)?;
        std::fs::write(work.join("stdin"), "written\n")?;
        let out = Command::new(std::env::current_exe()?)
            .args(["compare", "--module", "tee", "--map"])
            .arg(format!("{}:/data:ro", data.display()))
            .arg("--stdin")
            .arg(work.join("stdin"))
            .args(["--", "/data/new.txt"])
            .current_dir(&project.root)
            .output()?;
        ensure!(
            out.status.code() == Some(1),
            "exit status {:?}",
            out.status.code()
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        ensure!(
            stdout.contains("--- wasmtime run")
                && stdout.contains("+++ x86_64-kvm VM")
                && stdout.contains("-file new.txt 8 bytes"),
            "no diff of the difference:\n{stdout}"
        );
        ensure!(
            !data.join("new.txt").exists(),
            "the original folder was written"
        );
        Ok(())
    });
    add("map-with-too-many-colons-is-refused", |project, _| {
        refused(project, &["qemu", "--map", "a:b:c"], &["too many ':'"])
    });
}

/// The official WASI suite through the runner on this host, and in the VM of each board:
/// each program a case of its own.
fn wasi_cases(project: &Arc<Project>, boards: &[String], cases: &mut Vec<Case>) -> Result<()> {
    let suite = wasi_testsuite::suite_dir(project);
    let programs: Vec<Arc<wasi_testsuite::Program>> = wasi_testsuite::programs(&suite, None)?
        .into_iter()
        .map(Arc::new)
        .collect();
    static HOST_RUNNER: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    for program in &programs {
        let case = format!("host/wasi/{}", program.name);
        let (project, program) = (project.clone(), program.clone());
        cases.push(Case::new(case.clone(), vec![], move |_| {
            let runner = HOST_RUNNER
                .get_or_init(|| {
                    let sh = xshell::Shell::new().map_err(|e| e.to_string())?;
                    host::runner::build(&sh, &project).map_err(|e| format!("{e:#}"))
                })
                .clone()
                .map_err(|e| anyhow!("building the host runner: {e}"))?;
            let dir = scratch(&project, &case)?;
            let payload = dir.join("module.payload");
            host::runner::write_payload(&program.wasm, &payload)?;
            let work = dir.join("work");
            let (launch, args) = program.prepare(&work)?;
            // As a boot has: a hung program fails its case instead of hanging the run.
            let mut command = Command::new("timeout");
            command
                .args(["--kill-after=5", "120"])
                .arg(runner)
                .arg(&payload)
                .args(&launch)
                .arg("--")
                .args(&args)
                .current_dir(&work)
                .stdin(if program.stdin_stays_open {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut launcher = Launcher::spawn(&mut command)?;
            // Held until the program has ended (None when stdin is null).
            let _stdin = launcher.child().stdin.take();
            let out = launcher.wait_with_output()?;
            program.judge(&out)
        }));
    }
    for board in boards {
        // On a board that refuses threads modules, its `threads-refused` case stands for
        // the threads programs.
        let threads = profile::find(&project.boards(), board)?
            .guest
            .threads_unsupported
            .is_none();
        for program in programs.iter().filter(|p| threads || !p.is_threads()) {
            let case = format!("{board}/wasi/{}", program.name);
            let image = Image::Module {
                board: board.clone(),
                module: program.wasm.display().to_string(),
                name: Some(program.image_name()),
            };
            let (project, program) = (project.clone(), program.clone());
            cases.push(Case::new(case.clone(), vec![image], move |plans| {
                let work = scratch(&project, &case)?;
                let (launch, args) = program.prepare(&work)?;
                let boot = Boot {
                    options: launch,
                    args,
                    stdin: Vec::new(),
                    stdin_stays_open: program.stdin_stays_open,
                    cwd: Some(&work),
                };
                let out = boot.run(&plans[0].image.run_qemu)?;
                program.judge(&out)
            }));
        }
    }
    Ok(())
}
