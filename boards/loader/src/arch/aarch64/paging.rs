//! The page tables the kernel starts with and keeps (kernel 0.11 `arch/aarch64/mm/paging.rs`).
//!
//! - 48-bit virtual addresses, 4 KiB granule, `TTBR0_EL1` only (set up by the entry code,
//!   together with the MAIR attribute indices the kernel uses).
//! - `L0[511]` points to L0 itself: the kernel reaches every table through this recursive
//!   mapping, where each table descriptor also acts as a page descriptor. All table
//!   descriptors therefore carry the flags of a normal, accessed, inner-shareable page.
//! - RAM identity-mapped with 2 MiB blocks, but only up to the end of the kernel image: the
//!   kernel hands out virtual addresses from there upwards and maps them with 4 KiB pages,
//!   which must not land in a block.
//! - The UART identity-mapped as device memory: the kernel writes to its physical address.

use alloc::alloc::{alloc_zeroed, Layout};
use core::arch::asm;
use core::ops::Range;

const LARGE_PAGE_SIZE: u64 = 0x20_0000;

const VALID: u64 = 1 << 0;
const TABLE: u64 = 1 << 1;
const ATTR_DEVICE_NGNRNE: u64 = 0 << 2;
const ATTR_NORMAL: u64 = 4 << 2;
const INNER_SHAREABLE: u64 = 3 << 8;
const ACCESSED: u64 = 1 << 10;
const PRIVILEGED_EXECUTE_NEVER: u64 = 1 << 53;
const UNPRIVILEGED_EXECUTE_NEVER: u64 = 1 << 54;
const ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;

const TABLE_DESCRIPTOR: u64 = VALID | TABLE | ATTR_NORMAL | INNER_SHAREABLE | ACCESSED;
const NORMAL_BLOCK: u64 = VALID | ATTR_NORMAL | INNER_SHAREABLE | ACCESSED;
const DEVICE_BLOCK: u64 =
    VALID | ATTR_DEVICE_NGNRNE | ACCESSED | PRIVILEGED_EXECUTE_NEVER | UNPRIVILEGED_EXECUTE_NEVER;

#[repr(C, align(4096))]
struct PageTable([u64; 512]);

/// A four-level translation table hierarchy for `TTBR0_EL1`.
pub struct PageTables {
    l0: &'static mut PageTable,
}

impl PageTables {
    /// Maps `ram` 1:1 as normal memory and the 2 MiB around each of `devices` as device
    /// memory, with the recursive `L0[511]` entry.
    pub fn identity(ram: &[Range<u64>], devices: &[u64]) -> Self {
        let l0 = new_table();
        let l0_address = &raw const *l0 as u64;
        l0.0[511] = l0_address | TABLE_DESCRIPTOR;
        let mut tables = Self { l0 };

        for region in ram {
            let first = region.start - region.start % LARGE_PAGE_SIZE;
            for block in (first..region.end).step_by(LARGE_PAGE_SIZE as usize) {
                tables.map_block(block, NORMAL_BLOCK);
            }
        }
        for &device in devices {
            tables.map_block(device - device % LARGE_PAGE_SIZE, DEVICE_BLOCK);
        }
        tables
    }

    /// The address of the top-level table, for `TTBR0_EL1`.
    #[cfg_attr(not(target_os = "uefi"), expect(dead_code))]
    pub fn root(&self) -> u64 {
        &raw const *self.l0 as u64
    }

    /// Switches `TTBR0_EL1` to these tables.
    ///
    /// # Safety
    ///
    /// Everything the CPU touches afterwards must be mapped.
    #[cfg_attr(target_os = "uefi", expect(dead_code))]
    pub unsafe fn activate(&self) {
        let l0 = &raw const *self.l0 as u64;
        // SAFETY: per the caller; the barriers order the table writes before the walk.
        unsafe {
            asm!(
                "dsb ishst",
                "msr ttbr0_el1, {l0}",
                "isb",
                "tlbi vmalle1",
                "dsb ish",
                "isb",
                l0 = in(reg) l0,
                options(nostack)
            );
        }
    }

    fn map_block(&mut self, address: u64, flags: u64) {
        assert!(
            index(address, 39) != 511,
            "{address:#x} collides with the recursive page table mapping"
        );
        let l1 = next_table(&mut self.l0.0[index(address, 39)]);
        let l2 = next_table(&mut l1.0[index(address, 30)]);
        let entry = &mut l2.0[index(address, 21)];
        if *entry & VALID == 0 {
            *entry = address | flags;
        }
    }
}

fn index(address: u64, shift: u32) -> usize {
    ((address >> shift) & 0x1ff) as usize
}

/// Returns the table an entry points to, creating it if the entry is empty.
fn next_table(entry: &mut u64) -> &'static mut PageTable {
    if *entry & VALID == 0 {
        let table = new_table();
        *entry = &raw const *table as u64 | TABLE_DESCRIPTOR;
        return table;
    }
    assert!(*entry & TABLE != 0, "descriptor {entry:#x} maps a block");
    // SAFETY: valid table descriptors point to tables created by `new_table`.
    unsafe { &mut *((*entry & ADDRESS_MASK) as *mut PageTable) }
}

fn new_table() -> &'static mut PageTable {
    let layout = Layout::new::<PageTable>();
    // SAFETY: the layout has a non-zero size; a zeroed table is a valid, empty table.
    let table = unsafe { alloc_zeroed(layout) }.cast::<PageTable>();
    assert!(!table.is_null(), "out of memory for page tables");
    // SAFETY: freshly allocated, aligned and initialised.
    unsafe { &mut *table }
}
