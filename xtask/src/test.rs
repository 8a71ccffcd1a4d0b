//! `cargo xtask test`: the end-to-end tests: images built for each board and booted under
//! QEMU through their launch scripts, as a user would, and the command line's answers to
//! bad input. Prints one line per test and ends with `N passed, M failed`. (The unit tests
//! are `cargo test --workspace`: cargo keeps its build folder locked while `cargo xtask`
//! runs, so the xtask cannot run them itself without building everything twice.)

use std::path::Path;
use std::process::{Command, Output};

use anyhow::{bail, ensure, Context, Result};
use xshell::Shell;

use crate::flags::{ImageArgs, TestArgs, WasiTestsuiteArgs};
use crate::plan::BuildPlan;
use crate::project::Project;
use crate::{image, profile, wasi_testsuite};

pub fn run(sh: &Shell, project: &Project, args: &TestArgs) -> Result<()> {
    let boards: Vec<String> = if args.boards.is_empty() {
        profile::load_all(&project.boards())?.into_keys().collect()
    } else {
        args.boards.clone()
    };
    let mut results = Vec::new();
    for board in &boards {
        results.extend(run_board(sh, project, board));
    }
    results.extend(run_cli_checks(project));
    let suite = WasiTestsuiteArgs {
        board: None,
        host: true,
        filter: None,
    };
    record(
        &mut results,
        "wasi-testsuite --host: every program passes through the runner".into(),
        wasi_testsuite::run(sh, project, &suite),
    );
    // Inside a VM on every board (one to two minutes each under TCG).
    for board in &boards {
        let suite = WasiTestsuiteArgs {
            board: Some(board.clone()),
            host: false,
            filter: None,
        };
        record(
            &mut results,
            format!("wasi-testsuite --board {board}: every program passes in the VM"),
            wasi_testsuite::run(sh, project, &suite),
        );
    }

    let failed: Vec<&(String, Result<()>)> = results.iter().filter(|(_, r)| r.is_err()).collect();
    for (name, result) in &results {
        if let Err(err) = result {
            println!("FAIL {name}: {err:#}");
        }
    }
    let passed = results.len() - failed.len();
    println!("end-to-end: {passed} passed, {} failed", failed.len());
    if !failed.is_empty() {
        bail!("{} end-to-end tests failed", failed.len());
    }
    Ok(())
}

type Results = Vec<(String, Result<()>)>;

fn record(results: &mut Results, name: String, result: Result<()>) {
    match &result {
        Ok(()) => println!("ok   {name}"),
        Err(err) => println!("FAIL {name}: {err:#}"),
    }
    results.push((name, result));
}

fn build(sh: &Shell, project: &Project, board: &str, module: &str) -> Result<BuildPlan> {
    let args = ImageArgs::of_module(board, module, None);
    image::run(sh, project, &args)
        .with_context(|| format!("building the {module} image for {board}"))
}

/// Runs a launch script with `args`; a 120 s timeout keeps a hung guest from hanging CI.
fn boot(script: &Path, args: &[&str]) -> Result<Output> {
    let mut command = Command::new(script);
    command.arg("--timeout=120").arg("--").args(args);
    eprintln!("$ {command:?}");
    command
        .output()
        .with_context(|| format!("running {}", script.display()))
}

