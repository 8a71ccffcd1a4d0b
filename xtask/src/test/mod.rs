//! `cargo xtask test [FILTER]...`: the end-to-end tests, as data. `test_cases.rs` holds the
//! table: named cases (`x86_64-kvm/hello`, `aarch64-virt/wasi/c/fopen-with-access`,
//! `cli/unknown-board`, ...), each with the images it boots. This file runs it: the cases
//! whose name contains one of the filters (all without one) are selected; their images are
//! built once each by a background builder (one after the other: every build is a cargo
//! run on shared target folders), in the order of the cases; the cases run in parallel,
//! one per core, through libtest-mimic, each as soon as its images are there; the run
//! ends with `end-to-end: N passed, M failed`.
//!
//! (The unit tests are `cargo test --workspace`: cargo keeps its build folder locked while
//! `cargo xtask` runs, so the xtask cannot run them itself without building everything
//! twice.)

pub mod basics;
pub mod corpus;
pub mod limits;
pub mod threads;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};

use anyhow::{bail, ensure, Context, Result};
use libtest_mimic::{Arguments, Failed, Trial};
use xshell::Shell;

use crate::flags::{ImageArgs, TestArgs};
use crate::host;
use crate::host::child_processes::Launcher;
use crate::image;
use crate::plan::profile;
use crate::plan::BuildPlan;
use crate::project::Project;

/// An image a case boots.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Image {
    /// An example under `modules/` or a `.wasm` path, under the module's name or `name`.
    Module {
        board: String,
        module: String,
        name: Option<String>,
    },
    /// The example `module`'s `.wasm` as a file of the user's: nothing baked in (the
    /// default module gets no architecture argument), image `plain-MODULE`.
    Plain { board: String, module: String },
    /// A real program of the comparison corpus (`corpus.rs`, by crate name), image
    /// `corpus-BIN`.
    Real { board: String, program: String },
    /// `name`, from a Hermitfile that takes the example `module` with `directives`.
    Hermitfile {
        board: String,
        module: String,
        name: String,
        directives: String,
    },
}

impl Image {
    pub fn example(board: &str, module: &str) -> Image {
        Image::Module {
            board: board.to_string(),
            module: module.to_string(),
            name: None,
        }
    }
}

/// What a case does with the plans of its images (in the order it listed them).
pub type Check = Box<dyn FnOnce(&[BuildPlan]) -> Result<()> + Send>;

/// One end-to-end test.
pub struct Case {
    pub name: String,
    pub images: Vec<Image>,
    pub check: Check,
}

impl Case {
    pub fn new(
        name: impl Into<String>,
        images: Vec<Image>,
        check: impl FnOnce(&[BuildPlan]) -> Result<()> + Send + 'static,
    ) -> Case {
        Case {
            name: name.into(),
            images,
            check: Box::new(check),
        }
    }
}

pub fn run(project: &Project, args: &TestArgs) -> Result<()> {
    let boards: Vec<String> = if args.boards.is_empty() {
        profile::load_all(&project.boards())?.into_keys().collect()
    } else {
        args.boards.clone()
    };
    let profiles = boards
        .iter()
        .map(|name| profile::find(&project.boards(), name))
        .collect::<Result<Vec<_>>>()?;
    host::deps::ensure(project, &profiles)?;
    let cases = basics::all(project, &boards)?;
    let selected: Vec<Case> = cases
        .into_iter()
        .filter(|case| {
            args.filters.is_empty() || args.filters.iter().any(|f| case.name.contains(f.as_str()))
        })
        .collect();
    ensure!(
        !selected.is_empty(),
        "no end-to-end case matches {:?} (names look like x86_64-kvm/hello)",
        args.filters
    );

    // Every image is built once, by one builder in the background, in the order the cases
    // come; each case waits for its own images, so boots overlap the builds still to come.
    let mut order: Vec<Image> = Vec::new();
    let mut seen = BTreeSet::new();
    for image in selected.iter().flat_map(|case| case.images.iter()) {
        if seen.insert(image.clone()) {
            order.push(image.clone());
        }
    }
    let builds = Builds::start(project.clone(), order);

    let trials: Vec<Trial> = selected
        .into_iter()
        .map(|case| {
            let check = case.check;
            let images = case.images;
            let builds = builds.clone();
            Trial::test(case.name, move || {
                let plans = images
                    .iter()
                    .map(|image| builds.wait(image))
                    .collect::<std::result::Result<Vec<BuildPlan>, String>>()
                    .map_err(Failed::from)?;
                check(&plans).map_err(|err| Failed::from(format!("{err:#}")))
            })
        })
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let arguments = Arguments {
        test_threads: Some(args.jobs.unwrap_or(threads)),
        ..Arguments::default()
    };
    let conclusion = libtest_mimic::run(&arguments, trials);
    println!(
        "end-to-end: {} passed, {} failed",
        conclusion.num_passed, conclusion.num_failed
    );
    if conclusion.has_failed() {
        bail!("{} end-to-end tests failed", conclusion.num_failed);
    }
    Ok(())
}

