//! `cargo xtask fuzz-wasi [--board B]... [--seed S] [--scripts N] [--script FILE]`: the
//! differential fuzzer of the WASI layer. Scripts of preview1 calls (`script.rs`, from
//! seeds) run in the `wasi-fuzz` example module under the reference `wasmtime run`, under
//! our runner on this host (std's file system) and in each board's VM (virtio-fs), each
//! side on a fresh empty folder preopened as `.`; what the module prints (every call's
//! errno and values, then the folder's tree) and the folder afterwards must be the same.
//! The first difference is shrunk to the shortest script that still shows it
//! (`minimize.rs`), printed with its diff and saved under `target/fuzz-wasi/`.
//!
//! Many scripts go through one run (a batch): each works in a folder of its own (its `@`
//! stands for `sK`) and ends with `reset`, which closes what it opened.
//!
//! Invariant: a script's text is all that decides what it does (no clock, no randomness
//! reaches the output), so a seed or a saved script reproduces a difference anywhere.

pub mod minimize;
pub mod script;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use hermit_wasm_kernel::map_spec::MapSpec;
use xshell::Shell;

use crate::compare::{self, reference, Runtime};
use crate::flags::{FuzzWasiArgs, ImageArgs};
use crate::host;
use crate::image;
use crate::project::Project;

/// The example module that runs the scripts.
pub const MODULE: &str = "wasi-fuzz";
/// Where regression scripts are kept: each a difference found once, and fixed.
pub const REGRESSIONS: &str = "modules/wasi-fuzz/regressions";

pub fn run(sh: &Shell, project: &Project, args: &FuzzWasiArgs) -> Result<i32> {
    let fuzzer = Fuzzer::new(sh, project)?;
    let mut vms = Vec::new();
    for board in &args.boards {
        let plan = image::run(sh, project, &ImageArgs::of_module(board, MODULE, None))?;
        vms.push((board.clone(), plan.image.run_qemu));
    }
    if let Some(file) = &args.script {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the script {}", file.display()))?;
        let batch = Batch::of_scripts(vec![text.lines().map(str::to_string).collect()]);
        let mut same = true;
        for (name, runtime) in fuzzer.runtimes(&vms) {
            match fuzzer.differs(&runtime, &name, &batch)? {
                None => println!("{name}: same as wasmtime run"),
                Some(diff) => {
                    println!("{name}: differs from wasmtime run:\n{diff}");
                    same = false;
                }
            }
        }
        return Ok(if same { 0 } else { 1 });
    }

    let seeds: Vec<u64> = (0..args.scripts).map(|k| args.seed + k).collect();
    let vm_count = args.vm_scripts.unwrap_or(args.scripts.min(200)) as usize;
    let runtimes = fuzzer.runtimes(&vms);
    for (name, runtime) in &runtimes {
        let count = match runtime {
            Runtime::Native { .. } => seeds.len(),
            _ => vm_count.min(seeds.len()),
        };
        let mut done = 0;
        for chunk in seeds[..count].chunks(args.batch.max(1) as usize) {
            let batch = Batch::of_seeds(chunk, args.calls);
            if let Some(found) = fuzzer.find(runtime, name, &batch)? {
                println!("{found}");
                return Ok(1);
            }
            done += chunk.len();
            eprintln!("{name}: {done} of {count} scripts the same as wasmtime run");
        }
        match count {
            0 => println!("{name}: no scripts run"),
            _ => println!(
                "{name}: {count} scripts (seeds {} to {}) the same as wasmtime run",
                seeds[0],
                seeds[count - 1]
            ),
        }
    }
    Ok(0)
}

/// Scripts run together: each with `@` replaced by its own folder and a `reset` after it.
pub struct Batch {
    /// Each script's lines, as written (with `@`).
    pub scripts: Vec<Vec<String>>,
    /// Each script's seed, if it has one.
    pub seeds: Vec<Option<u64>>,
}

impl Batch {
    pub fn of_seeds(seeds: &[u64], calls: usize) -> Batch {
        Batch {
            scripts: seeds
                .iter()
                .map(|&seed| script::generate(seed, calls))
                .collect(),
            seeds: seeds.iter().map(|&seed| Some(seed)).collect(),
        }
    }

    pub fn of_scripts(scripts: Vec<Vec<String>>) -> Batch {
        let seeds = scripts.iter().map(|_| None).collect();
        Batch { scripts, seeds }
    }

