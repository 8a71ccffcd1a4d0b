//! How the machine powers itself off, read from the firmware's ACPI tables and handed to
//! the runner in its environment (`HERMIT_WASM_POWER_OFF`, parsed by the kernel crate's
//! `platform/power_off.rs`).
//!
//! Kernel 0.11 powers off through PM1a only, and resets the machine where there is none
//! (hardware-reduced ACPI, as on Azure Gen2): the firmware would boot the disk and run the
//! module again. So the runner ends a disk boot itself: it writes the sleep register named
//! here, then halts for good. Read (ACPI 6.3): FADT PM1a_CNT_BLK (offset 64) and
//! X_PM1a_CNT_BLK (172), the flags (112, bit 20 HW_REDUCED_ACPI), SLEEP_CONTROL_REG (244),
//! the DSDT (40, X_DSDT 140), whose `\_S5` package gives SLP_TYPa.

use alloc::format;
use alloc::string::String;
use core::{ptr, slice};

/// What the runner is told: `io16:PORT:VALUE`, `io8:PORT:VALUE` (hexadecimal), or `none`.
pub fn spec(rsdp: Option<u64>) -> String {
    // SAFETY: the firmware maps memory one to one and its RSDP leads to its tables.
    match rsdp.and_then(|rsdp| unsafe { find(rsdp) }) {
        Some(register) => register,
        None => String::from("none"),
    }
}

/// Bytes of the ACPI table at `address`, as long as its header says.
///
/// # Safety
///
/// `address` must hold a readable ACPI table.
unsafe fn table(address: u64) -> &'static [u8] {
    // SAFETY: per the caller, the header is readable.
    let length = unsafe { ptr::read_unaligned((address + 4) as *const u32) } as usize;
    // SAFETY: per the caller, the whole table is.
    unsafe { slice::from_raw_parts(address as *const u8, length.max(36)) }
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// # Safety
///
/// `rsdp` must be the firmware's ACPI 2.0 RSDP, and its tables readable.
unsafe fn find(rsdp: u64) -> Option<String> {
    // SAFETY: per the caller.
    let rsdp = unsafe { slice::from_raw_parts(rsdp as *const u8, 36) };
    // SAFETY: the RSDP names the XSDT.
    let xsdt = unsafe { table(u64_at(rsdp, 24)?) };
    let fadt = (36..xsdt.len())
        .step_by(8)
        .filter_map(|at| u64_at(xsdt, at))
        // SAFETY: the XSDT lists tables.
        .map(|address| unsafe { table(address) })
        .find(|t| t.starts_with(b"FACP"))?;
    let dsdt = u64_at(fadt, 140)
        .filter(|&a| a != 0)
        .or_else(|| u32_at(fadt, 40).map(u64::from))?;
    // SAFETY: the FADT names the DSDT.
    let slp_typ = s5_sleep_type(unsafe { table(dsdt) })?;
    let hardware_reduced = u32_at(fadt, 112).is_some_and(|flags| flags & (1 << 20) != 0);
    if hardware_reduced {
        // SLEEP_CONTROL_REG: a generic address; only a port the runner can write is used.
        let gas = fadt.get(244..256)?;
        let address = u64_at(gas, 4)?;
        (gas[0] == 1 && address != 0).then(|| {
            let value = ((slp_typ & 7) << 2) | (1 << 5);
            format!("io8:{address:#x}:{value:#x}")
        })
    } else {
        // X_PM1a_CNT_BLK when it names a port, else PM1a_CNT_BLK.
        let x_port = fadt
            .get(172..184)
            .filter(|gas| gas[0] == 1)
            .and_then(|gas| u64_at(gas, 4))
            .filter(|&port| port != 0);
        let port = x_port.or_else(|| u32_at(fadt, 64).map(u64::from).filter(|&p| p != 0))?;
        let value = (u16::from(slp_typ) << 10) | (1 << 13);
        Some(format!("io16:{port:#x}:{value:#x}"))
    }
}

/// SLP_TYPa (3 bits) from the DSDT's `\_S5` object: NameOp, `_S5_` (or `\_S5_`),
/// PackageOp, PkgLength, NumElements, then the first element (BytePrefix and a byte,
/// ZeroOp or OneOp). Each occurrence of the name is tried; anything else is no answer.
fn s5_sleep_type(dsdt: &[u8]) -> Option<u8> {
    dsdt.windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"_S5_")
        .find_map(|(at, _)| {
            let name_op = match at.checked_sub(1).map(|i| dsdt[i]) {
                Some(b'\\') => at.checked_sub(2).map(|i| dsdt[i]),
                byte => byte,
            };
            if name_op != Some(0x08) {
                return None;
            }
            let rest = dsdt.get(at + 4..)?;
            if *rest.first()? != 0x12 {
                return None;
            }
            let pkg_length_bytes = 1 + usize::from(rest.get(1)? >> 6);
            let element = rest.get(1 + pkg_length_bytes + 1..)?;
            let value = match *element.first()? {
                0x0a => *element.get(1)?,
                0x00 => 0,
                0x01 => 1,
                _ => return None,
            };
            Some(value & 7)
        })
}