fn expect_status(out: &Output, want: i32) -> Result<()> {
    let got = out.status.code();
    ensure!(
        got == Some(want),
        "exit status {got:?}, expected {want}; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn expect_stdout(out: &Output, want: &str) -> Result<()> {
    let got = String::from_utf8_lossy(&out.stdout);
    ensure!(
        got == want,
        "stdout {got:?}, expected {want:?}; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn run_board(sh: &Shell, project: &Project, board: &str) -> Results {
    let mut results = Vec::new();
    let name = |test: &str| format!("{board}: {test}");

    match build(sh, project, board, "hello") {
        Err(err) => record(&mut results, name("build the hello image"), Err(err)),
        Ok(plan) => {
            let arch = plan.board.arch.name();
            let script = &plan.image.run_qemu;
            record(
                &mut results,
                name("hello prints its line, nothing else on stdout"),
                (|| {
                    let out = boot(script, &[])?;
                    expect_status(&out, 0)?;
                    expect_stdout(&out, &format!("Hello from WebAssembly on {arch}!\n"))
                })(),
            );
            record(
                &mut results,
                name("launch arguments reach the module"),
                (|| {
                    let out = boot(script, &["two words", "it's", "--flag"])?;
                    expect_status(&out, 0)?;
                    expect_stdout(
                        &out,
                        &format!(
                            "Hello from WebAssembly on {arch}!\narguments: two words it's --flag\n"
                        ),
                    )
                })(),
            );
            record(
                &mut results,
                name("inspect --json names the machine and the guest's entry"),
                inspect_json(&plan),
            );
        }
    }

    match build(sh, project, board, "exit-code") {
        Err(err) => record(&mut results, name("build the exit-code image"), Err(err)),
        Ok(plan) => {
            for code in ["7", "0", "200"] {
                record(
                    &mut results,
                    name(&format!("exit-code {code} exits {code}")),
                    (|| {
                        let out = boot(&plan.image.run_qemu, &[code])?;
                        expect_status(&out, code.parse()?)?;
                        expect_stdout(&out, "")
                    })(),
                );
            }
        }
    }

    match build(sh, project, board, "trap") {
        Err(err) => record(&mut results, name("build the trap image"), Err(err)),
        Ok(plan) => record(
            &mut results,
            name("a trap exits 134 with the trap message"),
            (|| {
                let out = boot(&plan.image.run_qemu, &[])?;
                expect_status(&out, 134)?;
                expect_stdout(&out, "about to trap\n")?;
                let stderr = String::from_utf8_lossy(&out.stderr);
                ensure!(
                    stderr.contains("unreachable"),
                    "stderr lacks the trap message:\n{stderr}"
                );
                Ok(())
            })(),
        ),
    }

    record(
        &mut results,
        name("a Hermitfile grants args and env, launch options add to them"),
        hermitfile_grants(sh, project, board),
    );

    // Stdin reaches the module (x86: fw_cfg; aarch64, riscv64: a host file by semihosting).
    match build(sh, project, board, "cat") {
        Err(err) => record(&mut results, name("build the cat image"), Err(err)),
        Ok(plan) => record(
            &mut results,
            name("stdin reaches the module, its end is EOF"),
            (|| {
                let input: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
                let mut child = Command::new(&plan.image.run_qemu)
                    .arg("--timeout=120")
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()?;
                let mut stdin = child.stdin.take().context("stdin")?;
                let feed = input.clone();
                let writer =
                    std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &feed));
                let out = child.wait_with_output()?;
                writer
                    .join()
                    .map_err(|_| anyhow::anyhow!("writer panicked"))??;
                expect_status(&out, 0)?;
                ensure!(
                    out.stdout == input,
                    "stdout has {} bytes, not the {} given",
                    out.stdout.len(),
                    input.len()
                );
                Ok(())
            })(),
        ),
    }

    results.extend(host_directories(sh, project, board));
    results.extend(host_file_operations(sh, project, board));

    match build(sh, project, board, "hang") {
        Err(err) => record(&mut results, name("build the hang image"), Err(err)),
        Ok(plan) => record(
            &mut results,
            name("--timeout stops a hung guest"),
            (|| {
                let mut command = Command::new(&plan.image.run_qemu);
                command.arg("--timeout=5");
                eprintln!("$ {command:?}");
                let out = command.output()?;
                expect_status(&out, 124)?;
                let stderr = String::from_utf8_lossy(&out.stderr);
                ensure!(
                    stderr.contains("timed out"),
                    "stderr does not say it timed out:\n{stderr}"
                );
                Ok(())
            })(),
        ),
    }
    results
}

/// Runs a launch script with launch `options`, module `args` and `input` on stdin.
fn boot_with(script: &Path, options: &[&str], args: &[&str], input: &[u8]) -> Result<Output> {
    let mut command = Command::new(script);
    command
        .arg("--timeout=120")
        .args(options)
        .arg("--")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    eprintln!("$ {command:?}");
    let mut child = command
        .spawn()
        .with_context(|| format!("running {}", script.display()))?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let feed = input.to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &feed));
    let out = child.wait_with_output()?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("writer panicked"))??;
    Ok(out)
}

