//! Disks that firmware boots (`cargo xtask disk`, `run-disk.sh`), on every board that has
//! a disk route: the module's output and status through the serial console alone, on each
//! of the board's disk buses, the run configuration edited on the disk after the build,
//! the machine powering itself off (or halting where it cannot), ACPI and device-tree
//! firmware, `cargo xtask qemu --disk`, and the cloud formats read back by tools nobody
//! here wrote.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use anyhow::{ensure, Context, Result};

use crate::disk;
use crate::host::child_processes::Launcher;
use crate::plan::profile::{Board, DiskProfile, DiskRoute};
use crate::project::Project;
use crate::test::boot::{expect_status, expect_stdout, stderr_has};
use crate::test::case::{named, scratch, Case, Image};

/// `cargo xtask disk` for the example `module` on `board`, as image `name`; returns the
/// image's folder (disk.raw, run-disk.sh).
pub fn make_disk(project: &Project, board: &str, module: &str, name: &str) -> Result<PathBuf> {
    let out = Command::new(std::env::current_exe()?)
        .args(["disk", "--board", board, "--module", module, "--name", name])
        .current_dir(&project.root)
        .output()?;
    expect_status(&out, 0).context("cargo xtask disk")?;
    Ok(project.images().join(board).join(name))
}

/// Boots a disk with its run-disk.sh (a 120 s timeout) and collects the output.
fn boot_disk(dir: &Path, options: &[&str]) -> Result<Output> {
    boot_disk_with(dir, options, "")
}

/// What a disk case gets: the image folder with its disk, a scratch folder, the board's
/// architecture and disk profile.
struct DiskTrial<'a> {
    dir: &'a Path,
    scratch: &'a Path,
    arch: &'a str,
    disk: &'a DiskProfile,
}

/// The file `path` on `disk`'s EFI system partition, read by mtools.
fn mtype(disk: &Path, path: &str) -> Result<String> {
    let out = Command::new("mtype")
        .arg("-i")
        .arg(format!("{}@@1M", disk.display()))
        .arg(format!("::/{path}"))
        .output()?;
    expect_status(&out, 0).with_context(|| format!("mtype (mtools) reads {path}"))?;
    Ok(String::from_utf8(out.stdout)?)
}

/// Writes `data` as `path` on `disk`'s EFI system partition with mtools (through a file in
/// `scratch`).
fn mcopy(disk: &Path, path: &str, data: &[u8], scratch: &Path) -> Result<()> {
    let file = scratch.join("mcopy.tmp");
    std::fs::write(&file, data)?;
    let out = Command::new("mcopy")
        .arg("-o")
        .arg("-i")
        .arg(format!("{}@@1M", disk.display()))
        .arg(&file)
        .arg(format!("::/{path}"))
        .output()?;
    expect_status(&out, 0).with_context(|| format!("mcopy (mtools) writes {path}"))
}

/// `boot_disk` with `qemu_options` added through HERMIT_WASM_QEMU_OPTIONS.
pub fn boot_disk_with(dir: &Path, options: &[&str], qemu_options: &str) -> Result<Output> {
    let mut command = Command::new(dir.join("run-disk.sh"));
    command.env_remove("HERMIT_WASM_KERNEL_LOG");
    if !qemu_options.is_empty() {
        command.env("HERMIT_WASM_QEMU_OPTIONS", qemu_options);
    }
    command
        .arg("--timeout=120")
        .args(options)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = Launcher::spawn(&mut command)?.wait_with_output()?;
    // A run whose machine halted instead of powering off ends at the timeout with the
    // module's status: that is a failure of the disk's power-off here.
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !stderr.contains("did not power off"),
        "the machine did not power off after the module ended:\n{stderr}"
    );
    Ok(out)
}

