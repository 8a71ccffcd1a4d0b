//! Mapping device registers: the guest kernel maps the devices it drives itself, and
//! nothing else; our drivers add identity mappings for theirs (the virtio-mmio windows) to
//! the page tables the kernel runs on, as device memory, in 2 MiB pieces.
//!
//! A piece that is already mapped 1:1 (riscv64's kernel maps the first GiB with one page)
//! is left as it is; one mapped to other memory or through smaller pages is an error,
//! never overwritten. Missing intermediate tables come from a small pool in the image,
//! which, like every table on the walk, is identity-mapped RAM.

use std::ops::Range;
use std::ptr::{read_volatile, write_volatile};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Result};

const PIECE: u64 = 0x20_0000;

#[repr(C, align(4096))]
struct Table([u64; 512]);

const POOL_SIZE: usize = 4;
static mut POOL: [Table; POOL_SIZE] = [const { Table([0; 512]) }; POOL_SIZE];
static POOL_USED: AtomicUsize = AtomicUsize::new(0);

/// A zeroed page table from the pool; its address (identity-mapped).
fn new_table() -> Result<u64> {
    let i = POOL_USED.fetch_add(1, Ordering::SeqCst);
    if i >= POOL_SIZE {
        bail!("out of page tables for device mappings");
    }
    // SAFETY: each pool entry is handed out once (the counter only grows).
    Ok(unsafe { (&raw mut POOL[i]) as u64 })
}

/// What differs between the architectures' page tables.
trait Format {
    /// The shifts of the levels above the one whose entries map 2 MiB, top first.
    const UPPER_SHIFTS: &'static [u32];
    /// The identity-mapped address of the top-level table.
    fn root() -> Result<u64>;
    fn is_valid(entry: u64) -> bool;
    /// Whether a valid entry maps memory itself rather than pointing to a table.
    fn is_leaf(entry: u64) -> bool;
    /// The address an entry maps or points to.
    fn address(entry: u64) -> u64;
    /// An entry pointing to the table at `table`.
    fn table(table: u64) -> u64;
    /// A 2 MiB entry mapping `piece` as device memory.
    fn device(piece: u64) -> u64;
    /// Makes a new mapping of `piece` visible.
    fn flush(piece: u64);
}

/// Maps the 2 MiB at `piece` 1:1 as device memory.
///
/// # Safety
///
/// See [`map`]; every table on the walk must be identity-mapped.
unsafe fn map_piece<F: Format>(piece: u64) -> Result<()> {
    let mut table = F::root()?;
    for &shift in F::UPPER_SHIFTS {
        // SAFETY: `table` is a table of the hierarchy, identity-mapped.
        let entry = unsafe { entry(table, (piece >> shift) & 511) };
        let value = unsafe { read_volatile(entry) };
        if !F::is_valid(value) {
            let new = new_table()?;
            unsafe { write_volatile(entry, F::table(new)) };
            table = new;
        } else if F::is_leaf(value) {
            let mask = (1u64 << shift) - 1;
            if F::address(value) & !mask == piece & !mask {
                return Ok(());
            }
            return refuse(piece, "to other memory");
        } else {
            table = F::address(value);
        }
    }
    // SAFETY: as above.
    let entry = unsafe { entry(table, (piece >> 21) & 511) };
    let value = unsafe { read_volatile(entry) };
    if F::is_valid(value) {
        if F::is_leaf(value) && F::address(value) & !(PIECE - 1) == piece {
            return Ok(());
        }
        return refuse(piece, "otherwise");
    }
    unsafe { write_volatile(entry, F::device(piece)) };
    F::flush(piece);
    Ok(())
}

/// Entry `index` of the table at `table`.
///
/// # Safety
///
/// `table` must be the identity-mapped address of a page table.
unsafe fn entry(table: u64, index: u64) -> *mut u64 {
    (table as *mut u64).wrapping_add(index as usize)
}

/// Maps `range` 1:1 as device memory (rounded out to 2 MiB pieces).
///
/// # Safety
///
/// `range` must hold device registers only (never RAM), and nothing else may change the
/// page tables meanwhile.
pub unsafe fn map(range: Range<u64>) -> Result<()> {
    let mut piece = range.start - range.start % PIECE;
    while piece < range.end {
        // SAFETY: per the caller; the loader's and the kernel's tables are identity-mapped
        // where these walks go (see each format), and new ones come from the image.
        unsafe { map_piece::<arch::Tables>(piece)? };
        piece += PIECE;
    }
    Ok(())
}

fn refuse(piece: u64, what: &str) -> Result<()> {
    bail!("cannot map device memory at {piece:#x}: the page tables already map it {what}")
}

/// x86_64: four levels from CR3; every table is in RAM, which is all identity-mapped.
#[cfg(target_arch = "x86_64")]
mod arch {
    use super::*;
    use core::arch::asm;

    const PRESENT: u64 = 1 << 0;
    const WRITABLE: u64 = 1 << 1;
    const WRITE_THROUGH: u64 = 1 << 3;
    const CACHE_DISABLE: u64 = 1 << 4;
    const HUGE: u64 = 1 << 7;
    const ADDRESS: u64 = 0x000f_ffff_ffff_f000;

    pub struct Tables;

    impl Format for Tables {
        const UPPER_SHIFTS: &'static [u32] = &[39, 30];

