//! The payload the guest embeds: the image manifest (JSON) and the precompiled module in
//! one blob. The xtask writes it, the guest and `cargo xtask inspect` read it.
//!
//! Layout (little endian): magic `HWASMPL1`, manifest length (u32), module length (u64),
//! manifest bytes, zero padding to a multiple of 16, module bytes.

use anyhow::{bail, Context, Result};

pub const MAGIC: &[u8; 8] = b"HWASMPL1";
const HEADER: usize = 8 + 4 + 8;

/// The ELF section the guest keeps its payload in.
pub const SECTION: &str = ".hermit_wasm";

/// A decoded payload, borrowing from the blob.
#[derive(Debug, PartialEq, Eq)]
pub struct Payload<'a> {
    pub manifest: &'a [u8],
    pub module: &'a [u8],
}

fn padded(len: usize) -> usize {
    len.div_ceil(16) * 16
}

pub fn encode(manifest: &[u8], module: &[u8]) -> Vec<u8> {
    let mut blob = Vec::with_capacity(HEADER + padded(manifest.len()) + module.len());
    blob.extend_from_slice(MAGIC);
    blob.extend_from_slice(&(manifest.len() as u32).to_le_bytes());
    blob.extend_from_slice(&(module.len() as u64).to_le_bytes());
    blob.extend_from_slice(manifest);
    blob.resize(HEADER + padded(manifest.len()), 0);
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
    let module_start = HEADER + padded(manifest_len);
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
    fn the_module_starts_on_a_16_byte_boundary() {
        for len in 0..40 {
            let manifest = vec![b'x'; len];
            let blob = encode(&manifest, b"module");
            let payload = decode(&blob).unwrap();
            let offset = payload.module.as_ptr() as usize - blob.as_ptr() as usize;
            assert_eq!((offset - HEADER) % 16, 0, "manifest of {len} bytes");
        }
    }

    #[test]
    fn garbage_and_truncation_are_refused() {
        assert!(decode(b"not a payload at all").is_err());
        let blob = encode(b"{}", b"0123456789");
        let err = decode(&blob[..blob.len() - 1]).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }
}
