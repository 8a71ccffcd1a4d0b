//! The machine's counter, for a boot's phase marks (`run-qemu.sh --phases`).
//!
//! It is the counter the guest kernel's monotonic clock divides (aarch64 `cntpct_el0`,
//! riscv64 `time`, x86_64 the TSC), which QEMU starts at zero with the machine, read by the
//! guest's own code for it. The loader prints raw ticks, without knowing their rate; the
//! runner prints one reading of the same counter beside its clock's microseconds, and the
//! launch script converts the loader's ticks with that ratio.

#[path = "../../../kernel/src/platform/counter.rs"]
mod counter;

pub use counter::ticks;

/// Prints that phase `name` began at `ticks`, in the line `run-qemu.sh --phases` reads.
pub fn mark(name: &str, ticks: u64) {
    println!("[LOADER] phase {name} at {ticks} ticks");
}
