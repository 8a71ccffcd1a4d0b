//! riscv64: QEMU `virt` with OpenSBI (`-bios default`), which starts the loader in S-mode at
//! 0x8020_0000; the guest ELF comes through `-device guest-loader,addr=…,initrd=<elf>` or
//! `-initrd`.
//!
//! Memory layout: OpenSBI in the first 2 MiB of RAM, the loader at 0x8020_0000 (code, data,
//! heap with a copy of the device tree and the boot information, the kernel's boot stack),
//! the guest ELF file where the launch script has `guest-loader` put it (8 MiB into RAM),
//! and the guest right below its payload in that file (`guest_in_place.rs`), or, if the
//! file does not allow that (an `-initrd`, or U-Boot's), at the next 2 MiB boundary above
//! the loader, or above the file if that lies in the way. The kernel sets up its own page
//! tables.

mod entry;
mod sbi;
pub mod serial;

use alloc::alloc::{alloc, Layout};
use core::arch::asm;
use core::num::NonZeroU64;
use core::ptr;

use hermit_entry::boot_info::{BootInfo, HardwareInfo, PlatformInfo, RawBootInfo, SerialPortBase};
use log::LevelFilter;

use crate::board_dtb::BoardDtb;
use crate::{clock, guest, handoff, logger};

extern "C" {
    /// End of the loader image including `.bss` (linker script).
    static __loader_end: u8;
}

/// Called by the entry code with OpenSBI's arguments.
#[no_mangle]
extern "C" fn loader_main(hart_id: usize, dtb_address: u64) -> ! {
    let started = clock::ticks();
    logger::init(LevelFilter::Info);
    println!("[LOADER] Hermit-WASM loader (riscv64, hart {hart_id})");
    clock::mark("loader", started);
    if !sbi::has_debug_console() {
        println!(
            "[LOADER] warning: the SBI firmware has no debug console (OpenSBI 1.3 or later \
             has): the kernel's output will be lost"
        );
    }

    // SAFETY: OpenSBI passes the device tree's address in a1; translation is off.
    let dtb = unsafe { BoardDtb::read(dtb_address) };
    println!("[LOADER] device tree at {:#x?}", dtb.range());
    let ram = dtb.ram();
    for region in &ram {
        println!("[LOADER] RAM {:#x}..{:#x}", region.start, region.end);
    }
    let uart = dtb.device_base(&["ns16550a", "ns16550"]);
    let guest_elf = dtb.guest_elf();

    // The device tree usually sits at the top of RAM, which the kernel takes as free:
    // keep a copy below the kernel (the loader's heap).
    let loader_end = &raw const __loader_end as u64;
    let dtb_copy = copy_below(&dtb, loader_end);

    let (guest, _) = guest::load(guest_elf, &ram, loader_end);
    // SAFETY: makes the stores of the kernel image visible to instruction fetch.
    unsafe { asm!("fence.i", options(nostack)) };

    let boot_info = handoff::raw_boot_info(BootInfo {
        hardware_info: HardwareInfo {
            phys_addr_range: ram[0].start..ram[0].end,
            serial_port_base: uart.and_then(SerialPortBase::new),
            device_tree: NonZeroU64::new(dtb_copy),
        },
        load_info: guest.load_info,
        platform_info: PlatformInfo::LinuxBoot,
    });

    clock::mark("kernel", clock::ticks());
    println!("[LOADER] jumping to the guest");
    // SAFETY: the guest is loaded and relocated; its entry follows the Hermit entry ABI.
    unsafe { enter_kernel(guest.entry_point, hart_id, boot_info) }
}

/// Returns the address of the device tree, copied into the loader's heap if it lies above
/// the loader.
fn copy_below(dtb: &BoardDtb, loader_end: u64) -> u64 {
    let range = dtb.range();
    if range.end <= loader_end {
        return range.start;
    }
    let size = usize::try_from(range.end - range.start).unwrap();
    // A device tree must be 8-byte aligned.
    let layout = Layout::from_size_align(size, 8).unwrap();
    // SAFETY: the layout is not empty (a device tree has a header).
    let copy = unsafe { alloc(layout) };
    assert!(
        !copy.is_null(),
        "out of memory for the device tree copy ({size} bytes)"
    );
    // SAFETY: the source is the whole device tree; the copy is fresh and as large.
    unsafe { ptr::copy_nonoverlapping(range.start as *const u8, copy, size) };
    copy as u64
}

/// Jumps to the kernel: `a0` = hart id, `a1` = boot info, `sp` = the TOP of the boot stack.
///
/// # Safety
///
/// `entry` must be a loaded kernel's entry point and `boot_info` its `RawBootInfo`.
unsafe fn enter_kernel(entry: u64, hart_id: usize, boot_info: &'static RawBootInfo) -> ! {
    // SAFETY: per the caller; the kernel never returns.
    unsafe {
        asm!(
            "mv sp, {stack}",
            "jr {entry}",
            stack = in(reg) handoff::kernel_stack_top(),
            entry = in(reg) entry,
            in("a0") hart_id,
            in("a1") boot_info,
            options(noreturn)
        )
    }
}

/// Powers the machine off through SBI; waits forever if the firmware does not.
pub fn halt() -> ! {
    sbi::shutdown_after_failure();
    loop {
        // SAFETY: waiting for an interrupt has no effects.
        unsafe { asm!("wfi", options(nomem, nostack)) };
    }
}
