//! An OCI image archive (an OCI image layout in one tar file, what `skopeo` calls
//! `oci-archive:`) holding files in a single layer. KubeVirt's `containerDisk` is such an
//! image with the VM's disk under `/disk/`.
//!
//! The JSON documents come from the `oci-spec` crate. The archive is reproducible: every
//! timestamp is zero, the gzip header carries no time or name, and the layout holds one
//! manifest whose only annotation is its tag.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use oci_spec::image::{
    Arch, DescriptorBuilder, ImageConfigurationBuilder, ImageIndexBuilder, ImageManifestBuilder,
    MediaType, OciLayoutBuilder, Os, RootFsBuilder, Sha256Digest, SCHEMA_VERSION,
};
use sha2::{Digest, Sha256};

use crate::host::partial_file;

/// The annotation that names a manifest's tag in an image layout's index.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A file of the layer, with its owner and permissions.
pub struct LayerFile<'a> {
    /// Relative, `/`-separated; its parent folders get the same owner.
    pub path: &'a str,
    pub data: &'a [u8],
    pub uid: u64,
    pub gid: u64,
    pub mode: u32,
}

/// Writes `out`: an image for `arch` (Go's names: `amd64`, `arm64`), tagged `tag`, whose one
/// layer holds `files`.
pub fn write(out: &Path, arch: &str, tag: &str, files: &[LayerFile]) -> Result<()> {
    let layer_tar = layer(files)?;
    let diff_id = sha256(&layer_tar);
    let mut gzip = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    gzip.write_all(&layer_tar)?;
    let layer_gz = gzip.finish()?;

    let config = ImageConfigurationBuilder::default()
        .architecture(go_arch(arch)?)
        .os(Os::Linux)
        .rootfs(
            RootFsBuilder::default()
                .diff_ids(vec![format!("sha256:{diff_id}")])
                .build()?,
        )
        .build()?
        .to_string()?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(SCHEMA_VERSION)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(MediaType::ImageConfig, config.as_bytes())?)
        .layers(vec![descriptor(MediaType::ImageLayerGzip, &layer_gz)?])
        .build()?
        .to_string()?;
    let mut manifest_descriptor = descriptor(MediaType::ImageManifest, manifest.as_bytes())?;
    manifest_descriptor.set_annotations(Some([(REF_NAME.to_string(), tag.to_string())].into()));
    let index = ImageIndexBuilder::default()
        .schema_version(SCHEMA_VERSION)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![manifest_descriptor])
        .build()?
        .to_string()?;
    let layout = OciLayoutBuilder::default()
        .image_layout_version("1.0.0")
        .build()?
        .to_string()?;

    partial_file::write_with(out, |partial| {
        let file = std::fs::File::create(partial)?;
        let mut archive = tar::Builder::new(std::io::BufWriter::new(file));
        append(&mut archive, "oci-layout", layout.as_bytes(), 0o644, 0)?;
        append(&mut archive, "index.json", index.as_bytes(), 0o644, 0)?;
        append_dir(&mut archive, "blobs/", 0o755, 0)?;
        append_dir(&mut archive, "blobs/sha256/", 0o755, 0)?;
        for blob in [config.as_bytes(), manifest.as_bytes(), &layer_gz] {
            let name = format!("blobs/sha256/{}", sha256(blob));
            append(&mut archive, &name, blob, 0o644, 0)?;
        }
        archive.into_inner()?.flush()?;
        Ok(())
    })
    .with_context(|| format!("writing the OCI archive {}", out.display()))
}

