//! Our implementation of WASI preview1 (`wasi_snapshot_preview1`) over Rust std.
//!
//! The same code runs natively (unit and integration tests on Linux) and in the Hermit
//! guest. Host directories are exposed only through preopens, and every guest path is
//! resolved inside its preopen by [`sandbox`]; read-only preopens refuse every change.
//!
//! Semantics follow Wasmtime's `wasmtime run` (48), error paths included, as the
//! differential fuzzer (`cargo xtask fuzz-wasi`) holds them: rights are advisory (no
//! operation checks them; a path that would leave its preopen is `EPERM`, as Wasmtime's
//! file-system primitives answer), a file opened without write access refuses writes with
//! `EBADF`, `fd_fdstat_get` reports the rights Wasmtime reports ([`abi::rights`]),
//! descriptor numbers are taken as Wasmtime takes them, a read or write moves only the
//! first buffer that is not empty, each call checks what it checks in Wasmtime's order,
//! and an argument Wasmtime's bindings cannot decode (an unknown enum value or flag) ends
//! the run with an error rather than an errno.
//!
//! Modules: [`errno`] (error numbers), [`abi`] (constants, layouts, memory access),
//! [`ctx`] (per-instance state), [`fd_table`] (descriptors), [`sandbox`] (path
//! resolution), [`fs`] (descriptor operations), [`path`] (path operations), [`vfs`] (the
//! file systems preopens live on: [`std_fs`], the host's through std, and [`fuse_fs`], host
//! directories shared with a QEMU guest through virtio-fs), [`clock`], [`poll`],
//! [`random`], [`stdio`], and `bindings` (the Wasmtime host functions).

pub mod abi;
mod bindings;
pub mod clock;
pub mod ctx;
pub mod errno;
pub mod fd_table;
pub mod fs;
pub mod fuse_fs;
pub mod p2;
pub mod path;
pub mod poll;
pub mod random;
pub mod sandbox;
pub mod std_fs;
pub mod stdio;
pub mod vfs;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::usage::Usage;

pub use ctx::{SharedWasi, WasiCtx};
pub use errno::Errno;

/// The import module name of every function provided here.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// Names of every function we provide (all 46 of wasi_snapshot_preview1).
pub const FUNCTIONS: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "fd_advise",
    "fd_allocate",
    "fd_close",
    "fd_datasync",
    "fd_fdstat_get",
    "fd_fdstat_set_flags",
    "fd_fdstat_set_rights",
    "fd_filestat_get",
    "fd_filestat_set_size",
    "fd_filestat_set_times",
    "fd_pread",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "fd_pwrite",
    "fd_read",
    "fd_readdir",
    "fd_renumber",
    "fd_seek",
    "fd_sync",
    "fd_tell",
    "fd_write",
    "path_create_directory",
    "path_filestat_get",
    "path_filestat_set_times",
    "path_link",
    "path_open",
    "path_readlink",
    "path_remove_directory",
    "path_rename",
    "path_symlink",
    "path_unlink_file",
    "poll_oneoff",
    "proc_exit",
    "proc_raise",
    "sched_yield",
    "random_get",
    "sock_accept",
    "sock_recv",
    "sock_send",
    "sock_shutdown",
];

/// A host directory made visible to the guest.
#[derive(Clone, Debug)]
pub struct Preopen {
    /// The file system the directory is reached through.
    pub fs: Arc<dyn vfs::FileSystem>,
    /// The directory's path in that file system.
    pub host: PathBuf,
    /// The name the guest sees (`fd_prestat_dir_name`), e.g. `"/"` or `"/data"`.
    pub guest: String,
    /// Refuse every write, creation, deletion, rename, link, truncation and time change.
    pub read_only: bool,
}

/// What the guest is started with.
#[derive(Clone, Debug, Default)]
pub struct WasiConfig {
    /// argv, including argv[0].
    pub args: Vec<String>,
    /// Environment variables, in order.
    pub env: Vec<(String, String)>,
    /// Preopened directories, given fds 3, 4, ... in this order.
    pub preopens: Vec<Preopen>,
    /// The most descriptors the module may have open at once, stdio and preopens included
    /// (`LIMIT files`).
    pub max_files: Option<u64>,
    /// Where stdout and stderr count their bytes (and find the output limit), and the fd
    /// table tells that it refused a descriptor.
    pub usage: Arc<Usage>,
}

/// The guest's standard streams.
pub struct Stdio {
    pub stdin: Box<dyn std::io::Read + Send>,
    pub stdout: Box<dyn std::io::Write + Send>,
    pub stderr: Box<dyn std::io::Write + Send>,
    /// Whether the host's stdin/stdout/stderr is a terminal, as the launcher saw it
    /// (index = fd 0, 1, 2). `fd_fdstat_get` and `fd_filestat_get` report a terminal as a
    /// character device and anything else as `UNKNOWN`, as Wasmtime does.
    pub terminal: [bool; 3],
}

/// `proc_exit(code)` ends the call with `Err(wasmtime::Error::new(Exit(code)))`; the runner
/// downcasts it to learn the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit(pub i32);

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the guest called proc_exit({})", self.0)
    }
}

impl std::error::Error for Exit {}

/// Defines the functions of [`FUNCTIONS`] that `wanted` names (those the module imports;
/// `|_| true` for all) in `linker` under [`MODULE`]. `get` finds the [`SharedWasi`] in the
/// store's data (every thread's store points to the same one). The module must export its
/// memory, plain or shared, as `"memory"`.
pub fn add_to_linker<T: 'static>(
    linker: &mut wasmtime::Linker<T>,
    get: fn(&mut T) -> &SharedWasi,
    wanted: &dyn Fn(&str) -> bool,
) -> anyhow::Result<()> {
    Ok(bindings::add(linker, get, wanted)?)
}
