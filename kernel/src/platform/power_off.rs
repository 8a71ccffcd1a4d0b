//! How a disk boot ends on x86_64: the runner writes the sleep register the UEFI loader
//! found (`power_off_spec.rs`), then halts for good, so that a finished module never runs
//! again, even where kernel 0.11 would reset the machine (no ACPI PM1a).

use crate::power_off_spec::{parse, Register, VAR};

/// Writes the sleep register the loader named (when it named one, and it parses), then
/// halts this CPU with interrupts off, for good.
#[cfg(target_arch = "x86_64")]
pub fn power_off_and_halt() -> ! {
    match std::env::var(VAR).map(|spec| parse(&spec)) {
        Ok(Ok(Some(register))) => {
            // SAFETY: the firmware's ACPI tables name this port as the sleep register; the
            // write powers the machine off, or does nothing and the CPU halts below.
            unsafe {
                match register {
                    Register::Io16 { port, value } => core::arch::asm!(
                        "out dx, ax", in("dx") port, in("ax") value,
                        options(nomem, nostack, preserves_flags)
                    ),
                    Register::Io8 { port, value } => core::arch::asm!(
                        "out dx, al", in("dx") port, in("al") value,
                        options(nomem, nostack, preserves_flags)
                    ),
                }
            }
        }
        Ok(Err(error)) => eprintln!("hermit-wasm: {error}; halting instead"),
        _ => {}
    }
    loop {
        // SAFETY: with interrupts off, `hlt` stops this CPU for good; the run is over.
        unsafe { core::arch::asm!("cli", "hlt", options(nomem, nostack)) };
    }
}
