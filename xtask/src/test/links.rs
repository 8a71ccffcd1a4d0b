//! `LINK`: an image whose module imports functions of another core module, preloaded as
//! `wasmtime run --preload` does. `modules/calc-user` links `modules/calc` (a reactor with
//! state and WASI of its own) on every board, compared with the reference CLI given the
//! same preload; and a link that lacks what the module imports is refused at image time.

use std::process::Command;
use std::sync::Arc;

use anyhow::{anyhow, ensure};

use crate::compare;
use crate::image;
use crate::plan::profile::Board;
use crate::project::Project;
use crate::test::boot::expect_status;
use crate::test::case::{named, scratch, Case, Image};
use crate::test::cli::refused;
use crate::test::corpus::reference;

pub fn cases(project: &Arc<Project>, board: &Board, cases: &mut Vec<Case>) {
    let b = board.name.clone();
    let case = named(&b, "link/calc-as-wasmtime-preloads-it");
    let project = project.clone();
    let image = Image::Hermitfile {
        board: b.clone(),
        module: "calc-user".into(),
        name: "e2e-link-calc".into(),
        directives: String::new(),
        data_folder: None,
        links: vec![("calc".into(), "calc".into())],
    };
    cases.push(Case::new(case.clone(), vec![image], move |plans| {
        let plan = &plans[0];
        let link = plan
            .links
            .first()
            .ok_or_else(|| anyhow!("no LINK in the plan"))?;
        let run = compare::Run {
            args: ["1", "2", "39"].map(String::from).to_vec(),
            preloads: vec![(link.name.clone(), link.path.clone())],
            ..compare::Run::new(
                crate::plan::example_wasm(&project, "calc-user"),
                scratch(&project, &case)?.join("sides"),
            )
        };
        if let Some(diff) = compare::compare(&reference(&project)?, &plan.image.run_qemu, &b, &run)?
        {
            return Err(anyhow!("differs from wasmtime run --preload:\n{diff}"));
        }
        // The image says what it links.
        let out = Command::new(std::env::current_exe()?)
            .arg("inspect")
            .arg(&plan.image.dir)
            .output()?;
        expect_status(&out, 0)?;
        let text = String::from_utf8_lossy(&out.stdout);
        ensure!(
            text.contains("linked module calc.wasm as calc (embedded in guest.elf)"),
            "{text}"
        );
        Ok(())
    }));
}

/// A link that does not export what the module imports from its name: refused when the
/// image is made, naming the import, and no image is left.
pub fn refused_case(project: &Arc<Project>, cases: &mut Vec<Case>) {
    let name = "cli/link-lacking-an-import-is-refused";
    let project = project.clone();
    cases.push(Case::new(name, vec![], move |_| {
        let sh = xshell::Shell::new()?;
        let user = image::example_module(&sh, &project, "calc-user")?;
        let hello = image::example_module(&sh, &project, "hello")?;
        let dir = scratch(&project, name)?;
        let hermitfile = dir.join("Hermitfile");
        std::fs::write(
            &hermitfile,
            format!("FROM {}\nLINK calc={}\n", user.display(), hello.display()),
        )?;
        let hermitfile = hermitfile.display().to_string();
        refused(
            &project,
            &[
                "image",
                "--name",
                "e2e-link-refused",
                "--hermitfile",
                &hermitfile,
            ],
            &[
                "error: calc-user.wasm imports calc::fib, which hello.wasm (LINK calc) does not \
               export",
            ],
        )?;
        ensure!(
            !project
                .images()
                .join("x86_64-kvm/e2e-link-refused")
                .exists(),
            "an image was left"
        );
        Ok(())
    }));
}