/// Host directories (MAP, `--map`) in the guest: read, written, refused where read-only,
/// never left; on a board without virtio-fs, refused with the reason.
fn host_directories(sh: &Shell, project: &Project, board: &str) -> Results {
    let mut results = Vec::new();
    let name = |test: &str| format!("{board}: {test}");
    let (cat, tee) = match (
        build(sh, project, board, "cat"),
        build(sh, project, board, "tee"),
    ) {
        (Ok(cat), Ok(tee)) => (cat, tee),
        (Err(err), _) | (_, Err(err)) => {
            record(&mut results, name("build the cat and tee images"), Err(err));
            return results;
        }
    };
    let root = project.target().join("e2e/maps").join(board);
    let data = root.join("data");
    let setup = || -> Result<()> {
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&data)?;
        std::fs::write(data.join("greeting.txt"), "hello from the host\n")?;
        std::fs::write(root.join("outside.txt"), "secret\n")?;
        std::os::unix::fs::symlink("../outside.txt", data.join("escape"))?;
        Ok(())
    };
    if let Err(err) = setup() {
        record(&mut results, name("set up the host directory"), Err(err));
        return results;
    }
    let data = data.display().to_string();
    let read_only = format!("{data}:/data:ro");
    let writable = format!("{data}:/data");

    if cat.board.qemu.virtio_fs.is_none() {
        record(
            &mut results,
            name("--map is refused: the board has no virtio-fs"),
            (|| {
                let out = boot_with(&cat.image.run_qemu, &["--map", &read_only], &[], b"")?;
                expect_status(&out, 125)?;
                let stderr = String::from_utf8_lossy(&out.stderr);
                ensure!(
                    stderr.contains("cannot give host directories"),
                    "stderr does not say why:\n{stderr}"
                );
                Ok(())
            })(),
        );
        record(
            &mut results,
            name("a Hermitfile MAP is refused at image time"),
            match hermitfile_map(sh, project, board, &data) {
                Ok(_) => Err(anyhow::anyhow!("the image was built")),
                Err(err) => {
                    let err = format!("{err:#}");
                    if err.contains("cannot give host directories") {
                        Ok(())
                    } else {
                        Err(anyhow::anyhow!("another error: {err}"))
                    }
                }
            },
        );
        return results;
    }

    record(
        &mut results,
        name("--map: the module reads a host file"),
        cat_prints(
            &cat,
            &read_only,
            "/data/greeting.txt",
            "hello from the host\n",
        ),
    );
    record(
        &mut results,
        name("--map: paths out of the map (.., absolute, a symlink) are refused"),
        (|| {
            let out = boot_with(
                &cat.image.run_qemu,
                &["--map", &writable],
                &["/data/../outside.txt", "/outside.txt", "/data/escape"],
                b"",
            )?;
            expect_status(&out, 1)?;
            expect_stdout(&out, "")
        })(),
    );
    record(
        &mut results,
        name("--map :ro: writes are refused, the host folder is untouched"),
        (|| {
            let out = boot_with(
                &tee.image.run_qemu,
                &["--map", &read_only],
                &["/data/new.txt", "/data/greeting.txt"],
                b"written in the guest\n",
            )?;
            expect_status(&out, 1)?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            ensure!(
                stderr.contains("tee: /data/new.txt") && stderr.contains("tee: /data/greeting.txt"),
                "stderr does not name both refusals:\n{stderr}"
            );
            ensure!(
                !Path::new(&data).join("new.txt").exists(),
                "new.txt appeared on the host"
            );
            let greeting = std::fs::read_to_string(Path::new(&data).join("greeting.txt"))?;
            ensure!(
                greeting == "hello from the host\n",
                "greeting.txt now holds {greeting:?}"
            );
            Ok(())
        })(),
    );
    record(
        &mut results,
        name("--map: a writable map takes a new file"),
        (|| {
            let out = boot_with(
                &tee.image.run_qemu,
                &["--map", &writable],
                &["/data/new.txt"],
                b"written in the guest\n",
            )?;
            expect_status(&out, 0)?;
            let written = std::fs::read_to_string(Path::new(&data).join("new.txt"))?;
            ensure!(
                written == "written in the guest\n",
                "new.txt holds {written:?}"
            );
            Ok(())
        })(),
    );
    record(
        &mut results,
        name("a Hermitfile MAP (with ARGS) reaches the guest"),
        (|| {
            let plan = hermitfile_map(sh, project, board, &data)?;
            let out = boot_with(&plan.image.run_qemu, &[], &[], b"")?;
            expect_status(&out, 0)?;
            expect_stdout(&out, "hello from the host\n")
        })(),
    );
    results
}

/// Boots the cat image with `map` and `file`: it must print `want` and exit 0.
fn cat_prints(cat: &BuildPlan, map: &str, file: &str, want: &str) -> Result<()> {
    let out = boot_with(&cat.image.run_qemu, &["--map", map], &[file], b"")?;
    expect_status(&out, 0)?;
    expect_stdout(&out, want)
}

