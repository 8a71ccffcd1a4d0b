//! Bad input through the command line (`cargo xtask ...`): clear errors, non-zero exits,
//! nothing written. Refusals that need no file are rows of `REFUSED`; the others check
//! what was (not) written.

use std::process::Command;
use std::sync::Arc;

use anyhow::{ensure, Result};

use crate::project::Project;
use crate::test::case::{scratch, Case};

/// `cargo xtask ARGS` that must fail, with every one of `needles` in its stderr.
struct Refused {
    name: &'static str,
    args: &'static [&'static str],
    needles: &'static [&'static str],
}

const REFUSED: &[Refused] = &[
    Refused {
        name: "cli/disk-format-that-does-not-exist",
        args: &["disk", "--module", "hello", "--format", "qcow2,vmdk"],
        needles: &["\"vmdk\" is not a disk format", "gce, azure, qcow2, aws"],
    },
    Refused {
        name: "cli/qemu-disk-refuses-direct-boot-options",
        args: &[
            "qemu",
            "--disk",
            "--board",
            "x86_64-kvm",
            "--module",
            "hello",
            "--map",
            "/tmp:/tmp",
        ],
        needles: &["--map is a launch option of the direct boot"],
    },
    Refused {
        name: "cli/disk-cloud-format-for-riscv64",
        args: &[
            "disk",
            "--board",
            "riscv64-virt",
            "--module",
            "hello",
            "--format",
            "gce",
        ],
        needles: &["--format gce: no cloud offers riscv64 VMs"],
    },
    Refused {
        name: "cli/unknown-board-lists-the-known-ones",
        args: &["image", "--board", "pdp11"],
        needles: &["unknown board", "x86_64-kvm"],
    },
    Refused {
        name: "cli/name-with-a-newline-is-refused",
        args: &["image", "--name", "x\ntouch /tmp/pwned"],
        needles: &["[A-Za-z0-9._-]+"],
    },
    Refused {
        name: "cli/map-with-too-many-colons-is-refused",
        args: &["qemu", "--map", "a:b:c"],
        needles: &["too many ':'"],
    },
];

/// `cargo xtask ARGS` must fail, and its stderr hold every one of `needles`.
pub fn refused(project: &Project, args: &[&str], needles: &[&str]) -> Result<()> {
    let out = Command::new(std::env::current_exe()?)
        .args(args)
        .current_dir(&project.root)
        .output()?;
    ensure!(!out.status.success(), "succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(needles.iter().all(|n| stderr.contains(n)), "{stderr}");
    Ok(())
}

/// `cargo xtask image` of `wasm` (written as `file`) must fail with `needle` on stderr and
/// leave no image behind.
fn component_refused(
    project: &Project,
    case: &str,
    file: &str,
    wasm: &[u8],
    needle: &str,
) -> Result<()> {
    let path = scratch(project, case)?.join(file);
    std::fs::write(&path, wasm)?;
    let name = format!("e2e-{}", file.trim_end_matches(".wasm"));
    let module = path.display().to_string();
    refused(
        project,
        &["image", "--name", &name, "--module", &module],
        &[needle],
    )?;
    ensure!(!project.images().join(&name).exists(), "an image was left");
    Ok(())
}

/// Every case of the command line.
pub fn cases(project: &Arc<Project>, cases: &mut Vec<Case>) {
    for row in REFUSED {
        let project = project.clone();
        cases.push(Case::new(row.name, vec![], move |_| {
            refused(&project, row.args, row.needles)
        }));
    }
    fn write(project: &Project, case: &str, file: &str, text: &str) -> Result<String> {
        let path = scratch(project, case)?.join(file);
        std::fs::write(&path, text)?;
        Ok(path.display().to_string())
    }
    // The name of each is its literal, whole.
    let mut add = |name: &'static str, check: fn(&Project, &str) -> Result<()>| {
        let project = project.clone();
        let case = name.to_string();
        cases.push(Case::new(name, vec![], move |_| check(&project, &case)));
    };
    add(
        "cli/bundle-of-an-unknown-board-writes-nothing",
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
    add(
        "cli/hermitfile-error-names-line-and-column",
        |project, case| {
            let path = write(project, case, "Hermitfile", "FROM x.wasm\n  COPY a b\n")?;
            refused(
                project,
                &["image", "--hermitfile", &path],
                &["Hermitfile:2:3", "COPY"],
            )
        },
    );
    add("cli/hermitfile-map-of-a-missing-folder", |project, case| {
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
    add("cli/not-wasm-is-refused", |project, case| {
        let path = write(project, case, "not-wasm.wasm", "this is text")?;
        refused(
            project,
            &["image", "--module", &path, "--name", "e2e-bad"],
            &["not a WebAssembly module"],
        )
    });
    add(
        "cli/component-not-a-command-is-refused-in-one-line",
        |project, case| {
            // An empty component: the magic, then the component version and layer.
            let path = scratch(project, case)?.join("app.wasm");
            std::fs::write(&path, b"\0asm\x0d\x00\x01\x00")?;
            let out = Command::new(std::env::current_exe()?)
                .args(["image", "--name", "e2e-component", "--module"])
                .arg(&path)
                .current_dir(&project.root)
                .output()?;
            ensure!(!out.status.success(), "succeeded");
            let stderr = String::from_utf8_lossy(&out.stderr);
            ensure!(
                stderr.contains("error: app.wasm exports no wasi:cli/run"),
                "{stderr}"
            );
            let error: Vec<&str> = stderr
                .lines()
                .skip_while(|l| !l.starts_with("error:"))
                .filter(|l| !l.trim().is_empty())
                .collect();
            ensure!(error.len() == 1, "not one line:\n{stderr}");
            Ok(())
        },
    );
    add(
        "cli/component-http-proxy-is-refused-as-not-a-command",
        |project, _| {
            // A real component of another world: `wasip2`'s `wasi:http` proxy example.
            let sh = xshell::Shell::new()?;
            let wasm = crate::compare::corpus::WASIP2_HTTP_PROXY.wasm(&sh, project)?;
            let module = wasm.display().to_string();
            refused(
                project,
                &["image", "--name", "e2e-http-proxy", "--module", &module],
                &[
                    "http_proxy.wasm exports no wasi:cli/run",
                    "wasi:http/incoming-handler@0.2.12",
                ],
            )?;
            ensure!(
                !project.images().join("x86_64-kvm/e2e-http-proxy").exists(),
                "an image was left"
            );
            Ok(())
        },
    );
    add("cli/component-truncated-is-refused", |project, case| {
        let wasm = crate::image::component::command_shaped(&["wasi:cli/stdout@0.2.0"]);
        let needle = "cut.wasm is not a valid WebAssembly component";
        component_refused(project, case, "cut.wasm", &wasm[..wasm.len() - 4], needle)
    });
    add(
        "cli/component-importing-what-the-guest-lacks-is-refused",
        |project, case| {
            let wasm = crate::image::component::command_shaped(&[
                "wasi:cli/stdout@0.2.3",
                "wasi:sockets/tcp@0.2.0",
            ]);
            let needle =
                "net.wasm imports what the guest does not provide: wasi:sockets/tcp@0.2.0 (";
            component_refused(project, case, "net.wasm", &wasm, needle)
        },
    );
    add("cli/name-outside-images-is-refused", |project, case| {
        let outside = scratch(project, case)?.join("x");
        let name = outside.display().to_string();
        refused(project, &["image", "--name", &name], &["[A-Za-z0-9._-]+"])?;
        ensure!(!outside.exists(), "{name} was written");
        Ok(())
    });
    add("cli/compare-reports-a-difference", |project, case| {
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
}
