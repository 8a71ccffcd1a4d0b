//! The PL011 UART of QEMU's `virt` board, the console of the loader and of the kernel.

use core::ptr;
use core::sync::atomic::{AtomicU64, Ordering};

/// The UART of QEMU `virt`; replaced by the device tree's value once it is read.
pub const DEFAULT_BASE: u64 = 0x0900_0000;

const DATA: u64 = 0x00;
const FLAGS: u64 = 0x18;
const FLAGS_TX_FULL: u32 = 1 << 5;

static BASE: AtomicU64 = AtomicU64::new(DEFAULT_BASE);

/// Uses the UART at `base` from now on.
pub fn set_base(base: u64) {
    BASE.store(base, Ordering::Relaxed);
}

/// Base address of the UART in use.
pub fn base() -> u64 {
    BASE.load(Ordering::Relaxed)
}

/// Sends one byte, waiting while the transmit FIFO is full.
pub fn write_byte(byte: u8) {
    let base = base();
    // SAFETY: the UART registers are identity-mapped device memory.
    unsafe {
        while ptr::read_volatile((base + FLAGS) as *const u32) & FLAGS_TX_FULL != 0 {
            core::hint::spin_loop();
        }
        ptr::write_volatile((base + DATA) as *mut u32, u32::from(byte));
    }
}
