//! The guest's standard streams: the embedder's stdin reader and stdout/stderr writers,
//! each with whether the host stream behind it is a terminal.
//!
//! A stream is a handle: clones share the reader or writer, each behind a lock of its own.
//! A WASI call takes a clone out of the fd table and reads or writes with the table's lock
//! released, so a thread blocked reading stdin holds up nobody else.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::abi::{filetype, rights, Fdstat, Filestat};
use super::errno::{Errno, WasiResult};
use crate::usage::{OutputStream, Usage};

enum Io {
    /// A readable stream (stdin).
    Input(Box<dyn Read + Send>),
    /// A writable stream (stdout or stderr).
    Output(Box<dyn Write + Send>),
}

/// A standard stream held by the fd table.
#[derive(Clone)]
pub struct Stream {
    io: Arc<Mutex<Io>>,
    /// Where a writable stream counts its bytes against the output limit.
    counted: Option<(Arc<Usage>, OutputStream)>,
    /// Whether this is the readable stream (fixed: the lock need not be taken to know).
    input: bool,
    /// Whether the host stream is a terminal (as the launcher saw it).
    terminal: bool,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.input { "Input" } else { "Output" };
        f.debug_struct("Stream")
            .field("kind", &kind)
            .field("terminal", &self.terminal)
            .finish()
    }
}

impl Stream {
    /// The readable stream (stdin).
    pub fn input(reader: Box<dyn Read + Send>, terminal: bool) -> Stream {
        Stream {
            io: Arc::new(Mutex::new(Io::Input(reader))),
            counted: None,
            input: true,
            terminal,
        }
    }

    /// A writable stream (stdout or stderr).
    pub fn output(writer: Box<dyn Write + Send>, terminal: bool) -> Stream {
        Stream {
            io: Arc::new(Mutex::new(Io::Output(writer))),
            counted: None,
            input: false,
            terminal,
        }
    }

    /// This writable stream, counting what it writes in `usage` as `which`: a write that
    /// would pass the output limit writes what still fits and fails with `EFBIG` (the
    /// caller ends the run, `Usage::output_limit_reached`).
    pub fn counted(self, usage: Arc<Usage>, which: OutputStream) -> Stream {
        Stream {
            counted: Some((usage, which)),
            ..self
        }
    }

    /// The reader or writer, locked. A thread that panicked while holding it left nothing
    /// half-changed that matters to a byte stream.
    fn io(&self) -> MutexGuard<'_, Io> {
        self.io.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads into `buf` (one read call; 0 at end of stream). A writer is `EBADF`.
    pub fn read(&self, buf: &mut [u8]) -> WasiResult<usize> {
        match &mut *self.io() {
            Io::Input(r) => loop {
                match r.read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
            },
            Io::Output(_) => Err(Errno::Badf),
        }
    }

    /// Writes all of `data` and flushes, as an unbuffered descriptor would. A reader is
    /// `EBADF`.
    pub fn write(&self, data: &[u8]) -> WasiResult<usize> {
        match &mut *self.io() {
            Io::Output(w) => {
                let allowed = match &self.counted {
                    Some((usage, which)) => usage.take_output(*which, data.len()),
                    None => data.len(),
                };
                w.write_all(&data[..allowed])?;
                w.flush()?;
                if allowed < data.len() {
                    return Err(Errno::Fbig);
                }
                Ok(data.len())
            }
            Io::Input(_) => Err(Errno::Badf),
        }
    }

    /// Flushes a writer (`fd_sync`); a no-op for the reader.
    pub fn flush(&self) -> WasiResult<()> {
        if self.input {
            // Not even the lock: a reader may hold it while it waits for input.
            return Ok(());
        }
        match &mut *self.io() {
            Io::Output(w) => Ok(w.flush()?),
            Io::Input(_) => Ok(()),
        }
    }

    /// Whether the host stream is a terminal (as the launcher saw it).
    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// Whether this is the readable stream.
    pub fn is_input(&self) -> bool {
        self.input
    }

    /// The file type reported for the stream, as Wasmtime reports it: a character
    /// device when the host stream is a terminal, `UNKNOWN` otherwise.
    pub fn filetype(&self) -> u8 {
        if self.terminal {
            filetype::CHARACTER_DEVICE
        } else {
            filetype::UNKNOWN
        }
    }

    /// `fd_fdstat_get`: read (stdin) or write (stdout, stderr) rights, no flags.
    pub fn fdstat(&self) -> Fdstat {
        let rights = if self.is_input() {
            rights::STDIN
        } else {
            rights::STDOUT
        };
        Fdstat {
            filetype: self.filetype(),
            flags: 0,
            rights_base: rights,
            rights_inheriting: rights,
        }
    }

    /// `fd_filestat_get`: all zero but the file type.
    pub fn filestat(&self) -> Filestat {
        Filestat {
            filetype: self.filetype(),
            ..Filestat::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn streams_read_and_write_in_their_direction_only() {
        let sink = Arc::new(Mutex::new(Vec::new()));
        let out = Stream::output(Box::new(Shared(sink.clone())), false);
        assert_eq!(out.write(b"hi"), Ok(2));
        assert_eq!(out.read(&mut [0; 4]), Err(Errno::Badf));
        assert_eq!(&*sink.lock().unwrap(), b"hi");

        let input = Stream::input(Box::new(&b"abc"[..]), false);
        let mut buf = [0u8; 8];
        assert_eq!(input.read(&mut buf), Ok(3));
        assert_eq!(input.read(&mut buf), Ok(0));
        assert_eq!(input.write(b"x"), Err(Errno::Badf));
    }

    #[test]
    fn a_counted_stream_stops_at_the_output_limit() {
        let sink = Arc::new(Mutex::new(Vec::new()));
        let usage = Arc::new(Usage::new(Some(5)));
        let out = Stream::output(Box::new(Shared(sink.clone())), false)
            .counted(Arc::clone(&usage), OutputStream::Stderr);
        assert_eq!(out.write(b"abc"), Ok(3));
        assert_eq!(out.write(b"defg"), Err(Errno::Fbig));
        assert_eq!(&*sink.lock().unwrap(), b"abcde");
        assert!(usage.output_limit_reached().is_some());
        assert_eq!(usage.record().stderr_bytes, 5);
    }

    #[test]
    fn terminals_are_character_devices() {
        let tty = Stream::output(Box::new(std::io::sink()), true);
        let pipe = Stream::input(Box::new(std::io::empty()), false);
        assert_eq!(tty.filetype(), filetype::CHARACTER_DEVICE);
        assert_eq!(pipe.filetype(), filetype::UNKNOWN);
        assert_eq!(
            (tty.fdstat().rights_base, tty.fdstat().rights_inheriting),
            (rights::FD_WRITE, rights::FD_WRITE)
        );
        assert_eq!(pipe.fdstat().rights_base, rights::FD_READ);
        assert_eq!(
            tty.filestat(),
            Filestat {
                filetype: filetype::CHARACTER_DEVICE,
                ..Filestat::default()
            }
        );
    }
}
