//! Reading the Xen PVH start information (`hvm_start_info`, public Xen ABI
//! `xen/include/public/arch-x86/hvm/start_info.h`) that QEMU passes in `ebx`.

use alloc::vec::Vec;
use core::ffi::CStr;
use core::ops::Range;
use core::slice;

const START_INFO_MAGIC: u32 = 0x336e_c578;
const MEMMAP_TYPE_RAM: u32 = 1;

#[repr(C)]
struct StartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    // Version 1 and later:
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

#[repr(C)]
struct ModlistEntry {
    paddr: u64,
    size: u64,
    cmdline_paddr: u64,
    reserved: u64,
}

#[repr(C)]
struct MemmapEntry {
    addr: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

/// What QEMU tells the loader through PVH.
pub struct PvhBoot {
    /// Usable RAM, sorted by address.
    pub ram: Vec<Range<u64>>,
    /// The `-append` command line.
    pub cmdline: &'static str,
    /// The guest ELF, the first module (`-initrd`).
    pub guest_elf: &'static [u8],
    /// The ACPI RSDP, if QEMU named it.
    pub rsdp: Option<u64>,
}

impl PvhBoot {
    /// Reads the start information at physical address `start_info`.
    ///
    /// # Safety
    ///
    /// `start_info` must be the address QEMU passed in `ebx`, identity-mapped.
    pub unsafe fn read(start_info: u64) -> Self {
        // SAFETY: the caller vouches for the address; the fields are read as QEMU wrote them.
        let info = unsafe { &*(start_info as *const StartInfo) };
        assert_eq!(
            info.magic, START_INFO_MAGIC,
            "no PVH start info at {start_info:#x} (boot the loader with QEMU's -kernel)"
        );
        assert!(
            info.version >= 1 && info.memmap_paddr != 0,
            "the PVH start info has no memory map (version {})",
            info.version
        );

        // SAFETY: QEMU stores `memmap_entries` entries at `memmap_paddr`.
        let memmap = unsafe {
            slice::from_raw_parts(
                info.memmap_paddr as *const MemmapEntry,
                info.memmap_entries as usize,
            )
        };
        for entry in memmap {
            println!(
                "[LOADER] memory {:#012x}..{:#012x} type {}",
                entry.addr,
                entry.addr + entry.size,
                entry.kind
            );
        }
        let mut ram: Vec<Range<u64>> = memmap
            .iter()
            .filter(|entry| entry.kind == MEMMAP_TYPE_RAM)
            .map(|entry| entry.addr..entry.addr + entry.size)
            .collect();
        ram.sort_unstable_by_key(|region| region.start);

        let cmdline = if info.cmdline_paddr == 0 {
            ""
        } else {
            // SAFETY: QEMU stores a NUL-terminated command line at `cmdline_paddr`.
            let cmdline = unsafe { CStr::from_ptr(info.cmdline_paddr as *const _) };
            cmdline
                .to_str()
                .expect("the command line (-append) is not UTF-8")
        };

        assert!(
            info.nr_modules >= 1 && info.modlist_paddr != 0,
            "no guest ELF: pass the Hermit application with -initrd"
        );
        // SAFETY: QEMU stores `nr_modules` module entries at `modlist_paddr`.
        let module = unsafe { &*(info.modlist_paddr as *const ModlistEntry) };
        // SAFETY: QEMU loaded the module's bytes at `paddr` and leaves them alone.
        let guest_elf =
            unsafe { slice::from_raw_parts(module.paddr as *const u8, module.size as usize) };

        Self {
            ram,
            cmdline,
            guest_elf,
            rsdp: (info.rsdp_paddr != 0).then_some(info.rsdp_paddr),
        }
    }
}
