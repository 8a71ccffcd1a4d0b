//! The first things a user does with an image, on every board: boot it, pass arguments,
//! get exit statuses and traps back, stop a hung module, bake grants into a Hermitfile,
//! read what `inspect` says of it. Most are rows of `BOOTS`; the others check something
//! a row cannot.

use std::process::Command;

use anyhow::{ensure, Context, Result};

use crate::plan::profile::Board;
use crate::plan::BuildPlan;
use crate::test::boot::{expect_status, expect_stdout, Boot, BootCase};
use crate::test::case::{named, Case, Image};

/// Boots of an example and what comes back.
const BOOTS: &[BootCase] = &[
    BootCase {
        name: "hello",
        module: "hello",
        stdout: Some("Hello from WebAssembly on {arch}!\n"),
        ..BootCase::DEFAULT
    },
    BootCase {
        name: "args",
        module: "hello",
        args: &["two words", "it's", "--flag"],
        stdout: Some("Hello from WebAssembly on {arch}!\narguments: two words it's --flag\n"),
        ..BootCase::DEFAULT
    },
    BootCase {
        name: "exit-code-7",
        module: "exit-code",
        args: &["7"],
        status: 7,
        stdout: Some(""),
        ..BootCase::DEFAULT
    },
    BootCase {
        name: "exit-code-0",
        module: "exit-code",
        args: &["0"],
        status: 0,
        stdout: Some(""),
        ..BootCase::DEFAULT
    },
    // WASI carries exit statuses below 126; `wasmtime run` ends a run that asks for more
    // with an error (exit status 1), and so do we.
    BootCase {
        name: "exit-code-200",
        module: "exit-code",
        args: &["200"],
        status: 1,
        stdout: Some(""),
        stderr: "exit with invalid exit status outside of [0..126)",
        ..BootCase::DEFAULT
    },
    BootCase {
        name: "trap",
        module: "trap",
        status: 134,
        stdout: Some("about to trap\n"),
        stderr: "unreachable",
        ..BootCase::DEFAULT
    },
    BootCase {
        name: "timeout",
        module: "hang",
        options: &[("--timeout", "5")],
        status: 124,
        stderr: "timed out",
        ..BootCase::DEFAULT
    },
];

pub fn cases(board: &Board, cases: &mut Vec<Case>) {
    let b = board.name.clone();
    cases.extend(BOOTS.iter().map(|row| row.case(board)));
    cases.push(Case::new(
        named(&b, "phases"),
        vec![Image::example(&b, "hello")],
        |plans| {
            // The boot's marks, the loader's converted to the guest's clock, all there in order.
            let out = Boot {
                options: vec!["--phases".into()],
                ..Boot::default()
            }
            .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            crate::bench::phases::boot_marks(&String::from_utf8_lossy(&out.stderr))?;
            Ok(())
        },
    ));
    cases.push(Case::new(
        named(&b, "inspect-json"),
        vec![Image::example(&b, "hello")],
        |plans| inspect_json(&plans[0]),
    ));
    cases.push(Case::new(
        named(&b, "hermitfile-grants"),
        vec![Image::Hermitfile {
            board: b.clone(),
            module: "printenv".into(),
            name: "e2e-hermitfile".into(),
            directives: "ARGS [\"baked\"]\nenv A=1 B=\"two words\"\nENV_PWD_IS_HOST_CWD\n".into(),
            data_folder: None,
            links: vec![],
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
