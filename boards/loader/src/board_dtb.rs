//! Reading the device tree that QEMU (aarch64) or OpenSBI (riscv64) hands to the loader:
//! RAM, the UART and the guest ELF.
//!
//! The guest ELF arrives either through QEMU's `guest-loader` device (a `/chosen/module@…`
//! node whose `reg` gives address and size) or through `-initrd`
//! (`/chosen/linux,initrd-start` and `linux,initrd-end`).

use alloc::vec::Vec;
use core::ops::Range;
use core::slice;

use fdt::Fdt;

/// The board's device tree.
pub struct BoardDtb {
    fdt: Fdt<'static>,
    address: u64,
}

impl BoardDtb {
    /// Parses the device tree at `address`.
    ///
    /// # Safety
    ///
    /// `address` must be readable and, if it holds a device tree, the whole tree must be.
    pub unsafe fn read(address: u64) -> Self {
        // SAFETY: per the caller; `from_ptr` checks the header before trusting the size.
        let fdt = unsafe { Fdt::from_ptr(address as *const u8) }
            .unwrap_or_else(|err| panic!("no valid device tree at {address:#x}: {err:?}"));
        Self { fdt, address }
    }

    /// Address range of the blob itself.
    pub fn range(&self) -> Range<u64> {
        self.address..self.address + self.fdt.total_size() as u64
    }

    /// All RAM regions of the `/memory` nodes, sorted by address.
    pub fn ram(&self) -> Vec<Range<u64>> {
        let mut ram: Vec<Range<u64>> = self
            .fdt
            .find_all_nodes("/memory")
            .filter_map(|node| node.reg())
            .flatten()
            .filter_map(|region| {
                let start = region.starting_address as u64;
                Some(start..start + region.size? as u64)
            })
            .collect();
        ram.sort_unstable_by_key(|region| region.start);
        assert!(!ram.is_empty(), "the device tree lists no RAM");
        ram
    }

    /// Base address of the first node compatible with one of `compatible`.
    pub fn device_base(&self, compatible: &[&str]) -> Option<u64> {
        let node = self.fdt.find_compatible(compatible)?;
        let region = node.reg()?.next()?;
        Some(region.starting_address as u64)
    }

    /// The guest ELF's bytes.
    pub fn guest_elf(&self) -> &'static [u8] {
        let range = self.module().or_else(|| self.initrd()).expect(
            "no guest ELF: pass it with -device guest-loader,addr=…,initrd=<elf> or -initrd",
        );
        // `guest-loader` puts the ELF where it is told, RAM or not; reading it then hangs.
        let ram = self.ram();
        assert!(
            ram.iter()
                .any(|region| region.start <= range.start && range.end <= region.end),
            "the guest ELF at {range:#x?} lies outside RAM (up to {:#x}): give the machine \
             more memory or load the ELF lower",
            ram.last().map_or(0, |region| region.end)
        );
        // SAFETY: QEMU loaded the file there; nothing else uses that memory.
        unsafe {
            slice::from_raw_parts(
                range.start as *const u8,
                usize::try_from(range.end - range.start).unwrap(),
            )
        }
    }

    /// The first `/chosen/module@…` node (QEMU's `guest-loader`).
    fn module(&self) -> Option<Range<u64>> {
        let chosen = self.fdt.find_node("/chosen")?;
        let module = chosen
            .children()
            .find(|node| node.name.split('@').next() == Some("module"))?;
        // `guest-loader` writes the cells of the root node; `/chosen` declares none itself.
        let reg = module.property("reg")?.value;
        let (start, size) = match reg.len() {
            16 => (be_u64(&reg[..8]), be_u64(&reg[8..])),
            8 => (be_u64(&reg[..4]), be_u64(&reg[4..])),
            len => panic!("cannot read the guest module's reg property ({len} bytes)"),
        };
        Some(start..start + size)
    }

    /// `/chosen/linux,initrd-start` .. `linux,initrd-end` (`-initrd`).
    fn initrd(&self) -> Option<Range<u64>> {
        let chosen = self.fdt.find_node("/chosen")?;
        let start = chosen.property("linux,initrd-start")?.value;
        let end = chosen.property("linux,initrd-end")?.value;
        Some(be_u64(start)..be_u64(end))
    }
}

/// Reads a big-endian number of 4 or 8 bytes.
fn be_u64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0, |value, &byte| (value << 8) | u64::from(byte))
}
