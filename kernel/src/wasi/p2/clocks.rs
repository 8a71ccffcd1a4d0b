//! `wasi:clocks` (monotonic, wall) and `wasi:random` (random, insecure, insecure-seed),
//! read from the context's clocks and generator as preview1 reads them.

use wasmtime::component::Resource;

use super::bindings::wasi::clocks::{monotonic_clock, wall_clock};
use super::bindings::wasi::random::{insecure, insecure_seed, random};
use super::io::Pollable;
use super::WasiP2;
use crate::wasi::abi::clockid;
use crate::wasi::clock::realtime_ns;

impl monotonic_clock::Host for WasiP2 {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(self.ctx.clocks.monotonic_ns())
    }

    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(self.ctx.clocks.resolution(clockid::MONOTONIC).unwrap_or(1))
    }

    fn subscribe_instant(&mut self, when: u64) -> wasmtime::Result<Resource<Pollable>> {
        Ok(self.table.push(Pollable::Until(when))?)
    }

    fn subscribe_duration(&mut self, duration: u64) -> wasmtime::Result<Resource<Pollable>> {
        let at = self.ctx.clocks.monotonic_ns().saturating_add(duration);
        Ok(self.table.push(Pollable::Until(at))?)
    }
}

impl wall_clock::Host for WasiP2 {
    fn now(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        let ns = realtime_ns().map_err(|errno| {
            wasmtime::format_err!("the wall clock cannot be read ({})", errno.name())
        })?;
        Ok(wall_clock::Datetime {
            seconds: ns / 1_000_000_000,
            nanoseconds: (ns % 1_000_000_000) as u32,
        })
    }

    fn resolution(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        let ns = self.ctx.clocks.resolution(clockid::REALTIME).unwrap_or(1);
        Ok(wall_clock::Datetime {
            seconds: ns / 1_000_000_000,
            nanoseconds: (ns % 1_000_000_000) as u32,
        })
    }
}

impl WasiP2 {
    /// `len` random bytes; a length no memory can hold ends the run.
    fn random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        usize::try_from(len)
            .ok()
            .and_then(|len| bytes.try_reserve_exact(len).ok().map(|()| len))
            .map(|len| bytes.resize(len, 0))
            .ok_or_else(|| wasmtime::format_err!("cannot allocate {len} random bytes"))?;
        self.ctx.random.fill(&mut bytes);
        Ok(bytes)
    }

    fn random_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.ctx.random.fill(&mut bytes);
        u64::from_le_bytes(bytes)
    }
}

impl random::Host for WasiP2 {
    fn get_random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        self.random_bytes(len)
    }

    fn get_random_u64(&mut self) -> wasmtime::Result<u64> {
        Ok(self.random_u64())
    }
}

impl insecure::Host for WasiP2 {
    fn get_insecure_random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        self.random_bytes(len)
    }

    fn get_insecure_random_u64(&mut self) -> wasmtime::Result<u64> {
        Ok(self.random_u64())
    }
}

impl insecure_seed::Host for WasiP2 {
    fn insecure_seed(&mut self) -> wasmtime::Result<(u64, u64)> {
        Ok((self.random_u64(), self.random_u64()))
    }
}