/// Disks that UEFI firmware boots (QEMU's `q35` + OVMF, `virt` + AAVMF here): the module's output and
/// status through the serial console alone, on NVMe and virtio-scsi, with the run
/// configuration edited on the disk after the build; the machine powers itself off
/// (run-disk.sh refuses a second boot in the console).
pub fn cases(project: &Arc<Project>, board: &Board, disk: &DiskProfile, cases: &mut Vec<Case>) {
    let b = board.name.clone();
    let arch = board.arch.name().to_string();
    type DiskCheck = fn(&DiskTrial) -> Result<()>;
    let table: [(&str, &str, DiskCheck); 5] = [
        ("disk-hello", "hello", |t| {
            // Words that a boot route must not re-split or unquote on the way.
            let out = boot_disk(t.dir, &["--", "it's", "two  spaces", "$HOME", r"a\b"])?;
            expect_status(&out, 0)?;
            expect_stdout(
                &out,
                &format!(
                    "Hello from WebAssembly on {}!\narguments: it's two  spaces $HOME a\\b\n",
                    t.arch
                ),
            )
        }),
        ("disk-exit-7-last-bus", "exit-code", |t| {
            let bus = t.disk.buses.last().context("the board lists no disk bus")?;
            let out = boot_disk(t.dir, &["--disk-bus", bus, "--", "7"])?;
            expect_status(&out, 7)?;
            expect_stdout(&out, "")
        }),
        ("disk-trap", "trap", |t| {
            let report = t.scratch.join("report.json");
            let out = boot_disk(t.dir, &["--report", &report.display().to_string()])?;
            expect_status(&out, 134)?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            ensure!(
                stdout.starts_with("about to trap\n") && stdout.contains("unreachable"),
                "the console shows:\n{stdout}"
            );
            // The guest's record comes through the serial console too.
            let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report)?)?;
            ensure!(
                report["status"] == 134
                    && report["ended"] == "trap"
                    && report["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("unreachable")),
                "report: {report}"
            );
            Ok(())
        }),
        ("disk-config-edited-with-mtools", "hello", |t| {
            // A copy of the image folder, its disk's command line rewritten by mtools.
            for file in ["disk.raw", "run-disk.sh"] {
                std::fs::copy(t.dir.join(file), t.scratch.join(file))?;
            }
            let old = mtype(
                &t.scratch.join("disk.raw"),
                disk::config::file(t.disk.route),
            )?;
            let cmdline = disk::config::cmdline(t.disk.route, &old)?;
            let edited = format!("{cmdline} -- 'edited' 'on the disk'");
            mcopy(
                &t.scratch.join("disk.raw"),
                disk::config::file(t.disk.route),
                disk::config::render(t.disk.route, &edited).as_bytes(),
                t.scratch,
            )?;
            let out = boot_disk(t.scratch, &["--console"])?;
            expect_status(&out, 0)?;
            let console = String::from_utf8_lossy(&out.stdout).replace('\r', "");
            ensure!(
                console.contains(&format!(
                    "Hello from WebAssembly on {}!\narguments: edited on the disk\n",
                    t.arch
                )) && console.matches("[LOADER] Hermit-WASM loader").count() == 1,
                "the console shows:\n{console}"
            );
            Ok(())
        }),
        ("disk-inspect-reads-back", "hello", |t| {
            // The disk as built: the folder's guest, the default command line.
            let report = inspect_disk(t.dir)?;
            ensure!(
                report["guest_matches_image"] == true
                    && report["cmdline"] == disk::config::DEFAULT_CMDLINE
                    && report["fat_type"] == "Fat32",
                "inspect: {report}"
            );
            // A copy whose disk got another command line and another guest (mtools).
            for file in ["disk.raw", "manifest.json", "guest.elf", "loader.elf"] {
                std::fs::copy(t.dir.join(file), t.scratch.join(file))?;
            }
            let raw = t.scratch.join("disk.raw");
            let edited = "env=HERMIT_WASM_PLATFORM=serial -- -- edited";
            let rendered = disk::config::render(t.disk.route, edited);
            mcopy(
                &raw,
                disk::config::file(t.disk.route),
                rendered.as_bytes(),
                t.scratch,
            )?;
            mcopy(&raw, disk::GUEST_FILE, b"not the image's guest", t.scratch)?;
            let report = inspect_disk(t.scratch)?;
            let guest_size = report["files"]
                .as_array()
                .and_then(|files| files.iter().find(|f| f["path"] == disk::GUEST_FILE))
                .map(|f| f["size"].clone());
            ensure!(
                report["guest_matches_image"] == false
                    && report["cmdline"] == edited
                    && guest_size == Some(serde_json::json!(21)),
                "inspect of the edited copy: {report}"
            );
            Ok(())
        }),
    ];
    if let Some(dt_options) = disk.device_tree_options.clone() {
        // The same disk under firmware that gives ACPI only (as Arm clouds do) and under
        // firmware that gives a device tree: the loader says which it used.
        let case = named(&b, "disk-acpi-and-device-tree-firmware");
        let name = "disk-firmware".to_string();
        let (project, board_name, arch) = (project.clone(), b.clone(), arch.clone());
        cases.push(Case::new(
            case,
            vec![Image::Module {
                board: b.clone(),
                module: "hello".into(),
                name: Some(name.clone()),
            }],
            move |_| {
                let dir = make_disk(&project, &board_name, "hello", &name)?;
                let hello = format!("Hello from WebAssembly on {arch}!\narguments: x\n");
                for (options, says) in [
                    ("", "[LOADER] ACPI: GICD "),
                    (dt_options.as_str(), "[LOADER] the firmware's device tree"),
                ] {
                    let out = boot_disk_with(&dir, &["--console", "--", "x"], options)?;
                    expect_status(&out, 0)?;
                    let console = String::from_utf8_lossy(&out.stdout).replace('\r', "");
                    ensure!(
                        console.contains(says) && console.contains(&hello),
                        "with QEMU options {options:?} the console shows:\n{console}"
                    );
                }
                Ok(())
            },
        ));
    }
    if board.arch.name() == "x86_64" {
        // The runner powers an x86_64 disk boot off itself and halts where it cannot
        // (`platform/power_off.rs`): with the sleep register withheld, the machine must
        // halt after the status line, never reset and run the module again.
        let case = named(&b, "disk-halts-when-it-cannot-power-off");
        let name = "disk-no-power-off".to_string();
        let (project, board_name, profile) = (project.clone(), b.clone(), disk.clone());
        cases.push(Case::new(
            case.clone(),
            vec![Image::Module {
                board: b.clone(),
                module: "exit-code".into(),
                name: Some(name.clone()),
            }],
            move |_| {
                let dir = make_disk(&project, &board_name, "exit-code", &name)?;
                let scratch = scratch(&project, &case)?;
                for file in ["disk.raw", "run-disk.sh"] {
                    std::fs::copy(dir.join(file), scratch.join(file))?;
                }
                let cmdline = format!(
                    "env=HERMIT_WASM_POWER_OFF=none {} -- 5",
                    disk::config::DEFAULT_CMDLINE
                );
                let rendered = disk::config::render(profile.route, &cmdline);
                let raw = scratch.join("disk.raw");
                mcopy(
                    &raw,
                    disk::config::file(profile.route),
                    rendered.as_bytes(),
                    &scratch,
                )?;
                let mut command = Command::new(scratch.join("run-disk.sh"));
                command
                    .args(["--timeout=40", "--console"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                let out = Launcher::spawn(&mut command)?.wait_with_output()?;
                expect_status(&out, 5)?;
                stderr_has(&out, "did not power off (it halted)")?;
                let console = String::from_utf8_lossy(&out.stdout).replace('\r', "");
                ensure!(
                    console.matches("[LOADER] Hermit-WASM loader").count() == 1
                        && console.matches("hermit-wasm: exit status 5").count() == 1,
                    "the console shows:\n{console}"
                );
                Ok(())
            },
        ));
    }
    // `cargo xtask qemu --disk` builds the disk and boots it through run-disk.sh (UEFI on
    // x86_64 and aarch64, U-Boot on riscv64). Its module is a component: an image's
    // payload takes the same road whatever it holds.
    let case = named(&b, "disk-from-cargo-xtask-qemu");
    let (project_, board_name) = (project.clone(), b.clone());
    cases.push(Case::new(
        case,
        vec![Image::Module {
            board: b.clone(),
            module: "p2-tour".into(),
            name: Some("disk-xtask-qemu".into()),
        }],
        move |_| {
            let mut command = Command::new(std::env::current_exe()?);
            command
                .args(["qemu", "--disk", "--board", &board_name])
                .args(["--module", "p2-tour", "--name", "disk-xtask-qemu"])
                .args(["--timeout", "120", "--", "exit-with-code", "3"])
                .current_dir(&project_.root)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let out = Launcher::spawn(&mut command)?.wait_with_output()?;
            expect_status(&out, 3)?;
            stderr_has(&out, "run-disk.sh")
        },
    ));
    // Clouds take UEFI disks only.
    if disk.route == DiskRoute::Uefi {
        let case = named(&b, "disk-cloud-formats");
        let project_ = project.clone();
        let board_name = b.clone();
        cases.push(Case::new(
            case,
            vec![Image::Module {
                board: b.clone(),
                module: "hello".into(),
                name: Some("disk-formats".into()),
            }],
            move |_| cloud_formats_read_back(&project_, &board_name),
        ));
    }
    for (label, module, check) in table {
        let case = named(&b, label);
        let name = label.to_string();
        let project = project.clone();
        let (board_name, arch, disk) = (b.clone(), arch.clone(), disk.clone());
        cases.push(Case::new(
            case.clone(),
            vec![Image::Module {
                board: b.clone(),
                module: module.to_string(),
                name: Some(name.clone()),
            }],
            move |_| {
                let dir = make_disk(&project, &board_name, module, &name)?;
                let scratch = scratch(&project, &case)?;
                check(&DiskTrial {
                    dir: &dir,
                    scratch: &scratch,
                    arch: &arch,
                    disk: &disk,
                })
            },
        ));
    }
}

/// `cargo xtask disk --format gce,azure,qcow2,aws,kubevirt`, each output read back by a
/// reader nobody here wrote (GNU tar, `qemu-img`, `skopeo`, `umoci`) and checked against
/// what its cloud takes.
fn cloud_formats_read_back(project: &Project, board: &str) -> Result<()> {
    let out = Command::new(std::env::current_exe()?)
        .args([
            "disk",
            "--board",
            board,
            "--module",
            "hello",
            "--name",
            "disk-formats",
        ])
        .args(["--format", "gce,azure,qcow2,aws,kubevirt"])
        .current_dir(&project.root)
        .output()?;
    expect_status(&out, 0).context("cargo xtask disk --format")?;
    stderr_has(&out, "register-image --boot-mode uefi")?;
    stderr_has(&out, "hw_firmware_type=uefi")?;
    stderr_has(&out, "skopeo copy oci-archive:")?;
    let dir = project.images().join(board).join("disk-formats");
    let raw = std::fs::metadata(dir.join("disk.raw"))?.len();
    const GIB: u64 = 1 << 30;

    // GCE: exactly one member, disk.raw, a whole number of GiB, in an (old)GNU header.
    let gce = dir.join("disk-gce.tar.gz");
    let listing = Command::new("tar").arg("-tvzf").arg(&gce).output()?;
    expect_status(&listing, 0).context("tar -tvzf")?;
    let listing = String::from_utf8_lossy(&listing.stdout).to_string();
    let lines: Vec<&str> = listing.lines().collect();
    let size: u64 = lines
        .first()
        .and_then(|line| line.split_whitespace().nth(2))
        .and_then(|size| size.parse().ok())
        .context("no size in tar's listing")?;
    ensure!(
        lines.len() == 1
            && lines[0].ends_with(" disk.raw")
            && size.is_multiple_of(GIB)
            && size >= raw,
        "the GCE tarball holds:\n{listing}"
    );
    let mut header = [0u8; 512];
    std::io::Read::read_exact(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&gce)?),
        &mut header,
    )?;
    ensure!(&header[257..265] == b"ustar  \0", "not a GNU tar header");

    // Azure: a fixed VHD (a footer after the data) of the disk's size, a whole number of MiB.
    let info = |file: &str, format: Option<&str>| -> Result<serde_json::Value> {
        let mut command = Command::new("qemu-img");
        command.args(["info", "--output=json"]);
        if let Some(format) = format {
            command.args(["-f", format]);
        }
        let out = command.arg(dir.join(file)).output()?;
        expect_status(&out, 0).context("qemu-img info")?;
        Ok(serde_json::from_slice(&out.stdout)?)
    };
    let vhd = info("disk-azure.vhd", Some("vpc"))?;
    ensure!(
        vhd["virtual-size"] == raw && raw.is_multiple_of(1 << 20),
        "the VHD: {vhd}"
    );
    let vhd_bytes = std::fs::read(dir.join("disk-azure.vhd"))?;
    ensure!(
        vhd_bytes.len() as u64 == raw + 512
            && vhd_bytes[vhd_bytes.len() - 512..].starts_with(b"conectix"),
        "the VHD is not the disk followed by a fixed-disk footer"
    );
    // OpenStack, KubeVirt: qcow2 of the same virtual size.
    let qcow2 = info("disk.qcow2", None)?;
    ensure!(
        qcow2["format"] == "qcow2" && qcow2["virtual-size"] == raw,
        "the qcow2: {qcow2}"
    );
    kubevirt_read_back(project, board, &dir)
}

