//! Calls into the SBI firmware (OpenSBI): debug console and system reset.

use core::arch::asm;

/// Debug Console extension (SBI 2.0; OpenSBI 1.3 and later).
const EXTENSION_DBCN: usize = 0x4442_434e;
const DBCN_WRITE_BYTE: usize = 2;
/// Legacy console putchar (SBI 0.1).
const EXTENSION_LEGACY_PUTCHAR: usize = 0x01;
/// System Reset extension.
const EXTENSION_SRST: usize = 0x5352_5354;
const SRST_RESET: usize = 0;
const RESET_TYPE_SHUTDOWN: usize = 0;
const RESET_REASON_SYSTEM_FAILURE: usize = 1;

/// Returns the SBI error code (0 = success).
fn call(extension: usize, function: usize, arg0: usize, arg1: usize) -> isize {
    let error: isize;
    // SAFETY: an SBI call only transfers control to the firmware, which returns.
    unsafe {
        asm!(
            "ecall",
            inlateout("a0") arg0 => error,
            inlateout("a1") arg1 => _,
            in("a6") function,
            in("a7") extension,
            options(nostack)
        );
    }
    error
}

/// Writes a byte to the debug console (legacy putchar if the firmware lacks DBCN).
pub fn console_write_byte(byte: u8) {
    if call(EXTENSION_DBCN, DBCN_WRITE_BYTE, usize::from(byte), 0) != 0 {
        call(EXTENSION_LEGACY_PUTCHAR, 0, usize::from(byte), 0);
    }
}

/// Asks the firmware to power the machine off after a failure.
pub fn shutdown_after_failure() {
    call(
        EXTENSION_SRST,
        SRST_RESET,
        RESET_TYPE_SHUTDOWN,
        RESET_REASON_SYSTEM_FAILURE,
    );
}
