//! `cargo xtask qemu`: builds what is missing for the image, then boots it with the image's
//! own `run-qemu.sh`, so that the command and the script behave the same. Exits with the
//! module's status.

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::flags::QemuArgs;
use crate::project::Project;
use crate::{hermitfile, image};

pub fn run(sh: &Shell, project: &Project, args: &QemuArgs) -> Result<i32> {
    let plan = image::run(sh, project, &args.image)?;
    let script = &plan.image.run_qemu;
    let mut options = Vec::new();
    if let Some(timeout) = args.timeout {
        options.push(format!("--timeout={timeout}"));
    }
    if args.image.kernel_log.is_some() {
        options.push("--kernel-log".to_string());
    }
    for env in &args.env {
        hermitfile::parse_env_arg(env)?;
        options.push(format!("--env={env}"));
    }
    for map in &args.maps {
        hermitfile::parse_map_arg(map)?;
        options.push(format!("--map={map}"));
    }
    let module_args = &args.args;
    let mut command: std::process::Command =
        cmd!(sh, "{script} {options...} -- {module_args...}").into();
    eprintln!("$ {command:?}");
    let status = command
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    Ok(status.code().unwrap_or(125))
}
