//! WASI 0.2 components on every board: `modules/p2-tour` (built for wasm32-wasip2, so a
//! component) run through the guest's 0.2 front door: what `inspect` says of it, 200 kB
//! of stdin streamed to its end, and a read-only host folder where the board has them.
//! The rest of the tour (arguments, environment, stderr, exit codes, clocks, random, files
//! under three kinds of preopen) is compared with `wasmtime run` by the corpus
//! (`corpus.rs`, `compare/p2-*`).

use std::process::Command;
use std::sync::Arc;

use anyhow::{anyhow, ensure};

use crate::compare;
use crate::plan::profile::Board;
use crate::project::Project;
use crate::test::boot::{expect_status, expect_stdout, stderr_has, Boot};
use crate::test::case::{named, scratch, Case, Image};
use crate::test::corpus::reference;
use crate::test::limits::read_report;

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
    if board.qemu.virtio_mmio.is_some() {
        let case = named(&b, "p2/files-in-a-read-only-map");
        let project = project.clone();
        cases.push(Case::new(case.clone(), tour(), move |plans| {
            // What the tour does in a writable folder is compared with `wasmtime run`
            // (`compare/p2-files-*`); here, a read-only one.
            let data = scratch(&project, &case)?.join("data");
            std::fs::create_dir_all(&data)?;
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
    // ENTRYPOINT of a component is `wasmtime run --invoke`: its `run` called by name, the
    // result printed in WAVE after what it wrote.
    let case = named(&b, "p2/entrypoint-as-wasmtime-invokes-it");
    let project_ = project.clone();
    let invoking = |name: &str, call: &str| Image::Hermitfile {
        board: b.clone(),
        module: "p2-tour".into(),
        name: name.into(),
        directives: format!("ENTRYPOINT {call:?}\n"),
        data_folder: None,
        links: vec![],
    };
    let board_name = b.clone();
    cases.push(Case::new(
        case.clone(),
        vec![invoking("e2e-p2-invoke", "run()")],
        move |plans| {
            let run = compare::Run {
                args: ["hello", "a", "b"].map(String::from).to_vec(),
                invoke: Some("run()".into()),
                ..compare::Run::new(
                    crate::plan::example_wasm(&project_, "p2-tour"),
                    scratch(&project_, &case)?.join("sides"),
                )
            };
            let reference = reference(&project_)?;
            match compare::compare(&reference, &plans[0].image.run_qemu, &board_name, &run)? {
                None => Ok(()),
                Some(diff) => Err(anyhow!("differs from wasmtime run --invoke:\n{diff}")),
            }
        },
    ));
    if b == "x86_64-kvm" {
        // A function the component does not export: the run ends as Wasmtime's does.
        let case = named(&b, "p2/entrypoint-not-exported");
        cases.push(Case::new(
            case,
            vec![invoking("e2e-p2-invoke-missing", "nope()")],
            |plans| {
                let out = Boot::default().run(&plans[0].image.run_qemu)?;
                expect_status(&out, 1)?;
                expect_stdout(&out, "")?;
                stderr_has(&out, "No exported func named `nope` in component.")
            },
        ));
    }
    if b == "x86_64-kvm" {
        // What a Hermitfile bakes in and the launch options hold for a component as for a
        // module (the same runner code on every board: one board suffices).
        let case = named(&b, "p2/hermitfile-limits-and-report");
        let project = project.clone();
        let image = Image::Hermitfile {
            board: b.clone(),
            module: "p2-tour".into(),
            name: "e2e-p2-hermitfile".into(),
            directives: "ENV GREETING=\"hi there\"\nENV_PWD_IS_HOST_CWD\nLIMIT output=1000\n"
                .into(),
            data_folder: None,
            links: vec![],
        };
        cases.push(Case::new(case.clone(), vec![image], move |plans| {
            let script = &plans[0].image.run_qemu;
            let cwd = std::env::current_dir()?;
            let out = Boot::args(&["env", "GREETING", "PWD", "GIVEN"])
                .option("--env", "GIVEN=at launch")
                .run(script)?;
            expect_status(&out, 0)?;
            expect_stdout(
                &out,
                &format!(
                    "GREETING=hi there\nPWD={}\nGIVEN=at launch\n",
                    cwd.display()
                ),
            )?;
            // The baked output limit cuts a long copy of stdin at 1000 bytes, and the run
            // report says so; `--limit` lifts it for one run.
            let input = vec![b'x'; 5000];
            let report = scratch(&project, &case)?.join("report.json");
            let out = Boot::args(&["cat"])
                .stdin(&input)
                .option("--report", &report.display().to_string())
                .run(script)?;
            expect_status(&out, 153)?;
            ensure!(out.stdout.len() == 1000, "{} bytes out", out.stdout.len());
            let record = read_report(&report)?;
            ensure!(
                record["ended"] == "limit" && record["limit"] == "output",
                "report: {record}"
            );
            let out = Boot::args(&["cat"])
                .stdin(&input)
                .option("--limit", "output=10M")
                .run(script)?;
            expect_status(&out, 0)?;
            ensure!(out.stdout == input, "{} bytes out", out.stdout.len());
            Ok(())
        }));
    }
}
