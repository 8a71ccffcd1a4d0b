//! Text output on the architecture's serial console, and the `println!` macro.

use core::fmt::{self, Write};

use crate::arch;

/// Writes formatted text to the serial console.
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                arch::serial::write_byte(b'\r');
            }
            arch::serial::write_byte(byte);
        }
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    // The console never fails; a formatting error only truncates the message.
    let _ = Console.write_fmt(args);
}

/// Prints a line to the serial console.
macro_rules! println {
    () => {
        $crate::console::_print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::console::_print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