/// The layer: an uncompressed tar of `files` and their parent folders.
fn layer(files: &[LayerFile]) -> Result<Vec<u8>> {
    let mut archive = tar::Builder::new(Vec::new());
    let mut folders: Vec<String> = Vec::new();
    for file in files {
        let mut parent = String::new();
        for part in file
            .path
            .split('/')
            .rev()
            .skip(1)
            .collect::<Vec<_>>()
            .iter()
            .rev()
        {
            parent.push_str(part);
            parent.push('/');
            if !folders.contains(&parent) {
                folders.push(parent.clone());
                let mut header = header(tar::EntryType::Directory, 0, 0o555, file.uid);
                header.set_gid(file.gid);
                archive.append_data(&mut header, &parent, std::io::empty())?;
            }
        }
        let mut header = header(
            tar::EntryType::Regular,
            file.data.len() as u64,
            file.mode,
            file.uid,
        );
        header.set_gid(file.gid);
        archive.append_data(&mut header, file.path, file.data)?;
    }
    Ok(archive.into_inner()?)
}

fn append<W: Write>(
    archive: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
    mode: u32,
    owner: u64,
) -> Result<()> {
    let mut header = header(tar::EntryType::Regular, data.len() as u64, mode, owner);
    archive.append_data(&mut header, path, data)?;
    Ok(())
}

fn append_dir<W: Write>(
    archive: &mut tar::Builder<W>,
    path: &str,
    mode: u32,
    owner: u64,
) -> Result<()> {
    let mut header = header(tar::EntryType::Directory, 0, mode, owner);
    archive.append_data(&mut header, path, std::io::empty())?;
    Ok(())
}

/// A POSIX (ustar) header with time zero, owned by `owner` (user and group).
fn header(kind: tar::EntryType, size: u64, mode: u32, owner: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(mode);
    header.set_uid(owner);
    header.set_gid(owner);
    header.set_mtime(0);
    header
}

fn descriptor(kind: MediaType, blob: &[u8]) -> Result<oci_spec::image::Descriptor> {
    let digest: Sha256Digest = sha256(blob).parse()?;
    Ok(DescriptorBuilder::default()
        .media_type(kind)
        .size(blob.len() as u64)
        .digest(digest)
        .build()?)
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The OCI (Go) name of a board's architecture.
fn go_arch(arch: &str) -> Result<Arch> {
    match arch {
        "x86_64" => Ok(Arch::Amd64),
        "aarch64" => Ok(Arch::ARM64),
        "riscv64" => Ok(Arch::RISCV64),
        other => anyhow::bail!("no OCI architecture for {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(data: &[u8]) -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!("oci-archive-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join(format!("{}.tar", sha256(data)));
        let file = LayerFile {
            path: "disk/disk.qcow2",
            data,
            uid: 107,
            gid: 107,
            mode: 0o440,
        };
        write(&out, "x86_64", "latest", &[file]).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        std::fs::remove_file(&out).unwrap();
        bytes
    }

    /// Lists `(path, uid, gid, mode)` of a tar's entries.
    fn entries(tar_bytes: &[u8]) -> Vec<(String, u64, u64, u32)> {
        tar::Archive::new(tar_bytes)
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let h = entry.header();
                (
                    entry.path().unwrap().display().to_string(),
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                    h.mode().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn the_same_inputs_give_the_same_bytes() {
        assert_eq!(archive(b"one disk"), archive(b"one disk"));
        assert_ne!(archive(b"one disk"), archive(b"another disk"));
    }

    #[test]
    fn blobs_are_named_by_their_digest_and_the_layer_keeps_owners() {
        let bytes = archive(b"qcow2 bytes");
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut layer = None;
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            if let Some(name) = path.strip_prefix("blobs/sha256/") {
                if !name.is_empty() {
                    assert_eq!(name, sha256(&data), "{path}");
                    if data.starts_with(&[0x1f, 0x8b]) {
                        layer = Some(data);
                    }
                }
            }
        }
        let mut tar_bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&layer.expect("a gzip layer")[..]),
            &mut tar_bytes,
        )
        .unwrap();
        assert_eq!(
            entries(&tar_bytes),
            [
                ("disk/".to_string(), 107, 107, 0o555),
                ("disk/disk.qcow2".to_string(), 107, 107, 0o440)
            ]
        );
    }
}
