//! The one place that sets Wasmtime's engine configuration. The xtask precompiles modules on
//! the host with it (plus the board's target) and the guest loads them with it; Wasmtime
//! refuses a precompiled module whose settings differ, so both sides must call this.

use std::num::NonZeroUsize;

use wasmtime::Config;

use crate::manifest::{ThreadsInfo, WASM_PAGE};

/// Settings as `(name, value)`, recorded in every image's manifest.
pub const SETTINGS: [(&str, &str); 8] = [
    // Hermit has no signal handlers: Wasmtime emits explicit checks instead of relying on
    // faults, and so needs neither reservations nor guard pages.
    ("signals_based_traps", "false"),
    ("memory_reservation", "0"),
    ("memory_guard_size", "0"),
    ("memory_reservation_for_growth", "0"),
    // Copy-on-write memory images need mmap of files; Hermit has none.
    ("memory_init_cow", "false"),
    // Nothing registers unwind tables in the guest.
    ("native_unwind_info", "false"),
    // Traps print the module's backtrace, as many frames as `wasmtime run` prints.
    ("wasm_backtrace_max_frames", "20"),
    // wasm32-wasip1-threads modules import a shared memory (checked at run time only).
    ("shared_memory", "true"),
];

/// The engine configuration the guest runs a module with: [`config`], and for a threads
/// module room for its shared memory to grow into. A shared memory never moves, so its
/// whole capacity (the image's) is reserved when it is made, and in the guest pages are
/// committed as it grows (`platform/shared_memory.rs`); Wasmtime reserves the
/// minimum plus `memory_reservation_for_growth`, a setting it does not compare with the
/// precompiler's.
pub fn runtime_config(threads: Option<&ThreadsInfo>) -> Config {
    let mut config = config();
    if let Some(threads) = threads {
        let growth = threads
            .memory_capacity_pages
            .saturating_sub(threads.memory_minimum_pages)
            .saturating_mul(WASM_PAGE);
        config.memory_reservation_for_growth(growth);
    }
    config
}

/// The engine configuration of every module we run.
pub fn config() -> Config {
    let mut config = Config::new();
    config
        .signals_based_traps(false)
        .memory_reservation(0)
        .memory_guard_size(0)
        .memory_reservation_for_growth(0)
        .memory_init_cow(false)
        .native_unwind_info(false)
        .wasm_backtrace_max_frames(NonZeroUsize::new(20))
        .shared_memory(true);
    config
}

/// The Wasmtime release the guest embeds (checked again by `Module::deserialize`).
pub const WASMTIME_VERSION: &str = "48";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_can_be_built_from_the_settings() {
        wasmtime::Engine::new(&config()).expect("engine from our settings");
    }

    #[test]
    fn every_setting_is_recorded_once() {
        let mut names: Vec<&str> = SETTINGS.iter().map(|(name, _)| *name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), SETTINGS.len());
    }
}
