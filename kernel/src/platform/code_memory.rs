//! Running a precompiled module where the image holds it. Wasmtime would otherwise copy the
//! module into a fresh mapping (zeroed first) before it makes the code executable; the
//! payload segment is mapped readable and executable already, and the module starts on a
//! page (`payload::MODULE_ALIGN`), so the guest hands Wasmtime the bytes themselves.

use std::ptr::NonNull;
use std::sync::Arc;

use anyhow::Result;
use wasmtime::component::Component;
use wasmtime::{Config, CustomCodeMemory, Engine, Module};

use crate::payload::MODULE_ALIGN;

/// Wasmtime's code-publishing hook on Hermit. Every mapping of the guest is readable,
/// writable and executable from the start (see `wasmtime_hooks.rs` for why kernel 0.11
/// gives no W^X), so publishing code only makes instruction fetch see the bytes.
struct HermitCodeMemory;

impl CustomCodeMemory for HermitCodeMemory {
    fn required_alignment(&self) -> usize {
        MODULE_ALIGN
    }

    fn publish_executable(&self, ptr: *const u8, len: usize) -> wasmtime::Result<()> {
        super::icache::sync_instruction_cache(ptr.cast_mut(), len);
        Ok(())
    }

    fn unpublish_executable(&self, _ptr: *const u8, _len: usize) -> wasmtime::Result<()> {
        Ok(())
    }
}

/// `config` with the guest's code-publishing hook.
pub fn configure(mut config: Config) -> Config {
    config.with_custom_code_memory(Some(Arc::new(HermitCodeMemory)));
    config
}

/// Loads the precompiled module `bytes` in place when they start on a [`MODULE_ALIGN`]
/// boundary (an image's payload, as our loader places it), and from a copy otherwise (a
/// guest started by a loader that moved the segment off that boundary).
///
/// # Safety
///
/// `bytes` must be the output of `Engine::precompile_module` for `engine`'s settings, as
/// for `Module::deserialize`; and nothing may write them while the program runs (the
/// `'static` borrow guarantees it for Rust code; the payload segment is written by nobody).
/// One module at a time may be loaded in place from the same bytes: Wasmtime registers
/// the code's address range once.
pub unsafe fn load_module(engine: &Engine, bytes: &'static [u8]) -> Result<Module> {
    let module = if bytes.as_ptr().addr() % MODULE_ALIGN == 0 {
        // SAFETY: the caller's contract; the memory outlives every module (it is 'static)
        // and is never written.
        unsafe { Module::deserialize_raw(engine, NonNull::from(bytes)) }
    } else {
        // SAFETY: the caller's contract.
        unsafe { Module::deserialize(engine, bytes) }
    };
    module.map_err(anyhow::Error::from)
}

/// [`load_module`] for a component.
///
/// # Safety
///
/// As for [`load_module`], with `Engine::precompile_component` and
/// `Component::deserialize`.
pub unsafe fn load_component(engine: &Engine, bytes: &'static [u8]) -> Result<Component> {
    let component = if bytes.as_ptr().addr() % MODULE_ALIGN == 0 {
        // SAFETY: the caller's contract; the memory outlives every component (it is
        // 'static) and is never written.
        unsafe { Component::deserialize_raw(engine, NonNull::from(bytes)) }
    } else {
        // SAFETY: the caller's contract.
        unsafe { Component::deserialize(engine, bytes) }
    };
    component.map_err(anyhow::Error::from)
}
