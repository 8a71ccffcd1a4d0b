//! The guest kernel's logic, shared by the Hermit guest and host builds: engine settings,
//! the image manifest and payload format, the WASI preview1 layer and the runner. The
//! Hermit-only glue (Wasmtime's platform hooks, consoles, exit devices) is in `platform`.

pub mod engine;
pub mod launch;
pub mod manifest;
pub mod payload;
pub mod run;
pub mod wasi;

#[cfg(target_os = "hermit")]
pub mod platform;
