//! Mapping device registers: the guest kernel maps the devices it drives itself, and
//! nothing else; our drivers add identity mappings for theirs (the virtio-mmio windows) to
//! the page tables the kernel runs on, as device memory, in 2 MiB pieces.
//!
//! A piece that is already mapped 1:1 (riscv64's kernel maps the first GiB with one page)
//! is left as it is; one mapped to other memory or through smaller pages is an error,
//! never overwritten. Missing intermediate tables come from a small pool in the image,
//! which, like every table on the walk, is identity-mapped RAM.

use std::ops::Range;
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

/// Reads entry `index` of the table at `table`.
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
        // SAFETY: per the caller.
        unsafe { arch::map_piece(piece)? };
        piece += PIECE;
    }
    Ok(())
}

fn refuse(piece: u64, what: &str) -> Result<()> {
    bail!("cannot map device memory at {piece:#x}: the page tables already map it {what}")
}

#[cfg(target_arch = "x86_64")]
mod arch {
    use super::*;
    use core::arch::asm;
    use core::ptr::{read_volatile, write_volatile};

    const PRESENT: u64 = 1 << 0;
    const WRITABLE: u64 = 1 << 1;
    const WRITE_THROUGH: u64 = 1 << 3;
    const CACHE_DISABLE: u64 = 1 << 4;
    const HUGE: u64 = 1 << 7;
    const ADDRESS: u64 = 0x000f_ffff_ffff_f000;

    /// # Safety
    /// See [`super::map`].
    pub unsafe fn map_piece(piece: u64) -> Result<()> {
        let cr3: u64;
        // SAFETY: reading CR3 in ring 0.
        unsafe { asm!("mov {}, cr3", out(reg) cr3, options(nomem, nostack)) };
        let mut table = cr3 & ADDRESS;
        for shift in [39, 30] {
            // SAFETY: `table` is a table of the hierarchy, identity-mapped (all RAM is).
            let e = unsafe { entry(table, (piece >> shift) & 511) };
            let value = unsafe { read_volatile(e) };
            if value & PRESENT == 0 {
                let new = new_table()?;
                unsafe { write_volatile(e, new | PRESENT | WRITABLE) };
                table = new;
            } else if value & HUGE != 0 {
                let mask = (1u64 << shift) - 1;
                if value & ADDRESS & !mask == piece & !mask {
                    return Ok(());
                }
                return refuse(piece, "to other memory");
            } else {
                table = value & ADDRESS;
            }
        }
        // SAFETY: as above.
        let e = unsafe { entry(table, (piece >> 21) & 511) };
        let value = unsafe { read_volatile(e) };
        if value & PRESENT != 0 {
            if value & HUGE != 0 && value & ADDRESS & !(PIECE - 1) == piece {
                return Ok(());
            }
            return refuse(piece, "otherwise");
        }
        unsafe {
            write_volatile(
                e,
                piece | PRESENT | WRITABLE | HUGE | WRITE_THROUGH | CACHE_DISABLE,
            );
            asm!("invlpg [{}]", in(reg) piece, options(nostack));
        }
        Ok(())
    }
}

#[cfg(target_arch = "aarch64")]
mod arch {
    use super::*;
    use core::arch::asm;
    use core::ptr::{read_volatile, write_volatile};

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
    /// The kernel reaches its tables through a recursive mapping, where table descriptors
    /// are read as page descriptors too: they carry normal-memory attributes.
    const TABLE_DESCRIPTOR: u64 = VALID | TABLE | ATTR_NORMAL | INNER_SHAREABLE | ACCESSED;
    const DEVICE_BLOCK: u64 =
        VALID | ATTR_DEVICE | ACCESSED | PRIVILEGED_EXECUTE_NEVER | UNPRIVILEGED_EXECUTE_NEVER;