/// What the guest does in a mapped folder is the host's own doing: renames, hard and
/// symbolic links, and large reads (many transfers through virtio-fs).
fn host_file_operations(sh: &Shell, project: &Project, board: &str) -> Results {
    let mut results = Vec::new();
    let name = |test: &str| format!("{board}: {test}");
    let images: Result<Vec<BuildPlan>> = ["mv", "ln", "wc", "cat"]
        .iter()
        .map(|module| build(sh, project, board, module))
        .collect();
    let [mv, ln, wc, cat] = match images {
        Ok(images) => <[BuildPlan; 4]>::try_from(images).expect("four images"),
        Err(err) => {
            record(
                &mut results,
                name("build the mv, ln, wc and cat images"),
                Err(err),
            );
            return results;
        }
    };
    if mv.board.qemu.virtio_fs.is_none() {
        return results;
    }
    let data = project.target().join("e2e/file-ops").join(board);
    let setup = || -> Result<()> {
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data)?;
        std::fs::write(data.join("old.txt"), "moved\n")?;
        std::fs::write(data.join("greeting.txt"), "hello from the host\n")?;
        let big: String = (0..150_000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(data.join("big.txt"), big)?;
        Ok(())
    };
    if let Err(err) = setup() {
        record(&mut results, name("set up the host directory"), Err(err));
        return results;
    }
    let writable = format!("{}:/data", data.display());
    let read_only = format!("{}:/data:ro", data.display());

    record(
        &mut results,
        name("--map: mv renames the host file; a :ro map refuses it"),
        (|| {
            let out = boot_with(
                &mv.image.run_qemu,
                &["--map", &read_only],
                &["/data/old.txt", "/data/new.txt"],
                b"",
            )?;
            expect_status(&out, 1)?;
            ensure!(data.join("old.txt").exists(), "old.txt went away");
            let out = boot_with(
                &mv.image.run_qemu,
                &["--map", &writable],
                &["/data/old.txt", "/data/new.txt"],
                b"",
            )?;
            expect_status(&out, 0)?;
            ensure!(!data.join("old.txt").exists(), "old.txt is still there");
            let moved = std::fs::read_to_string(data.join("new.txt"))?;
            ensure!(moved == "moved\n", "new.txt holds {moved:?}");
            Ok(())
        })(),
    );
    record(
        &mut results,
        name("--map: ln -s and ln make the host's own links, followed inside"),
        (|| {
            let out = boot_with(
                &ln.image.run_qemu,
                &["--map", &writable],
                &["-s", "greeting.txt", "/data/link.txt"],
                b"",
            )?;
            expect_status(&out, 0)?;
            let target = std::fs::read_link(data.join("link.txt"))?;
            ensure!(
                target == Path::new("greeting.txt"),
                "link.txt points at {target:?}"
            );
            let out = boot_with(
                &ln.image.run_qemu,
                &["--map", &writable],
                &["/data/greeting.txt", "/data/hard.txt"],
                b"",
            )?;
            expect_status(&out, 0)?;
            use std::os::unix::fs::MetadataExt;
            let (a, b) = (
                std::fs::metadata(data.join("greeting.txt"))?,
                std::fs::metadata(data.join("hard.txt"))?,
            );
            ensure!(
                a.ino() == b.ino() && a.nlink() == 2,
                "hard.txt is not a second link of greeting.txt"
            );
            cat_prints(&cat, &read_only, "/data/link.txt", "hello from the host\n")
        })(),
    );
    record(
        &mut results,
        name("--map: wc reads a 1.7 MB host file whole"),
        (|| {
            let big = std::fs::read(data.join("big.txt"))?;
            let lines = big.iter().filter(|&&b| b == b'\n').count();
            let out = boot_with(
                &wc.image.run_qemu,
                &["--map", &read_only],
                &["/data/big.txt"],
                b"",
            )?;
            expect_status(&out, 0)?;
            expect_stdout(&out, &format!("{lines} {} /data/big.txt\n", big.len()))
        })(),
    );
    results
}

/// The cat image built from a Hermitfile that maps `data` read-only at /srv and names a
/// file there in ARGS.
fn hermitfile_map(sh: &Shell, project: &Project, board: &str, data: &str) -> Result<BuildPlan> {
    let directives = format!("MAP [\"{data}:/srv:ro\"]\nARGS [\"/srv/greeting.txt\"]\n");
    hermitfile_image(sh, project, board, "cat", "e2e-hermitfile-map", &directives)
}

