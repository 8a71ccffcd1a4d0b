//! The machine's counter, for a boot's phase marks (`run-qemu.sh --phases`).
//!
//! It is the counter the guest kernel's monotonic clock divides (aarch64 `cntpct_el0`,
//! riscv64 `time`, x86_64 the TSC), which QEMU starts at zero with the machine. The loader
//! prints raw ticks, without knowing their rate; the runner prints one reading of the same
//! counter beside its clock's microseconds, and the launch script converts the loader's
//! ticks with that ratio.

/// The counter's value now.
pub fn ticks() -> u64 {
    #[cfg(target_arch = "aarch64")]
    {
        let value: u64;
        // SAFETY: reading the physical count register has no side effects; the loader runs
        // at EL1, where it is accessible.
        unsafe {
            core::arch::asm!("isb", "mrs {}, cntpct_el0", out(reg) value, options(nomem, nostack))
        };
        value
    }
    #[cfg(target_arch = "riscv64")]
    {
        let value: u64;
        // SAFETY: reading `time` has no side effects; OpenSBI lets S-mode read it (or
        // emulates the read).
        unsafe { core::arch::asm!("rdtime {}", out(reg) value, options(nomem, nostack)) };
        value
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` has no side effects and is allowed at ring 0.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
}

/// Prints that phase `name` began at `ticks`, in the line `run-qemu.sh --phases` reads.
pub fn mark(name: &str, ticks: u64) {
    println!("[LOADER] phase {name} at {ticks} ticks");
}
