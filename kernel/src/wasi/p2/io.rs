//! `wasi:io` (error, poll, streams): the resources and their host functions.
//!
//! Streams read and write through the capability core: the standard streams of the
//! context, and files at a position of their own through the core's `fd_pread` and
//! `fd_pwrite` on the descriptor they came from. Pollables wait without spinning: a clock's
//! for its time (in the core's sleep steps), stdin's for input to arrive.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::Resource;

use super::bindings::wasi::io::{error, poll, streams};
use super::stdin::{StdinPump, Taken};
use super::WasiP2;
use crate::wasi::errno::{Errno, WasiResult};
use crate::wasi::poll::sleep_until;
use crate::wasi::stdio::Stream;

/// What `check-write` allows at a time: 64 KiB, what Wasmtime's stdio and file streams
/// answer. As there, a `write` of more is taken whole (its bytes are in the host already);
/// zeroes, which the host would have to make, are held to it.
const WRITE_BUDGET: u64 = 64 << 10;

/// The most `blocking-write-and-flush` and friends take at once (the WIT's limit).
const BLOCKING_WRITE_MAX: u64 = 4096;

/// An `error`: why a stream operation failed, as the core's error number
/// (`filesystem-error-code` reads it back).
#[derive(Debug, Clone, Copy)]
pub struct IoError(pub Errno);

/// A `pollable`.
#[derive(Debug)]
pub enum Pollable {
    /// Always ready (files, output streams: they never make the module wait).
    Ready,
    /// Ready from this monotonic time on (nanoseconds).
    Until(u64),
    /// Ready when stdin has data or has ended.
    Stdin(Arc<StdinPump>),
}

/// A file descriptor of the core and a position in it, for a stream on a file.
#[derive(Debug)]
pub struct FileCursor {
    pub fd: u32,
    pub pos: u64,
}

/// An `input-stream`.
#[derive(Debug)]
pub enum InputStream {
    Stdin(Arc<StdinPump>),
    File(FileCursor),
}

/// An `output-stream`.
#[derive(Debug)]
pub enum OutputStream {
    /// stdout or stderr.
    Std(Stream),
    /// A file, written at a position that moves with each write.
    File(FileCursor),
    /// A file, each write at its end.
    Append(u32),
}

impl WasiP2 {
    /// A `stream-error` for the core's `errno`; the limit on output ends the run instead.
    fn stream_error(&mut self, errno: Errno) -> wasmtime::Result<streams::StreamError> {
        if errno == Errno::Fbig {
            if let Some(exceeded) = self.ctx.usage.output_limit_reached() {
                return Err(wasmtime::Error::new(exceeded));
            }
        }
        let error = self.table.push(IoError(errno))?;
        Ok(streams::StreamError::LastOperationFailed(error))
    }

    /// `result` as the WIT gives it: an error number becomes a `stream-error`.
    fn stream_result<T>(
        &mut self,
        result: WasiResult<T>,
    ) -> wasmtime::Result<Result<T, streams::StreamError>> {
        match result {
            Ok(value) => Ok(Ok(value)),
            Err(errno) => Ok(Err(self.stream_error(errno)?)),
        }
    }

    /// Reads up to `len` bytes, waiting for them when `blocking`.
    fn read_stream(
        &mut self,
        stream: &Resource<InputStream>,
        len: u64,
        blocking: bool,
    ) -> wasmtime::Result<Result<Vec<u8>, streams::StreamError>> {
        let len = usize::try_from(len)
            .unwrap_or(usize::MAX)
            .min(super::MAX_READ);
        match self.table.get_mut(stream)? {
            InputStream::Stdin(pump) => {
                let pump = Arc::clone(pump);
                let taken = if blocking {
                    pump.blocking_take(len)
                } else {
                    pump.take(len)
                };
                match taken {
                    Taken::Data(data) => Ok(Ok(data)),
                    Taken::End => Ok(Err(streams::StreamError::Closed)),
                    Taken::Failed(errno) => Ok(Err(self.stream_error(errno)?)),
                }
            }
            InputStream::File(cursor) => {
                let (fd, pos) = (cursor.fd, cursor.pos);
                if len == 0 {
                    return Ok(Ok(Vec::new()));
                }
                match self.ctx.fd_pread(fd, len, pos) {
                    Ok(data) if data.is_empty() => Ok(Err(streams::StreamError::Closed)),
                    Ok(data) => {
                        if let InputStream::File(cursor) = self.table.get_mut(stream)? {
                            cursor.pos += data.len() as u64;
                        }
                        Ok(Ok(data))
                    }
                    Err(errno) => Ok(Err(self.stream_error(errno)?)),
                }
            }
        }
    }