    /// The module's input, and for each script the number of its first line there.
    fn input(&self) -> (String, Vec<usize>) {
        let mut text = String::new();
        let mut starts = Vec::new();
        let mut line = 1;
        for (k, script) in self.scripts.iter().enumerate() {
            starts.push(line);
            for l in script {
                text.push_str(&l.replace('@', &format!("s{k}")));
                text.push('\n');
                line += 1;
            }
            text.push_str("reset\n");
            line += 1;
        }
        (text, starts)
    }
}

/// What the comparisons share: the reference, the module, our host runner and its
/// payload, a scratch folder, and the reference's reports of batches already run.
#[derive(Clone)]
pub struct Fuzzer {
    reference: PathBuf,
    wasm: PathBuf,
    runner: PathBuf,
    payload: PathBuf,
    work: PathBuf,
    /// The reference's report per input.
    expected: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Fuzzer {
    pub fn new(sh: &Shell, project: &Project) -> Result<Fuzzer> {
        let reference = reference::wasmtime(project)?;
        let wasm = image::example_module(sh, project, MODULE)?;
        let runner = host::runner::build(sh, project)?;
        let work = project.target().join("fuzz-wasi");
        std::fs::create_dir_all(&work)?;
        let payload = work.join(format!("{MODULE}.payload"));
        host::runner::write_payload(&wasm, &payload)?;
        Ok(Fuzzer {
            reference,
            wasm,
            runner,
            payload,
            work,
            expected: Arc::default(),
        })
    }

    /// The same fuzzer working in folder `work` (runs in parallel each need their own).
    pub fn working_in(&self, work: PathBuf) -> Result<Fuzzer> {
        std::fs::create_dir_all(&work)?;
        Ok(Fuzzer {
            work,
            ..self.clone()
        })
    }

    /// Our runner on this host, then each of `vms` (board, launch script).
    pub fn runtimes<'a>(&'a self, vms: &'a [(String, PathBuf)]) -> Vec<(String, Runtime<'a>)> {
        let mut runtimes = vec![(
            "host".to_string(),
            Runtime::Native {
                runner: &self.runner,
                payload: &self.payload,
            },
        )];
        for (board, script) in vms {
            runtimes.push((format!("{board} VM"), Runtime::Vm(script)));
        }
        runtimes
    }

    /// Runs `batch` on `runtime` and the reference; the diff, if they differ.
    pub fn differs(&self, runtime: &Runtime, name: &str, batch: &Batch) -> Result<Option<String>> {
        let (input, _) = batch.input();
        let (want, have) = self.reports(runtime, &input)?;
        Ok(compare::diff(&want, &have, name))
    }

    /// The reference's report and `runtime`'s for `input`.
    fn reports(&self, runtime: &Runtime, input: &str) -> Result<(String, String)> {
        let stdin = self.work.join("input.script");
        std::fs::write(&stdin, input)?;
        let empty = self.work.join("empty");
        let _ = std::fs::remove_dir_all(&empty);
        std::fs::create_dir_all(&empty)?;
        let run = compare::Run {
            wasm: self.wasm.clone(),
            maps: vec![MapSpec {
                host: empty.display().to_string(),
                guest: Some(".".to_string()),
                read_only: false,
            }],
            env: Vec::new(),
            stdin: Some(stdin),
            args: Vec::new(),
            memory_limit: None,
            preloads: Vec::new(),
            invoke: None,
            work: self.work.join("sides"),
        };
        let _ = std::fs::remove_dir_all(&run.work);
        let known = self
            .expected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(input)
            .cloned();
        let want = match known {
            Some(report) => report,
            None => {
                let report = compare::side(
                    &Runtime::Reference(&self.reference),
                    &run,
                    &run.work.join("wasmtime"),
                )?;
                self.expected
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(input.to_string(), report.clone());
                report
            }
        };
        let have = compare::side(runtime, &run, &run.work.join("ours"))?;
        Ok((want, have))
    }

