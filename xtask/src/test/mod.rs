//! `cargo xtask test [FILTER]...`: the end-to-end tests, as data. The topic files beside
//! this one hold the cases (`case.rs`: what a case is), one file per topic: named cases
//! (`x86_64-kvm/hello`, `aarch64-virt/wasi/c/fopen-with-access`,
//! `cli/unknown-board-lists-the-known-ones`, ...), each with the images it boots; cases of
//! one shape are rows of a `const` table, the official WASI suite's a case per program.
//! This file runs them: the cases
//! whose name contains one of the filters (all without one) are selected; their images are
//! built once each by a background builder (one after the other: every build is a cargo
//! run on shared target folders), in the order of the cases; the cases run in parallel,
//! one per core, through libtest-mimic, each as soon as its images are there; the run
//! ends with `end-to-end: N passed, M failed`.
//!
//! (The unit tests are `cargo test --workspace`: cargo keeps its build folder locked while
//! `cargo xtask` runs, so the xtask cannot run them itself without building everything
//! twice.)

// What a case is, and how it boots an image.
pub mod boot;
pub mod case;

// The cases, by topic.
pub mod basics;
pub mod bundle;
pub mod cli;
pub mod components;
pub mod corpus;
pub mod cpus;
pub mod disk;
pub mod fuzz;
pub mod limits;
pub mod links;
pub mod maps;
pub mod signals;
pub mod stdio;
pub mod threads;
pub mod wasi;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Condvar, Mutex};

use anyhow::{bail, ensure, Context, Result};
use libtest_mimic::{Arguments, Failed, Trial};
use xshell::Shell;

use crate::flags::{ImageArgs, TestArgs};
use crate::host;
use crate::image;
use crate::plan::profile;
use crate::plan::BuildPlan;
use crate::project::Project;
use crate::test::case::{Case, Image};

/// Every case, for `boards`, in the order their images are built.
pub fn all(project: &Project, boards: &[String]) -> Result<Vec<Case>> {
    let project = Arc::new(project.clone());
    let mut cases = Vec::new();
    for name in boards {
        let board = profile::find(&project.boards(), name)?;
        basics::cases(&board, &mut cases);
        stdio::cases(&project, &board, &mut cases);
        signals::cases(&project, &board, &mut cases);
        bundle::cases(&project, &board, &mut cases);
        if let Some(disk) = &board.disk {
            disk::cases(&project, &board, disk, &mut cases);
        }
        cpus::cases(&project, &board, &mut cases);
        maps::cases(&project, &board, &mut cases)?;
        threads::cases(&project, &board, &mut cases);
        limits::cases(&project, &board, &mut cases);
        components::cases(&project, &board, &mut cases);
        links::cases(&project, &board, &mut cases);
    }
    cli::cases(&project, &mut cases);
    links::refused_case(&project, &mut cases);
    bundle::several_boards_case(&project, boards, &mut cases);
    wasi::cases(&project, boards, &mut cases)?;
    fuzz::cases(&project, boards, &mut cases);
    corpus::cases(&project, boards, &mut cases);
    Ok(cases)
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
    if !args.list {
        host::deps::ensure(project, &profiles)?;
    }
    let cases = all(project, &boards)?;
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
    if args.list {
        for case in &selected {
            println!("{}", case.name);
        }
        return Ok(());
    }

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
        Image::Plain { board, module } => image::plain_example(sh, project, board, module),
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
        Image::Package { board, example } => {
            let example = crate::compare::corpus::find_package_example(example)
                .context("not a package example of the corpus")?;
            let wasm = example.wasm(sh, project)?;
            let name = format!("corpus-{}-{}", example.package, example.example);
            image::run(
                sh,
                project,
                &ImageArgs::of_module(board, &wasm.display().to_string(), Some(&name)),
            )
        }
        Image::Adapted { board, program } => {
            let program =
                crate::compare::corpus::find(program).context("not a program of the corpus")?;
            let component = crate::compare::adapter::component_beside(&program.wasm(project)?)?;
            let name = format!("corpus-{}-p2", program.bin);
            image::run(
                sh,
                project,
                &ImageArgs::of_module(board, &component.display().to_string(), Some(&name)),
            )
        }
        Image::Hermitfile {
            board,
            module,
            name,
            directives,
            data_folder,
            links,
        } => {
            if let Some(owner) = data_folder {
                case::data_folder(project, owner)?;
            }
            let mut directives = directives.clone();
            for (name, example) in links {
                let wasm = image::example_module(sh, project, example)?;
                directives.push_str(&format!("LINK {name}={}\n", wasm.display()));
            }
            let wasm = image::example_module(sh, project, module)?;
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
                    wasm.display()
                ),
            )?;
            let mut args = ImageArgs::of_module(board, "unused", Some(name));
            args.module = None;
            args.hermitfile = Some(hermitfile);
            image::run(sh, project, &args)
        }
    }
}
