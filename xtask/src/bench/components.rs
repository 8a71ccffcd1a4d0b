//! The components part of `cargo xtask bench`: the same program, `modules/hello`, built
//! for wasm32-wasip1 (a core module, run through the preview1 layer) and for
//! wasm32-wasip2 (a component, run through the WASI 0.2 front door), each imaged as a
//! plain `.wasm` file and booted alternately on each board. Boot-to-exit of each and their
//! ratio (the component's price), and the runner's steps where the two differ: deserialise
//! (`engine` to `loaded`) and WASI, link and instantiate (`loaded` to `instantiated`).

use std::path::Path;

use anyhow::{ensure, Context, Result};

use crate::bench::history::Figures;
use crate::bench::phases;
use crate::bench::run::{median, run_to_end, Bench};
use crate::flags::ImageArgs;
use crate::image;
use crate::plan::ExampleTarget;

/// What one image's runs gave: medians of boot-to-exit, deserialise and instantiate (µs).
#[derive(Default)]
struct Runs {
    wall: Vec<u64>,
    deserialise: Vec<u64>,
    instantiate: Vec<u64>,
}

impl Runs {
    fn add(&mut self, script: &Path) -> Result<()> {
        let (run, status, stderr) = run_to_end(script, &["--phases", "--", "bench"])?;
        ensure!(
            status.success(),
            "{} ended with {status}: {}",
            script.display(),
            stderr.trim_end()
        );
        self.wall.push(run.wall.as_micros() as u64);
        self.deserialise
            .push(phases::step_us(&stderr, "engine", "loaded")?);
        self.instantiate
            .push(phases::step_us(&stderr, "loaded", "instantiated")?);
        Ok(())
    }

    /// Medians in ms: boot-to-exit, deserialise, instantiate.
    fn medians(mut self) -> (f64, f64, f64) {
        let ms = |values: &mut Vec<u64>| median(values) as f64 / 1000.0;
        (
            ms(&mut self.wall),
            ms(&mut self.deserialise),
            ms(&mut self.instantiate),
        )
    }
}

/// The section of `docs/benchmarks.md` for the bench's boards; keeps its figures in
/// `figures`.
pub fn section(bench: &Bench, figures: &mut Figures) -> Result<String> {
    let (sh, project, boards, runs) = bench.parts();
    let module = image::example_module(sh, project, "hello")?;
    let component = image::example_module_as(sh, project, "hello", ExampleTarget::component())?;
    let arg = |path: &Path| -> Result<String> {
        Ok(path
            .to_str()
            .context("a module path that is not UTF-8")?
            .to_string())
    };
    let size = |path: &Path| -> Result<u64> { Ok(std::fs::metadata(path)?.len() >> 10) };
    let mut rows = String::new();
    for board in boards {
        let image_of = |wasm: &Path, name: &str| {
            image::run(
                sh,
                project,
                &ImageArgs::of_module(&board.name, &arg(wasm)?, Some(name)),
            )
        };
        let as_module = image_of(&module, "bench-hello-p1")?;
        let as_component = image_of(&component, "bench-hello-p2")?;
        let (mut m, mut c) = (Runs::default(), Runs::default());
        for _ in 0..runs.max(1) {
            m.add(&as_module.image.run_qemu)?;
            c.add(&as_component.image.run_qemu)?;
        }
        let (m_wall, m_deser, m_inst) = m.medians();
        let (c_wall, c_deser, c_inst) = c.medians();
        let precompiled = |plan: &crate::plan::BuildPlan| -> Result<u64> {
            let manifest = std::fs::read(&plan.image.manifest)?;
            let manifest = hermit_wasm_kernel::manifest::Manifest::from_json(&manifest)?;
            Ok(manifest.module.precompiled_size >> 10)
        };
        rows.push_str(&format!(
            "| {} | {m_wall:.0} ms | {c_wall:.0} ms | {:.2}x | {m_deser:.1} | {c_deser:.1} | \
             {m_inst:.1} | {c_inst:.1} | {} KiB | {} KiB |\n",
            board.name,
            c_wall / m_wall,
            precompiled(&as_module)?,
            precompiled(&as_component)?,
        ));
        figures.record(
            &board.name,
            "hello as a component, boot-to-exit (ms)",
            c_wall.round(),
        );
        figures.record(
            &board.name,
            "hello as a component / as a module, boot-to-exit",
            (c_wall / m_wall * 100.0).round() / 100.0,
        );
    }
    Ok(format!(
        "\n## A component against a module\n\n`modules/hello` built for wasm32-wasip1 (a core \
         module, {} KiB, through the preview1 layer) and for wasm32-wasip2 (a component, {} \
         KiB, through the WASI 0.2 front door), each imaged as a plain file and booted \
         alternately with the same argument: boot-to-exit (median) and its ratio, then the \
         runner's steps where the two differ (`--phases`, medians, ms): deserialising the \
         precompiled code, and from there to the instance (WASI context, linker, \
         instantiation).\n\n\
         | board | module | component | ratio | module deserialised | component deserialised \
         | module instantiated | component instantiated | module precompiled | component \
         precompiled |\n|---|---|---|---|---|---|---|---|---|---|\n{rows}",
        size(&module)?,
        size(&component)?,
    ))
}
