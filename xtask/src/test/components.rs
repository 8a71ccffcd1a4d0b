//! WASI 0.2 components on every board: `modules/p2-tour` (built for wasm32-wasip2, so a
//! component) run through the guest's 0.2 front door: arguments, environment, stdout and
//! stderr, stdin to its end, `exit-with-code`, clocks and random, and files in a host
//! folder where the board has them. What each prints is what `wasmtime run` prints for
//! the same component (the compare corpus holds it to the reference CLI).

use std::process::Command;
use std::sync::Arc;

use anyhow::ensure;

use crate::plan::profile::Board;
use crate::project::Project;
use crate::test::boot::{expect_status, expect_stdout, stderr_has, Boot};
use crate::test::case::{named, scratch, Case, Image};

pub fn cases(project: &Arc<Project>, board: &Board, cases: &mut Vec<Case>) {
    let b = board.name.clone();
    let tour = || vec![Image::example(&b, "p2-tour")];
    cases.push(Case::new(named(&b, "p2/hello"), tour(), |plans| {
        let out = Boot::args(&["hello", "one", "two"]).run(&plans[0].image.run_qemu)?;
        expect_status(&out, 0)?;
        expect_stdout(
            &out,
            "Hello from a WASI 0.2 component!\narguments: one two\n",
        )?;
        // The image says it holds a component, and what it imports.
        let out = Command::new(std::env::current_exe()?)
            .arg("inspect")
            .arg(&plans[0].image.dir)
            .output()?;
        expect_status(&out, 0)?;
        let text = String::from_utf8_lossy(&out.stdout);
        let imports = text
            .lines()
            .find_map(|line| line.strip_prefix("component (WASI 0.2) imports "))
            .unwrap_or_default();
        ensure!(
            imports.contains("wasi:cli/environment@0.2.")
                && imports.contains("wasi:cli/exit@0.2.12")
                && text.contains("entrypoint wasi:cli/run"),
            "{text}"
        );
        Ok(())
    }));
    cases.push(Case::new(named(&b, "p2/env-and-stderr"), tour(), |plans| {
        let out = Boot::args(&["env", "GREETING", "ABSENT"])
            .option("--env", "GREETING=hi there")
            .run(&plans[0].image.run_qemu)?;
        expect_status(&out, 0)?;
        expect_stdout(&out, "GREETING=hi there\nABSENT=(unset)\n")?;
        let out = Boot::args(&["stderr", "to", "stderr"]).run(&plans[0].image.run_qemu)?;
        expect_status(&out, 0)?;
        expect_stdout(&out, "")?;
        stderr_has(&out, "to stderr\n")
    }));
    cases.push(Case::new(
        named(&b, "p2/stdin-to-its-end"),
        tour(),
        |plans| {
            let input: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
            let out = Boot::args(&["cat"])
                .stdin(&input)
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            stderr_has(&out, "cat: 200000 bytes")?;
            ensure!(
                out.stdout == input,
                "stdout has {} bytes, not the {} given",
                out.stdout.len(),
                input.len()
            );
            Ok(())
        },
    ));
    cases.push(Case::new(named(&b, "p2/exit-with-code"), tour(), |plans| {
        let out = Boot::args(&["exit-with-code", "7"]).run(&plans[0].image.run_qemu)?;
        expect_status(&out, 7)?;
        // std's exit: `exit(err)` for any non-zero code, status 1 (as in Wasmtime).
        let out = Boot::args(&["exit", "7"]).run(&plans[0].image.run_qemu)?;
        expect_status(&out, 1)?;
        let out = Boot::args(&["no-such-command"]).run(&plans[0].image.run_qemu)?;
        expect_status(&out, 1)?;
        stderr_has(&out, "p2-tour: unknown command no-such-command")
    }));
    cases.push(Case::new(
        named(&b, "p2/clocks-and-random"),
        tour(),
        |plans| {
            let out = Boot::args(&["sleep", "50"]).run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            expect_stdout(&out, "slept 50 ms: at least\n")?;
            let out = Boot::args(&["random"]).run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            expect_stdout(&out, "random: 32 bytes, map of 1\n")
        },
    ));
    if board.qemu.virtio_mmio.is_some() {
        let case = named(&b, "p2/files-in-a-map");
        let project = project.clone();
        cases.push(Case::new(case.clone(), tour(), move |plans| {
            let data = scratch(&project, &case)?.join("data");
            std::fs::create_dir_all(&data)?;
            let out = Boot::args(&["files", "/data"])
                .option("--map", &format!("{}:/data", data.display()))
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            expect_stdout(
                &out,
                "a.txt: first line\nsecond line\nlisted: a.txt b.txt\nb.txt: 100000 bytes\n\
                 renamed: true\nmissing: NotFound\nremoved: true\n",
            )?;
            let left: Vec<_> = std::fs::read_dir(&data)?.collect();
            ensure!(left.is_empty(), "the tour left {} entries", left.len());
            std::fs::write(data.join("note.txt"), "from the host\n")?;
            let out = Boot::args(&["read", "/data/note.txt"])
                .option("--map", &format!("{}:/data:ro", data.display()))
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            expect_stdout(&out, "from the host\n")?;
            let out = Boot::args(&["files", "/data"])
                .option("--map", &format!("{}:/data:ro", data.display()))
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 1)?;
            stderr_has(&out, "p2-tour files:")?;
            ensure!(
                !data.join("p2-tour").exists(),
                "a read-only map was written"
            );
            Ok(())
        }));
    }
}
