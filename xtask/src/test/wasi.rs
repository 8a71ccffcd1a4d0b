//! The official WASI suite (`../shared/wasi-testsuite`, read by `wasi_testsuite.rs`) as
//! end-to-end cases: each program through the runner on this host (`host/wasi/NAME`) and
//! in the VM of each board (`BOARD/wasi/NAME`), named after the suite's own files.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use anyhow::{anyhow, Result};

use crate::host;
use crate::host::child_processes::Launcher;
use crate::plan::profile;
use crate::project::Project;
use crate::test::boot::Boot;
use crate::test::case::{scratch, Case, Image};
use crate::wasi_testsuite;

/// The official WASI suite through the runner on this host, and in the VM of each board:
/// each program a case of its own.
pub fn cases(project: &Arc<Project>, boards: &[String], cases: &mut Vec<Case>) -> Result<()> {
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
                    ..Boot::default()
                };
                let out = boot.run(&plans[0].image.run_qemu)?;
                program.judge(&out)
            }));
        }
    }
    Ok(())
}
