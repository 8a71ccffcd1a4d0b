//! A bump allocator over a static arena, the loader's only heap.
//!
//! Everything allocated here (device tree, page tables, boot information) stays in the
//! loader image, below the kernel, and is never freed: the kernel keeps using it. A loader
//! that firmware placed above the kernel (UEFI on aarch64) moves the arena below it first
//! (`move_arena`).

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
    /// Where allocations come from once `move_arena` was called (0: the static arena).
    moved_base: AtomicUsize,
    moved_size: AtomicUsize,
}

#[global_allocator]
static ALLOCATOR: BumpAllocator = BumpAllocator {
    arena: Arena(UnsafeCell::new([0; ARENA_SIZE])),
    next: AtomicUsize::new(0),
    moved_base: AtomicUsize::new(0),
    moved_size: AtomicUsize::new(0),
};

/// Serves every later allocation from `base..base + size`; what was allocated before stays
/// where it is.
///
/// # Safety
///
/// The range must be writable memory that nothing else uses, for good; the loader must be
/// single-threaded (it is).
#[cfg_attr(
    not(all(target_arch = "aarch64", target_os = "uefi")),
    expect(dead_code)
)]
pub unsafe fn move_arena(base: *mut u8, size: usize) {
    ALLOCATOR.moved_size.store(size, Ordering::Relaxed);
    ALLOCATOR.moved_base.store(base as usize, Ordering::Relaxed);
    ALLOCATOR.next.store(0, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for BumpAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let (base, size) = match self.moved_base.load(Ordering::Relaxed) {
            0 => (self.arena.0.get().cast::<u8>(), ARENA_SIZE),
            moved => (moved as *mut u8, self.moved_size.load(Ordering::Relaxed)),
        };
        let mut offset = self.next.load(Ordering::Relaxed);
        loop {
            let start = (base as usize + offset).next_multiple_of(layout.align()) - base as usize;
            let Some(end) = start.checked_add(layout.size()).filter(|&e| e <= size) else {
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
