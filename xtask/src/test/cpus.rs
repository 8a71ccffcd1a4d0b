//! CPU models an aarch64 board's guest is booted on, directly and from its disk: the
//! Neoverse cores of today's Arm cloud VMs (N1, V1, N2) and QEMU's `max` without FEAT_LPA2
//! run the module; a CPU with FEAT_LPA2 (QEMU's `max`), on which Hermit kernel 0.11 cannot
//! run, is refused by the loader with one line and exit status 125 (`boards/loader`,
//! `arch/aarch64/cpu.rs`). The CPU is QEMU's last `-cpu`, given through
//! `HERMIT_WASM_QEMU_OPTIONS`.

use std::sync::Arc;

use anyhow::ensure;

use crate::plan::profile::Board;
use crate::project::Project;
use crate::test::boot::{expect_status, expect_stdout, Boot};
use crate::test::case::{named, Case, Image};
use crate::test::disk::{boot_disk_with, make_disk};

/// One boot on a CPU model: the case's name, QEMU's `-cpu`, whether it boots the image's
/// disk (else directly), and whether the model runs the module (else it is refused).
struct Cpu {
    name: &'static str,
    cpu: &'static str,
    disk: bool,
    runs: bool,
}

const CPUS: &[Cpu] = &[
    Cpu {
        name: "cpu-with-lpa2-is-refused",
        cpu: "max",
        disk: false,
        runs: false,
    },
    Cpu {
        name: "cpu-max-without-lpa2",
        cpu: "max,lpa2=off",
        disk: false,
        runs: true,
    },
    Cpu {
        name: "cpu-neoverse-n1",
        cpu: "neoverse-n1",
        disk: false,
        runs: true,
    },
    Cpu {
        name: "cpu-neoverse-v1",
        cpu: "neoverse-v1",
        disk: false,
        runs: true,
    },
    Cpu {
        name: "cpu-neoverse-n2",
        cpu: "neoverse-n2",
        disk: false,
        runs: true,
    },
    Cpu {
        name: "disk-cpu-with-lpa2-is-refused",
        cpu: "max",
        disk: true,
        runs: false,
    },
    Cpu {
        name: "disk-cpu-neoverse-n1",
        cpu: "neoverse-n1",
        disk: true,
        runs: true,
    },
    Cpu {
        name: "disk-cpu-neoverse-v1",
        cpu: "neoverse-v1",
        disk: true,
        runs: true,
    },
    Cpu {
        name: "disk-cpu-neoverse-n2",
        cpu: "neoverse-n2",
        disk: true,
        runs: true,
    },
];

pub fn cases(project: &Arc<Project>, board: &Board, cases: &mut Vec<Case>) {
    if board.arch.name() != "aarch64" {
        return;
    }
    let b = board.name.clone();
    for row in CPUS.iter().filter(|row| !row.disk || board.disk.is_some()) {
        // Each disk row its own image (named as the row): disks are built while cases run.
        let image = if row.disk {
            Image::Module {
                board: b.clone(),
                module: "hello".into(),
                name: Some(row.name.into()),
            }
        } else {
            Image::example(&b, "hello")
        };
        let (project, board_name) = (project.clone(), b.clone());
        cases.push(Case::new(named(&b, row.name), vec![image], move |plans| {
            let qemu_options = format!("-cpu {}", row.cpu);
            let out = if row.disk {
                let dir = make_disk(&project, &board_name, "hello", row.name)?;
                boot_disk_with(&dir, &[], &qemu_options)?
            } else {
                Boot {
                    qemu_options: Some(qemu_options),
                    ..Boot::default()
                }
                .run(&plans[0].image.run_qemu)?
            };
            if row.runs {
                expect_status(&out, 0)?;
                return expect_stdout(&out, "Hello from WebAssembly on aarch64!\n");
            }
            expect_status(&out, 125)?;
            expect_stdout(&out, "")?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            ensure!(
                stderr.lines().count() == 1
                    && stderr.contains("cannot boot: ")
                    && stderr.contains("FEAT_LPA2"),
                "not the one line that names FEAT_LPA2:\n{stderr}"
            );
            Ok(())
        }));
    }
}
