//! Phase marks of a run, for `cargo xtask bench`: when the runner started (`runner`), had
//! its configuration (`configured`), its engine (`engine`), the module deserialised
//! (`loaded`), WASI set up (`wasi`), the module linked (`linked`) and instantiated
//! (`instantiated`), called its entry point (`start`) and saw it return (`end`), on the
//! guest's monotonic clock in microseconds (in the guest, since the kernel's clock started
//! at boot). Kept only when asked (`HERMIT_WASM_PHASES` in the runner's environment, which the
//! launch script's `--phases` sets through the kernel command line), and printed with the
//! run's record at the end, so that marking costs no console write while the run goes.
//!
//! In the guest the first mark also reads the machine's counter, the one the kernel's clock
//! divides, beside its microseconds (`hermit-wasm: clock TICKS ticks is MICROSECONDS us`):
//! the loader marks its own phases in raw ticks (it does not know their rate), and the
//! launch script converts them with this ratio. Both count from the machine's start.

use std::sync::{Mutex, OnceLock, PoisonError};

/// The environment variable that asks for the marks.
pub const ENV: &str = "HERMIT_WASM_PHASES";

static MARKS: Mutex<Vec<(&'static str, u64)>> = Mutex::new(Vec::new());

/// One reading of the counter and of the clock, taken together at the first mark.
static CLOCK: OnceLock<(u64, u64)> = OnceLock::new();

fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os(ENV).is_some())
}

/// Marks phase `name` now, if marks were asked for.
pub fn mark(name: &'static str) {
    if enabled() {
        let now = now_us();
        #[cfg(target_os = "hermit")]
        CLOCK.get_or_init(|| (crate::platform::counter::ticks(), now));
        MARKS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((name, now));
    }
}

/// The marks so far, one line each: `hermit-wasm: phase NAME MICROSECONDS`, after the
/// counter's reading if there is one.
pub fn lines() -> String {
    let clock = CLOCK
        .get()
        .map(|(ticks, us)| format!("hermit-wasm: clock {ticks} ticks is {us} us\n"));
    let marks = MARKS.lock().unwrap_or_else(PoisonError::into_inner);
    clock
        .into_iter()
        .chain(
            marks
                .iter()
                .map(|(name, us)| format!("hermit-wasm: phase {name} {us}\n")),
        )
        .collect()
}

/// The monotonic clock, in microseconds.
fn now_us() -> u64 {
    #[cfg(target_os = "hermit")]
    {
        let mut now = hermit_abi::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid timespec for the kernel to write.
        unsafe { hermit_abi::clock_gettime(hermit_abi::CLOCK_MONOTONIC, &mut now) };
        now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1000
    }
    #[cfg(not(target_os = "hermit"))]
    {
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_micros() as u64
    }
}
