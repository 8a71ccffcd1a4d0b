//! aarch64 under UEFI firmware (`BOOTAA64.EFI` on a disk's EFI system partition): the guest
//! ELF and the run configuration come from files beside the loader on that partition, the
//! machine's description from the firmware's device tree or, where it gives only ACPI (Arm
//! clouds), from a device tree the loader builds out of the ACPI tables.
//!
//! Kernel 0.11 on aarch64 takes as its own every byte from the end of its image to the end
//! of `phys_addr_range`, and hands out virtual addresses from the end of its image, so
//! everything it keeps using must lie below its image, identity-mapped. Firmware loads this
//! loader high in RAM, so the loader claims the largest free region, keeps its arena (page
//! tables, device tree, boot information, the kernel's boot stack) at that region's start,
//! and loads the kernel right after it. The switch to the kernel's page tables runs from a
//! copy of `trampoline` in that arena, with the MMU off for the moment the translation
//! regime changes (the firmware's own tables and attribute indices differ from the kernel's).

#[path = "../cache.rs"]
mod cache;
#[path = "../cpu.rs"]
mod cpu;
#[path = "../paging.rs"]
mod paging;
#[path = "../serial.rs"]
pub mod serial;

mod acpi;
mod device_tree;

use alloc::alloc::{alloc_zeroed, Layout};
use core::arch::{asm, global_asm};
use core::mem::MaybeUninit;
use core::num::NonZeroU64;

use hermit_entry::boot_info::{BootInfo, HardwareInfo, PlatformInfo, SerialPortBase};
use hermit_entry::elf::KernelObject;
use log::LevelFilter;
use uefi::boot::{self, AllocateType, MemoryType};
use uefi::mem::memory_map::MemoryMap;
use uefi::table::cfg::ConfigTableEntry;
use uefi::{guid, Guid, Status};

use self::paging::PageTables;
use crate::guest_align::GUEST_ALIGN;
use crate::handoff::{self, KERNEL_STACK_SIZE};
use crate::uefi_boot::{self, PAGE_SIZE};
use crate::{allocator, logger};

/// The arena at the start of the claimed region: page tables, the device tree, the boot
/// information, the kernel's boot stack and the trampoline.
const ARENA_SIZE: u64 = 4 * 0x10_0000;
/// Kernel 0.11 on aarch64 keeps its virtual addresses below 4 GiB, and its console's
/// address is 32 bits.
const KERNEL_LIMIT: u64 = 1 << 32;
/// What the kernel should have at least besides its image.
const MIN_KERNEL_MEMORY: u64 = 64 * 0x10_0000;
/// The configuration table of a device tree (the UEFI specification's EFI_DTB_TABLE_GUID).
const DEVICE_TREE_GUID: Guid = guid!("b1b621d5-f19c-41a5-830b-d9152c69aae0");
/// PSCI `SYSTEM_OFF` by `hvc`: the conduit of a VM's firmware.
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;

/// MAIR with the attribute indices kernel 0.11 uses (0 device nGnRnE, 1 nGnRE, 2 GRE,
/// 3 normal non-cacheable, 4 normal write-back), as in the direct boot's entry code.
const MAIR: u64 = 0x0000_00ff_440c_0400;
/// TCR: T0SZ = 16 (48-bit VA), 4 KiB granule, write-back inner-shareable walks, TTBR1 walks
/// disabled; IPS is added from the CPU's physical address size.
const TCR: u64 = 0x80_3510;

