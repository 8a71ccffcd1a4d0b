//! Host folders (`--map`, a Hermitfile's `MAP`) through virtio-fs, on every board that
//! has them: read, written, refused where read-only, never left; renames, links and large
//! reads are the host's own; preopen names as given. A board without virtio-mmio refuses
//! a map before it boots.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use anyhow::{ensure, Context, Result};

use crate::host::child_processes::Launcher;
use crate::plan::profile::Board;
use crate::plan::BuildPlan;
use crate::project::Project;
use crate::test::boot::{expect_status, expect_stdout, stderr_has, Boot, BootCase};
use crate::test::case::{data_folder, data_folder_path, named, Case, Image};

/// On a board without host folders, a map is refused before anything boots.
static MAP_REFUSED: BootCase = BootCase {
    name: "map-refused",
    module: "cat",
    options: &[("--map", "/tmp:/data:ro")],
    status: 125,
    stderr: "cannot give host directories",
    ..BootCase::DEFAULT
};

/// Host folders through virtio-fs: read, written, refused where read-only, never left;
/// renames, links and large reads are the host's own; preopen names as given.
pub fn cases(project: &Arc<Project>, board: &Board, cases: &mut Vec<Case>) -> Result<()> {
    if board.qemu.virtio_mmio.is_none() {
        cases.push(MAP_REFUSED.case(board));
        return Ok(());
    }
    let b = board.name.clone();
    let example = |module: &str| Image::example(&b, module);
    let name = |case: &str| named(&b, case);

    cases.push(folder_case(
        project,
        name("map-read"),
        vec![example("cat")],
        move |data, plans| {
            let out = Boot::args(&["/data/greeting.txt"])
                .option("--map", &format!("{}:/data:ro", data.display()))
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            expect_stdout(&out, "hello from the host\n")
        },
    ));
    cases.push(folder_case(
        project,
        name("map-escapes-refused"),
        vec![example("cat")],
        move |data, plans| {
            let out = Boot::args(&["/data/../outside.txt", "/outside.txt", "/data/escape"])
                .option("--map", &format!("{}:/data", data.display()))
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 1)?;
            expect_stdout(&out, "")
        },
    ));
    cases.push(folder_case(
        project,
        name("map-read-only-refuses-writes"),
        vec![example("tee")],
        move |data, plans| {
            let out = Boot::args(&["/data/new.txt", "/data/greeting.txt"])
                .option("--map", &format!("{}:/data:ro", data.display()))
                .stdin(b"written in the guest\n")
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 1)?;
            stderr_has(&out, "tee: /data/new.txt")?;
            stderr_has(&out, "tee: /data/greeting.txt")?;
            ensure!(
                !data.join("new.txt").exists(),
                "new.txt appeared on the host"
            );
            let greeting = std::fs::read_to_string(data.join("greeting.txt"))?;
            ensure!(
                greeting == "hello from the host\n",
                "greeting.txt now holds {greeting:?}"
            );
            Ok(())
        },
    ));
    cases.push(folder_case(
        project,
        name("map-write"),
        vec![example("tee")],
        move |data, plans| {
            let out = Boot::args(&["/data/new.txt"])
                .option("--map", &format!("{}:/data", data.display()))
                .stdin(b"written in the guest\n")
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            let written = std::fs::read_to_string(data.join("new.txt"))?;
            ensure!(
                written == "written in the guest\n",
                "new.txt holds {written:?}"
            );
            Ok(())
        },
    ));
    // The folder a Hermitfile maps must exist when the image is built.
    let fixed = data_folder_path(project, &name("hermitfile-map"));
    cases.push(Case::new(
        name("hermitfile-map"),
        vec![Image::Hermitfile {
            board: b.clone(),
            module: "cat".into(),
            name: "e2e-hermitfile-map".into(),
            directives: format!(
                "MAP [\"{}:/srv:ro\"]\nARGS [\"/srv/greeting.txt\"]\n",
                fixed.display()
            ),
            data_folder: Some(name("hermitfile-map")),
            links: vec![],
        }],
        |plans| {
            let out = Boot::default().run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            expect_stdout(&out, "hello from the host\n")
        },
    ));
    cases.push(folder_case(
        project,
        name("map-mv"),
        vec![example("mv")],
        move |data, plans| {
            std::fs::write(data.join("old.txt"), "moved\n")?;
            let script = &plans[0].image.run_qemu;
            let out = Boot::args(&["/data/old.txt", "/data/new.txt"])
                .option("--map", &format!("{}:/data:ro", data.display()))
                .run(script)?;
            expect_status(&out, 1)?;
            ensure!(data.join("old.txt").exists(), "old.txt went away");
            let out = Boot::args(&["/data/old.txt", "/data/new.txt"])
                .option("--map", &format!("{}:/data", data.display()))
                .run(script)?;
            expect_status(&out, 0)?;
            ensure!(!data.join("old.txt").exists(), "old.txt is still there");
            let moved = std::fs::read_to_string(data.join("new.txt"))?;
            ensure!(moved == "moved\n", "new.txt holds {moved:?}");
            Ok(())
        },
    ));
    cases.push(folder_case(
        project,
        name("map-links"),
        vec![example("ln"), example("cat")],
        move |data, plans| {
            let map = format!("{}:/data", data.display());
            let out = Boot::args(&["-s", "greeting.txt", "/data/link.txt"])
                .option("--map", &map)
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            let target = std::fs::read_link(data.join("link.txt"))?;
            ensure!(
                target == Path::new("greeting.txt"),
                "link.txt points at {target:?}"
            );
            let out = Boot::args(&["/data/greeting.txt", "/data/hard.txt"])
                .option("--map", &map)
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            let (a, h) = (
                std::fs::metadata(data.join("greeting.txt"))?,
                std::fs::metadata(data.join("hard.txt"))?,
            );
            ensure!(
                a.ino() == h.ino() && a.nlink() == 2,
                "hard.txt is not a second link of greeting.txt"
            );
            let out = Boot::args(&["/data/link.txt"])
                .option("--map", &format!("{map}:ro"))
                .run(&plans[1].image.run_qemu)?;
            expect_status(&out, 0)?;
            expect_stdout(&out, "hello from the host\n")
        },
    ));
    cases.push(folder_case(
        project,
        name("map-large-read"),
        vec![example("wc")],
        move |data, plans| {
            let big: String = (0..150_000).map(|i| format!("line {i}\n")).collect();
            std::fs::write(data.join("big.txt"), &big)?;
            let out = Boot::args(&["/data/big.txt"])
                .option("--map", &format!("{}:/data:ro", data.display()))
                .run(&plans[0].image.run_qemu)?;
            expect_status(&out, 0)?;
            expect_stdout(&out, &format!("150000 {} /data/big.txt\n", big.len()))
        },
    ));

    // Preopen names are the guest names as given, `.` and relative ones included, and a
    // directory opened again with no rights works as under `wasmtime run --dir`.
    for (case, guest) in [
        ("preopen-dot-reopened-without-rights", "."),
        ("preopen-relative-reopened-without-rights", "data"),
        ("preopen-absolute-reopened-without-rights", "/data"),
    ] {
        cases.push(folder_case(
            project,
            name(case),
            vec![example("reopen")],
            move |data, plans| {
                let out = Boot::args(&[guest])
                    .option("--map", &format!("{}:{guest}", data.display()))
                    .run(&plans[0].image.run_qemu)?;
                reopen_worked(&out, data)
            },
        ));
    }
    let fixed = data_folder_path(project, &name("hermitfile-map-dot"));
    cases.push(Case::new(
        name("hermitfile-map-dot"),
        vec![Image::Hermitfile {
            board: b.clone(),
            module: "reopen".into(),
            name: "e2e-hermitfile-dot".into(),
            directives: format!("MAP [\"{}:.\"]\nARGS [\".\"]\n", fixed.display()),
            data_folder: Some(name("hermitfile-map-dot")),
            links: vec![],
        }],
        move |plans| {
            let out = Boot::default().run(&plans[0].image.run_qemu)?;
            reopen_worked(&out, &fixed)
        },
    ));
    let project2 = project.clone();
    let board_name = b.clone();
    cases.push(folder_case(
        project,
        name("xtask-qemu-map-dot"),
        vec![example("reopen")],
        {
            move |data, _| {
                let mut command = Command::new(std::env::current_exe()?);
                command
                    .args([
                        "qemu",
                        "--board",
                        &board_name,
                        "--module",
                        "reopen",
                        "--timeout",
                        "120",
                    ])
                    .arg("--map")
                    .arg(format!("{}:.", data.display()))
                    .args(["--", "."])
                    .current_dir(&project2.root)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                let out = Launcher::spawn(&mut command)?.wait_with_output()?;
                reopen_worked(&out, data)
            }
        },
    ));
    Ok(())
}

