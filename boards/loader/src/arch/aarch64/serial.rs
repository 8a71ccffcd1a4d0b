//! The PL011 UART of QEMU's `virt` board, the console of the loader and of the kernel.
//! Under UEFI the console may be a 16550 instead (SPCR): bytes go to the same offset (the
//! kernel stores each byte there), and the loader waits on the 16550's line status
//! register instead of the PL011's flag register. Before the UART is known (base 0), a UEFI
//! loader prints through the firmware's console.

use core::ptr;
use core::sync::atomic::{AtomicU64, Ordering};

/// The UART of QEMU `virt`; replaced by the device tree's value once it is read.
pub const DEFAULT_BASE: u64 = 0x0900_0000;

const DATA: u64 = 0x00;
const FLAGS: u64 = 0x18;
const FLAGS_TX_FULL: u32 = 1 << 5;

/// A 16550's line status register (register 5) and its "transmit holding register empty".
const LSR: u64 = 5;
const LSR_THR_EMPTY: u8 = 1 << 5;

static BASE: AtomicU64 = AtomicU64::new(DEFAULT_BASE);
/// 0: a PL011; otherwise a 16550 whose registers lie `1 << (value - 1)` bytes apart.
static NS16550_SHIFT: AtomicU64 = AtomicU64::new(0);

/// Drives a 16550 from now on, its registers `1 << shift` bytes apart.
#[cfg_attr(not(target_os = "uefi"), expect(dead_code))]
pub fn set_16550(shift: u32) {
    NS16550_SHIFT.store(u64::from(shift) + 1, Ordering::Relaxed);
}

/// Uses the UART at `base` from now on.
pub fn set_base(base: u64) {
    BASE.store(base, Ordering::Relaxed);
}

/// Base address of the UART in use.
pub fn base() -> u64 {
    BASE.load(Ordering::Relaxed)
}

/// Sends one byte, waiting until the UART can take it; before the UART is known (base 0),
/// through the firmware's console under UEFI, else nowhere.
pub fn write_byte(byte: u8) {
    let base = base();
    if base == 0 {
        #[cfg(target_os = "uefi")]
        uefi::system::with_stdout(|stdout| {
            let _ = core::fmt::Write::write_char(stdout, char::from(byte));
        });
        return;
    }
    // SAFETY: the UART registers are identity-mapped device memory.
    unsafe {
        match NS16550_SHIFT.load(Ordering::Relaxed) {
            0 => {
                while ptr::read_volatile((base + FLAGS) as *const u32) & FLAGS_TX_FULL != 0 {
                    core::hint::spin_loop();
                }
            }
            shift => {
                let lsr = (base + (LSR << (shift - 1))) as *const u8;
                while ptr::read_volatile(lsr) & LSR_THR_EMPTY == 0 {
                    core::hint::spin_loop();
                }
            }
        }
        // A byte store, as the kernel's console does: both UART families take it.
        ptr::write_volatile((base + DATA) as *mut u8, byte);
    }
}
