//! aarch64: QEMU `virt` (`-cpu cortex-a72`, `gic-version=3`) loads the loader ELF and starts it
//! at EL1 with the MMU off; the guest ELF comes through `-device guest-loader,addr=…,initrd=<elf>`.
//!
//! Memory layout: QEMU's device tree at the start of RAM (0x4000_0000), the loader at
//! 0x4020_0000 (code, data, heap with page tables and boot information, the kernel's boot
//! stack), the guest ELF file where the launch script has `guest-loader` put it (8 MiB into
//! RAM), and the guest right below its payload in that file (`guest_in_place.rs`), or, if
//! the file does not allow that, at the next 2 MiB boundary above the loader, or above the
//! file if that lies in the way.

mod cache;
mod cpu;
mod entry;
mod paging;
pub mod serial;

use alloc::vec::Vec;
use core::arch::asm;
use core::num::NonZeroU64;
use core::ops::Range;

use hermit_entry::boot_info::{BootInfo, HardwareInfo, PlatformInfo, RawBootInfo, SerialPortBase};
use log::LevelFilter;

use self::paging::PageTables;
use crate::board_dtb::BoardDtb;
use crate::guest;
use crate::guest_align::GUEST_ALIGN;
use crate::{clock, handoff, logger};

/// Where QEMU `virt` puts the device tree for an ELF image that does not take it in `x0`.
const DEFAULT_DTB_ADDRESS: u64 = 0x4000_0000;
const FDT_MAGIC: u32 = 0xd00d_feed;

/// PSCI `SYSTEM_OFF`; QEMU `virt` without EL2/EL3 firmware takes PSCI calls by `hvc`.
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;

extern "C" {
    /// End of the loader image including `.bss` (linker script).
    static __loader_end: u8;
}

/// Called by the entry code with the MMU on and the first 4 GiB identity-mapped.
#[no_mangle]
extern "C" fn loader_main(x0: u64) -> ! {
    let started = clock::ticks();
    logger::init(LevelFilter::Info);
    println!("[LOADER] Hermit-WASM loader (aarch64)");
    clock::mark("loader", started);
    cpu::check(halt);

    let dtb_address = if x0 != 0 && has_fdt_magic(x0) {
        x0
    } else {
        DEFAULT_DTB_ADDRESS
    };
    // SAFETY: the address holds QEMU's device tree (checked by the parser), identity-mapped.
    let dtb = unsafe { BoardDtb::read(dtb_address) };
    if let Some(uart) = dtb.device_base(&["arm,pl011"]) {
        serial::set_base(uart);
    }
    println!("[LOADER] device tree at {:#x?}", dtb.range());
    // Kernel 0.11 drives a GICv3 only; behind QEMU's default GICv2 it hangs silently.
    assert!(
        dtb.device_base(&["arm,gic-v3"]).is_some(),
        "the machine has no GICv3, the only interrupt controller the kernel drives \
         (QEMU: -machine virt,gic-version=3)"
    );
    let ram = dtb.ram();
    for region in &ram {
        println!("[LOADER] RAM {:#x}..{:#x}", region.start, region.end);
    }

    let loader_end = &raw const __loader_end as u64;
    assert!(
        dtb.range().end <= loader_end,
        "the device tree at {:#x?} lies above the loader; the kernel would reuse its memory",
        dtb.range()
    );
    let guest_elf = dtb.guest_elf();
    let (guest, written) = guest::load(guest_elf, &ram, loader_end);
    let image = guest.load_info.kernel_image_addr_range.clone();
    cache::sync_instructions(written);

    // Map RAM up to the 2 MiB-aligned end of the kernel image, and the UART.
    let image_end = image.end.next_multiple_of(GUEST_ALIGN);
    let mapped: Vec<Range<u64>> = ram
        .iter()
        .filter(|region| region.start < image_end)
        .map(|region| region.start..region.end.min(image_end))
        .collect();
    let page_tables = PageTables::identity(&mapped, &[serial::base()]);

    let boot_info = handoff::raw_boot_info(BootInfo {
        hardware_info: HardwareInfo {
            phys_addr_range: ram[0].start..ram[ram.len() - 1].end,
            serial_port_base: SerialPortBase::new(serial::base()),
            device_tree: NonZeroU64::new(dtb.range().start),
        },
        load_info: guest.load_info,
        platform_info: PlatformInfo::LinuxBoot,
    });

    clock::mark("kernel", clock::ticks());
    println!("[LOADER] jumping to the guest");
    // SAFETY: the new tables map the loader, its heap and stack, the device tree, the
    // kernel image and the UART.
    unsafe { page_tables.activate() };
    // SAFETY: the guest is loaded and relocated; its entry follows the Hermit entry ABI.
    unsafe { enter_kernel(guest.entry_point, boot_info) }
}

fn has_fdt_magic(address: u64) -> bool {
    // SAFETY: the first 4 GiB are identity-mapped; x0 names an address in them or is junk
    // that the magic check rejects.
    address < (1 << 32)
        && address.is_multiple_of(4)
        && u32::from_be(unsafe { (address as *const u32).read_volatile() }) == FDT_MAGIC
}

/// Jumps to the kernel: `x0` = boot info, `x1` = CPU 0, `sp` = the LOWEST address of the boot
/// stack (kernel 0.11 `_start` selects `SP_EL1` and adds the stack size itself).
///
/// # Safety
///
/// `entry` must be a loaded kernel's entry point and `boot_info` its `RawBootInfo`.
unsafe fn enter_kernel(entry: u64, boot_info: &'static RawBootInfo) -> ! {
    // SAFETY: per the caller; the kernel never returns.
    unsafe {
        asm!(
            "mov sp, {stack}",
            "br {entry}",
            stack = in(reg) handoff::kernel_stack_bottom(),
            entry = in(reg) entry,
            in("x0") boot_info,
            in("x1") 0u64,
            options(noreturn)
        )
    }
}

/// Powers the machine off through PSCI (QEMU then exits with status 0, so the panic message
/// is the only sign of failure); waits forever if PSCI does not answer.
pub fn halt() -> ! {
    // SAFETY: SYSTEM_OFF does not return; if the call fails, the loop below halts.
    unsafe { asm!("hvc #0", in("x0") PSCI_SYSTEM_OFF, options(nostack)) };
    loop {
        // SAFETY: waiting for an event has no effects.
        unsafe { asm!("wfe", options(nomem, nostack)) };
    }
}