#[uefi::entry]
fn main() -> Status {
    logger::init(LevelFilter::Info);
    let el: u64;
    // SAFETY: reading CurrentEL has no side effects.
    unsafe { asm!("mrs {}, CurrentEL", out(reg) el, options(nomem, nostack)) };
    assert_eq!(
        (el >> 2) & 3,
        1,
        "the firmware runs the loader at EL{}; kernel 0.11 starts at EL1",
        (el >> 2) & 3
    );
    // Until the console UART is known, output goes to the firmware's console (QEMU's UART
    // address may hold anything elsewhere).
    serial::set_base(0);
    cpu::check(halt);

    // The machine: the firmware's device tree, else its ACPI tables.
    let firmware_dtb = uefi_boot::config_table(DEVICE_TREE_GUID);
    let rsdp = uefi_boot::config_table(ConfigTableEntry::ACPI2_GUID);
    let (uart, description) = match (firmware_dtb, rsdp) {
        (Some(address), _) => {
            // SAFETY: the firmware's configuration table points to its device tree.
            let fdt = unsafe { fdt::Fdt::from_ptr(address as *const u8) }
                .unwrap_or_else(|err| panic!("the firmware's device tree: {err:?}"));
            assert!(
                fdt.find_compatible(&["arm,gic-v3"]).is_some(),
                "the machine has no GICv3, the only interrupt controller the kernel drives"
            );
            let uart = fdt
                .find_compatible(&["arm,pl011", "arm,sbsa-uart"])
                .and_then(|node| node.reg()?.next())
                .map(|region| region.starting_address as u64);
            (uart, Description::DeviceTree(fdt))
        }
        (None, Some(rsdp)) => {
            // SAFETY: the firmware's configuration table points to its RSDP.
            let hardware = unsafe { acpi::read(rsdp) };
            if let Some((base, kind, width)) = hardware.uart {
                // The kernel stores each byte at the base: both families take that.
                assert!(
                    acpi::SPCR_PL011_FAMILY.contains(&kind)
                        || acpi::SPCR_16550_FAMILY.contains(&kind),
                    "the SPCR UART at {base:#x} is of interface type {kind:#x}, which the \
                     kernel's console cannot drive"
                );
                if acpi::SPCR_16550_FAMILY.contains(&kind) {
                    serial::set_16550(if width == 32 { 2 } else { 0 });
                }
            }
            (
                hardware.uart.map(|(base, ..)| base),
                Description::Acpi(hardware),
            )
        }
        (None, None) => panic!("the firmware gives neither a device tree nor ACPI tables"),
    };
    let uart = uart.expect("the firmware names no console UART (device tree or SPCR)");
    assert!(
        uart < KERNEL_LIMIT,
        "the console UART at {uart:#x} lies above 4 GiB, where kernel 0.11 cannot reach it"
    );
    serial::set_base(uart);
    println!("[LOADER] Hermit-WASM loader (aarch64, UEFI)");
    let cmdline = uefi_boot::cmdline();
    let guest_elf = uefi_boot::guest_elf();
    match &description {
        Description::DeviceTree(_) => println!("[LOADER] the firmware's device tree"),
        Description::Acpi(hw) => println!(
            "[LOADER] ACPI: GICD {:#x}, GICR {:#x?}, {} CPUs, UART {uart:#x}",
            hw.gicd,
            hw.gicr,
            hw.cpus.len()
        ),
    }

    let object = KernelObject::parse(guest_elf)
        .unwrap_or_else(|err| panic!("the guest ELF cannot be booted: {err}"));
    assert!(
        object.start_addr().is_none(),
        "the guest ELF is not relocatable"
    );
    let image_size = (object.mem_size() as u64).next_multiple_of(GUEST_ALIGN);

    // The largest free region below 4 GiB becomes the arena, the kernel and the kernel's
    // memory: kernel 0.11 hands out virtual addresses from its image's end up to 4 GiB.
    let region = {
        let map = boot::memory_map(MemoryType::LOADER_DATA).expect("the firmware's memory map");
        map.entries()
            .filter(|e| e.ty == MemoryType::CONVENTIONAL && e.phys_start < KERNEL_LIMIT)
            .map(|e| e.phys_start..e.phys_start + e.page_count * PAGE_SIZE)
            .max_by_key(|r| r.end.min(KERNEL_LIMIT) - r.start)
            .expect("the firmware's memory map lists no free memory below 4 GiB")
    };
    let start = region.start.next_multiple_of(GUEST_ALIGN);
    let kernel = (start + ARENA_SIZE).next_multiple_of(GUEST_ALIGN);
    assert!(
        kernel + image_size + MIN_KERNEL_MEMORY <= region.end.min(KERNEL_LIMIT),
        "the largest free memory region {region:#x?} cannot hold the kernel ({image_size:#x} \
         bytes) and {MIN_KERNEL_MEMORY:#x} bytes for it: give the machine more memory"
    );
    assert!(
        !(kernel..KERNEL_LIMIT).contains(&uart),
        "the console UART at {uart:#x} lies where the kernel hands out virtual addresses \
         ({kernel:#x}..4 GiB)"
    );
    let pages = ((region.end - start) / PAGE_SIZE) as usize;
    boot::allocate_pages(AllocateType::Address(start), MemoryType::LOADER_CODE, pages)
        .unwrap_or_else(|err| panic!("claiming {:#x?}: {err}", start..region.end));
    // SAFETY: the arena's pages were just allocated for the loader and stay its own.
    unsafe { allocator::move_arena(start as *mut u8, ARENA_SIZE as usize) };

    // SAFETY: `kernel..kernel + mem_size` lies in the claimed region, after the arena.
    let target = unsafe {
        core::slice::from_raw_parts_mut(kernel as *mut MaybeUninit<u8>, object.mem_size())
    };
    let guest = object.load_kernel(target, kernel);
    println!(
        "[LOADER] guest loaded at {:#x?}, entry point {:#x}",
        guest.load_info.kernel_image_addr_range, guest.entry_point
    );
    let image = guest.load_info.kernel_image_addr_range.clone();
    cache::sync_instructions(image.clone());

    let blob = match &description {
        Description::DeviceTree(fdt) => device_tree::from_firmware(fdt, cmdline),
        Description::Acpi(hardware) => device_tree::from_acpi(hardware, cmdline),
    };
    let device_tree = arena_bytes(blob.len(), 8);
    device_tree.copy_from_slice(&blob);
    let stack = arena_bytes(KERNEL_STACK_SIZE, 4096);
    let boot_info = handoff::raw_boot_info(BootInfo {
        hardware_info: HardwareInfo {
            phys_addr_range: start..region.end,
            serial_port_base: SerialPortBase::new(uart),
            device_tree: NonZeroU64::new(device_tree.as_ptr() as u64),
        },
        load_info: guest.load_info,
        platform_info: PlatformInfo::LinuxBoot,
    });
    let image_end = image.end.next_multiple_of(GUEST_ALIGN);
    let mapped = start..image_end;
    let tables = PageTables::identity(core::slice::from_ref(&mapped), &[uart]);
    let trampoline = trampoline_copy();
    assert!(
        (stack.as_ptr() as u64) < kernel && (trampoline as u64) < kernel,
        "the loader's arena overflowed into the kernel"
    );

    println!("[LOADER] leaving the firmware's boot services");
    // SAFETY: nothing of boot services is used from here on: no protocol is open, and the
    // heap is the loader's own arena.
    let _memory_map = unsafe { boot::exit_boot_services(None) };
    let ips = {
        let mmfr0: u64;
        // SAFETY: reading an ID register has no side effects.
        unsafe { asm!("mrs {}, id_aa64mmfr0_el1", out(reg) mmfr0, options(nomem, nostack)) };
        (mmfr0 & 0xf).min(5)
    };
    println!("[LOADER] jumping to the guest");
    // SAFETY: the trampoline is a copy of `hermit_wasm_trampoline`, in identity-mapped,
    // executable memory that the new tables map too; the tables map the arena (the boot
    // information, the device tree, the stack) and the kernel image; the guest is loaded
    // and relocated and follows the Hermit entry ABI.
    unsafe {
        asm!(
            "msr daifset, #0xf",
            "br {trampoline}",
            trampoline = in(reg) trampoline,
            in("x0") boot_info,
            in("x1") 0u64,
            in("x2") guest.entry_point,
            in("x3") stack.as_ptr() as u64,
            in("x4") tables.root(),
            in("x5") MAIR,
            in("x6") TCR | (ips << 32),
            options(noreturn)
        )
    }
}

