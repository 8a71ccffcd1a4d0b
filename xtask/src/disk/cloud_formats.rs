//! The disk in the formats clouds import (`cargo xtask disk --format ...`), each written
//! from `disk.raw` by a tool nobody here wrote (`qemu-img`, GNU tar) and named after the
//! format beside it:
//! - `gce`: `disk-gce.tar.gz`, GNU (oldgnu) sparse tar of `disk.raw` padded to whole GiB;
//! - `azure`: `disk-azure.vhd`, a fixed VHD of a whole number of MiB;
//! - `qcow2`: `disk.qcow2` (OpenStack);
//! - `aws`: `disk.raw` itself, for `import-snapshot`;
//! - `kubevirt`: `disk-kubevirt.oci.tar`, an OCI image archive (`oci_archive.rs`) whose layer
//!   holds the qcow2 as `/disk/disk.qcow2` owned by UID 107 (a `containerDisk`), and
//!   `kubevirt-vm.yaml`, a `VirtualMachine` that boots it with EFI.
//!
//! Each prints the cloud's import commands with the settings a UEFI unikernel needs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::disk::oci_archive;
use crate::host::partial_file;
use crate::image::launch_script::{self, Fill};
use crate::plan::profile::{self, Board};

const KUBEVIRT_TEMPLATE: &str = include_str!("../../templates/disk/kubevirt-vm.yaml");
/// KubeVirt's `containerDisk`: the disk under `/disk/`, readable by the `qemu` user (107).
const KUBEVIRT_DISK: &str = "disk/disk.qcow2";
const KUBEVIRT_UID: u64 = 107;
/// The VM manifest written beside the archive.
pub const KUBEVIRT_MANIFEST: &str = "kubevirt-vm.yaml";

const GIB: u64 = 1024 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;

/// A format `--format` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Gce,
    Azure,
    Qcow2,
    Aws,
    Kubevirt,
}

impl Format {
    pub const ALL: [(&'static str, Format); 5] = [
        ("gce", Format::Gce),
        ("azure", Format::Azure),
        ("qcow2", Format::Qcow2),
        ("aws", Format::Aws),
        ("kubevirt", Format::Kubevirt),
    ];

    pub fn parse(name: &str) -> Result<Format> {
        Format::ALL
            .iter()
            .find(|(known, _)| *known == name.trim())
            .map(|&(_, format)| format)
            .with_context(|| {
                let known: Vec<&str> = Format::ALL.iter().map(|(n, _)| *n).collect();
                format!(
                    "--format {name:?} is not a disk format (known: {})",
                    known.join(", ")
                )
            })
    }

    /// Refuses a cloud format for an architecture no cloud offers (riscv64: qcow2 only).
    pub fn check_arch(self, arch: &str) -> Result<()> {
        if arch == "riscv64" && self != Format::Qcow2 {
            bail!(
                "--format {}: no cloud offers {arch} VMs; disk.raw boots on boards with \
                 U-Boot, and --format qcow2 is written for other hypervisors",
                self.name()
            );
        }
        Ok(())
    }

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        Format::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// The file this format is written to, in the image folder.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Gce => "disk-gce.tar.gz",
            Format::Azure => "disk-azure.vhd",
            Format::Qcow2 => "disk.qcow2",
            Format::Aws => "disk.raw",
            Format::Kubevirt => "disk-kubevirt.oci.tar",
        }
    }
}

/// `size` rounded up to a whole multiple of `unit`.
pub fn rounded(size: u64, unit: u64) -> u64 {
    size.div_ceil(unit) * unit
}

/// Writes `format` from `raw` (the disk.raw of the image `name` for `board`) into the same
/// folder; returns the file and prints how to import it.
pub fn write(sh: &Shell, raw: &Path, format: Format, board: &Board, name: &str) -> Result<PathBuf> {
    let arch = board.arch.name();
    format.check_arch(arch)?;
    let dir = raw.parent().context("the disk's folder")?;
    let out = dir.join(format.file_name());
    let size = std::fs::metadata(raw)?.len();
    match format {
        Format::Aws => {}
        Format::Qcow2 => convert(sh, raw, &out, &["-O", "qcow2"])?,
        Format::Azure => {
            // Azure takes a fixed VHD whose size is a whole number of MiB; `force_size`
            // keeps the size exact instead of rounding to a disk geometry.
            if !size.is_multiple_of(MIB) {
                bail!("{} is not a whole number of MiB", raw.display());
            }
            convert(
                sh,
                raw,
                &out,
                &["-O", "vpc", "-o", "subformat=fixed,force_size"],
            )?
        }
        Format::Gce => gce_tarball(sh, raw, &out, size)?,
        Format::Kubevirt => kubevirt(sh, raw, &out, board, name)?,
    }
    eprintln!("{}", import_hint(format, &out, arch));
    Ok(out)
}

