//! What the loader hands over to the kernel besides the device tree: the boot information
//! record and the boot stack.

use alloc::boxed::Box;
use core::cell::UnsafeCell;

use hermit_entry::boot_info::{BootInfo, RawBootInfo};

/// Size of the kernel's boot stack (the kernel's `KERNEL_STACK_SIZE`).
pub const KERNEL_STACK_SIZE: usize = 0x8000;

#[repr(C, align(4096))]
struct KernelStack(UnsafeCell<[u8; KERNEL_STACK_SIZE]>);

// SAFETY: only the kernel touches the stack, after the loader has handed over.
unsafe impl Sync for KernelStack {}

static KERNEL_STACK: KernelStack = KernelStack(UnsafeCell::new([0; KERNEL_STACK_SIZE]));

/// Lowest address of the kernel's boot stack.
pub fn kernel_stack_bottom() -> u64 {
    KERNEL_STACK.0.get() as u64
}

/// Highest address (exclusive) of the kernel's boot stack.
#[cfg_attr(not(target_arch = "riscv64"), expect(dead_code))]
pub fn kernel_stack_top() -> u64 {
    kernel_stack_bottom() + KERNEL_STACK_SIZE as u64
}

/// Converts the boot information into the raw form the kernel reads, stored for good.
pub fn raw_boot_info(boot_info: BootInfo) -> &'static RawBootInfo {
    Box::leak(Box::new(RawBootInfo::from(boot_info)))
}
