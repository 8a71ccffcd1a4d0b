//! The bytes of a bootable disk: a protective MBR, a GPT with one EFI system partition,
//! and in it a FAT32 file system holding the given files. Reproducible: the same files give
//! the same bytes (every FAT time is the DOS epoch, 1980-01-01 00:00; the volume id and
//! the GUIDs are derived from the files' contents). `read` takes such a disk apart again,
//! for `inspect`.

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Seek, SeekFrom, Write};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

const SECTOR: u64 = 512;
const MIB: u64 = 1024 * 1024;
/// Where the partition starts: 1 MiB, the usual alignment.
const PARTITION_START: u64 = MIB;
/// The smallest FAT32 file system: 65,525 clusters of 512 bytes, rounded up to whole MiB.
const MIN_ESP: u64 = 33 * MIB;

/// A file for the EFI system partition, by its path there (`EFI/BOOT/BOOTX64.EFI`).
pub struct EspFile<'a> {
    pub path: &'a str,
    pub data: &'a [u8],
}

/// The disk holding `files` on its EFI system partition.
pub fn build(files: &[EspFile]) -> Result<Vec<u8>> {
    let identity = content_hash(files);
    let payload: u64 = files.iter().map(|f| f.data.len() as u64 + 64 * 1024).sum();
    // Room for the files, their directories and the FATs, in whole MiB.
    let esp_size = (payload + payload / 8 + 2 * MIB)
        .next_multiple_of(MIB)
        .max(MIN_ESP);
    let esp = fat_volume(esp_size, &identity, files)?;

    // The backup GPT (header and 32 sectors of entries) takes the last 33 sectors; a whole
    // MiB after the partition keeps the disk's size a multiple of a MiB.
    let disk_size = PARTITION_START + esp_size + MIB;
    let mut disk = Cursor::new(vec![0u8; disk_size as usize]);
    let mbr = gpt::mbr::ProtectiveMBR::with_lb_size(
        u32::try_from(disk_size / SECTOR - 1).context("disk too large for a protective MBR")?,
    );
    mbr.overwrite_lba0(&mut disk)
        .context("writing the protective MBR")?;
    let mut gpt = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
        .create_from_device(&mut disk, Some(guid(&identity, b"disk")))
        .context("creating the GPT")?;
    let partition = gpt::partition::Partition {
        part_type_guid: gpt::partition_types::EFI,
        part_guid: guid(&identity, b"esp"),
        first_lba: PARTITION_START / SECTOR,
        last_lba: (PARTITION_START + esp_size) / SECTOR - 1,
        flags: 0,
        name: "EFI system partition".to_string(),
    };
    gpt.update_partitions(BTreeMap::from([(1, partition)]))
        .context("writing the partition table")?;
    gpt.write().context("writing the GPT")?;
    disk.seek(SeekFrom::Start(PARTITION_START))?;
    disk.write_all(&esp)?;
    Ok(disk.into_inner())
}

/// What a disk holds, read back through the `gpt` and `fatfs` crates.
pub struct DiskContents {
    pub disk_guid: String,
    /// The EFI system partition's first and last sector (512 bytes each).
    pub esp_sectors: (u64, u64),
    pub fat_type: String,
    /// Every file on the partition, by its path there, sorted by path.
    pub files: Vec<(String, Vec<u8>)>,
}

