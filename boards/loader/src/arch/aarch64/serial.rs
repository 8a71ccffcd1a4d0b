//! The PL011 UART of QEMU's `virt` board, the console of the loader and of the kernel.
//! Under UEFI the console may be a 16550 instead (SPCR): bytes go to the same offset, but
//! the loader cannot read a PL011 flag register there and writes without waiting.

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The UART of QEMU `virt`; replaced by the device tree's value once it is read.
pub const DEFAULT_BASE: u64 = 0x0900_0000;

const DATA: u64 = 0x00;
const FLAGS: u64 = 0x18;
const FLAGS_TX_FULL: u32 = 1 << 5;

static BASE: AtomicU64 = AtomicU64::new(DEFAULT_BASE);
static FLOW_CONTROL: AtomicBool = AtomicBool::new(true);

/// Whether to wait on the PL011 flag register before each byte.
#[cfg_attr(not(target_os = "uefi"), expect(dead_code))]
pub fn set_flow_control(on: bool) {
    FLOW_CONTROL.store(on, Ordering::Relaxed);
}

/// Uses the UART at `base` from now on.
pub fn set_base(base: u64) {
    BASE.store(base, Ordering::Relaxed);
}

/// Base address of the UART in use.
pub fn base() -> u64 {
    BASE.load(Ordering::Relaxed)
}

/// Sends one byte, waiting while the transmit FIFO is full; drops it while the base is 0
/// (not known yet).
pub fn write_byte(byte: u8) {
    let base = base();
    if base == 0 {
        return;
    }
    // SAFETY: the UART registers are identity-mapped device memory.
    unsafe {
        while FLOW_CONTROL.load(Ordering::Relaxed)
            && ptr::read_volatile((base + FLAGS) as *const u32) & FLAGS_TX_FULL != 0
        {
            core::hint::spin_loop();
        }
        ptr::write_volatile((base + DATA) as *mut u32, u32::from(byte));
    }
}
