//! The per-instance WASI state: arguments, environment, descriptors, clocks, randomness.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use anyhow::{bail, Context};

use super::clock::Clocks;
use super::fd_table::{FdTable, Handle, OpenDir};
use super::random::Random;
use super::sandbox::{DirRef, Root};
use super::stdio::Stream;
use super::{Stdio, WasiConfig};
use crate::usage::OutputStream;
use crate::usage::Usage;

/// Everything one WASI instance owns.
pub struct WasiCtx {
    pub(crate) args: Vec<String>,
    /// `KEY=VALUE` strings.
    pub(crate) env: Vec<String>,
    pub(crate) fds: FdTable,
    pub(crate) clocks: Clocks,
    pub(crate) random: Random,
    pub(crate) usage: Arc<Usage>,
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

/// One module's WASI state, shared by all of its threads (wasm32-wasip1-threads) and
/// locked for the span of one WASI call. Calls that may block for long (reading stdin,
/// writing to a stream, sleeping in `poll_oneoff`) take what they need and drop the lock
/// before they block: see `bindings.rs`.
#[derive(Debug)]
pub struct SharedWasi {
    ctx: Mutex<WasiCtx>,
    /// The context's counters, reachable without the lock.
    usage: Arc<Usage>,
}

impl SharedWasi {
    pub fn new(ctx: WasiCtx) -> SharedWasi {
        SharedWasi {
            usage: Arc::clone(&ctx.usage),
            ctx: Mutex::new(ctx),
        }
    }

    /// The context, locked. A thread that panicked in a WASI call (natively: the guest
    /// aborts on panics) leaves each call's state consistent or the module ended.
    pub fn lock(&self) -> MutexGuard<'_, WasiCtx> {
        self.ctx.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the module has consumed, and the limits counted against.
    pub fn usage(&self) -> &Arc<Usage> {
        &self.usage
    }
}

impl WasiCtx {
    /// A handle on `fd` when it is a standard stream, to read or write it unlocked.
    pub fn stream(&self, fd: u32) -> Option<Stream> {
        match self.fds.get(fd) {
            Ok(Handle::Stream(stream)) => Some(stream.clone()),
            _ => None,
        }
    }

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
        let usage = Arc::clone(&config.usage);
        let counted = |writer, tty, which| {
            Handle::Stream(Stream::output(writer, tty).counted(Arc::clone(&usage), which))
        };
        fds.insert(counted(stdio.stdout, stdout_tty, OutputStream::Stdout))?;
        fds.insert(counted(stdio.stderr, stderr_tty, OutputStream::Stderr))?;

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

