//! Hermit-WASM loader: boots a Hermit kernel ELF (a std application linked with
//! `libhermit.a`) on a bare QEMU machine.
//!
//! The architecture module takes over from the firmware or QEMU, gathers what the machine
//! offers (memory map, command line, the guest ELF), and calls back into the shared code here
//! to place the guest in memory. It then describes the machine to the kernel in a flattened
//! device tree and jumps to the kernel entry point.

#![no_std]
#![no_main]

extern crate alloc;

#[macro_use]
mod console;

mod allocator;
mod arch;
#[cfg(all(not(target_arch = "x86_64"), not(target_os = "uefi")))]
mod board_dtb;
#[cfg(not(target_os = "uefi"))]
mod clock;
#[cfg(not(target_os = "uefi"))]
mod dma_window;
#[cfg(any(target_arch = "x86_64", target_os = "uefi"))]
mod fdt_writer;
#[cfg(not(target_os = "uefi"))]
mod guest;
mod guest_align;
#[cfg(not(target_os = "uefi"))]
mod guest_in_place;
mod handoff;
mod logger;
mod panic;
#[cfg(target_os = "uefi")]
mod uefi_boot;
