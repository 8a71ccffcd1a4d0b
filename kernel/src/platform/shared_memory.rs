//! A threads module's shared memory, committed as it grows.
//!
//! A shared memory never moves, so Wasmtime reserves its address range once, up to the
//! module's declared maximum, and makes pages accessible as the module grows it
//! (`wasmtime_mmap_new` with no access, then `wasmtime_mprotect`). Kernel 0.11 gives a
//! reservation without access addresses only. On x86_64 and aarch64 its `mprotect` backs
//! pages that have none, so there the reservation stays empty and each growth is backed by
//! fresh pages, zeroed, in pieces of at most 2 MiB (the kernel backs each piece with
//! contiguous physical memory). On riscv64 its `mprotect` and `munmap` panic on a page
//! without a mapping ("Invalid PTE"), so there the reservation is mapped whole when it is
//! made (page tables only: nothing reads or writes its pages) and each growth zeroes what
//! it adds. Either way the guest touches, and the host backs, what the module uses, not
//! what it may use.
//!
//! The budget says how far it may grow: the image's (what the VM was sized for) or the
//! run's memory limit. A growth past it is refused (Wasmtime's `memory.grow` returns -1,
//! as for any memory at its limit), and, when the budget is the memory limit, counted as
//! the limit reached. Within the budget the kernel must have the pages: kernel 0.11 panics
//! when it has no physical memory left rather than failing the call, so this holds only
//! in a VM sized for the image's capacity (the launch scripts size theirs; a VM whose RAM
//! someone else chose, a cloud's, bounds the growth at about a quarter of its largest RAM
//! region).
//!
//! Only the one reservation announced by [`expect`], of the size announced, is handled so;
//! every other mapping keeps the eager path of `wasmtime_hooks.rs`.

use std::sync::{Arc, Mutex};

use crate::limit_spec::LimitName;
use crate::usage::Usage;

/// The most one commit asks the kernel for: its pages come physically contiguous.
const PIECE: usize = 2 << 20;
const PROT_DATA: u32 = hermit_abi::PROT_READ | hermit_abi::PROT_WRITE;
/// Whether the kernel's `mprotect` backs pages that have none (see the top of this file).
const BACKED_BY_MPROTECT: bool = !cfg!(target_arch = "riscv64");

/// The next shared memory: its reservation's size, how far it may grow, and whom to tell
/// when it may not.
#[derive(Debug)]
pub struct Budget {
    /// Bytes Wasmtime reserves for it (the image's capacity; no guard pages).
    pub reservation: usize,
    /// Bytes the memory may be committed to.
    pub bytes: usize,
    /// Whether `bytes` is the run's memory limit (a refusal then counts as reaching it).
    pub limited: bool,
    pub usage: Arc<Usage>,
}

/// A reservation committed as it grows.
#[derive(Debug)]
struct Region {
    start: usize,
    size: usize,
    /// Bytes from `start` backed and zeroed so far.
    committed: usize,
    /// Each committed piece, `(start, len)`: unmapped one by one.
    pieces: Vec<(usize, usize)>,
    budget: Budget,
}

static NEXT: Mutex<Option<Budget>> = Mutex::new(None);
static REGIONS: Mutex<Vec<Region>> = Mutex::new(Vec::new());

/// The next reservation Wasmtime makes of `budget.reservation` bytes is a shared memory
/// that may grow within `budget`.
pub fn expect(budget: Budget) {
    *NEXT.lock().unwrap_or_else(|e| e.into_inner()) = Some(budget);
}

/// Forgets an expected shared memory that was not made (its creation failed first).
pub fn forget() {
    NEXT.lock().unwrap_or_else(|e| e.into_inner()).take();
}

