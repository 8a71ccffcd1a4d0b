//! The WASI clocks: realtime (wall clock) and monotonic. The process and thread CPU-time
//! clocks are `EBADF`, as Wasmtime answers them (WASI 0.2 has no such clock).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::abi::clockid;
use super::errno::{Errno, WasiResult};

/// Resolution reported for every clock, in nanoseconds (an honest upper bound on both
/// Linux and Hermit, whose timers count at least microseconds).
pub const RESOLUTION_NS: u64 = 1_000;

/// The clocks of one WASI context (a copy reads the same clocks).
#[derive(Clone, Copy, Debug)]
pub struct Clocks {
    start: Instant,
}

impl Default for Clocks {
    fn default() -> Self {
        Self::new()
    }
}

impl Clocks {
    /// Clocks whose monotonic and CPU-time origin is now.
    pub fn new() -> Clocks {
        Clocks {
            start: Instant::now(),
        }
    }

    /// `clock_res_get`.
    pub fn resolution(&self, id: u32) -> WasiResult<u64> {
        match id {
            clockid::REALTIME | clockid::MONOTONIC => Ok(RESOLUTION_NS),
            clockid::PROCESS_CPUTIME_ID | clockid::THREAD_CPUTIME_ID => Err(Errno::Badf),
            _ => Err(Errno::Inval),
        }
    }

    /// `clock_time_get`: nanoseconds of clock `id`.
    pub fn now(&self, id: u32) -> WasiResult<u64> {
        match id {
            clockid::REALTIME => realtime_ns(),
            clockid::MONOTONIC => Ok(self.monotonic_ns()),
            clockid::PROCESS_CPUTIME_ID | clockid::THREAD_CPUTIME_ID => Err(Errno::Badf),
            _ => Err(Errno::Inval),
        }
    }

    /// Nanoseconds since the context was created.
    pub fn monotonic_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Nanoseconds since the Unix epoch (`EOVERFLOW` past year 2554, `EIO` before 1970).
pub fn realtime_ns() -> WasiResult<u64> {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Errno::Io)?;
    u64::try_from(since.as_nanos()).map_err(|_| Errno::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_answer_known_ids_only() {
        let clocks = Clocks::new();
        for id in 0..2 {
            assert_eq!(clocks.resolution(id), Ok(RESOLUTION_NS));
            clocks.now(id).unwrap();
        }
        for id in 2..4 {
            assert_eq!(clocks.resolution(id), Err(Errno::Badf));
            assert_eq!(clocks.now(id), Err(Errno::Badf));
        }
        assert_eq!(clocks.resolution(4), Err(Errno::Inval));
        assert_eq!(clocks.now(4), Err(Errno::Inval));
    }

    #[test]
    fn monotonic_does_not_go_back_and_realtime_is_after_2020() {
        let clocks = Clocks::new();
        let a = clocks.now(clockid::MONOTONIC).unwrap();
        let b = clocks.now(clockid::MONOTONIC).unwrap();
        assert!(a <= b);
        assert!(clocks.now(clockid::REALTIME).unwrap() > 1_577_836_800_000_000_000);
    }
}
