//! x86_64 under UEFI firmware (`BOOTX64.EFI` on a disk's EFI system partition): the guest
//! ELF and the run configuration come from files beside the loader on that partition.
//!
//! Kernel 0.11 knows this hand-off (`env::is_uefi()`: the device tree's first compatible is
//! `hermit,uefi`): it keeps the firmware's identity-mapped page tables, maps nothing for
//! ACPI tables or the I/O APIC, and takes its frames from the LARGEST `/memory` region
//! only. So the device tree lists the RAM that is free once boot services have exited
//! (conventional and boot-services memory), and the guest, its ELF file and the loader
//! itself stay in loader memory, which that list leaves out.

#[path = "../device_tree.rs"]
mod device_tree;
#[path = "../port_io.rs"]
mod port_io;
#[path = "../serial.rs"]
pub mod serial;
#[path = "../tsc.rs"]
mod tsc;

use alloc::vec::Vec;
use core::arch::asm;
use core::mem::MaybeUninit;
use core::num::NonZeroU64;
use core::ops::Range;

use hermit_entry::boot_info::{BootInfo, HardwareInfo, PlatformInfo, RawBootInfo, SerialPortBase};
use hermit_entry::elf::KernelObject;
use log::LevelFilter;
use uefi::boot::{self, AllocateType, MemoryType};
use uefi::mem::memory_map::MemoryMap;
use uefi::proto::media::file::{File, FileAttribute, FileMode, RegularFile};
use uefi::table::cfg::ConfigTableEntry;
use uefi::{cstr16, CStr16, Status};

use self::device_tree::Machine;
use crate::{handoff, logger};

const PAGE_SIZE: u64 = 0x1000;
/// The kernel maps its image with 2 MiB pages.
const GUEST_ALIGN: u64 = 0x20_0000;

/// The guest ELF on the EFI system partition.
const GUEST_PATH: &CStr16 = cstr16!("\\hermit-wasm\\guest.elf");
/// The run configuration: the kernel command line, as text.
const CONFIG_PATH: &CStr16 = cstr16!("\\hermit-wasm\\cmdline.txt");

#[uefi::entry]
fn main() -> Status {
    serial::init();
    logger::init(LevelFilter::Info);
    println!("[LOADER] Hermit-WASM loader (x86_64, UEFI)");

    let guest_elf = read_file(GUEST_PATH);
    let cmdline = core::str::from_utf8(read_file(CONFIG_PATH))
        .unwrap_or_else(|_| panic!("{CONFIG_PATH} is not UTF-8 text"))
        .trim();
    let rsdp = uefi::system::with_config_table(|entries| {
        entries
            .iter()
            .find(|e| e.guid == ConfigTableEntry::ACPI2_GUID)
            .map(|e| e.address as u64)
    });
    match rsdp {
        Some(rsdp) => println!("[LOADER] ACPI RSDP at {rsdp:#x}"),
        None => println!("[LOADER] the firmware gives no ACPI 2.0 RSDP"),
    }

    let object = KernelObject::parse(guest_elf)
        .unwrap_or_else(|err| panic!("the guest ELF cannot be booted: {err}"));
    assert!(
        object.start_addr().is_none(),
        "the guest ELF is not relocatable"
    );
    let size = object.mem_size() as u64;
    let pages = (size + GUEST_ALIGN).div_ceil(PAGE_SIZE) as usize;
    let memory = boot::allocate_pages(AllocateType::AnyPages, MemoryType::LOADER_DATA, pages)
        .expect("no memory for the guest");
    let start = (memory.as_ptr() as u64).next_multiple_of(GUEST_ALIGN);
    // SAFETY: `start..start + size` lies inside the pages just allocated for it, which
    // nothing else refers to; the firmware maps memory one to one.
    let target =
        unsafe { core::slice::from_raw_parts_mut(start as *mut MaybeUninit<u8>, size as usize) };
    let guest = object.load_kernel(target, start);
    println!(
        "[LOADER] guest loaded at {:#x?}, entry point {:#x}",
        guest.load_info.kernel_image_addr_range, guest.entry_point
    );
    let tsc_khz = tsc::measure_khz();

    println!("[LOADER] leaving the firmware's boot services");
    // SAFETY: nothing of boot services is used from here on: no protocol is open, and the
    // loader's heap is its own static arena.
    let memory_map = unsafe { boot::exit_boot_services(None) };
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

    let device_tree = device_tree::build(&Machine {
        compatible: "hermit,uefi",
        ram: &ram,
        cmdline,
        rsdp,
        tsc_khz,
    });
    let boot_info = handoff::raw_boot_info(BootInfo {
        hardware_info: HardwareInfo {
            phys_addr_range: ram[0].start..ram[ram.len() - 1].end,
            serial_port_base: SerialPortBase::new(serial::COM1),
            device_tree: NonZeroU64::new(device_tree.as_ptr() as u64),
        },
        load_info: guest.load_info,
        platform_info: PlatformInfo::Fdt,
    });
    println!("[LOADER] jumping to the guest");
    // SAFETY: the guest is loaded and relocated; its entry follows the Hermit entry ABI,
    // and the firmware's page tables map all memory one to one.
    unsafe { enter_kernel(guest.entry_point, boot_info) }
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

/// Jumps to the kernel: `rdi` = boot info, `esi` = CPU 0, `rsp` = the LOWEST address of the
/// boot stack (kernel 0.11 `_start` adds the stack size itself), interrupts off.
///
/// # Safety
///
/// `entry` must be a loaded kernel's entry point and `boot_info` its `RawBootInfo`.
unsafe fn enter_kernel(entry: u64, boot_info: &'static RawBootInfo) -> ! {
    // SAFETY: per the caller; the kernel never returns.
    unsafe {
        asm!(
            "cli",
            "mov rsp, {stack}",
            "jmp {entry}",
            stack = in(reg) handoff::kernel_stack_bottom(),
            entry = in(reg) entry,
            in("rdi") boot_info,
            in("rsi") 0u64,
            options(noreturn)
        )
    }
}

/// Stops the CPU for good: a disk boot must never reboot into the module again.
pub fn halt() -> ! {
    loop {
        // SAFETY: halting with interrupts off stops this CPU.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}
