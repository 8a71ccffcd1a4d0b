//! The DMA window: RAM the loader sets aside just below the guest image for the guest's own
//! device drivers (the runner's virtio-fs queues and buffers), which need memory whose
//! physical address they know and that the kernel never hands out.
//!
//! Why there: the kernel takes RAM from the end of its image upwards and never touches what
//! lies below it, and on every board that memory stays identity-mapped (the x86_64 and
//! aarch64 page tables this loader builds map it; on riscv64 the kernel maps all RAM 1:1).
//!
//! How the guest finds it: its image starts at a 2 MiB boundary (`sys_image_start_addr`),
//! and the window's last 32 bytes, right below that address, are a header: the magic
//! `HWDMAWIN`, then the window's start, its size and the layout version, each a
//! little-endian `u64`. The runner's `platform::dma` reads the same layout.

use core::ops::Range;

/// Size of the window, header included.
pub const SIZE: u64 = 0x10_0000;

const MAGIC: [u8; 8] = *b"HWDMAWIN";
const VERSION: u64 = 1;
const HEADER_SIZE: u64 = 32;

/// Writes the header of the window that ends at `guest_start`, after checking that the
/// whole window is RAM above `lowest` (the end of the loader's own memory).
pub fn announce(guest_start: u64, ram: &[Range<u64>], lowest: u64) -> Range<u64> {
    let window = guest_start - SIZE..guest_start;
    assert!(
        window.start >= lowest
            && ram
                .iter()
                .any(|region| region.start <= window.start && window.end <= region.end),
        "no RAM for the DMA window {window:#x?} between the loader (up to {lowest:#x}) and \
         the guest"
    );
    let mut header = [0u8; HEADER_SIZE as usize];
    header[..8].copy_from_slice(&MAGIC);
    header[8..16].copy_from_slice(&window.start.to_le_bytes());
    header[16..24].copy_from_slice(&SIZE.to_le_bytes());
    header[24..32].copy_from_slice(&VERSION.to_le_bytes());
    // SAFETY: the window is RAM below the guest and above the loader. It may overlap the
    // guest ELF file QEMU loaded, which is no longer read: the guest is already loaded.
    unsafe {
        core::ptr::copy_nonoverlapping(
            header.as_ptr(),
            (window.end - HEADER_SIZE) as *mut u8,
            header.len(),
        )
    };
    println!("[LOADER] DMA window for the guest's drivers at {window:#x?}");
    window
}