/// Reads the disk file `path`, written by `build` (or edited since): its GPT must hold
/// exactly one EFI system partition with a FAT file system.
pub fn read(path: &std::path::Path) -> Result<DiskContents> {
    let mut disk = std::fs::File::open(path)?;
    let size = disk.metadata()?.len();
    let gpt = gpt::GptConfig::new()
        .writable(false)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
        .open_from_device(disk.try_clone()?)
        .context("no readable GPT")?;
    let esps: Vec<_> = gpt
        .partitions()
        .values()
        .filter(|p| p.part_type_guid == gpt::partition_types::EFI)
        .collect();
    let [esp] = esps[..] else {
        bail!("the GPT has {} EFI system partitions, not one", esps.len());
    };
    let start = esp.first_lba * SECTOR;
    let end = (esp.last_lba + 1) * SECTOR;
    if end > size || start >= end {
        bail!(
            "the EFI system partition (sectors {}..={}) lies outside the disk",
            esp.first_lba,
            esp.last_lba
        );
    }
    // fatfs opens a volume read-write: it gets a copy of the partition.
    let mut partition = vec![0u8; (end - start) as usize];
    disk.seek(SeekFrom::Start(start))?;
    disk.read_exact(&mut partition)?;
    let fs = fatfs::FileSystem::new(Cursor::new(partition), fatfs::FsOptions::new())
        .context("the EFI system partition holds no FAT file system")?;
    let mut files = Vec::new();
    let mut folders = vec![(String::new(), fs.root_dir())];
    while let Some((prefix, dir)) = folders.pop() {
        for entry in dir.iter() {
            let entry = entry.context("reading a FAT folder")?;
            let name = entry.file_name();
            if name == "." || name == ".." {
                continue;
            }
            let path = format!("{prefix}{name}");
            if entry.is_dir() {
                folders.push((format!("{path}/"), entry.to_dir()));
            } else {
                let mut data = Vec::new();
                entry
                    .to_file()
                    .read_to_end(&mut data)
                    .with_context(|| format!("reading {path} on the EFI system partition"))?;
                files.push((path, data));
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(DiskContents {
        disk_guid: gpt.guid().to_string(),
        esp_sectors: (esp.first_lba, esp.last_lba),
        fat_type: format!("{:?}", fs.fat_type()),
        files,
    })
}

/// A FAT32 volume of `size` bytes holding `files`.
fn fat_volume(size: u64, identity: &[u8; 32], files: &[EspFile]) -> Result<Vec<u8>> {
    let mut volume = Cursor::new(vec![0u8; size as usize]);
    let options = fatfs::FormatVolumeOptions::new()
        .fat_type(fatfs::FatType::Fat32)
        .bytes_per_cluster(SECTOR as u32)
        .volume_id(u32::from_le_bytes(identity[..4].try_into().unwrap()))
        .volume_label(*b"HERMIT-WASM");
    fatfs::format_volume(&mut volume, options).context("formatting the FAT32 file system")?;
    {
        let options = fatfs::FsOptions::new().time_provider(&DOS_EPOCH);
        let fs = fatfs::FileSystem::new(&mut volume, options)
            .context("opening the new FAT32 file system")?;
        for file in files {
            let (dirs, name) = match file.path.rsplit_once('/') {
                Some((dirs, name)) => (Some(dirs), name),
                None => (None, file.path),
            };
            let mut dir = fs.root_dir();
            for part in dirs.into_iter().flat_map(|d| d.split('/')) {
                dir = match dir.open_dir(part) {
                    Ok(existing) => existing,
                    Err(_) => dir.create_dir(part)?,
                };
            }
            let mut out = dir
                .create_file(name)
                .with_context(|| format!("creating {} on the FAT32 file system", file.path))?;
            out.truncate()?;
            out.write_all(file.data)
                .with_context(|| format!("writing {} to the FAT32 file system", file.path))?;
        }
        fs.unmount().context("closing the FAT32 file system")?;
    }
    Ok(volume.into_inner())
}

/// Every file and folder is dated 1980-01-01 00:00, the first date FAT can hold.
#[derive(Debug)]
struct DosEpoch;

static DOS_EPOCH: DosEpoch = DosEpoch;

impl fatfs::TimeProvider for DosEpoch {
    fn get_current_date(&self) -> fatfs::Date {
        fatfs::Date {
            year: 1980,
            month: 1,
            day: 1,
        }
    }

    fn get_current_date_time(&self) -> fatfs::DateTime {
        fatfs::DateTime {
            date: self.get_current_date(),
            time: fatfs::Time {
                hour: 0,
                min: 0,
                sec: 0,
                millis: 0,
            },
        }
    }
}

fn content_hash(files: &[EspFile]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for file in files {
        hash.update((file.path.len() as u64).to_le_bytes());
        hash.update(file.path.as_bytes());
        hash.update((file.data.len() as u64).to_le_bytes());
        hash.update(file.data);
    }
    hash.finalize().into()
}

/// A version-4-shaped GUID derived from the disk's contents and `what`.
fn guid(identity: &[u8; 32], what: &[u8]) -> uuid::Uuid {
    let digest = Sha256::new()
        .chain_update(identity)
        .chain_update(what)
        .finalize();
    let bytes: [u8; 16] = digest[..16].try_into().unwrap();
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files<'a>(guest: &'a [u8]) -> Vec<EspFile<'a>> {
        vec![
            EspFile {
                path: "EFI/BOOT/BOOTX64.EFI",
                data: b"MZ loader",
            },
            EspFile {
                path: "hermit-wasm/guest.elf",
                data: guest,
            },
        ]
    }

    #[test]
    fn the_same_files_give_the_same_bytes_and_others_other_guids() {
        let a = build(&files(b"guest one")).unwrap();
        assert_eq!(a, build(&files(b"guest one")).unwrap());
        let b = build(&files(b"guest two")).unwrap();
        assert_ne!(
            a[512..1024],
            b[512..1024],
            "the GPT header (disk GUID) is the same"
        );
        assert_eq!(a.len() as u64 % MIB, 0);
    }

    /// `read` of `bytes`, through a temporary file.
    fn read_bytes(bytes: &[u8]) -> Result<DiskContents> {
        let path = std::env::temp_dir().join(format!(
            "disk-image-test-{}-{:x}",
            std::process::id(),
            Sha256::digest(bytes)
        ));
        std::fs::write(&path, bytes)?;
        let contents = read(&path);
        std::fs::remove_file(&path)?;
        contents
    }

    #[test]
    fn read_gives_back_every_file() {
        let disk = build(&files(b"the guest")).unwrap();
        let contents = read_bytes(&disk).unwrap();
        assert_eq!(contents.fat_type, "Fat32");
        assert_eq!(contents.esp_sectors.0, PARTITION_START / SECTOR);
        let names: Vec<(&str, &[u8])> = contents
            .files
            .iter()
            .map(|(path, data)| (path.as_str(), &data[..]))
            .collect();
        assert_eq!(
            names,
            [
                ("EFI/BOOT/BOOTX64.EFI", &b"MZ loader"[..]),
                ("hermit-wasm/guest.elf", &b"the guest"[..])
            ]
        );
        assert!(read_bytes(&disk[..4096]).is_err(), "a cut disk reads back");
        assert!(
            read_bytes(&vec![0u8; 1 << 20]).is_err(),
            "an empty disk reads back"
        );
    }

    #[test]
    fn the_layout_reads_back_with_the_crates_readers() {
        let guest: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        let disk = build(&files(&guest)).unwrap();
        let gpt = gpt::GptConfig::new()
            .writable(false)
            .open_from_device(Cursor::new(disk.clone()))
            .unwrap();
        let partitions = gpt.partitions();
        assert_eq!(partitions.len(), 1);
        let esp = &partitions[&1];
        assert_eq!(esp.part_type_guid, gpt::partition_types::EFI);
        let start = (esp.first_lba * SECTOR) as usize;
        let end = ((esp.last_lba + 1) * SECTOR) as usize;
        let fs = fatfs::FileSystem::new(
            Cursor::new(disk[start..end].to_vec()),
            fatfs::FsOptions::new(),
        )
        .unwrap();
        assert_eq!(fs.fat_type(), fatfs::FatType::Fat32);
        let mut read = Vec::new();
        std::io::Read::read_to_end(
            &mut fs.root_dir().open_file("hermit-wasm/guest.elf").unwrap(),
            &mut read,
        )
        .unwrap();
        assert_eq!(read, guest);
    }
}
