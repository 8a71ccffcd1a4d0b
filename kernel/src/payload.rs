//! The payload the guest carries: the image manifest (JSON) and the precompiled module in
//! one blob, and the small record that tells the guest where the blob is. The xtask
//! writes both, the guest and `cargo xtask inspect` read them.
//!
//! Blob layout (little endian): magic `HWASMPL3`, manifest length (u32), number of
//! modules (u32), each module's length (u64), the manifest bytes, then each module in
//! order, each starting at the next multiple of [`MODULE_ALIGN`] (zero padding between).
//! The first module is the one that runs; the others are the modules it links (the
//! manifest's `module.links`, in the same order). The blob itself lies at a multiple of
//! [`MODULE_ALIGN`] in the guest's memory, so that the precompiled code can run where it
//! lies.
//!
//! The guest ELF is linked once per board with an empty [`Location`] record in the
//! [`SECTION`] section; each image appends its blob to a copy of that ELF as a load
//! segment of its own and fills the record in (`xtask/src/image/payload_segment.rs`). Record
//! layout (little endian, [`LOCATION_LEN`] bytes): magic `HWASMAT1`, the blob's address
//! minus the record's (i64, unchanged by relocation), the blob's length (u64, 0 in the
//! unfilled record), 8 reserved zero bytes.

use anyhow::{bail, Context, Result};

pub const MAGIC: &[u8; 8] = b"HWASMPL3";
/// Magic, manifest length, number of modules; the module lengths follow.
const FIXED_HEADER: usize = 8 + 4 + 4;

/// A bound on the number of modules a blob may say it holds, far above any Hermitfile's
/// links, so that a corrupt count cannot make the reader allocate much.
const MAX_MODULES: usize = 1024;

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
    /// The module that runs.
    pub module: &'a [u8],
    /// The modules it links, in the manifest's order.
    pub links: Vec<&'a [u8]>,
}

/// Where each module starts after a manifest of `manifest_len` bytes, for modules of
/// `lens` bytes.
fn module_starts(manifest_len: usize, lens: &[usize]) -> Option<Vec<usize>> {
    let header = FIXED_HEADER + 8 * lens.len();
    let mut at = header.checked_add(manifest_len)?;
    let mut starts = Vec::with_capacity(lens.len());
    for len in lens {
        at = at.checked_next_multiple_of(MODULE_ALIGN)?;
        starts.push(at);
        at = at.checked_add(*len)?;
    }
    Some(starts)
}

/// The blob of `manifest`, the running `module` and the modules it `links`.
pub fn encode(manifest: &[u8], module: &[u8], links: &[&[u8]]) -> Vec<u8> {
    let modules: Vec<&[u8]> = std::iter::once(module)
        .chain(links.iter().copied())
        .collect();
    let lens: Vec<usize> = modules.iter().map(|m| m.len()).collect();
    let starts = module_starts(manifest.len(), &lens).expect("a payload that fits in memory");
    let mut blob = Vec::new();
    blob.extend_from_slice(MAGIC);
    blob.extend_from_slice(&(manifest.len() as u32).to_le_bytes());
    blob.extend_from_slice(&(modules.len() as u32).to_le_bytes());
    for len in &lens {
        blob.extend_from_slice(&(*len as u64).to_le_bytes());
    }
    blob.extend_from_slice(manifest);
    for (start, module) in starts.iter().zip(&modules) {
        blob.resize(*start, 0);
        blob.extend_from_slice(module);
    }
    blob
}

pub fn decode(blob: &[u8]) -> Result<Payload<'_>> {
    if blob.len() < FIXED_HEADER || &blob[..8] != MAGIC {
        bail!("not a Hermit-WASM payload of this version (bad magic)");
    }
    let manifest_len = u32::from_le_bytes(blob[8..12].try_into().unwrap()) as usize;
    let count = u32::from_le_bytes(blob[12..16].try_into().unwrap()) as usize;
    if count == 0 || count > MAX_MODULES {
        bail!("corrupt payload: it says it holds {count} modules");
    }
    let header = FIXED_HEADER + 8 * count;
    if blob.len() < header {
        bail!(
            "truncated payload: {} bytes, shorter than its header",
            blob.len()
        );
    }
    let lens = blob[FIXED_HEADER..header]
        .chunks_exact(8)
        .map(|len| usize::try_from(u64::from_le_bytes(len.try_into().unwrap())))
        .collect::<Result<Vec<usize>, _>>()
        .context("a module length")?;
    let starts = module_starts(manifest_len, &lens).context("payload length overflows")?;
    let end = starts.last().unwrap() + lens.last().unwrap();
    if blob.len() < end {
        bail!("truncated payload: {} bytes, header says {end}", blob.len());
    }
    let mut modules = starts
        .iter()
        .zip(&lens)
        .map(|(start, len)| &blob[*start..start + len]);
    Ok(Payload {
        manifest: &blob[header..header + manifest_len],
        module: modules.next().unwrap(),
        links: modules.collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_round_trips() {
        let blob = encode(b"{\"a\":1}", b"\0asm-ish", &[]);
        let payload = decode(&blob).unwrap();
        assert_eq!(payload.manifest, b"{\"a\":1}");
        assert_eq!(payload.module, b"\0asm-ish");
        assert!(payload.links.is_empty());
        let blob = encode(b"{}", b"main", &[b"one", b"", b"three"]);
        let payload = decode(&blob).unwrap();
        assert_eq!(payload.module, b"main");
        assert_eq!(payload.links, vec![&b"one"[..], b"", b"three"]);
    }

    #[test]
    fn every_module_starts_on_a_module_align_boundary_of_the_blob() {
        let header = FIXED_HEADER + 8 * 2;
        for len in [
            0,
            1,
            MODULE_ALIGN - header - 1,
            MODULE_ALIGN - header,
            MODULE_ALIGN,
        ] {
            let manifest = vec![b'x'; len];
            let link = vec![7u8; len + 1];
            let blob = encode(&manifest, b"module", &[&link]);
            let payload = decode(&blob).unwrap();
            assert_eq!(payload.manifest, &manifest[..]);
            assert_eq!(payload.links, vec![&link[..]]);
            let offset = |m: &[u8]| m.as_ptr() as usize - blob.as_ptr() as usize;
            let main = offset(payload.module);
            assert_eq!(main % MODULE_ALIGN, 0, "manifest of {len} bytes");
            assert!(main >= header + len && main < header + len + MODULE_ALIGN);
            assert_eq!(offset(payload.links[0]), MODULE_ALIGN + main);
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
        let blob = encode(b"{}", b"0123456789", &[b"linked"]);
        let err = decode(&blob[..blob.len() - 1]).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        let err = decode(&blob[..20]).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        let mut no_modules = blob.clone();
        no_modules[12..16].copy_from_slice(&0u32.to_le_bytes());
        assert!(decode(&no_modules)
            .unwrap_err()
            .to_string()
            .contains("0 modules"));
    }
}
