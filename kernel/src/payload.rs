//! The payload the guest carries: the image manifest (JSON) and the precompiled module in
//! one blob, and the small record that tells the guest where the blob is. The xtask
//! writes both, the guest and `cargo xtask inspect` read them.
//!
//! Blob layout (little endian): magic `HWASMPL2`, manifest length (u32), module length
//! (u64), manifest bytes, zero padding up to the next multiple of [`MODULE_ALIGN`], module
//! bytes. The blob itself lies at a multiple of [`MODULE_ALIGN`] in the guest's memory, so
//! that the precompiled code can run where it lies.
//!
//! The guest ELF is linked once per board with an empty [`Location`] record in the
//! [`SECTION`] section; each image appends its blob to a copy of that ELF as a load
//! segment of its own and fills the record in (`xtask/src/image/payload_segment.rs`). Record
//! layout (little endian, [`LOCATION_LEN`] bytes): magic `HWASMAT1`, the blob's address
//! minus the record's (i64, unchanged by relocation), the blob's length (u64, 0 in the
//! unfilled record), 8 reserved zero bytes.

use anyhow::{bail, Context, Result};

pub const MAGIC: &[u8; 8] = b"HWASMPL2";
const HEADER: usize = 8 + 4 + 8;

/// Where the module starts in the blob, and the least alignment of the blob in memory:
/// a page. Code compiled for a `.text` at a page boundary (aarch64's `adrp` addresses 4 KiB
/// pages) runs from any page boundary, and Wasmtime asks our code-publishing hook for
/// page-aligned code (`platform/code_memory.rs`). The precompiled module lays its sections
/// out within itself (`.text` at 64 KiB on aarch64, 4 KiB elsewhere).
pub const MODULE_ALIGN: usize = 4096;

/// The ELF section that holds the guest's [`Location`] record.
pub const SECTION: &str = ".hermit_wasm";

pub const LOCATION_MAGIC: &[u8; 8] = b"HWASMAT1";
pub const LOCATION_LEN: usize = 32;

/// The record as the guest is linked with it: magic, no blob.
pub const EMPTY_LOCATION: [u8; LOCATION_LEN] = {
    let mut record = [0u8; LOCATION_LEN];
    let mut i = 0;
    while i < LOCATION_MAGIC.len() {
        record[i] = LOCATION_MAGIC[i];
        i += 1;
    }
    record
};

/// Where the payload blob lies, relative to the location record itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// The blob's address minus the record's address.
    pub offset: i64,
    pub len: u64,
}

impl Location {
    pub fn encode(self) -> [u8; LOCATION_LEN] {
        let mut record = EMPTY_LOCATION;
        record[8..16].copy_from_slice(&self.offset.to_le_bytes());
        record[16..24].copy_from_slice(&self.len.to_le_bytes());
        record
    }

    /// Reads a record: `None` for the empty one a guest is linked with.
    pub fn decode(record: &[u8]) -> Result<Option<Location>> {
        if record.len() < LOCATION_LEN || &record[..8] != LOCATION_MAGIC {
            bail!("not a Hermit-WASM payload location record (bad magic)");
        }
        let offset = i64::from_le_bytes(record[8..16].try_into().unwrap());
        let len = u64::from_le_bytes(record[16..24].try_into().unwrap());
        Ok((len != 0).then_some(Location { offset, len }))
    }
}

/// A decoded payload, borrowing from the blob.
#[derive(Debug, PartialEq, Eq)]
pub struct Payload<'a> {
    pub manifest: &'a [u8],
    pub module: &'a [u8],
}

/// Where the module starts after a manifest of `manifest_len` bytes.
fn module_start(manifest_len: usize) -> usize {
    (HEADER + manifest_len).next_multiple_of(MODULE_ALIGN)
}

pub fn encode(manifest: &[u8], module: &[u8]) -> Vec<u8> {
    let start = module_start(manifest.len());
    let mut blob = Vec::with_capacity(start + module.len());
    blob.extend_from_slice(MAGIC);
    blob.extend_from_slice(&(manifest.len() as u32).to_le_bytes());
    blob.extend_from_slice(&(module.len() as u64).to_le_bytes());
    blob.extend_from_slice(manifest);
    blob.resize(start, 0);
    blob.extend_from_slice(module);
    blob
}

pub fn decode(blob: &[u8]) -> Result<Payload<'_>> {
    if blob.len() < HEADER || &blob[..8] != MAGIC {
        bail!("not a Hermit-WASM payload (bad magic)");
    }
    let manifest_len = u32::from_le_bytes(blob[8..12].try_into().unwrap()) as usize;
    let module_len = u64::from_le_bytes(blob[12..20].try_into().unwrap());
    let module_len = usize::try_from(module_len).context("module length")?;
    let module_start = module_start(manifest_len);
    let end = module_start
        .checked_add(module_len)
        .context("payload length overflows")?;
    if blob.len() < end {
        bail!("truncated payload: {} bytes, header says {end}", blob.len());
    }
    Ok(Payload {
        manifest: &blob[HEADER..HEADER + manifest_len],
        module: &blob[module_start..end],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_round_trips() {
        let blob = encode(b"{\"a\":1}", b"\0asm-ish");
        let payload = decode(&blob).unwrap();
        assert_eq!(payload.manifest, b"{\"a\":1}");
        assert_eq!(payload.module, b"\0asm-ish");
    }

    #[test]
    fn the_module_starts_on_a_module_align_boundary_of_the_blob() {
        for len in [
            0,
            1,
            MODULE_ALIGN - HEADER - 1,
            MODULE_ALIGN - HEADER,
            MODULE_ALIGN,
        ] {
            let manifest = vec![b'x'; len];
            let blob = encode(&manifest, b"module");
            let payload = decode(&blob).unwrap();
            assert_eq!(payload.manifest, &manifest[..]);
            let offset = payload.module.as_ptr() as usize - blob.as_ptr() as usize;
            assert_eq!(offset % MODULE_ALIGN, 0, "manifest of {len} bytes");
            assert!(offset >= HEADER + len && offset < HEADER + len + MODULE_ALIGN);
        }
    }

    #[test]
    fn a_location_round_trips_and_the_empty_one_reads_as_none() {
        let at = Location {
            offset: -0x1234,
            len: 99,
        };
        assert_eq!(Location::decode(&at.encode()).unwrap(), Some(at));
        assert_eq!(Location::decode(&EMPTY_LOCATION).unwrap(), None);
        assert!(Location::decode(b"HWASMPL1 and more than thirty-two bytes").is_err());
        assert!(Location::decode(&EMPTY_LOCATION[..16]).is_err());
    }

    #[test]
    fn garbage_and_truncation_are_refused() {
        assert!(decode(b"not a payload at all").is_err());
        let blob = encode(b"{}", b"0123456789");
        let err = decode(&blob[..blob.len() - 1]).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }
}
