//! Kernel calls that edit the page tables, made so that the timer cannot preempt them.
//!
//! Kernel 0.11 on riscv64 guards its root page table with a spin lock that leaves
//! interrupts on. Its scheduler frees the stacks of finished threads, unmapping them under
//! that lock, from the timer interrupt with interrupts off. So when the timer preempts a
//! thread in the middle of a map or unmap (Wasmtime allocating an instance's memory, a new
//! thread's stack) just after another thread finished, the interrupt handler spins for the
//! lock its own CPU holds, for ever. With the runner's time slices (`timeslice.rs`) the
//! timer fires every 10 ms, and `threads-queue` hung in 7 of 25 boots that way: every hang
//! was `timer_handler` → `scheduler` → `TaskStacks::drop` → `paging::unmap`, read with gdb.
//!
//! [`edit`] masks interrupts around such a call on riscv64. x86_64 and aarch64 take no
//! lock around their page tables in kernel 0.11, so there it only makes the call.

/// Calls `f`, a kernel call that maps or unmaps pages (`mmap`, `munmap`, spawning a
/// thread), with interrupts masked on riscv64, then restores them as they were.
pub fn edit<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(all(target_os = "hermit", target_arch = "riscv64"))]
    {
        let sstatus: usize;
        // SAFETY: Hermit runs the application in S-mode. Clearing `sstatus.SIE` (bit 1)
        // only delays interrupts, which stay pending, until it is set again below; the
        // calls made meanwhile do not wait for an interrupt (a spawn or a map returns
        // without one).
        unsafe { core::arch::asm!("csrrci {0}, sstatus, 2", out(reg) sstatus, options(nostack)) };
        let result = f();
        if sstatus & 2 != 0 {
            // SAFETY: as above; this sets SIE back as it was.
            unsafe { core::arch::asm!("csrsi sstatus, 2", options(nostack)) };
        }
        result
    }
    #[cfg(not(all(target_os = "hermit", target_arch = "riscv64")))]
    f()
}
