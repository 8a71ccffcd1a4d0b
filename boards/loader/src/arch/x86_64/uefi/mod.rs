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
mod power_off;
#[path = "../serial.rs"]
pub mod serial;
#[path = "../tsc.rs"]
mod tsc;

use alloc::format;
use core::arch::asm;
use core::mem::MaybeUninit;
use core::num::NonZeroU64;

use hermit_entry::boot_info::{BootInfo, HardwareInfo, PlatformInfo, RawBootInfo, SerialPortBase};
use hermit_entry::elf::KernelObject;
use log::LevelFilter;
use uefi::boot::{self, AllocateType, MemoryType};
use uefi::table::cfg::ConfigTableEntry;
use uefi::Status;

use self::device_tree::Machine;
use crate::guest_align::GUEST_ALIGN;
use crate::uefi_boot::{self, PAGE_SIZE};
use crate::{handoff, logger};

#[uefi::entry]
fn main() -> Status {
    serial::init();
    logger::init(LevelFilter::Info);
    println!("[LOADER] Hermit-WASM loader (x86_64, UEFI)");

    let guest_elf = uefi_boot::guest_elf();
    let configured = uefi_boot::cmdline();
    let rsdp = uefi_boot::config_table(ConfigTableEntry::ACPI2_GUID);
    match rsdp {
        Some(rsdp) => println!("[LOADER] ACPI RSDP at {rsdp:#x}"),
        None => println!("[LOADER] the firmware gives no ACPI 2.0 RSDP"),
    }
    // The runner powers the machine off itself (see power_off.rs); a setting in the run
    // configuration comes later on the command line and wins.
    let power_off = power_off::spec(rsdp);
    println!("[LOADER] power-off: {power_off}");
    let cmdline = format!("env=HERMIT_WASM_POWER_OFF={power_off} {configured}");

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
    let ram = uefi_boot::free_ram(&memory_map);

    let device_tree = device_tree::build(&Machine {
        compatible: "hermit,uefi",
        ram: &ram,
        cmdline: &cmdline,
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