/// A case that gets a fresh host folder (`data_folder`) besides the plans of its images.
fn folder_case(
    project: &Arc<Project>,
    name: String,
    images: Vec<Image>,
    check: impl FnOnce(&Path, &[BuildPlan]) -> Result<()> + Send + 'static,
) -> Case {
    let project = project.clone();
    let case = name.clone();
    Case::new(name, images, move |plans| {
        let data = data_folder(&project, &case)?;
        check(&data, plans)
    })
}

/// What the `reopen` module must have done in `data`: every step ok, the renamed file with
/// its contents on the host, the greeting read back.
fn reopen_worked(out: &std::process::Output, data: &Path) -> Result<()> {
    expect_status(out, 0)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        stdout.contains("hello from the host") && !stdout.contains("errno"),
        "stdout:\n{stdout}"
    );
    let renamed = std::fs::read_to_string(data.join("reopen-renamed.txt"))
        .context("reopen-renamed.txt on the host")?;
    ensure!(
        renamed == "created through a re-opened directory\n",
        "reopen-renamed.txt holds {renamed:?}"
    );
    ensure!(
        !data.join("reopen-new.txt").exists(),
        "reopen-new.txt is still there"
    );
    ensure!(
        !data.join("reopen-dir").exists(),
        "reopen-dir is still there"
    );
    Ok(())
}
