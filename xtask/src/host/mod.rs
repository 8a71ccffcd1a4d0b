//! What touches the machine the xtask runs on, rather than an image: nested cargo runs
//! and toolchains, the host packages booting needs, the runner built for the host, the
//! launchers the xtask starts, and files written beside their final name.

pub mod cargo_cmd;
pub mod child_processes;
pub mod deps;
pub mod partial_file;
pub mod runner;
pub mod toolchain;
