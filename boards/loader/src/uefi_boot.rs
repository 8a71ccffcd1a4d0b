//! What the UEFI loaders of both architectures share: the files beside the loader on its
//! EFI system partition (the guest ELF and the run configuration), the firmware's
//! configuration tables, and the RAM that is free once boot services have exited.

use alloc::vec::Vec;
use core::ops::Range;

use uefi::boot::{self, AllocateType, MemoryType};
use uefi::mem::memory_map::MemoryMap;
use uefi::proto::media::file::{File, FileAttribute, FileMode, RegularFile};
use uefi::{cstr16, CStr16, Guid};

pub const PAGE_SIZE: u64 = 0x1000;

/// The guest ELF on the EFI system partition.
const GUEST_PATH: &CStr16 = cstr16!("\\hermit-wasm\\guest.elf");
/// The run configuration: the kernel command line, as text.
const CONFIG_PATH: &CStr16 = cstr16!("\\hermit-wasm\\cmdline.txt");

/// The guest ELF, in loader memory for good.
pub fn guest_elf() -> &'static [u8] {
    read_file(GUEST_PATH)
}

/// The kernel command line from the run configuration, trimmed.
pub fn cmdline() -> &'static str {
    core::str::from_utf8(read_file(CONFIG_PATH))
        .unwrap_or_else(|_| panic!("{CONFIG_PATH} is not UTF-8 text"))
        .trim()
}

/// The address of the firmware's configuration table `guid`, if it has one.
pub fn config_table(guid: Guid) -> Option<u64> {
    uefi::system::with_config_table(|entries| {
        entries
            .iter()
            .find(|e| e.guid == guid)
            .map(|e| e.address as u64)
    })
}

/// The RAM the firmware's `memory_map` lists as free once boot services have exited
/// (conventional and boot-services memory), adjacent regions merged, the first MiB left out.
#[cfg_attr(target_arch = "aarch64", expect(dead_code))]
pub fn free_ram(memory_map: &impl MemoryMap) -> Vec<Range<u64>> {
    let mut ram: Vec<Range<u64>> = Vec::new();
    for entry in memory_map.entries() {
        let free = matches!(
            entry.ty,
            MemoryType::CONVENTIONAL
                | MemoryType::BOOT_SERVICES_CODE
                | MemoryType::BOOT_SERVICES_DATA
        );
        if !free {
            continue;
        }
        let region = entry.phys_start..entry.phys_start + entry.page_count * PAGE_SIZE;
        match ram.last_mut() {
            Some(last) if last.end == region.start => last.end = region.end,
            _ => ram.push(region),
        }
    }
    ram.retain(|region| region.start >= 0x10_0000);
    assert!(
        !ram.is_empty(),
        "the firmware's memory map lists no free RAM"
    );
    ram
}

/// The whole file at `path` on the loader's own file system, in loader memory for good.
fn read_file(path: &CStr16) -> &'static [u8] {
    let mut fs = boot::get_image_file_system(boot::image_handle())
        .expect("the loader's own file system (the EFI system partition)");
    let mut root = fs
        .open_volume()
        .expect("the EFI system partition's root folder");
    let mut file: RegularFile = root
        .open(path, FileMode::Read, FileAttribute::empty())
        .unwrap_or_else(|err| panic!("cannot open {path} on the EFI system partition: {err}"))
        .into_regular_file()
        .unwrap_or_else(|| panic!("{path} is a folder"));
    file.set_position(RegularFile::END_OF_FILE).expect("seek");
    let len = file.get_position().expect("file size") as usize;
    file.set_position(0).expect("seek");
    let pages = len.div_ceil(PAGE_SIZE as usize).max(1);
    let buffer = boot::allocate_pages(AllocateType::AnyPages, MemoryType::LOADER_DATA, pages)
        .expect("no memory for a file");
    // SAFETY: fresh pages of at least `len` bytes, kept for good (loader memory).
    let bytes = unsafe { core::slice::from_raw_parts_mut(buffer.as_ptr(), len) };
    let mut done = 0;
    while done < len {
        let read = file
            .read(&mut bytes[done..])
            .unwrap_or_else(|err| panic!("reading {path}: {err}"));
        assert!(read > 0, "{path} ended early");
        done += read;
    }
    println!("[LOADER] read {path} ({len} bytes)");
    bytes
}
