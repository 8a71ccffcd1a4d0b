//! The guest kernel's logic, shared by the Hermit guest and host builds: engine settings,
//! the image manifest and payload format, the WASI preview1 layer and the runner. The
//! Hermit-only glue (Wasmtime's platform hooks, consoles, exit devices, the virtio-fs
//! device) is in `platform`; the FUSE client (`fuse`) and virtio queues (`virtio`) it
//! drives are plain code, tested natively.

pub mod command;
pub mod engine;
pub mod fuse;
pub mod launch;
pub mod limit_spec;
pub mod manifest;
pub mod map_spec;
pub mod payload;
pub mod phases;
pub mod power_off_spec;
pub mod run;
pub mod usage;
pub mod virtio;
pub mod wasi;

#[cfg(target_os = "hermit")]
pub mod platform;
