//! The per-instance WASI state: arguments, environment, descriptors, clocks, randomness.

use std::sync::Arc;

use anyhow::{bail, Context};

use super::clock::Clocks;
use super::fd_table::{FdTable, Handle, OpenDir};
use super::random::Random;
use super::sandbox::{DirRef, Root};
use super::stdio::Stream;
use super::{Stdio, WasiConfig};

/// Everything one WASI instance owns.
pub struct WasiCtx {
    pub(crate) args: Vec<String>,
    /// `KEY=VALUE` strings.
    pub(crate) env: Vec<String>,
    pub(crate) fds: FdTable,
    pub(crate) clocks: Clocks,
    pub(crate) random: Random,
}

impl std::fmt::Debug for WasiCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasiCtx")
            .field("args", &self.args)
            .field("env", &self.env)
            .field("fds", &self.fds)
            .finish_non_exhaustive()
    }
}

impl WasiCtx {
    /// Builds the context: fds 0-2 are the given streams, preopens follow from fd 3 in
    /// the order given. Fails if a string holds a NUL byte, an environment name holds
    /// `=`, or a preopen is not an existing host directory.
    pub fn new(config: WasiConfig, stdio: Stdio) -> anyhow::Result<WasiCtx> {
        for arg in &config.args {
            if arg.contains('\0') {
                bail!("argument {arg:?} contains a NUL byte");
            }
        }
        let mut env = Vec::with_capacity(config.env.len());
        for (key, value) in &config.env {
            if key.is_empty() || key.contains('=') || key.contains('\0') || value.contains('\0') {
                bail!("environment variable {key:?}={value:?} is not representable");
            }
            env.push(format!("{key}={value}"));
        }

        let mut fds = FdTable::new();
        let [stdin_tty, stdout_tty, stderr_tty] = stdio.terminal;
        fds.insert(Handle::Stream(Stream::input(stdio.stdin, stdin_tty)))?;
        fds.insert(Handle::Stream(Stream::output(stdio.stdout, stdout_tty)))?;
        fds.insert(Handle::Stream(Stream::output(stdio.stderr, stderr_tty)))?;

        for preopen in config.preopens {
            let meta = preopen
                .fs
                .stat_root(&preopen.host)
                .map_err(anyhow::Error::new)
                .with_context(|| {
                    format!(
                        "preopen {:?}: cannot stat host directory {}",
                        preopen.guest,
                        preopen.host.display()
                    )
                })?;
            if !meta.is_dir() {
                bail!(
                    "preopen {:?}: host path {} is not a directory",
                    preopen.guest,
                    preopen.host.display()
                );
            }
            if preopen.guest.contains('\0') {
                bail!("preopen name {:?} contains a NUL byte", preopen.guest);
            }
            let root = Arc::new(Root {
                fs: preopen.fs,
                host: preopen.host,
                read_only: preopen.read_only,
            });
            fds.insert(Handle::Dir(OpenDir {
                dir: DirRef::root(root),
                preopen: Some(preopen.guest),
            }))?;
        }

        Ok(WasiCtx {
            args: config.args,
            env,
            fds,
            clocks: Clocks::new(),
            random: Random::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<WasiCtx>();
    }

    #[test]
    fn bad_configuration_is_reported() {
        let stdio = || Stdio {
            stdin: Box::new(std::io::empty()),
            stdout: Box::new(std::io::sink()),
            stderr: Box::new(std::io::sink()),
            terminal: [false; 3],
        };
        let config = |preopen: &str, env: (&str, &str)| WasiConfig {
            args: vec!["a".into()],
            env: vec![(env.0.into(), env.1.into())],
            preopens: vec![super::super::Preopen {
                fs: Arc::new(crate::wasi::std_fs::StdFs),
                host: preopen.into(),
                guest: "/".into(),
                read_only: false,
            }],
        };
        let err = WasiCtx::new(config("/definitely/missing", ("K", "V")), stdio()).unwrap_err();
        assert!(
            format!("{err:#}").contains("/definitely/missing"),
            "{err:#}"
        );
        let dir = std::env::temp_dir();
        let err = WasiCtx::new(config(dir.to_str().unwrap(), ("K=", "V")), stdio()).unwrap_err();
        assert!(format!("{err:#}").contains("not representable"), "{err:#}");
        let ctx = WasiCtx::new(config(dir.to_str().unwrap(), ("K", "V")), stdio()).unwrap();
        assert_eq!(ctx.env, ["K=V"]);
    }
}
