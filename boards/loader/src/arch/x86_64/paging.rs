//! The identity-mapped page tables the kernel starts with.
//!
//! What kernel 0.11 expects (read in its `arch/x86_64/mm`):
//! - RAM identity-mapped with 2 MiB pages; when the kernel adds RAM above its image to its
//!   free list it maps each 2 MiB frame itself and accepts a frame already mapped to itself.
//! - No 1 GiB pages.
//! - The first 2 MiB NOT one large page: the kernel maps single 4 KiB pages there (the SMP
//!   boot code at 0x8000, the BIOS areas it scans for ACPI tables). Its scan insists on
//!   mapping those pages itself, so the loader leaves the first MiB unmapped and maps the
//!   second MiB (the loader image) with 4 KiB pages.
//!
//! The tables live in the loader's heap, below the kernel, and stay in use.

use alloc::alloc::{alloc_zeroed, Layout};
use core::arch::asm;
use core::ops::Range;

const PAGE_SIZE: u64 = 0x1000;
const LARGE_PAGE_SIZE: u64 = 0x20_0000;
/// Below this address the loader maps nothing (except the RSDP).
const LOW_MEMORY_END: u64 = 0x10_0000;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const HUGE_PAGE: u64 = 1 << 7;
const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;

#[repr(C, align(4096))]
struct PageTable([u64; 512]);

/// A four-level page table hierarchy.
pub struct PageTables {
    pml4: &'static mut PageTable,
}

impl PageTables {
    fn new() -> Self {
        Self { pml4: new_table() }
    }

    /// Maps `ram` (sorted, non-overlapping) and the pages of `extra` (e.g. the RSDP) 1:1.
    pub fn identity(ram: &[Range<u64>], extra: &[Range<u64>]) -> Self {
        let mut tables = Self::new();
        for region in ram {
            let mut frame = region.start - region.start % LARGE_PAGE_SIZE;
            while frame < region.end {
                if frame == 0 {
                    let low = region.start.max(LOW_MEMORY_END)..region.end.min(LARGE_PAGE_SIZE);
                    tables.map_small_pages(low);
                } else {
                    tables.map_large_page(frame);
                }
                frame += LARGE_PAGE_SIZE;
            }
        }
        for range in extra {
            if range.start < LARGE_PAGE_SIZE {
                tables.map_small_pages(range.clone());
            } else {
                let first = range.start - range.start % LARGE_PAGE_SIZE;
                (first..range.end)
                    .step_by(LARGE_PAGE_SIZE as usize)
                    .for_each(|frame| tables.map_large_page(frame));
            }
        }
        tables
    }

    /// Loads the hierarchy into CR3.
    ///
    /// # Safety
    ///
    /// Everything the CPU touches afterwards must be mapped.
    pub unsafe fn activate(&self) {
        let pml4 = &raw const *self.pml4 as u64;
        // SAFETY: the caller vouches that the new tables map all that is in use.
        unsafe { asm!("mov cr3, {}", in(reg) pml4, options(nostack)) };
    }

    fn map_large_page(&mut self, addr: u64) {
        let pd = self.page_directory(addr);
        let entry = &mut pd.0[index(addr, 21)];
        if *entry & PRESENT == 0 {
            *entry = addr | PRESENT | WRITABLE | HUGE_PAGE;
        }
    }

    /// Maps the 4 KiB pages overlapping `range`, which lies within one 2 MiB frame.
    fn map_small_pages(&mut self, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        let pd = self.page_directory(range.start);
        let pt = next_table(&mut pd.0[index(range.start, 21)]);
        let first = range.start - range.start % PAGE_SIZE;
        for page in (first..range.end).step_by(PAGE_SIZE as usize) {
            pt.0[index(page, 12)] = page | PRESENT | WRITABLE;
        }
    }

    fn page_directory(&mut self, addr: u64) -> &'static mut PageTable {
        let pdpt = next_table(&mut self.pml4.0[index(addr, 39)]);
        next_table(&mut pdpt.0[index(addr, 30)])
    }
}

fn index(addr: u64, shift: u32) -> usize {
    ((addr >> shift) & 0x1ff) as usize
}

/// Returns the table an entry points to, creating it if the entry is empty.
fn next_table(entry: &mut u64) -> &'static mut PageTable {
    assert!(
        *entry & HUGE_PAGE == 0,
        "page table entry {entry:#x} maps a large page"
    );
    if *entry & PRESENT == 0 {
        let table = new_table();
        *entry = &raw const *table as u64 | PRESENT | WRITABLE;
        return table;
    }
    // SAFETY: present non-huge entries point to tables created by `new_table`.
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
