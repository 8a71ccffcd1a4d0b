//! Instruction-cache maintenance for code Wasmtime has just written (precompiled code
//! copied into executable memory): Wasmtime's own maintenance does nothing on Hermit.

/// Makes code just written to `[addr, addr + len)` visible to instruction fetch.
/// Wasmtime's own maintenance does nothing on Hermit; x86 needs none.
#[allow(unused_variables)]
pub fn sync_instruction_cache(addr: *mut u8, len: usize) {
    #[cfg(target_arch = "aarch64")]
    {
        let ctr: u64;
        // SAFETY: reading CTR_EL0 has no side effects.
        unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr) };
        let dline = 4usize << ((ctr >> 16) & 0xf);
        let iline = 4usize << (ctr & 0xf);
        let start = addr as usize;
        let end = start + len;
        let mut line = start & !(dline - 1);
        while line < end {
            // SAFETY: cache maintenance by address on memory we own.
            unsafe { core::arch::asm!("dc cvau, {}", in(reg) line) };
            line += dline;
        }
        // SAFETY: barriers only.
        unsafe { core::arch::asm!("dsb ish") };
        let mut line = start & !(iline - 1);
        while line < end {
            // SAFETY: as above.
            unsafe { core::arch::asm!("ic ivau, {}", in(reg) line) };
            line += iline;
        }
        // SAFETY: barriers only.
        unsafe { core::arch::asm!("dsb ish", "isb") };
    }
    #[cfg(target_arch = "riscv64")]
    // SAFETY: an instruction fence only.
    unsafe {
        core::arch::asm!("fence.i")
    };
}
