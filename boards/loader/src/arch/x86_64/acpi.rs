//! Finding the ACPI RSDP in the BIOS area, for when the PVH start info does not name it.
//!
//! The kernel scans for the RSDP itself only if the device tree lacks `/hermit,rsdp`, and
//! its scan maps pages that the loader has mapped already. Passing the address avoids both.

use core::slice;

const SIGNATURE: &[u8; 8] = b"RSD PTR ";
/// Bytes covered by the ACPI 1.0 checksum.
const V1_LENGTH: usize = 20;
/// Bytes covered by the extended (ACPI 2.0+) checksum.
const V2_LENGTH: usize = 36;

/// Where the RSDP may lie: the first KiB of the EBDA, and the BIOS ROM area.
const EBDA_POINTER: u64 = 0x40e;
const BIOS_AREA: (u64, u64) = (0xe_0000, 0x10_0000);

/// Returns the physical address of a valid RSDP, if there is one.
pub fn find_rsdp() -> Option<u64> {
    // SAFETY: the first 4 GiB are identity-mapped; the BIOS data area word is plain RAM.
    let ebda = u64::from(unsafe { (EBDA_POINTER as *const u16).read_unaligned() }) << 4;
    let ebda_window = (ebda > 0x400).then_some((ebda, ebda + 1024));
    ebda_window
        .into_iter()
        .chain([BIOS_AREA])
        .find_map(|(start, end)| (start..end).step_by(16).find(|&addr| is_rsdp(addr)))
}

fn is_rsdp(addr: u64) -> bool {
    // SAFETY: `addr` lies in low memory, which is identity-mapped and readable.
    let bytes = unsafe { slice::from_raw_parts(addr as *const u8, V2_LENGTH) };
    if &bytes[..8] != SIGNATURE || checksum(&bytes[..V1_LENGTH]) != 0 {
        return false;
    }
    let revision = bytes[15];
    revision < 2 || checksum(bytes) == 0
}

fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0, |sum: u8, byte| sum.wrapping_add(*byte))
}
