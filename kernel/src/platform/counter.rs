//! The machine's counter that the kernel's clock divides into microseconds (aarch64
//! `cntpct_el0`, riscv64 `time`, x86_64 the TSC), read raw. QEMU starts it at zero with the
//! machine, so one reading beside the clock converts the loader's raw phase marks (see
//! `phases.rs`). The loader reads it with this same file (`boards/loader/src/clock.rs`).

/// The counter's value now.
pub fn ticks() -> u64 {
    #[cfg(target_arch = "aarch64")]
    {
        let value: u64;
        // SAFETY: reading the physical count register has no side effects; the loader and
        // the guest run at EL1, where it is accessible (kernel 0.11's clock reads it there).
        unsafe {
            core::arch::asm!("isb", "mrs {}, cntpct_el0", out(reg) value, options(nomem, nostack))
        };
        value
    }
    #[cfg(target_arch = "riscv64")]
    {
        let value: u64;
        // SAFETY: reading `time` has no side effects; OpenSBI lets S-mode read it (or
        // emulates the read), and the kernel's clock reads it the same way.
        unsafe { core::arch::asm!("rdtime {}", out(reg) value, options(nomem, nostack)) };
        value
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` has no side effects and is allowed at ring 0, where the loader
        // and the guest run.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
}