/// `wasmtime_mmap_new` without access: when it is the expected shared memory's, reserves
/// `size` bytes (see the top of this file) and gives their start.
pub(super) fn reserve(size: usize) -> Option<Result<*mut u8, i32>> {
    let budget = {
        let mut next = NEXT.lock().unwrap_or_else(|e| e.into_inner());
        if next.as_ref()?.reservation != size {
            return None;
        }
        next.take()?
    };
    let mut addr = core::ptr::null_mut();
    let prot = if BACKED_BY_MPROTECT { 0 } else { PROT_DATA };
    // SAFETY: the kernel writes the new reservation's address to `addr`; no access means
    // no pages, and with access nothing touches them until they are committed.
    let rc = super::page_tables::edit(|| unsafe { hermit_abi::mmap(size, prot, &mut addr) });
    if rc != 0 || addr.is_null() {
        return Some(Err(if rc != 0 {
            rc
        } else {
            -hermit_abi::errno::ENOMEM
        }));
    }
    REGIONS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Region {
            start: addr as usize,
            size,
            committed: 0,
            pieces: Vec::new(),
            budget,
        });
    Some(Ok(addr))
}

/// `wasmtime_mprotect` of `[addr, addr + size)`: in a shared memory's reservation, backs
/// what is not backed yet (within the budget); `None` for any other mapping.
pub(super) fn make_accessible(addr: *mut u8, size: usize) -> Option<i32> {
    let mut regions = REGIONS.lock().unwrap_or_else(|e| e.into_inner());
    let addr = addr as usize;
    let region = regions
        .iter_mut()
        .find(|r| (r.start..r.start + r.size).contains(&addr))?;
    if size == 0 {
        return Some(0);
    }
    let end = addr - region.start + size;
    if end > region.size {
        return Some(-hermit_abi::errno::EINVAL);
    }
    if end <= region.committed {
        return Some(0);
    }
    if end > region.budget.bytes {
        if region.budget.limited {
            region.budget.usage.refused(LimitName::Memory);
        }
        return Some(-hermit_abi::errno::ENOMEM);
    }
    if !BACKED_BY_MPROTECT {
        // The reservation is mapped; its new part only needs to read as zero.
        // SAFETY: `[committed, end)` lies in our mapped reservation, beyond what the
        // module could reach so far.
        unsafe {
            core::ptr::write_bytes(
                (region.start + region.committed) as *mut u8,
                0,
                end - region.committed,
            )
        };
        region.committed = end;
        return Some(0);
    }
    while region.committed < end {
        let at = region.start + region.committed;
        let len = (end - region.committed).min(PIECE);
        // SAFETY: `[at, at + len)` lies in our reservation and has no pages yet; the
        // kernel gives it fresh ones.
        let rc = super::page_tables::edit(|| unsafe {
            hermit_abi::mprotect(at as *mut u8, len, PROT_DATA)
        });
        if rc != 0 {
            return Some(rc);
        }
        // Fresh physical memory is not guaranteed to be zero; Wasmtime expects it to be.
        // SAFETY: the piece was just backed, and nothing else refers to it yet.
        unsafe { core::ptr::write_bytes(at as *mut u8, 0, len) };
        region.pieces.push((at, len));
        region.committed += len;
    }
    Some(0)
}

/// `wasmtime_munmap` of a shared memory's reservation: its pieces, then the rest of its
/// addresses; `None` for any other mapping.
pub(super) fn unmap(addr: *mut u8) -> Option<i32> {
    let mut regions = REGIONS.lock().unwrap_or_else(|e| e.into_inner());
    let i = regions.iter().position(|r| r.start == addr as usize)?;
    let region = regions.remove(i);
    if !BACKED_BY_MPROTECT {
        // SAFETY: the whole reservation, one mapping the kernel made.
        return Some(super::page_tables::edit(|| unsafe {
            hermit_abi::munmap(region.start as *mut u8, region.size)
        }));
    }
    for (at, len) in region.pieces {
        // SAFETY: a piece the kernel backed as one contiguous mapping.
        let rc = super::page_tables::edit(|| unsafe { hermit_abi::munmap(at as *mut u8, len) });
        if rc != 0 {
            return Some(rc);
        }
    }
    let rest = region.size - region.committed;
    if rest > 0 {
        let at = region.start + region.committed;
        // SAFETY: the reservation's addresses without pages.
        return Some(super::page_tables::edit(|| unsafe {
            hermit_abi::munmap(at as *mut u8, rest)
        }));
    }
    Some(0)
}