    /// Runs `batch`; if `runtime` differs from the reference, the first script that does
    /// (with those before it), shrunk, as a report to print (and saved).
    pub fn find(&self, runtime: &Runtime, name: &str, batch: &Batch) -> Result<Option<String>> {
        let (input, starts) = batch.input();
        let (want, have) = self.reports(runtime, &input)?;
        if want == have {
            return Ok(None);
        }
        // The script of the first output line that differs (all of them if the output is
        // the same and the folder or the status differs).
        let first = want
            .lines()
            .zip(have.lines())
            .find(|(a, b)| a != b)
            .and_then(|(a, _)| a.split(' ').next()?.parse::<usize>().ok());
        let last = match first {
            Some(line) => starts.iter().rposition(|&start| start <= line).unwrap_or(0),
            None => batch.scripts.len() - 1,
        };
        // Those before it may have led to it (descriptors, folders): kept, then shrunk.
        let suspects = Batch::of_scripts(batch.scripts[..=last].to_vec());
        let (suspect_input, _) = suspects.input();
        let lines: Vec<String> = suspect_input.lines().map(str::to_string).collect();
        eprintln!(
            "{name}: a difference in the script of seed {:?}; shrinking {} lines",
            batch.seeds[last],
            lines.len()
        );
        let mut tries = 0;
        let shrunk = minimize::minimize(lines, |lines| {
            tries += 1;
            let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
            let (want, have) = self.reports(runtime, &input)?;
            Ok(want != have)
        })?;
        let input: String = shrunk.iter().map(|l| format!("{l}\n")).collect();
        let (want, have) = self.reports(runtime, &input)?;
        let Some(diff) = compare::diff(&want, &have, name) else {
            bail!("the shrunk script no longer differs (a difference that comes and goes)");
        };
        let file = self.work.join(format!(
            "found-{}-seed-{}.script",
            name.split(' ').next().unwrap_or(name),
            batch.seeds[last].map_or("none".to_string(), |s| s.to_string())
        ));
        std::fs::write(&file, &input)?;
        Ok(Some(format!(
            "{name} differs from wasmtime run (seed {:?}; shrunk in {tries} tries to {} lines, \
             saved as {}; keep it as a regression under {REGRESSIONS}/ once fixed):\n{input}\n{diff}",
            batch.seeds[last],
            shrunk.len(),
            file.display()
        )))
    }
}

/// The line that marks a regression script that ends the run (an argument Wasmtime cannot
/// decode): it runs on its own, as nothing after it in a batch would run.
pub const ENDS_THE_RUN: &str = "# ends the run";

/// The regression scripts kept in the repository, by file name.
pub fn regressions(project: &Project) -> Result<Vec<(String, Vec<String>)>> {
    let dir = project.root.join(REGRESSIONS);
    let mut scripts = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("script") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .context("a script's name")?
            .to_string();
        let text = std::fs::read_to_string(&path)?;
        scripts.push((name, text.lines().map(str::to_string).collect()));
    }
    scripts.sort();
    Ok(scripts)
}

/// `lines` with every script folder (`sK`, a path's component) renamed `{prefix}sK`, so
/// that scripts saved on their own can share a batch.
pub fn rename_folders(lines: &[String], prefix: &str) -> Vec<String> {
    let is_folder =
        |c: &str| c.len() > 1 && c.starts_with('s') && c[1..].bytes().all(|b| b.is_ascii_digit());
    lines
        .iter()
        .map(|line| {
            line.split(' ')
                .map(|word| {
                    word.split('/')
                        .map(|c| {
                            if is_folder(c) {
                                format!("{prefix}{c}")
                            } else {
                                c.to_string()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_gives_each_script_its_folder_and_a_reset() {
        let batch = Batch::of_scripts(vec![
            vec!["mkdir 3 @".to_string()],
            vec!["mkdir 3 @".to_string(), "pstat 3 1 ../@/f".to_string()],
        ]);
        let (input, starts) = batch.input();
        assert_eq!(
            input,
            "mkdir 3 s0\nreset\nmkdir 3 s1\npstat 3 1 ../s1/f\nreset\n"
        );
        assert_eq!(starts, [1, 3]);
    }

    #[test]
    fn saved_scripts_get_folders_of_their_own() {
        let lines = [
            "mkdir 3 s0",
            "open 3 1 ../s0/f 0 0 0 0 a",
            "write $a s1x",
            "mkdir 3 s12",
        ]
        .map(str::to_string);
        assert_eq!(
            rename_folders(&lines, "r3"),
            [
                "mkdir 3 r3s0",
                "open 3 1 ../r3s0/f 0 0 0 0 a",
                "write $a s1x",
                "mkdir 3 r3s12"
            ]
        );
    }
}