    /// Writes all of `data` to `stream`.
    fn write_stream(
        &mut self,
        stream: &Resource<OutputStream>,
        data: &[u8],
    ) -> wasmtime::Result<Result<(), streams::StreamError>> {
        let result = match self.table.get_mut(stream)? {
            OutputStream::Std(std) => std.write(data).map(drop),
            OutputStream::File(cursor) => {
                let (fd, pos) = (cursor.fd, cursor.pos);
                let result = self.ctx.fd_pwrite(fd, data, pos);
                if let (Ok(n), OutputStream::File(cursor)) = (&result, self.table.get_mut(stream)?)
                {
                    cursor.pos += *n as u64;
                }
                result.map(drop)
            }
            OutputStream::Append(fd) => {
                let fd = *fd;
                self.ctx
                    .fd_filestat_get(fd)
                    .and_then(|stat| self.ctx.fd_pwrite(fd, data, stat.size))
                    .map(drop)
            }
        };
        self.stream_result(result)
    }

    fn flush_stream(
        &mut self,
        stream: &Resource<OutputStream>,
    ) -> wasmtime::Result<Result<(), streams::StreamError>> {
        let result = match self.table.get(stream)? {
            OutputStream::Std(std) => std.flush(),
            // Files are written through at once: nothing waits to be flushed.
            OutputStream::File(_) | OutputStream::Append(_) => Ok(()),
        };
        self.stream_result(result)
    }

    /// Whether `pollable` is ready now.
    fn is_ready(&self, pollable: &Pollable) -> bool {
        match pollable {
            Pollable::Ready => true,
            Pollable::Until(at) => self.ctx.clocks.monotonic_ns() >= *at,
            Pollable::Stdin(pump) => pump.ready(),
        }
    }
}

impl error::Host for WasiP2 {}

impl error::HostError for WasiP2 {
    fn to_debug_string(&mut self, error: Resource<IoError>) -> wasmtime::Result<String> {
        let IoError(errno) = *self.table.get(&error)?;
        Ok(format!("{} ({})", errno.name(), errno as u16))
    }

    fn drop(&mut self, error: Resource<IoError>) -> wasmtime::Result<()> {
        self.table.delete(error)?;
        Ok(())
    }
}

impl poll::Host for WasiP2 {
    fn poll(&mut self, list: Vec<Resource<Pollable>>) -> wasmtime::Result<Vec<u32>> {
        if list.is_empty() {
            return Err(wasmtime::format_err!("empty poll list"));
        }
        loop {
            let mut ready = Vec::new();
            let mut earliest: Option<u64> = None;
            let mut stdin: Option<Arc<StdinPump>> = None;
            for (i, pollable) in list.iter().enumerate() {
                let pollable = self.table.get(pollable)?;
                if self.is_ready(pollable) {
                    ready.push(u32::try_from(i)?);
                    continue;
                }
                match pollable {
                    Pollable::Until(at) => earliest = Some(earliest.map_or(*at, |e| e.min(*at))),
                    Pollable::Stdin(pump) => stdin = Some(Arc::clone(pump)),
                    Pollable::Ready => {}
                }
            }
            if !ready.is_empty() {
                return Ok(ready);
            }
            // Nothing is ready: wait for the first that can become so.
            let clocks = self.ctx.clocks;
            match (stdin, earliest) {
                (Some(pump), at) => {
                    let timeout =
                        at.map(|at| Duration::from_nanos(at.saturating_sub(clocks.monotonic_ns())));
                    pump.wait(timeout);
                }
                (None, Some(at)) => sleep_until(&clocks, at),
                (None, None) => unreachable!("a pollable that is not ready waits for something"),
            }
        }
    }
}

impl poll::HostPollable for WasiP2 {
    fn ready(&mut self, pollable: Resource<Pollable>) -> wasmtime::Result<bool> {
        let pollable = self.table.get(&pollable)?;
        Ok(self.is_ready(pollable))
    }

    fn block(&mut self, pollable: Resource<Pollable>) -> wasmtime::Result<()> {
        match self.table.get(&pollable)? {
            Pollable::Ready => {}
            Pollable::Until(at) => sleep_until(&self.ctx.clocks, *at),
            Pollable::Stdin(pump) => {
                Arc::clone(pump).wait(None);
            }
        }
        Ok(())
    }

    fn drop(&mut self, pollable: Resource<Pollable>) -> wasmtime::Result<()> {
        self.table.delete(pollable)?;
        Ok(())
    }
}

impl streams::Host for WasiP2 {}