        if let Some(limit) = config.max_files {
            if let Err(open) = fds.set_limit(limit, Arc::clone(&usage)) {
                bail!(
                    "the files limit ({limit}) is below the {open} descriptors the module \
                     starts with (stdin, stdout, stderr and one per preopened directory)"
                );
            }
        }
        Ok(WasiCtx {
            args: config.args,
            env,
            fds,
            clocks: Clocks::new(),
            random: Random::new(),
            usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_can_move_between_threads_and_be_shared() {
        fn assert_send<T: Send>() {}
        fn assert_sync<T: Send + Sync>() {}
        assert_send::<WasiCtx>();
        assert_sync::<SharedWasi>();
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
            ..WasiConfig::default()
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

    /// A writer that appends to a shared buffer.
    struct Collect(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Collect {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A reader that blocks until the test sends it bytes (end of input when dropped).
    struct Channel(std::sync::mpsc::Receiver<Vec<u8>>);
    impl std::io::Read for Channel {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Ok(data) = self.0.recv() else {
                return Ok(0);
            };
            buf[..data.len()].copy_from_slice(&data);
            Ok(data.len())
        }
    }

    fn shared(
        dir: &std::path::Path,
        stdin: Box<dyn std::io::Read + Send>,
    ) -> (Arc<SharedWasi>, Arc<Mutex<Vec<u8>>>) {
        let out = Arc::new(Mutex::new(Vec::new()));
        let ctx = WasiCtx::new(
            WasiConfig {
                args: vec!["test".into()],
                env: vec![],
                preopens: vec![super::super::Preopen {
                    fs: Arc::new(crate::wasi::std_fs::StdFs),
                    host: dir.into(),
                    guest: "/".into(),
                    read_only: false,
                }],
                ..WasiConfig::default()
            },
            Stdio {
                stdin,
                stdout: Box::new(Collect(Arc::clone(&out))),
                stderr: Box::new(std::io::sink()),
                terminal: [false; 3],
            },
        )
        .unwrap();
        (Arc::new(SharedWasi::new(ctx)), out)
    }

    #[test]
    fn a_thread_blocked_reading_stdin_holds_up_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let (feed, input) = std::sync::mpsc::channel();
        let (wasi, out) = shared(dir.path(), Box::new(Channel(input)));
        let reader = {
            let wasi = Arc::clone(&wasi);
            std::thread::spawn(move || {
                // As `fd_read` does: the stream is taken out and read unlocked.
                let stdin = wasi.lock().stream(0).expect("fd 0 is a stream");
                let mut buf = [0u8; 16];
                let n = stdin.read(&mut buf).unwrap();
                buf[..n].to_vec()
            })
        };
        // While the reader waits for input, other calls go through the context.
        for _ in 0..100 {
            let stdout = wasi.lock().stream(1).unwrap();
            stdout.write(b"x").unwrap();
            let fd = wasi
                .lock()
                .path_open(3, 0, "f", crate::wasi::abi::oflags::CREAT as u32, 0, 0, 0)
                .unwrap();
            wasi.lock().fd_close(fd).unwrap();
        }
        assert!(!reader.is_finished(), "the reader had no input yet");
        feed.send(b"line".to_vec()).unwrap();
        assert_eq!(reader.join().unwrap(), b"line");
        assert_eq!(out.lock().unwrap().len(), 100);
    }

    #[test]
    fn threads_opening_and_writing_at_once_lose_nothing() {
        const THREADS: usize = 8;
        const ROUNDS: usize = 50;
        let dir = tempfile::tempdir().unwrap();
        let (wasi, out) = shared(dir.path(), Box::new(std::io::empty()));
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let wasi = Arc::clone(&wasi);
                std::thread::spawn(move || {
                    let name = format!("file{t}");
                    let creat = crate::wasi::abi::oflags::CREAT as u32;
                    for round in 0..ROUNDS {
                        let fd = wasi.lock().path_open(3, 0, &name, creat, 0, 0, 0).unwrap();
                        wasi.lock()
                            .fd_seek(fd, 0, crate::wasi::abi::whence::END as u32)
                            .unwrap();
                        wasi.lock().fd_write(fd, &[round as u8]).unwrap();
                        wasi.lock().fd_close(fd).unwrap();
                        wasi.lock()
                            .stream(1)
                            .unwrap()
                            .write(&[b'a' + t as u8])
                            .unwrap();
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        for t in 0..THREADS {
            let data = std::fs::read(dir.path().join(format!("file{t}"))).unwrap();
            assert_eq!(data, (0..ROUNDS as u8).collect::<Vec<_>>(), "file{t}");
        }
        let mut written = out.lock().unwrap().clone();
        written.sort();
        let mut want: Vec<u8> = (0..THREADS)
            .flat_map(|t| std::iter::repeat_n(b'a' + t as u8, ROUNDS))
            .collect();
        want.sort();
        assert_eq!(written, want);
        // Every descriptor was closed: only stdio and the preopen are left.
        let mut ctx = wasi.lock();
        let open: Vec<u32> = (0..64)
            .filter(|&fd| ctx.fd_fdstat_get(fd).is_ok())
            .collect();
        assert_eq!(open, [0, 1, 2, 3]);
    }
}