/// `qemu-img convert` into a temporary file, renamed into place when complete.
fn convert(sh: &Shell, raw: &Path, out: &Path, options: &[&str]) -> Result<()> {
    let qemu_img =
        which::which("qemu-img").context("qemu-img not found: apt-get install qemu-utils")?;
    partial_file::write_with(out, |partial| {
        cmd!(sh, "{qemu_img} convert -f raw {options...} {raw} {partial}")
            .run()
            .with_context(|| format!("converting {} for {}", raw.display(), out.display()))
    })
}

/// GCE: a gzip'd GNU tar holding exactly `disk.raw`, sparse, of a whole number of GiB.
fn gce_tarball(sh: &Shell, raw: &Path, out: &Path, size: u64) -> Result<()> {
    let staging = tempdir(out)?;
    let result = (|| -> Result<()> {
        let padded = staging.join("disk.raw");
        // A sparse copy: the padding up to the GiB costs nothing on disk or in the tar.
        cmd!(sh, "cp --sparse=always {raw} {padded}").run()?;
        let file = std::fs::OpenOptions::new().write(true).open(&padded)?;
        file.set_len(rounded(size, GIB))?;
        drop(file);
        partial_file::write_with(out, |partial| {
            cmd!(
                sh,
                "tar --format=oldgnu --sparse --owner=0 --group=0 --numeric-owner --mtime=@0 -czf {partial} -C {staging} disk.raw"
            )
            .run()
            .context("writing the GCE tarball (GNU tar)")
        })
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result
}

/// KubeVirt: the disk as qcow2 in a `containerDisk` image archive, and a `VirtualMachine`
/// manifest beside it.
fn kubevirt(sh: &Shell, raw: &Path, out: &Path, board: &Board, name: &str) -> Result<()> {
    let staging = tempdir(out)?;
    let result = (|| -> Result<()> {
        let qcow2 = staging.join("disk.qcow2");
        convert(sh, raw, &qcow2, &["-O", "qcow2"])?;
        let data = std::fs::read(&qcow2)?;
        eprintln!("writing the OCI image archive {}", out.display());
        oci_archive::write(
            out,
            board.arch.name(),
            "latest",
            &[oci_archive::LayerFile {
                path: KUBEVIRT_DISK,
                data: &data,
                uid: KUBEVIRT_UID,
                gid: KUBEVIRT_UID,
                mode: 0o440,
            }],
        )
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result?;
    let manifest = kubevirt_manifest(name, &board.qemu.memory)?;
    let dir = out.parent().context("the disk's folder")?;
    partial_file::write(&dir.join(KUBEVIRT_MANIFEST), manifest.as_bytes(), 0o644)
}

/// The `VirtualMachine` for the image `name` with the board's RAM (`512M` style).
fn kubevirt_manifest(name: &str, memory: &str) -> Result<String> {
    Ok(launch_script::fill(
        KUBEVIRT_TEMPLATE,
        &[
            ("IMAGE", Fill::Code(name)),
            ("NAME", Fill::Code(&kubernetes_name(name))),
            ("MEMORY", Fill::Code(&kubernetes_quantity(memory)?)),
        ],
    ))
}

/// `name` as a Kubernetes object name (RFC 1123 label: lower-case letters, digits and `-`,
/// starting and ending with a letter or digit, at most 63 characters).
fn kubernetes_name(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .take(63)
        .collect();
    let trimmed = mapped.trim_matches('-');
    if trimmed.is_empty() {
        "hermit-wasm".to_string()
    } else {
        trimmed.to_string()
    }
}

/// The board's RAM (QEMU's `-m`, read by `profile::memory_bytes`) as a Kubernetes
/// quantity: whole MiB as `512Mi`, anything else in KiB.
fn kubernetes_quantity(memory: &str) -> Result<String> {
    let bytes = profile::memory_bytes(memory)?;
    Ok(if bytes.is_multiple_of(MIB) {
        format!("{}Mi", bytes / MIB)
    } else {
        format!("{}Ki", bytes.div_ceil(1024))
    })
}

/// A fresh staging folder beside `out`, named after its temporary name.
fn tempdir(out: &Path) -> Result<PathBuf> {
    let dir = partial_file::path(out)?.with_extension("d");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// How to import `file` into the cloud, with the settings a UEFI unikernel needs.
fn import_hint(format: Format, file: &Path, arch: &str) -> String {
    let file = file.display();
    let (gce_arch, aws_arch, azure_arch, openstack_machine) = match arch {
        "aarch64" => ("ARM64", "arm64", "Arm64", "virt"),
        "riscv64" => ("", "", "", "virt"),
        _ => ("X86_64", "x86_64", "x64", "q35"),
    };
    match format {
        Format::Gce => format!(
            "GCE: gsutil cp {file} gs://BUCKET/ && gcloud compute images create NAME \
             --source-uri gs://BUCKET/disk-gce.tar.gz --guest-os-features UEFI_COMPATIBLE \
             --architecture {gce_arch}"
        ),
        Format::Azure => format!(
            "Azure: az storage blob upload --type page --file {file} ... && az image create \
             --source BLOB_URL --os-type Linux --hyper-v-generation V2 --architecture \
             {azure_arch} (a specialized disk: no provisioning agent reports ready)"
        ),
        Format::Qcow2 => format!(
            "OpenStack: openstack image create --disk-format qcow2 --file {file} \
             --property hw_firmware_type=uefi --property hw_machine_type={openstack_machine} \
             NAME"
        ),
        Format::Kubevirt => format!(
            "KubeVirt: skopeo copy oci-archive:{file} docker://REGISTRY/IMAGE:latest, put \
             that reference in {KUBEVIRT_MANIFEST} beside it (EFI, Secure Boot off), then \
             kubectl apply -f {KUBEVIRT_MANIFEST}"
        ),
        Format::Aws => format!(
            "AWS: aws s3 cp {file} s3://BUCKET/ && aws ec2 import-snapshot --disk-container \
             Format=RAW,UserBucket={{S3Bucket=BUCKET,S3Key=disk.raw}}, then aws ec2 \
             register-image --boot-mode uefi --ena-support --architecture {aws_arch} \
             --root-device-name /dev/xvda --block-device-mappings \
             DeviceName=/dev/xvda,Ebs={{SnapshotId=SNAPSHOT}}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_unknown_ones_list_the_known() {
        assert_eq!(Format::parse("gce").unwrap(), Format::Gce);
        assert_eq!(Format::parse(" qcow2").unwrap(), Format::Qcow2);
        let err = Format::parse("vmdk").unwrap_err().to_string();
        assert!(err.contains("gce, azure, qcow2, aws, kubevirt"), "{err}");
    }

    #[test]
    fn kubevirt_names_and_quantities() {
        assert_eq!(kubernetes_name("Disk_Formats.1"), "disk-formats-1");
        assert_eq!(kubernetes_name("--x--"), "x");
        assert_eq!(kubernetes_name("__"), "hermit-wasm");
        assert_eq!(kubernetes_name(&"a".repeat(80)).len(), 63);
        assert_eq!(kubernetes_quantity("512M").unwrap(), "512Mi");
        assert_eq!(kubernetes_quantity("2G").unwrap(), "2048Mi");
        assert_eq!(kubernetes_quantity("1536K").unwrap(), "1536Ki");
        assert!(kubernetes_quantity("M").is_err());
        let yaml = kubevirt_manifest("My_App", "512M").unwrap();
        assert!(yaml.contains("name: my-app\n"), "{yaml}");
        assert!(yaml.contains("memory: 512Mi\n"), "{yaml}");
        assert!(yaml.contains("image: REGISTRY/my-app:latest\n"), "{yaml}");
        assert!(!yaml.contains('@'), "{yaml}");
    }

    #[test]
    fn sizes_round_up_to_whole_units() {
        assert_eq!(rounded(35 * MIB, GIB), GIB);
        assert_eq!(rounded(GIB, GIB), GIB);
        assert_eq!(rounded(GIB + 1, GIB), 2 * GIB);
        assert_eq!(rounded(35 * MIB, MIB), 35 * MIB);
    }
}
