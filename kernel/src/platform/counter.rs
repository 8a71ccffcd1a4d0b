//! The machine's counter that the kernel's clock divides into microseconds (aarch64
//! `cntpct_el0`, riscv64 `time`, x86_64 the TSC), read raw. QEMU starts it at zero with the
//! machine, so one reading beside the clock converts the loader's raw phase marks (see
//! `phases.rs`).

/// The counter's value now.
pub fn ticks() -> u64 {
    #[cfg(target_arch = "aarch64")]
    {
        let value: u64;
        // SAFETY: reading the physical count register has no side effects; the guest runs
        // at EL1, where kernel 0.11 reads it too.
        unsafe {
            core::arch::asm!("isb", "mrs {}, cntpct_el0", out(reg) value, options(nomem, nostack))
        };
        value
    }
    #[cfg(target_arch = "riscv64")]
    {
        let value: u64;
        // SAFETY: reading `time` has no side effects; the kernel's clock reads it the same way.
        unsafe { core::arch::asm!("rdtime {}", out(reg) value, options(nomem, nostack)) };
        value
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` has no side effects and is allowed in the guest's ring 0.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
}