/// The images of a run, built one after the other by a thread of their own (every build is
/// a cargo run on shared target folders) and handed to the cases that wait for them.
#[derive(Clone)]
struct Builds(Arc<(Mutex<BuildState>, Condvar)>);

#[derive(Default)]
struct BuildState {
    plans: BTreeMap<Image, std::result::Result<BuildPlan, String>>,
    /// The builder has stopped (normally or not): what is not in `plans` never will be.
    finished: bool,
}

impl Builds {
    fn start(project: Project, order: Vec<Image>) -> Builds {
        let builds = Builds(Arc::default());
        let shared = builds.clone();
        std::thread::spawn(move || {
            // Marks the end even if a build panics, so that no case waits forever.
            struct Finish(Builds);
            impl Drop for Finish {
                fn drop(&mut self) {
                    let (state, ready) = &*self.0 .0;
                    state.lock().unwrap_or_else(|e| e.into_inner()).finished = true;
                    ready.notify_all();
                }
            }
            let finish = Finish(shared);
            let sh = match Shell::new() {
                Ok(sh) => sh,
                Err(err) => {
                    eprintln!("error: cannot build the images: {err}");
                    return;
                }
            };
            for image in order {
                // A panic while building one image fails the cases that boot it only.
                let plan = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    build(&sh, &project, &image)
                }))
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the build panicked")))
                .map_err(|err| format!("building {image:?}: {err:#}"));
                let (state, ready) = &*finish.0 .0;
                state
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .plans
                    .insert(image, plan);
                ready.notify_all();
            }
        });
        builds
    }

    /// The plan of `image` once it is built, or why it is not.
    fn wait(&self, image: &Image) -> std::result::Result<BuildPlan, String> {
        let (state, ready) = &*self.0;
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(plan) = state.plans.get(image) {
                return plan.clone();
            }
            if state.finished {
                return Err(format!("{image:?} was not built: the builder stopped"));
            }
            state = ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Builds `image` (an example's `.wasm` first, for a Hermitfile that takes it).
fn build(sh: &Shell, project: &Project, image: &Image) -> Result<BuildPlan> {
    match image {
        Image::Module {
            board,
            module,
            name,
        } => image::run(
            sh,
            project,
            &ImageArgs::of_module(board, module, name.as_deref()),
        ),
        Image::Plain { board, module } => plain_image(sh, project, board, module),
        Image::Real { board, program } => {
            let program =
                crate::compare::corpus::find(program).context("not a program of the corpus")?;
            let wasm = program.wasm(project)?.display().to_string();
            let name = format!("corpus-{}", program.bin);
            image::run(
                sh,
                project,
                &ImageArgs::of_module(board, &wasm, Some(&name)),
            )
        }
        Image::Hermitfile {
            board,
            module,
            name,
            directives,
        } => {
            image::run(sh, project, &ImageArgs::of_module(board, module, None))?;
            let dir = project
                .target()
                .join("e2e/hermitfiles")
                .join(board)
                .join(name);
            std::fs::create_dir_all(&dir)?;
            let hermitfile = dir.join("Hermitfile");
            std::fs::write(
                &hermitfile,
                format!(
                    "# written by cargo xtask test\nFROM {}\n{directives}",
                    example_wasm(project, module).display()
                ),
            )?;
            let mut args = ImageArgs::of_module(board, "unused", Some(name));
            args.module = None;
            args.hermitfile = Some(hermitfile);
            image::run(sh, project, &args)
        }
    }
}

/// The image of example `module`'s `.wasm` taken as a plain file (`plain-MODULE`): what a
/// user's own module gets, with nothing baked in.
pub fn plain_image(sh: &Shell, project: &Project, board: &str, module: &str) -> Result<BuildPlan> {
    image::run(sh, project, &ImageArgs::of_module(board, module, None))?;
    let wasm = example_wasm(project, module).display().to_string();
    let name = format!("plain-{module}");
    image::run(
        sh,
        project,
        &ImageArgs::of_module(board, &wasm, Some(&name)),
    )
}

/// Where an example module's `.wasm` is once built.
pub fn example_wasm(project: &Project, module: &str) -> PathBuf {
    crate::plan::ExampleTarget::of(module).wasm(&project.target(), module)
}

/// A fresh, empty folder for case `name`'s files.
pub fn scratch(project: &Project, name: &str) -> Result<PathBuf> {
    let dir = project
        .target()
        .join("e2e/cases")
        .join(name.replace('/', "--"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// How a case boots an image: launch options, module arguments, stdin, folder.
#[derive(Default)]
pub struct Boot<'a> {
    pub options: Vec<String>,
    pub args: Vec<String>,
    pub stdin: Vec<u8>,
    /// Keep stdin open after `stdin` until the launcher ends (no end of input).
    pub stdin_stays_open: bool,
    pub cwd: Option<&'a Path>,
}

impl Boot<'_> {
    pub fn args(args: &[&str]) -> Boot<'static> {
        Boot {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Boot::default()
        }
    }

    pub fn option(mut self, option: &str, value: &str) -> Self {
        self.options.push(option.to_string());
        self.options.push(value.to_string());
        self
    }

    pub fn stdin(mut self, input: &[u8]) -> Self {
        self.stdin = input.to_vec();
        self
    }

    /// Runs the launch script `script` (a 120 s timeout keeps a hung guest from hanging
    /// the run) and collects its output.
    pub fn run(self, script: &Path) -> Result<Output> {
        let mut launcher = self.spawn(script)?;
        let mut stdin = launcher.child().stdin.take().context("stdin")?;
        let (feed, stays_open) = (self.stdin, self.stdin_stays_open);
        // The writer hands the pipe back when it must stay open: it is then closed only
        // when joined, after the launcher has ended.
        let writer = std::thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut stdin, &feed);
            stays_open.then_some(stdin)
        });
        let out = launcher.wait_with_output()?;
        // A guest that does not read all of its stdin closes the pipe early: not an error.
        let _ = writer.join();
        Ok(out)
    }

    /// Starts the launch script with stdin, stdout and stderr piped (`stdin` is not fed).
    pub fn spawn(&self, script: &Path) -> Result<Launcher> {
        let mut command = self.command(script);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Launcher::spawn(&mut command)
    }

    /// The command, not started.
    pub fn command(&self, script: &Path) -> Command {
        let mut command = Command::new(script);
        command
            .arg("--timeout=120")
            .args(&self.options)
            .arg("--")
            .args(&self.args);
        if let Some(cwd) = self.cwd {
            command.current_dir(cwd);
        }
        command
    }
}

pub fn expect_status(out: &Output, want: i32) -> Result<()> {
    let got = out.status.code();
    ensure!(
        got == Some(want),
        "exit status {got:?}, expected {want}; stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

pub fn expect_stdout(out: &Output, want: &str) -> Result<()> {
    let got = String::from_utf8_lossy(&out.stdout);
    ensure!(
        got == want,
        "stdout {got:?}, expected {want:?}; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

pub fn stderr_has(out: &Output, needle: &str) -> Result<()> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        stderr.contains(needle),
        "stderr lacks {needle:?}:\n{stderr}"
    );
    Ok(())
}