/// How the firmware describes the machine.
enum Description<'a> {
    DeviceTree(fdt::Fdt<'a>),
    Acpi(acpi::Hardware),
}

// The switch to the kernel's translation regime, copied into the arena and run from there:
// MMU off, the kernel's MAIR, TCR and tables, TLBs invalidated, MMU on (caches on,
// alignment checks and the firmware's write-implies-execute-never off: the kernel's image
// is mapped writable and executable), then SP_EL1 as the kernel's stack and its entry. Position-independent;
// uses only registers: x0 boot info, x1 CPU id, x2 entry, x3 stack (lowest address),
// x4 TTBR0, x5 MAIR, x6 TCR.
global_asm!(
    r#"
    .section .text.hermit_wasm_trampoline, "ax"
    .global hermit_wasm_trampoline
    .global hermit_wasm_trampoline_end
    .p2align 6
hermit_wasm_trampoline:
    mrs x7, sctlr_el1
    bic x8, x7, #1
    msr sctlr_el1, x8
    isb
    msr mair_el1, x5
    msr tcr_el1, x6
    msr ttbr0_el1, x4
    isb
    tlbi vmalle1
    dsb nsh
    isb
    mov x8, #0x1005
    orr x7, x7, x8
    bic x7, x7, #0x2
    bic x7, x7, #(1 << 19)
    msr sctlr_el1, x7
    isb
    msr spsel, #1
    mov sp, x3
    br x2
hermit_wasm_trampoline_end:
"#
);

