//! `cargo xtask qemu`: builds what is missing for the image, then boots it with the image's
//! own `run-qemu.sh`, so that the command and the script behave the same. The xtask becomes
//! the script (exec): the module's status is the command's, and a signal (Ctrl-C, `kill`)
//! reaches the script, which ends the VM and exits with 128 + the signal. With `--disk` it
//! builds the image's disk and boots that with `run-disk.sh` the same way.

use std::path::Path;

use anyhow::{bail, Context, Result};
use hermit_wasm_kernel::limit_spec::LimitSpec;
use xshell::{cmd, Shell};

use crate::disk;
use crate::flags::{DiskArgs, QemuArgs};
use crate::host;
use crate::image;
use crate::plan::hermitfile;
use crate::plan::profile;
use crate::project::Project;

pub fn run(sh: &Shell, project: &Project, args: &QemuArgs) -> Result<i32> {
    // Launch options are checked before anything is built.
    for env in &args.env {
        hermitfile::parse_env_arg(env)?;
    }
    for map in &args.maps {
        hermit_wasm_kernel::launch::parse_map(map)?;
    }
    for limit in &args.limits {
        LimitSpec::parse(limit).with_context(|| format!("--limit {limit:?}"))?;
    }
    let board = profile::find(&project.boards(), &args.image.board)?;
    host::deps::ensure(project, &[board])?;
    if args.disk {
        return run_disk(sh, project, args);
    }
    let plan = image::run(sh, project, &args.image)?;
    let script = &plan.image.run_qemu;
    let mut options = Vec::new();
    if let Some(timeout) = args.timeout {
        options.push(format!("--timeout={timeout}"));
    }
    if args.image.kernel_log.is_some() {
        options.push("--kernel-log".to_string());
    }
    if let Some(cpus) = args.cpus {
        options.push(format!("--cpus={cpus}"));
    }
    for env in &args.env {
        options.push(format!("--env={env}"));
    }
    for map in &args.maps {
        options.push(format!("--map={map}"));
    }
    for limit in &args.limits {
        options.push(format!("--limit={limit}"));
    }
    if let Some(report) = &args.report {
        options.push(format!("--report={}", report.display()));
    }
    exec(sh, script, &options, &args.args)
}

/// `--disk`: the image's disk (built if needed) booted by `run-disk.sh`, which takes the
/// timeout, the report, the disk bus and module arguments; the other launch options are
/// the direct boot's, refused here.
fn run_disk(sh: &Shell, project: &Project, args: &QemuArgs) -> Result<i32> {
    let unsupported = [
        ("--cpus", args.cpus.is_some()),
        ("--env", !args.env.is_empty()),
        ("--map", !args.maps.is_empty()),
        ("--limit", !args.limits.is_empty()),
        ("--kernel-log", args.image.kernel_log.is_some()),
    ];
    if let Some((option, _)) = unsupported.iter().find(|(_, given)| *given) {
        bail!(
            "{option} is a launch option of the direct boot; a disk boot (--disk) takes \
             --timeout, --report, --disk-bus and module arguments (its run configuration \
             holds the rest: docs/disk.md)"
        );
    }
    let disk = disk::run(
        sh,
        project,
        &DiskArgs {
            image: args.image.clone(),
            format: Vec::new(),
        },
    )?;
    let script = disk.with_file_name("run-disk.sh");
    let mut options = Vec::new();
    if let Some(timeout) = args.timeout {
        options.push(format!("--timeout={timeout}"));
    }
    if let Some(bus) = &args.disk_bus {
        options.push(format!("--disk-bus={bus}"));
    }
    if let Some(report) = &args.report {
        options.push(format!("--report={}", report.display()));
    }
    exec(sh, &script, &options, &args.args)
}

/// Becomes `script options... -- module_args...`.
fn exec(sh: &Shell, script: &Path, options: &[String], module_args: &[String]) -> Result<i32> {
    let mut command: std::process::Command =
        cmd!(sh, "{script} {options...} -- {module_args...}").into();
    eprintln!("$ {command:?}");
    let err = std::os::unix::process::CommandExt::exec(&mut command);
    Err(err).with_context(|| format!("running {}", script.display()))
}
