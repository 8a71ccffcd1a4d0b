//! Making freshly written code visible to instruction fetch.
//!
//! The loader copies the kernel through the data cache; before jumping there, the lines
//! must reach the point of unification and the instruction cache must forget stale lines.
//! (QEMU's TCG does not need this; hardware does.)

use core::arch::asm;
use core::ops::Range;

/// Cleans the data cache over `range` to the point of coherency, where accesses with the
/// MMU off (non-cacheable) see it.
#[cfg_attr(not(target_os = "uefi"), expect(dead_code))]
pub fn clean_to_coherency(range: Range<u64>) {
    let line = line_size();
    let start = range.start - range.start % line;
    for address in (start..range.end).step_by(line as usize) {
        // SAFETY: cleaning a mapped line only writes back data.
        unsafe { asm!("dc cvac, {}", in(reg) address, options(nostack)) };
    }
    // SAFETY: a barrier has no memory effects.
    unsafe { asm!("dsb sy", options(nostack)) };
}

/// The smallest data cache line, in bytes.
fn line_size() -> u64 {
    let ctr: u64;
    // SAFETY: reading the cache type register has no side effects.
    unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    4u64 << ((ctr >> 16) & 0xf)
}

/// Cleans the data cache over `range` to the point of unification and invalidates the
/// instruction cache.
pub fn sync_instructions(range: Range<u64>) {
    let line = line_size();
    let start = range.start - range.start % line;
    for address in (start..range.end).step_by(line as usize) {
        // SAFETY: cleaning a mapped line only writes back data.
        unsafe { asm!("dc cvau, {}", in(reg) address, options(nostack)) };
    }
    // SAFETY: barriers and a full instruction cache invalidation have no memory effects.
    unsafe { asm!("dsb ish", "ic iallu", "dsb ish", "isb", options(nostack)) };
}