    /// # Safety
    /// See [`super::map`].
    pub unsafe fn map_piece(piece: u64) -> Result<()> {
        let ttbr0: u64;
        // SAFETY: reading TTBR0_EL1 at EL1.
        unsafe { asm!("mrs {}, ttbr0_el1", out(reg) ttbr0, options(nomem, nostack)) };
        let mut table = ttbr0 & ADDRESS;
        for shift in [39, 30] {
            // SAFETY: the tables covering low physical addresses are the loader's, below
            // the kernel, identity-mapped; new ones come from the image.
            let e = unsafe { entry(table, (piece >> shift) & 511) };
            let value = unsafe { read_volatile(e) };
            if value & VALID == 0 {
                let new = new_table()?;
                unsafe { write_volatile(e, new | TABLE_DESCRIPTOR) };
                table = new;
            } else if value & TABLE == 0 {
                let mask = (1u64 << shift) - 1;
                if value & ADDRESS & !mask == piece & !mask {
                    return Ok(());
                }
                return refuse(piece, "to other memory");
            } else {
                table = value & ADDRESS;
            }
        }
        // SAFETY: as above.
        let e = unsafe { entry(table, (piece >> 21) & 511) };
        let value = unsafe { read_volatile(e) };
        if value & VALID != 0 {
            if value & TABLE == 0 && value & ADDRESS & !(PIECE - 1) == piece {
                return Ok(());
            }
            return refuse(piece, "otherwise");
        }
        unsafe {
            write_volatile(e, piece | DEVICE_BLOCK);
            asm!("dsb ishst", "isb", options(nostack));
        }
        Ok(())
    }
}

#[cfg(target_arch = "riscv64")]
mod arch {
    use super::*;
    use core::arch::asm;
    use core::ptr::{read_volatile, write_volatile};

    const VALID: u64 = 1 << 0;
    const READ: u64 = 1 << 1;
    const WRITE: u64 = 1 << 2;
    const EXECUTE: u64 = 1 << 3;
    const GLOBAL: u64 = 1 << 5;
    const ACCESSED: u64 = 1 << 6;
    const DIRTY: u64 = 1 << 7;
    const SV39: u64 = 8;

    fn address(pte: u64) -> u64 {
        ((pte >> 10) & ((1 << 44) - 1)) << 12
    }

    fn pte(addr: u64, flags: u64) -> u64 {
        ((addr >> 12) << 10) | flags
    }

    /// # Safety
    /// See [`super::map`].
    pub unsafe fn map_piece(piece: u64) -> Result<()> {
        let satp: u64;
        // SAFETY: reading satp in S-mode.
        unsafe { asm!("csrr {}, satp", out(reg) satp, options(nomem, nostack)) };
        if satp >> 60 != SV39 {
            bail!("the kernel's page tables are not Sv39 (satp {satp:#x})");
        }
        let root = (satp & ((1 << 44) - 1)) << 12;
        // SAFETY: all RAM, and with it every table, is identity-mapped on riscv64.
        let e = unsafe { entry(root, (piece >> 30) & 511) };
        let value = unsafe { read_volatile(e) };
        let table = if value & VALID == 0 {
            let new = new_table()?;
            unsafe { write_volatile(e, pte(new, VALID)) };
            new
        } else if value & (READ | WRITE | EXECUTE) != 0 {
            let mask = (1u64 << 30) - 1;
            if address(value) & !mask == piece & !mask {
                return Ok(());
            }
            return refuse(piece, "to other memory");
        } else {
            address(value)
        };
        let e = unsafe { entry(table, (piece >> 21) & 511) };
        let value = unsafe { read_volatile(e) };
        if value & VALID != 0 {
            if value & (READ | WRITE | EXECUTE) != 0 && address(value) == piece {
                return Ok(());
            }
            return refuse(piece, "otherwise");
        }
        unsafe {
            write_volatile(
                e,
                pte(piece, VALID | READ | WRITE | GLOBAL | ACCESSED | DIRTY),
            );
            asm!("sfence.vma", options(nostack));
        }
        Ok(())
    }
}
