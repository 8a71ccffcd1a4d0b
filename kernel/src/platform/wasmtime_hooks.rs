//! Wasmtime's custom-platform hooks (`wasmtime_mmap_new` and friends) on Hermit 0.11.
//!
//! The kernel's memory map has shortcuts: PROT_NONE is not enforced, a partly re-protected
//! mapping ends up backed by separate physical chunks, and freeing such a mapping panics.
//! So every mapping is committed whole, readable, writable and executable, when it is made,
//! and protection changes only keep instruction caches coherent. The exception is a
//! threads module's shared memory, committed as it grows (`shared_memory.rs`).

use core::ptr;
use std::cell::Cell;

const PAGE_SIZE: usize = 4096;
const PROT_ALL: u32 = hermit_abi::PROT_READ | hermit_abi::PROT_WRITE | hermit_abi::PROT_EXEC;
/// Wasmtime's PROT_EXEC (`WASMTIME_PROT_EXEC`).
const WASMTIME_PROT_EXEC: u32 = 1 << 2;

fn round_up(size: usize) -> usize {
    size.div_ceil(PAGE_SIZE) * PAGE_SIZE
}

#[unsafe(no_mangle)]
pub extern "C" fn wasmtime_page_size() -> usize {
    PAGE_SIZE
}

#[unsafe(no_mangle)]
pub extern "C" fn wasmtime_mmap_new(size: usize, prot_flags: u32, ret: &mut *mut u8) -> i32 {
    let size = round_up(size.max(1));
    if prot_flags == 0 {
        if let Some(reserved) = super::shared_memory::reserve(size) {
            return match reserved {
                Ok(addr) => {
                    *ret = addr;
                    0
                }
                Err(rc) => rc,
            };
        }
    }
    let mut addr = ptr::null_mut();
    // SAFETY: the kernel writes the new mapping's address to `addr`.
    let rc = crate::platform::page_tables::edit(|| unsafe {
        hermit_abi::mmap(size, PROT_ALL, &mut addr)
    });
    if rc != 0 || addr.is_null() {
        return if rc != 0 {
            rc
        } else {
            -hermit_abi::errno::ENOMEM
        };
    }
    // Fresh physical memory is not guaranteed to be zero; Wasmtime expects it to be.
    // SAFETY: `addr` points to `size` bytes we own.
    unsafe { ptr::write_bytes(addr, 0, size) };
    *ret = addr;
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn wasmtime_mmap_remap(addr: *mut u8, size: usize, _prot_flags: u32) -> i32 {
    // "Replace with fresh zero pages": the mapping is committed already, so zero it.
    // SAFETY: Wasmtime passes a range of a mapping it made with `wasmtime_mmap_new`.
    unsafe { ptr::write_bytes(addr, 0, size) };
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn wasmtime_munmap(addr: *mut u8, size: usize) -> i32 {
    if let Some(rc) = super::shared_memory::unmap(addr) {
        return rc;
    }
    // SAFETY: a whole mapping made by `wasmtime_mmap_new`.
    crate::platform::page_tables::edit(|| unsafe {
        hermit_abi::munmap(addr, round_up(size.max(1)))
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn wasmtime_mprotect(addr: *mut u8, size: usize, prot_flags: u32) -> i32 {
    if let Some(rc) = super::shared_memory::make_accessible(addr, size) {
        return rc;
    }
    if prot_flags & WASMTIME_PROT_EXEC != 0 {
        crate::platform::icache::sync_instruction_cache(addr, size);
    }
    0
}

/// Copy-on-write images are not supported: a null image makes Wasmtime copy data itself.
#[unsafe(no_mangle)]
pub extern "C" fn wasmtime_memory_image_new(
    _ptr: *const u8,
    _len: usize,
    ret: &mut *mut u8,
) -> i32 {
    *ret = ptr::null_mut();
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn wasmtime_memory_image_map_at(
    _image: *mut u8,
    _addr: *mut u8,
    _len: usize,
) -> i32 {
    // Never called: `wasmtime_memory_image_new` never returns an image.
    -hermit_abi::errno::ENOSYS
}

#[unsafe(no_mangle)]
pub extern "C" fn wasmtime_memory_image_free(_image: *mut u8) {}

// Wasmtime's thread-local pointers: slot 0 is the runtime's activation list, slot 1 the
// component-model-async state (from Wasmtime 46 on, each call names its slot).
const TLS_SLOTS: usize = 2;

thread_local! {
    static TLS: [Cell<*mut u8>; TLS_SLOTS] = const { [const { Cell::new(ptr::null_mut()) }; TLS_SLOTS] };
}

#[unsafe(no_mangle)]
pub extern "C" fn wasmtime_tls_get(slot: usize) -> *mut u8 {
    // Wasmtime passes only 0 or 1; anything else reads as the documented default.
    TLS.with(|tls| tls.get(slot).map_or(ptr::null_mut(), Cell::get))
}

#[unsafe(no_mangle)]
pub extern "C" fn wasmtime_tls_set(slot: usize, value: *mut u8) {
    TLS.with(|tls| {
        let cell = tls
            .get(slot)
            .unwrap_or_else(|| panic!("Wasmtime asked for TLS slot {slot}; it has {TLS_SLOTS}"));
        cell.set(value);
    });
}
