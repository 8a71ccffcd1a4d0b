//! The loader's console on riscv64: the SBI debug console, like the kernel's.

use super::sbi;

/// Sends one byte.
pub fn write_byte(byte: u8) {
    sbi::console_write_byte(byte);
}