/// KubeVirt: skopeo reads the OCI archive as an image of the board's architecture with one
/// layer; umoci unpacks it (checking every digest); the layer holds `disk/disk.qcow2`
/// owned by 107:107, mode 0440, the same disk as disk.raw; the VM manifest boots it with EFI.
fn kubevirt_read_back(project: &Project, board: &str, dir: &Path) -> Result<()> {
    let archive = dir.join("disk-kubevirt.oci.tar");
    let out = Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}", archive.display()))
        .output()
        .context("running skopeo (apt-get install skopeo umoci)")?;
    expect_status(&out, 0).context("skopeo inspect")?;
    let image: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let arch = match board.split('-').next() {
        Some("aarch64") => "arm64",
        _ => "amd64",
    };
    ensure!(
        image["Architecture"] == arch
            && image["Os"] == "linux"
            && image["Layers"].as_array().map(Vec::len) == Some(1),
        "skopeo inspect: {image}"
    );

    let scratch = scratch(project, &format!("{board}/kubevirt-read-back"))?;
    let layout = scratch.join("layout");
    std::fs::create_dir_all(&layout)?;
    let out = Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&layout)
        .output()?;
    expect_status(&out, 0).context("tar -xf the OCI archive")?;
    let bundle = scratch.join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:latest", layout.display()))
        .arg(&bundle)
        .output()?;
    expect_status(&out, 0).context("umoci unpack")?;
    let qcow2 = bundle.join("rootfs/disk/disk.qcow2");
    let out = Command::new("qemu-img")
        .args(["compare", "-f", "qcow2", "-F", "raw"])
        .arg(&qcow2)
        .arg(dir.join("disk.raw"))
        .output()?;
    expect_status(&out, 0).context("qemu-img compare: the container's disk and disk.raw")?;

    // Ownership as the tar in the layer says it (a rootless unpack maps owners to ours).
    let layer = image["Layers"][0]
        .as_str()
        .and_then(|digest| digest.strip_prefix("sha256:"))
        .context("the layer's digest")?;
    let out = Command::new("tar")
        .args(["-tvzf"])
        .arg(layout.join("blobs/sha256").join(layer))
        .output()?;
    expect_status(&out, 0).context("tar -tvzf the layer")?;
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    ensure!(
        listing
            .lines()
            .any(|line| line.starts_with("-r--r----- 107/107 ")
                && line.ends_with(" disk/disk.qcow2")),
        "the layer holds:\n{listing}"
    );

    let vm = std::fs::read_to_string(dir.join("kubevirt-vm.yaml"))?;
    for line in [
        "kind: VirtualMachine",
        "secureBoot: false",
        "image: REGISTRY/disk-formats:latest",
    ] {
        ensure!(vm.contains(line), "kubevirt-vm.yaml lacks {line:?}:\n{vm}");
    }
    Ok(())
}

/// `cargo xtask inspect --json` of the image folder `dir`: its `disk` part.
fn inspect_disk(dir: &Path) -> Result<serde_json::Value> {
    let out = Command::new(std::env::current_exe()?)
        .arg("inspect")
        .arg(dir)
        .arg("--json")
        .output()?;
    expect_status(&out, 0).context("cargo xtask inspect")?;
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("inspect --json is not JSON")?;
    Ok(report["disk"].clone())
}
