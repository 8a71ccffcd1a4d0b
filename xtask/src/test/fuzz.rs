//! The differential fuzzer of the WASI layer (`cargo xtask fuzz-wasi`) as end-to-end
//! cases: a fixed set of seeds and every regression script (`modules/wasi-fuzz/
//! regressions/`) under our runner on this host, and a few seeds with the regressions in
//! one boot of each board's VM; each against the reference `wasmtime run`. A difference
//! fails the case with the shrunk script and its diff.

use std::sync::{Arc, OnceLock};

use anyhow::{anyhow, Result};

use crate::compare::Runtime;
use crate::fuzz_wasi::{self, Batch, Fuzzer};
use crate::project::Project;
use crate::test::case::{named, Case, Image};

/// Seeds run on this host (in batches of `BATCH`), and of those in each VM.
const HOST_SEEDS: u64 = 1000;
const VM_SEEDS: u64 = 40;
const BATCH: usize = 50;
/// Random calls per script.
const CALLS: usize = 30;

/// The fuzzer, set up once for all cases (the reference, the module, the host runner).
fn fuzzer(project: &Project) -> Result<Fuzzer> {
    static FUZZER: OnceLock<std::result::Result<Fuzzer, String>> = OnceLock::new();
    FUZZER
        .get_or_init(|| {
            let sh = xshell::Shell::new().map_err(|e| e.to_string())?;
            Fuzzer::new(&sh, project).map_err(|e| format!("{e:#}"))
        })
        .clone()
        .map_err(|e| anyhow!("setting up the fuzzer: {e}"))
}

/// The regression scripts as batches: those that go on to the end together (each in
/// folders of its own), then each that ends the run alone.
fn regression_batches(project: &Project) -> Result<Vec<Batch>> {
    let (alone, together): (Vec<_>, Vec<_>) = fuzz_wasi::regressions(project)?
        .into_iter()
        .enumerate()
        .map(|(k, (_, lines))| fuzz_wasi::rename_folders(&lines, &format!("r{k}")))
        .partition(|lines| lines.iter().any(|l| l == fuzz_wasi::ENDS_THE_RUN));
    let mut batches = vec![Batch::of_scripts(together)];
    batches.extend(
        alone
            .into_iter()
            .map(|lines| Batch::of_scripts(vec![lines])),
    );
    Ok(batches)
}

pub fn cases(project: &Arc<Project>, boards: &[String], cases: &mut Vec<Case>) {
    let project_ = project.clone();
    cases.push(Case::new("host/fuzz-wasi/seeds", vec![], move |_| {
        let fuzzer = fuzzer(&project_)?.working_in(project_.target().join("e2e/fuzz-wasi/host"))?;
        let native = fuzzer.runtimes(&[]).remove(0).1;
        let seeds: Vec<u64> = (1..=HOST_SEEDS).collect();
        for chunk in seeds.chunks(BATCH) {
            if let Some(found) = fuzzer.find(&native, "host", &Batch::of_seeds(chunk, CALLS))? {
                return Err(anyhow!("{found}"));
            }
        }
        Ok(())
    }));
    let project_ = project.clone();
    cases.push(Case::new("host/fuzz-wasi/regressions", vec![], move |_| {
        let fuzzer =
            fuzzer(&project_)?.working_in(project_.target().join("e2e/fuzz-wasi/regressions"))?;
        let native = fuzzer.runtimes(&[]).remove(0).1;
        for batch in regression_batches(&project_)? {
            if let Some(found) = fuzzer.find(&native, "host", &batch)? {
                return Err(anyhow!("{found}"));
            }
        }
        Ok(())
    }));
    for board in boards {
        let project = project.clone();
        let name = named(board, "fuzz-wasi/seeds-and-regressions");
        let work = project.target().join("e2e/fuzz-wasi").join(board);
        let board_ = board.clone();
        cases.push(Case::new(
            name,
            vec![Image::example(board, fuzz_wasi::MODULE)],
            move |plans| {
                let fuzzer = fuzzer(&project)?.working_in(work)?;
                let vm = Runtime::Vm(&plans[0].image.run_qemu);
                // One boot for the seeds and the regressions that go on, one more for each
                // that ends the run.
                let mut batches = regression_batches(&project)?;
                let seeds: Vec<u64> = (1..=VM_SEEDS).collect();
                batches[0]
                    .scripts
                    .extend(Batch::of_seeds(&seeds, CALLS).scripts);
                batches[0] = Batch::of_scripts(std::mem::take(&mut batches[0].scripts));
                let what = format!("{board_} VM");
                for batch in &batches {
                    if let Some(found) = fuzzer.find(&vm, &what, batch)? {
                        return Err(anyhow!("{found}"));
                    }
                }
                Ok(())
            },
        ));
    }
}