impl streams::HostInputStream for WasiP2 {
    fn read(
        &mut self,
        stream: Resource<InputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<Vec<u8>, streams::StreamError>> {
        self.read_stream(&stream, len, false)
    }

    fn blocking_read(
        &mut self,
        stream: Resource<InputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<Vec<u8>, streams::StreamError>> {
        self.read_stream(&stream, len, true)
    }

    fn skip(
        &mut self,
        stream: Resource<InputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<u64, streams::StreamError>> {
        Ok(self
            .read_stream(&stream, len, false)?
            .map(|data| data.len() as u64))
    }

    fn blocking_skip(
        &mut self,
        stream: Resource<InputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<u64, streams::StreamError>> {
        Ok(self
            .read_stream(&stream, len, true)?
            .map(|data| data.len() as u64))
    }

    fn subscribe(&mut self, stream: Resource<InputStream>) -> wasmtime::Result<Resource<Pollable>> {
        let pollable = match self.table.get(&stream)? {
            InputStream::Stdin(pump) => Pollable::Stdin(Arc::clone(pump)),
            InputStream::File(_) => Pollable::Ready,
        };
        Ok(self.table.push(pollable)?)
    }

    fn drop(&mut self, stream: Resource<InputStream>) -> wasmtime::Result<()> {
        if let InputStream::File(cursor) = self.table.delete(stream)? {
            self.release(cursor.fd);
        }
        Ok(())
    }
}

impl streams::HostOutputStream for WasiP2 {
    fn check_write(
        &mut self,
        stream: Resource<OutputStream>,
    ) -> wasmtime::Result<Result<u64, streams::StreamError>> {
        self.table.get(&stream)?;
        Ok(Ok(WRITE_BUDGET))
    }

    fn write(
        &mut self,
        stream: Resource<OutputStream>,
        contents: Vec<u8>,
    ) -> wasmtime::Result<Result<(), streams::StreamError>> {
        self.write_stream(&stream, &contents)
    }

    fn blocking_write_and_flush(
        &mut self,
        stream: Resource<OutputStream>,
        contents: Vec<u8>,
    ) -> wasmtime::Result<Result<(), streams::StreamError>> {
        if contents.len() as u64 > BLOCKING_WRITE_MAX {
            return Err(wasmtime::format_err!(
                "buffer too large for blocking-write-and-flush (expected at most \
                 {BLOCKING_WRITE_MAX})"
            ));
        }
        match self.write_stream(&stream, &contents)? {
            Ok(()) => self.flush_stream(&stream),
            Err(err) => Ok(Err(err)),
        }
    }

    fn flush(
        &mut self,
        stream: Resource<OutputStream>,
    ) -> wasmtime::Result<Result<(), streams::StreamError>> {
        self.flush_stream(&stream)
    }

    fn blocking_flush(
        &mut self,
        stream: Resource<OutputStream>,
    ) -> wasmtime::Result<Result<(), streams::StreamError>> {
        self.flush_stream(&stream)
    }

    fn subscribe(
        &mut self,
        stream: Resource<OutputStream>,
    ) -> wasmtime::Result<Resource<Pollable>> {
        self.table.get(&stream)?;
        Ok(self.table.push(Pollable::Ready)?)
    }

    fn write_zeroes(
        &mut self,
        stream: Resource<OutputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<(), streams::StreamError>> {
        if len > WRITE_BUDGET {
            return Err(wasmtime::format_err!(
                "write of {len} zeroes exceeds what check-write permitted ({WRITE_BUDGET})"
            ));
        }
        self.write_stream(&stream, &vec![0; len as usize])
    }

    fn blocking_write_zeroes_and_flush(
        &mut self,
        stream: Resource<OutputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<(), streams::StreamError>> {
        if len > BLOCKING_WRITE_MAX {
            return Err(wasmtime::format_err!(
                "too many zeroes for blocking-write-zeroes-and-flush (expected at most \
                 {BLOCKING_WRITE_MAX})"
            ));
        }
        match self.write_stream(&stream, &vec![0; len as usize])? {
            Ok(()) => self.flush_stream(&stream),
            Err(err) => Ok(Err(err)),
        }
    }

    fn splice(
        &mut self,
        stream: Resource<OutputStream>,
        src: Resource<InputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<u64, streams::StreamError>> {
        self.splice_streams(&stream, &src, len, false)
    }

    fn blocking_splice(
        &mut self,
        stream: Resource<OutputStream>,
        src: Resource<InputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<u64, streams::StreamError>> {
        self.splice_streams(&stream, &src, len, true)
    }

    fn drop(&mut self, stream: Resource<OutputStream>) -> wasmtime::Result<()> {
        match self.table.delete(stream)? {
            OutputStream::File(FileCursor { fd, .. }) | OutputStream::Append(fd) => {
                self.release(fd)
            }
            OutputStream::Std(_) => {}
        }
        Ok(())
    }
}

impl WasiP2 {
    /// `splice`: reads up to `len` (at most what a write may carry) and writes it.
    fn splice_streams(
        &mut self,
        to: &Resource<OutputStream>,
        from: &Resource<InputStream>,
        len: u64,
        blocking: bool,
    ) -> wasmtime::Result<Result<u64, streams::StreamError>> {
        self.table.get(to)?;
        let data = match self.read_stream(from, len.min(WRITE_BUDGET), blocking)? {
            Ok(data) => data,
            Err(err) => return Ok(Err(err)),
        };
        Ok(self.write_stream(to, &data)?.map(|()| data.len() as u64))
    }
}
