//! The ACPI tables an Arm machine describes itself with when it has no device tree (Arm
//! clouds): MADT for the GICv3 and the CPUs, GTDT for the generic timer's interrupts, SPCR
//! for the console UART (ACPI 6.3: 5.2.12.14 GICC, 5.2.12.15 GICD, 5.2.12.17 GICR,
//! 5.2.24 GTDT; SPCR is Microsoft's table, revision 2).
//!
//! Every table is read from firmware memory by physical address (UEFI maps memory one to
//! one); each read is checked against the length its header states.

use alloc::vec::Vec;
use core::ptr;

/// What the kernel needs to know, in ACPI's terms.
pub struct Hardware {
    /// The GIC distributor's base.
    pub gicd: u64,
    /// The redistributors: base and length of the region that holds all of them.
    pub gicr: (u64, u64),
    /// The CPUs' MPIDR affinity values (enabled CPUs only).
    pub cpus: Vec<u64>,
    /// Secure EL1, non-secure EL1, virtual and EL2 timer interrupts: (GSIV, flags), where
    /// flags bit 0 = edge-triggered and bit 1 = active low.
    pub timers: [(u32, u32); 4],
    /// The console UART's MMIO base, SPCR interface type, and register width in bits (the
    /// GAS's; 8 or 32 on a 16550).
    pub uart: Option<(u64, u8, u8)>,
}

/// SPCR interface types of the PL011 family (a data register at the base, a flag register
/// with "transmit FIFO full" at 0x18): PL011, SBSA generic UART (32-bit and not).
pub const SPCR_PL011_FAMILY: [u8; 3] = [0x03, 0x0d, 0x0e];
/// SPCR interface types of the 16550 family (transmit register at the base): full 16550,
/// and 16550-compatible with its parameters in the GAS (Graviton's PCI UART).
pub const SPCR_16550_FAMILY: [u8; 2] = [0x00, 0x12];

/// A table in memory: its bytes, as long as its header says.
struct Table {
    bytes: &'static [u8],
}

impl Table {
    /// # Safety
    ///
    /// `address` must hold an ACPI table (a 36-byte header and `length` bytes), readable.
    unsafe fn at(address: u64) -> Table {
        // SAFETY: per the caller, the header is readable.
        let length = unsafe { ptr::read_unaligned((address + 4) as *const u32) } as usize;
        assert!(
            length >= 36,
            "the ACPI table at {address:#x} is {length} bytes long"
        );
        // SAFETY: per the caller, the whole table is readable.
        let bytes = unsafe { core::slice::from_raw_parts(address as *const u8, length) };
        Table { bytes }
    }

    fn signature(&self) -> &[u8] {
        &self.bytes[..4]
    }

    fn u8(&self, offset: usize) -> u8 {
        self.bytes[offset]
    }

    fn u32(&self, offset: usize) -> u32 {
        u32::from_le_bytes(self.bytes[offset..offset + 4].try_into().unwrap())
    }

    fn u64(&self, offset: usize) -> u64 {
        u64::from_le_bytes(self.bytes[offset..offset + 8].try_into().unwrap())
    }
}

/// Reads MADT, GTDT and SPCR through the ACPI 2.0 RSDP at `rsdp`.
///
/// # Safety
///
/// `rsdp` must be the firmware's RSDP, and the tables it leads to must be readable.
pub unsafe fn read(rsdp: u64) -> Hardware {
    // SAFETY: per the caller; an ACPI 2.0 RSDP is 36 bytes.
    let rsdp_bytes = unsafe { core::slice::from_raw_parts(rsdp as *const u8, 36) };
    assert!(
        &rsdp_bytes[..8] == b"RSD PTR " && rsdp_bytes[15] >= 2,
        "no ACPI 2.0 RSDP at {rsdp:#x}"
    );
    let xsdt_address = u64::from_le_bytes(rsdp_bytes[24..32].try_into().unwrap());
    // SAFETY: the RSDP points to the XSDT.
    let xsdt = unsafe { Table::at(xsdt_address) };
    assert_eq!(xsdt.signature(), b"XSDT", "the RSDP's XSDT");
    let tables: Vec<Table> = (36..xsdt.bytes.len())
        .step_by(8)
        // SAFETY: the XSDT lists the addresses of tables.
        .map(|offset| unsafe { Table::at(xsdt.u64(offset)) })
        .collect();
    let find = |signature: &[u8; 4]| tables.iter().find(|t| t.signature() == signature);

    let madt = find(b"APIC").expect("the firmware's ACPI tables have no MADT");
    let mut gicd = None;
    let mut gicr_ranges: Vec<(u64, u64)> = Vec::new();
    let mut gicc_redistributors: Vec<u64> = Vec::new();
    let mut cpus = Vec::new();
    let mut offset = 44;
    while offset + 2 <= madt.bytes.len() {
        let (kind, length) = (madt.u8(offset), madt.u8(offset + 1) as usize);
        assert!(
            length >= 2 && offset + length <= madt.bytes.len(),
            "a MADT entry at offset {offset} runs past the table"
        );
        match kind {
            // GICC: flags bit 0 = enabled; the GICR base (0 where a GICR entry covers it).
            0x0b if length >= 76 && madt.u32(offset + 12) & 1 != 0 => {
                cpus.push(madt.u64(offset + 68));
                let gicr = madt.u64(offset + 60);
                if gicr != 0 {
                    gicc_redistributors.push(gicr);
                }
            }
            0x0c if length >= 24 => {
                let version = madt.u8(offset + 20);
                assert!(
                    version == 0 || version >= 3,
                    "the machine's GIC is version {version}; the kernel drives a GICv3 only"
                );
                gicd = Some(madt.u64(offset + 8));
            }
            0x0e if length >= 16 => {
                gicr_ranges.push((madt.u64(offset + 4), u64::from(madt.u32(offset + 12))));
            }
            _ => {}
        }
        offset += length;
    }
    let gicd = gicd.expect("the MADT has no GIC distributor");
    // One range holding every redistributor: the GICR entries', or 128 KiB per CPU (two
    // 64 KiB frames of a GICv3 redistributor) from the GICC entries.
    if gicr_ranges.is_empty() {
        gicr_ranges = gicc_redistributors
            .iter()
            .map(|&base| (base, 0x2_0000))
            .collect();
    }
    let start = gicr_ranges.iter().map(|&(base, _)| base).min();
    let end = gicr_ranges.iter().map(|&(base, len)| base + len).max();
    let (Some(start), Some(end)) = (start, end) else {
        panic!("the MADT names no GIC redistributor");
    };
    let gicr = (start, end - start);
    assert!(!cpus.is_empty(), "the MADT lists no enabled CPU");

    let gtdt = find(b"GTDT").expect("the firmware's ACPI tables have no GTDT");
    let timers = [48, 56, 64, 72].map(|at| (gtdt.u32(at), gtdt.u32(at + 4)));

    let uart = find(b"SPCR").map(|spcr| {
        // The base address is a Generic Address Structure; 0 = system memory.
        assert_eq!(spcr.u8(40), 0, "the SPCR UART is not in memory space");
        (spcr.u64(44), spcr.u8(36), spcr.u8(41))
    });
    Hardware {
        gicd,
        gicr,
        cpus,
        timers,
        uart,
    }
}
