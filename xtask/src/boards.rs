//! `cargo xtask boards`: the board profiles, and what each needs on this machine.

use anyhow::Result;
use serde::Serialize;

use crate::flags::BoardsArgs;
use crate::plan::profile;
use crate::project::Project;

#[derive(Serialize)]
struct BoardSummary<'a> {
    name: &'a str,
    arch: &'a str,
    description: &'a str,
    qemu: &'a str,
    qemu_package: &'a str,
    qemu_installed: bool,
    machine: &'a str,
    firmware: Option<&'a str>,
    uhyve: bool,
    kernel_features: &'a [String],
}

pub fn run(project: &Project, args: &BoardsArgs) -> Result<()> {
    let boards = profile::load_all(&project.boards())?;
    let summaries: Vec<BoardSummary> = boards
        .values()
        .map(|board| BoardSummary {
            name: &board.name,
            arch: board.arch.name(),
            description: &board.description,
            qemu: &board.qemu.binary,
            qemu_package: &board.qemu.package,
            qemu_installed: which::which(&board.qemu.binary).is_ok(),
            machine: &board.qemu.machine,
            firmware: board.qemu.firmware.as_deref(),
            uhyve: board.uhyve.is_some(),
            kernel_features: &board.kernel.features,
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summaries)?);
        return Ok(());
    }
    for b in &summaries {
        println!("{} ({})", b.name, b.arch);
        println!("  {}", b.description);
        let state = if b.qemu_installed {
            "installed"
        } else {
            "MISSING"
        };
        println!(
            "  needs   {} [{state}] (apt-get install {})",
            b.qemu, b.qemu_package
        );
        println!("  machine {}", b.machine);
        if let Some(firmware) = b.firmware {
            println!("  firmware {firmware}");
        }
        println!("  kernel  features {}", b.kernel_features.join(","));
        if b.uhyve {
            println!("  uhyve   yes, where the CPU has vmx/svm and /dev/kvm opens (run-uhyve.sh)");
        }
    }
    Ok(())
}
