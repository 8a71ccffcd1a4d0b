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

/// Base extension.
const EXTENSION_BASE: usize = 0x10;
const BASE_PROBE_EXTENSION: usize = 3;

/// Returns the SBI error code (0 = success) and the value.
fn call_with_value(extension: usize, function: usize, arg0: usize, arg1: usize) -> (isize, usize) {
    let error: isize;
    let value: usize;
    // SAFETY: an SBI call only transfers control to the firmware, which returns.
    unsafe {
        asm!(
            "ecall",
            inlateout("a0") arg0 => error,
            inlateout("a1") arg1 => value,
            in("a6") function,
            in("a7") extension,
            options(nostack)
        );
    }
    (error, value)
}

/// Returns the SBI error code (0 = success).
fn call(extension: usize, function: usize, arg0: usize, arg1: usize) -> isize {
    call_with_value(extension, function, arg0, arg1).0
}

/// Whether the firmware has the debug console, the kernel's only output.
pub fn has_debug_console() -> bool {
    // The probe answers 0 for a missing extension, something else for a present one.
    matches!(
        call_with_value(EXTENSION_BASE, BASE_PROBE_EXTENSION, EXTENSION_DBCN, 0),
        (0, value) if value != 0
    )
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