/// The image `name` built from a Hermitfile with `FROM` the example `module` (built before)
/// and `directives`.
fn hermitfile_image(
    sh: &Shell,
    project: &Project,
    board: &str,
    module: &str,
    name: &str,
    directives: &str,
) -> Result<BuildPlan> {
    let dir = project.target().join("e2e").join(name);
    std::fs::create_dir_all(&dir)?;
    let wasm = project
        .target()
        .join(format!("modules/wasm32-wasip1/release/{module}.wasm"));
    let hermitfile = dir.join("Hermitfile");
    std::fs::write(
        &hermitfile,
        format!(
            "# written by cargo xtask test\nFROM {}\n{directives}",
            wasm.display()
        ),
    )?;
    let mut args = ImageArgs::of_module(board, "unused", Some(name));
    args.module = None;
    args.hermitfile = Some(hermitfile);
    image::run(sh, project, &args)
}

/// An image built from a Hermitfile (ARGS, ENV, ENV_PWD_IS_HOST_CWD) around `printenv`,
/// booted with `--env` and an argument: the module sees exactly these, in order.
fn hermitfile_grants(sh: &Shell, project: &Project, board: &str) -> Result<()> {
    build(sh, project, board, "printenv")?; // builds modules/printenv to its .wasm
    let directives = "ARGS [\"baked\"]\nenv A=1 B=\"two words\"\nENV_PWD_IS_HOST_CWD\n";
    let plan = hermitfile_image(sh, project, board, "printenv", "e2e-hermitfile", directives)?;
    let cwd = std::env::current_dir()?;
    let mut command = Command::new(&plan.image.run_qemu);
    command.args(["--timeout=120", "--env", "C=3", "--", "given"]);
    eprintln!("$ {command:?}");
    let out = command.output()?;
    expect_status(&out, 0)?;
    expect_stdout(
        &out,
        &format!(
            "arg baked\narg given\nenv A=1\nenv B=two words\nenv PWD={}\nenv C=3\n",
            cwd.display()
        ),
    )
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

/// Bad input through the command line: clear errors, non-zero exits.
fn run_cli_checks(project: &Project) -> Results {
    let mut results = Vec::new();
    // `cargo xtask ARGS` must fail, and its stderr hold every one of `needles`.
    let refused = |args: &[&str], needles: &[&str]| -> Result<()> {
        let out = Command::new(std::env::current_exe()?)
            .args(args)
            .current_dir(&project.root)
            .output()?;
        ensure!(!out.status.success(), "succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(needles.iter().all(|n| stderr.contains(n)), "{stderr}");
        Ok(())
    };
    let e2e = project.target().join("e2e");
    let write = |relative: &str, text: &str| -> Result<String> {
        let path = e2e.join(relative);
        std::fs::create_dir_all(path.parent().context("folder")?)?;
        std::fs::write(&path, text)?;
        Ok(path.display().to_string())
    };
    let printenv = project
        .target()
        .join("modules/wasm32-wasip1/release/printenv.wasm");

    record(
        &mut results,
        "cli: a Hermitfile error names its line and column".into(),
        write("bad/Hermitfile", "FROM x.wasm\n  COPY a b\n").and_then(|path| {
            refused(
                &["image", "--hermitfile", &path],
                &["Hermitfile:2:3", "COPY"],
            )
        }),
    );
    record(
        &mut results,
        "cli: a Hermitfile MAP of a missing folder is refused".into(),
        {
            let text = format!("FROM {}\nMAP [\"missing:/data:ro\"]\n", printenv.display());
            write("map/Hermitfile", &text).and_then(|path| {
                refused(
                    &["image", "--hermitfile", &path],
                    &["MAP", "does not exist"],
                )
            })
        },
    );
    record(
        &mut results,
        "cli: an unknown board lists the known ones".into(),
        refused(
            &["image", "--board", "pdp11"],
            &["unknown board", "x86_64-kvm"],
        ),
    );
    record(
        &mut results,
        "cli: a file that is not wasm is refused at image time".into(),
        write("not-wasm.wasm", "this is text").and_then(|path| {
            refused(
                &["image", "--module", &path, "--name", "e2e-bad"],
                &["not a WebAssembly module"],
            )
        }),
    );
    results
}
