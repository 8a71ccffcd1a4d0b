//! x86_64: booted by QEMU through the Xen PVH entry (`-M microvm -kernel loader`), the guest
//! ELF loaded by QEMU at the board's `guest-address` (`-device loader`, named on the command
//! line) or passed with `-initrd` (`pvh.rs`).
//!
//! Memory layout: the loader image (code, data, heap with the page tables, device tree and
//! boot information, and the kernel's boot stack) sits at 1 MiB. A guest ELF at 8 MiB stays
//! there, and its kernel and runner go right below it (`guest_in_place.rs`). An `-initrd`
//! lies near the top of low RAM, and the guest is copied to the next 2 MiB boundary above
//! the loader; the kernel may reuse the file's memory once it runs.

mod acpi;
mod device_tree;
mod entry;
mod paging;
mod port_io;
mod pvh;
pub mod serial;
mod tsc;

use alloc::vec::Vec;
use core::arch::asm;
use core::num::NonZeroU64;
use core::ops::Range;

use hermit_entry::boot_info::{BootInfo, HardwareInfo, PlatformInfo, RawBootInfo, SerialPortBase};
use log::LevelFilter;

use self::device_tree::Machine;
use self::paging::PageTables;
use self::pvh::PvhBoot;
use crate::{clock, guest, handoff, logger};

/// The port of QEMU's `isa-debug-exit` device, if the machine has one.
const DEBUG_EXIT_PORT: u16 = 0xf4;

const PAGE_SIZE: u64 = 0x1000;

extern "C" {
    /// End of the loader image including `.bss` (linker script).
    static __loader_end: u8;
}

/// Called by the PVH entry code in long mode, with the first 4 GiB identity-mapped.
#[no_mangle]
extern "C" fn loader_main(start_info: u64) -> ! {
    let started = clock::ticks();
    serial::init();
    logger::init(LevelFilter::Info);
    println!("[LOADER] Hermit-WASM loader (x86_64, PVH)");
    clock::mark("loader", started);

    // SAFETY: `start_info` is what QEMU passed in `ebx`; low memory is identity-mapped.
    let boot = unsafe { PvhBoot::read(start_info) };
    let ram: Vec<Range<u64>> = boot.ram.iter().filter_map(page_aligned).collect();
    assert!(!ram.is_empty(), "the memory map lists no RAM");

    let loader_end = &raw const __loader_end as u64;
    let (guest, _) = guest::load(boot.guest_elf, &ram, loader_end);

    let rsdp = boot.rsdp.or_else(acpi::find_rsdp);
    match rsdp {
        Some(rsdp) => println!("[LOADER] ACPI RSDP at {rsdp:#x}"),
        None => println!("[LOADER] no ACPI RSDP found"),
    }

    let tsc_khz = tsc::measure_khz();
    match tsc_khz {
        Some(khz) => println!("[LOADER] TSC runs at {khz} kHz"),
        None => println!("[LOADER] cannot measure the TSC (no RTC); the kernel will"),
    }

    let device_tree = device_tree::build(&Machine {
        compatible: "hermit-wasm,x86-pvh",
        ram: &ram,
        cmdline: boot.cmdline,
        rsdp,
        tsc_khz,
    });
    let rsdp_pages: Vec<Range<u64>> = rsdp.iter().map(|&rsdp| rsdp..rsdp + 36).collect();
    let page_tables = PageTables::identity(&ram, &rsdp_pages);

    let boot_info = handoff::raw_boot_info(BootInfo {
        hardware_info: HardwareInfo {
            phys_addr_range: ram[0].start..ram[ram.len() - 1].end,
            serial_port_base: SerialPortBase::new(serial::COM1),
            device_tree: NonZeroU64::new(device_tree.as_ptr() as u64),
        },
        load_info: guest.load_info,
        platform_info: PlatformInfo::Fdt,
    });

    clock::mark("kernel", clock::ticks());
    println!("[LOADER] jumping to the guest");
    // SAFETY: the new tables map the loader (code, heap, stack) and all RAM.
    unsafe { page_tables.activate() };
    // SAFETY: the guest is loaded and relocated; its entry follows the Hermit entry ABI.
    unsafe { enter_kernel(guest.entry_point, boot_info) }
}

/// Jumps to the kernel: `rdi` = boot info, `esi` = CPU 0, `rsp` = the LOWEST address of the
/// boot stack (kernel 0.11 `_start` adds the stack size itself).
///
/// # Safety
///
/// `entry` must be a loaded kernel's entry point and `boot_info` its `RawBootInfo`.
unsafe fn enter_kernel(entry: u64, boot_info: &'static RawBootInfo) -> ! {
    // SAFETY: per the caller; the kernel never returns.
    unsafe {
        asm!(
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

/// Trims a region to whole 4 KiB pages; `None` if none remains.
fn page_aligned(region: &Range<u64>) -> Option<Range<u64>> {
    let start = region.start.next_multiple_of(PAGE_SIZE);
    let end = region.end - region.end % PAGE_SIZE;
    (start < end).then_some(start..end)
}

/// Stops the machine: QEMU exits with status 1 (failure, as for a failing kernel) if it has
/// an `isa-debug-exit` device at 0xf4, otherwise the CPU halts for good.
pub fn halt() -> ! {
    port_io::outl(DEBUG_EXIT_PORT, 0);
    loop {
        // SAFETY: halting with interrupts off stops this CPU.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}