        fn root() -> Result<u64> {
            let cr3: u64;
            // SAFETY: reading CR3 in ring 0.
            unsafe { asm!("mov {}, cr3", out(reg) cr3, options(nomem, nostack)) };
            Ok(cr3 & ADDRESS)
        }

        fn is_valid(entry: u64) -> bool {
            entry & PRESENT != 0
        }

        fn is_leaf(entry: u64) -> bool {
            entry & HUGE != 0
        }

        fn address(entry: u64) -> u64 {
            entry & ADDRESS
        }

        fn table(table: u64) -> u64 {
            table | PRESENT | WRITABLE
        }

        fn device(piece: u64) -> u64 {
            piece | PRESENT | WRITABLE | HUGE | WRITE_THROUGH | CACHE_DISABLE
        }

        fn flush(piece: u64) {
            // SAFETY: invalidating one TLB entry.
            unsafe { asm!("invlpg [{}]", in(reg) piece, options(nostack)) };
        }
    }
}

/// aarch64: four levels from `TTBR0_EL1`. The tables covering low physical addresses are
/// the loader's, below the kernel, where RAM is identity-mapped.
#[cfg(target_arch = "aarch64")]
mod arch {
    use super::*;
    use core::arch::asm;

    const VALID: u64 = 1 << 0;
    const TABLE: u64 = 1 << 1;
    /// MAIR index 0: device nGnRnE; index 4: normal memory (as the loader sets MAIR).
    const ATTR_DEVICE: u64 = 0 << 2;
    const ATTR_NORMAL: u64 = 4 << 2;
    const INNER_SHAREABLE: u64 = 3 << 8;
    const ACCESSED: u64 = 1 << 10;
    const PRIVILEGED_EXECUTE_NEVER: u64 = 1 << 53;
    const UNPRIVILEGED_EXECUTE_NEVER: u64 = 1 << 54;
    const ADDRESS: u64 = 0x0000_ffff_ffff_f000;

    pub struct Tables;

    impl Format for Tables {
        const UPPER_SHIFTS: &'static [u32] = &[39, 30];

        fn root() -> Result<u64> {
            let ttbr0: u64;
            // SAFETY: reading TTBR0_EL1 at EL1.
            unsafe { asm!("mrs {}, ttbr0_el1", out(reg) ttbr0, options(nomem, nostack)) };
            Ok(ttbr0 & ADDRESS)
        }

        fn is_valid(entry: u64) -> bool {
            entry & VALID != 0
        }

        fn is_leaf(entry: u64) -> bool {
            entry & TABLE == 0
        }

        fn address(entry: u64) -> u64 {
            entry & ADDRESS
        }

        /// The kernel reaches its tables through a recursive mapping, where table
        /// descriptors are read as page descriptors too: they carry normal-memory
        /// attributes.
        fn table(table: u64) -> u64 {
            table | VALID | TABLE | ATTR_NORMAL | INNER_SHAREABLE | ACCESSED
        }

        fn device(piece: u64) -> u64 {
            piece
                | VALID
                | ATTR_DEVICE
                | ACCESSED
                | PRIVILEGED_EXECUTE_NEVER
                | UNPRIVILEGED_EXECUTE_NEVER
        }

        fn flush(_piece: u64) {
            // The entry was invalid, so no TLB holds it: make the write visible to the walker.
            // SAFETY: barriers only.
            unsafe { asm!("dsb ishst", "isb", options(nostack)) };
        }
    }
}

/// riscv64: Sv39, three levels from `satp`; the kernel maps all RAM 1:1, tables included.
#[cfg(target_arch = "riscv64")]
mod arch {
    use super::*;
    use core::arch::asm;

    const VALID: u64 = 1 << 0;
    const READ: u64 = 1 << 1;
    const WRITE: u64 = 1 << 2;
    const EXECUTE: u64 = 1 << 3;
    const GLOBAL: u64 = 1 << 5;
    const ACCESSED: u64 = 1 << 6;
    const DIRTY: u64 = 1 << 7;
    const SV39: u64 = 8;

    fn pte(addr: u64, flags: u64) -> u64 {
        ((addr >> 12) << 10) | flags
    }

    pub struct Tables;

    impl Format for Tables {
        const UPPER_SHIFTS: &'static [u32] = &[30];

        fn root() -> Result<u64> {
            let satp: u64;
            // SAFETY: reading satp in S-mode.
            unsafe { asm!("csrr {}, satp", out(reg) satp, options(nomem, nostack)) };
            if satp >> 60 != SV39 {
                bail!("the kernel's page tables are not Sv39 (satp {satp:#x})");
            }
            Ok((satp & ((1 << 44) - 1)) << 12)
        }

        fn is_valid(entry: u64) -> bool {
            entry & VALID != 0
        }

        fn is_leaf(entry: u64) -> bool {
            entry & (READ | WRITE | EXECUTE) != 0
        }

        fn address(entry: u64) -> u64 {
            ((entry >> 10) & ((1 << 44) - 1)) << 12
        }

        fn table(table: u64) -> u64 {
            pte(table, VALID)
        }

        fn device(piece: u64) -> u64 {
            pte(piece, VALID | READ | WRITE | GLOBAL | ACCESSED | DIRTY)
        }

        fn flush(_piece: u64) {
            // SAFETY: a TLB fence only.
            unsafe { asm!("sfence.vma", options(nostack)) };
        }
    }
}