extern "C" {
    static hermit_wasm_trampoline: u8;
    static hermit_wasm_trampoline_end: u8;
}

/// A copy of the trampoline in the arena, cleaned to the point of coherency (it first runs
/// with the MMU off) and visible to instruction fetch.
fn trampoline_copy() -> *const u8 {
    let start = &raw const hermit_wasm_trampoline;
    let end = &raw const hermit_wasm_trampoline_end;
    let len = end as usize - start as usize;
    let at = arena_bytes(len, 64).as_mut_ptr();
    // SAFETY: `start..end` is the trampoline's code, readable; `at` has room for it.
    unsafe { core::ptr::copy_nonoverlapping(start, at, len) };
    cache::clean_to_coherency(at as u64..at as u64 + len as u64);
    cache::sync_instructions(at as u64..at as u64 + len as u64);
    at
}

/// `len` zeroed bytes aligned to `align`, from the arena, for good.
fn arena_bytes(len: usize, align: usize) -> &'static mut [u8] {
    let layout = Layout::from_size_align(len.max(1), align).expect("a valid layout");
    // SAFETY: the layout has a non-zero size.
    let bytes = unsafe { alloc_zeroed(layout) };
    assert!(!bytes.is_null(), "the loader's arena is full");
    // SAFETY: freshly allocated and zeroed, never freed.
    unsafe { core::slice::from_raw_parts_mut(bytes, len) }
}

/// Powers the machine off through PSCI; waits forever if PSCI does not answer: a disk boot
/// must never reboot into the module again.
pub fn halt() -> ! {
    // SAFETY: SYSTEM_OFF does not return; if the call fails (it returns an error in x0 and
    // may clobber what SMCCC allows), the loop below halts.
    unsafe {
        asm!(
            "hvc #0",
            inout("x0") PSCI_SYSTEM_OFF => _,
            clobber_abi("C"),
            options(nostack)
        )
    };
    loop {
        // SAFETY: waiting for an event has no effects.
        unsafe { asm!("wfe", options(nomem, nostack)) };
    }
}
