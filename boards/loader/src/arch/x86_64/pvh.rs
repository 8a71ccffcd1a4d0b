//! Reading the Xen PVH start information (`hvm_start_info`, public Xen ABI
//! `xen/include/public/arch-x86/hvm/start_info.h`) that QEMU passes in `ebx`, and finding
//! the guest ELF: where QEMU loaded it raw (`-device loader`), named by the first word of
//! the command line ([`GUEST_ELF_WORD`]), or else the first module (`-initrd`).

use alloc::vec::Vec;
use core::ffi::CStr;
use core::ops::Range;
use core::slice;

use crate::guest::ELF64_HEADER_LEN;
use crate::guest_in_place::{u16_at, u64_at};

const START_INFO_MAGIC: u32 = 0x336e_c578;
const MEMMAP_TYPE_RAM: u32 = 1;

/// The command line's first word when QEMU loaded the guest ELF itself (`-device loader`):
/// `hermit-wasm.guest-elf=0xADDRESS`. The launch script writes it from the board's
/// `guest-address`; the loader takes it off the line before the kernel sees it.
pub const GUEST_ELF_WORD: &str = "hermit-wasm.guest-elf=";

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
    /// The `-append` command line, without [`GUEST_ELF_WORD`].
    pub cmdline: &'static str,
    /// The guest ELF.
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

        let (guest_elf, cmdline) = match cmdline.strip_prefix(GUEST_ELF_WORD) {
            Some(rest) => {
                let (address, rest) = rest.split_once(' ').unwrap_or((rest, ""));
                let address = address
                    .strip_prefix("0x")
                    .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                    .unwrap_or_else(|| {
                        panic!("{GUEST_ELF_WORD}{address}: not a hexadecimal address (0x…)")
                    });
                (guest_elf_at(address, &ram), rest)
            }
            None => {
                assert!(
                    info.nr_modules >= 1 && info.modlist_paddr != 0,
                    "no guest ELF: pass the Hermit application with -initrd, or load it with \
                     -device loader and name its address with {GUEST_ELF_WORD}0x…"
                );
                // SAFETY: QEMU stores `nr_modules` module entries at `modlist_paddr`.
                let module = unsafe { &*(info.modlist_paddr as *const ModlistEntry) };
                // SAFETY: QEMU loaded the module's bytes at `paddr` and leaves them alone.
                let elf = unsafe {
                    slice::from_raw_parts(module.paddr as *const u8, module.size as usize)
                };
                (elf, cmdline)
            }
        };

        Self {
            ram,
            cmdline,
            guest_elf,
            rsdp: (info.rsdp_paddr != 0).then_some(info.rsdp_paddr),
        }
    }
}

/// The ELF file QEMU loaded raw at `address`: as long as its headers say (the furthest of
/// its program headers, section headers and segments' bytes), all of it in one RAM region.
fn guest_elf_at(address: u64, ram: &[Range<u64>]) -> &'static [u8] {
    let in_ram = |len: u64| {
        address.checked_add(len).is_some_and(|end| {
            ram.iter()
                .any(|region| region.start <= address && end <= region.end)
        })
    };
    assert!(
        address != 0 && in_ram(ELF64_HEADER_LEN as u64),
        "the guest ELF's address {address:#x} ({GUEST_ELF_WORD}) is not in RAM"
    );
    let bytes = |offset: u64, len: u64| -> &'static [u8] {
        assert!(
            offset.checked_add(len).is_some_and(in_ram),
            "the guest ELF at {address:#x} runs past the end of RAM by its headers"
        );
        // SAFETY: checked to lie in RAM, which is identity-mapped; QEMU loaded the file
        // there before the machine started, and nothing has written it since.
        unsafe { slice::from_raw_parts((address + offset) as *const u8, len as usize) }
    };
    let header = bytes(0, ELF64_HEADER_LEN as u64);
    assert!(
        header.starts_with(b"\x7fELF"),
        "no ELF file at {address:#x}, where the launch script has QEMU load guest.elf"
    );
    // Every field read here lies within the bytes read (the header, a program header).
    let field16 = |at| u64::from(u16_at(header, at).unwrap());
    let field64 = |bytes, at| u64_at(bytes, at).unwrap();
    let (phoff, phentsize, phnum) = (field64(header, 32), field16(54), field16(56));
    let (shoff, shentsize, shnum) = (field64(header, 40), field16(58), field16(60));
    let table_end = |offset: u64, entry: u64, count: u64| {
        entry
            .checked_mul(count)
            .and_then(|size| offset.checked_add(size))
            .expect("the guest ELF's header tables overflow")
    };
    let mut len = (ELF64_HEADER_LEN as u64)
        .max(table_end(phoff, phentsize, phnum))
        .max(table_end(shoff, shentsize, shnum));
    if phentsize >= 40 {
        let headers = bytes(phoff, phentsize * phnum);
        for header in headers.chunks_exact(phentsize as usize) {
            let (offset, filesz) = (field64(header, 8), field64(header, 32));
            len = len.max(
                offset
                    .checked_add(filesz)
                    .expect("a guest ELF segment overflows"),
            );
        }
    }
    bytes(0, len)
}
