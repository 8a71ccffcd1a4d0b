//! A bump allocator over a static arena, the loader's only heap.
//!
//! Everything allocated here (device tree, page tables, boot information) stays in the
//! loader image, below the kernel, and is never freed: the kernel keeps using it.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Size of the arena. Page tables (one 4 KiB table per GiB of RAM) and the device tree
/// are the largest users.
const ARENA_SIZE: usize = 512 * 1024;

#[repr(C, align(4096))]
struct Arena(UnsafeCell<[u8; ARENA_SIZE]>);

// SAFETY: the allocator hands out disjoint parts of the arena only.
unsafe impl Sync for Arena {}

struct BumpAllocator {
    arena: Arena,
    next: AtomicUsize,
}

#[global_allocator]
static ALLOCATOR: BumpAllocator = BumpAllocator {
    arena: Arena(UnsafeCell::new([0; ARENA_SIZE])),
    next: AtomicUsize::new(0),
};

unsafe impl GlobalAlloc for BumpAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = self.arena.0.get().cast::<u8>();
        let mut offset = self.next.load(Ordering::Relaxed);
        loop {
            let start = (base as usize + offset).next_multiple_of(layout.align()) - base as usize;
            let Some(end) = start
                .checked_add(layout.size())
                .filter(|&e| e <= ARENA_SIZE)
            else {
                return ptr::null_mut();
            };
            match self
                .next
                .compare_exchange(offset, end, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return base.wrapping_add(start),
                Err(current) => offset = current,
            }
        }
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {
        // A bump allocator frees nothing; the loader runs once and allocates little.
    }
}
