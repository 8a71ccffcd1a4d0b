//! What an end-to-end case is: its name, the images it boots (built by the runner before
//! the case starts) and its check. The topic files (`basics.rs`, `maps.rs`, ...) make
//! cases; `mod.rs` builds their images and runs them. A case's own name is a literal in
//! its topic file (`hello`, `map-read`), joined to its board by `named` alone, so that
//! `grep` finds where a case of the run's output is defined. (The official WASI suite's
//! cases take their names from the suite's own files: `BOARD/wasi/LANGUAGE/PROGRAM`.)

use std::path::PathBuf;

use anyhow::{Context, Result};

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
    /// A real program of the comparison corpus (`compare/corpus.rs`, by crate name), image
    /// `corpus-BIN`.
    Real { board: String, program: String },
    /// That program made a WASI 0.2 component with the official preview1 adapter
    /// (`compare/adapter.rs`), image `corpus-BIN-p2`.
    Adapted { board: String, program: String },
    /// An example program of a crates.io package (`compare/corpus.rs`, by example name),
    /// image `corpus-PACKAGE-EXAMPLE`.
    Package { board: String, example: String },
    /// `name`, from a Hermitfile that takes the example `module` with `directives`.
    Hermitfile {
        board: String,
        module: String,
        name: String,
        directives: String,
        /// The case whose host folder (`data_folder`) the Hermitfile maps: made afresh
        /// right before the image is built, which checks that it exists.
        data_folder: Option<String>,
        /// `(NAME, EXAMPLE)`: the examples it links, each with a `LINK NAME=...` line.
        links: Vec<(String, String)>,
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

/// The full name of case `name` on `board`: `x86_64-kvm/hello`.
pub fn named(board: &str, name: &str) -> String {
    format!("{board}/{name}")
}

/// A fresh, empty folder for case `name`'s files.
pub fn scratch(project: &Project, name: &str) -> Result<PathBuf> {
    let dir = scratch_dir(project, name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Where case `name`'s files go (`scratch` makes it afresh).
fn scratch_dir(project: &Project, name: &str) -> PathBuf {
    project
        .target()
        .join("e2e/cases")
        .join(name.replace('/', "--"))
}

/// A host folder for case `case`: `greeting.txt`, a file outside it and a symlink pointing
/// there, in a fresh scratch folder; returns the folder (`data_folder_path`).
pub fn data_folder(project: &Project, case: &str) -> Result<PathBuf> {
    let root = scratch(project, case)?;
    let data = root.join("data");
    std::fs::create_dir_all(&data)?;
    std::fs::write(data.join("greeting.txt"), "hello from the host\n")?;
    std::fs::write(root.join("outside.txt"), "secret\n")?;
    std::os::unix::fs::symlink("../outside.txt", data.join("escape"))?;
    Ok(data)
}

/// Where `data_folder` makes case `case`'s host folder (nothing is made).
pub fn data_folder_path(project: &Project, case: &str) -> PathBuf {
    scratch_dir(project, case).join("data")
}
