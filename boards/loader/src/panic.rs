//! The panic handler: report on the serial console, then stop the machine.

use core::panic::PanicInfo;

use crate::arch;

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    println!();
    println!("[LOADER] panic: {info}");
    println!("[LOADER] cannot boot the guest; halting");
    arch::halt()
}
