//! The guest's standard streams: the embedder's stdin reader and stdout/stderr writers.

use std::io::{Read, Write};

use super::errno::{Errno, WasiResult};

/// A standard stream held by the fd table.
pub enum Stream {
    /// A readable stream (stdin).
    Input(Box<dyn Read + Send>),
    /// A writable stream (stdout or stderr).
    Output(Box<dyn Write + Send>),
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stream::Input(_) => f.write_str("Stream::Input"),
            Stream::Output(_) => f.write_str("Stream::Output"),
        }
    }
}

impl Stream {
    /// Reads into `buf` (one read call; 0 at end of stream). A writer is `EBADF`.
    pub fn read(&mut self, buf: &mut [u8]) -> WasiResult<usize> {
        match self {
            Stream::Input(r) => loop {
                match r.read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
            },
            Stream::Output(_) => Err(Errno::Badf),
        }
    }

    /// Writes all of `data` and flushes, as an unbuffered descriptor would. A reader is
    /// `EBADF`.
    pub fn write(&mut self, data: &[u8]) -> WasiResult<usize> {
        match self {
            Stream::Output(w) => {
                w.write_all(data)?;
                w.flush()?;
                Ok(data.len())
            }
            Stream::Input(_) => Err(Errno::Badf),
        }
    }

    /// Flushes a writer (`fd_sync`); a no-op for the reader.
    pub fn flush(&mut self) -> WasiResult<()> {
        match self {
            Stream::Output(w) => Ok(w.flush()?),
            Stream::Input(_) => Ok(()),
        }
    }

    /// Whether this is the readable stream.
    pub fn is_input(&self) -> bool {
        matches!(self, Stream::Input(_))
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
        let mut out = Stream::Output(Box::new(Shared(sink.clone())));
        assert_eq!(out.write(b"hi"), Ok(2));
        assert_eq!(out.read(&mut [0; 4]), Err(Errno::Badf));
        assert_eq!(&*sink.lock().unwrap(), b"hi");

        let mut input = Stream::Input(Box::new(&b"abc"[..]));
        let mut buf = [0u8; 8];
        assert_eq!(input.read(&mut buf), Ok(3));
        assert_eq!(input.read(&mut buf), Ok(0));
        assert_eq!(input.write(b"x"), Err(Errno::Badf));
    }
}
