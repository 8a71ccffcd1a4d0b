//! Standard input for WASI 0.2: a reader thread that moves what arrives into a buffer, so
//! that a pollable can tell whether input is there and wait for it without spinning, and a
//! non-blocking `read` can take what has come. The thread starts at the first use (as in
//! Wasmtime, whose stdin is read by a worker of its own) and stops reading while
//! [`BUFFERED`] bytes wait, so it reads ahead at most that far.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::wasi::errno::Errno;
use crate::wasi::stdio::Stream;

/// The most bytes read ahead of the module.
const BUFFERED: usize = 64 << 10;

/// How the stream stands.
#[derive(Debug, Default)]
struct State {
    buf: VecDeque<u8>,
    /// The reader saw the end of input (or failed, with the error): nothing more comes.
    end: Option<Option<Errno>>,
    started: bool,
}

/// The module's stdin, shared by every `input-stream` and pollable made for it.
#[derive(Debug)]
pub struct StdinPump {
    stream: Stream,
    state: Mutex<State>,
    /// Signalled when data or the end arrives, and when the module takes data.
    changed: Condvar,
}

/// What a read found.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    Data(Vec<u8>),
    /// The input ended (`closed`).
    End,
    /// Reading the host's stdin failed.
    Failed(Errno),
}

impl StdinPump {
    pub fn new(stream: Stream) -> Arc<StdinPump> {
        Arc::new(StdinPump {
            stream,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the reader thread unless it runs.
    fn start(self: &Arc<Self>) {
        {
            let mut state = self.state();
            if state.started {
                return;
            }
            state.started = true;
        }
        let pump = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("stdin".into())
            .stack_size(64 << 10)
            .spawn(move || pump.read_ahead());
        if let Err(err) = spawned {
            let mut state = self.state();
            state.end = Some(Some(Errno::from(err)));
            self.changed.notify_all();
        }
    }

    /// The reader thread: reads until the end, waiting while the buffer is full.
    fn read_ahead(&self) {
        let mut chunk = vec![0u8; 16 << 10];
        loop {
            {
                let mut state = self.state();
                while state.buf.len() >= BUFFERED {
                    state = self
                        .changed
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
            let read = self.stream.read(&mut chunk);
            let mut state = self.state();
            match read {
                Ok(0) => state.end = Some(None),
                Ok(n) => state.buf.extend(&chunk[..n]),
                Err(errno) => state.end = Some(Some(errno)),
            }
            let ended = state.end.is_some();
            drop(state);
            self.changed.notify_all();
            if ended {
                return;
            }
        }
    }

    /// Up to `len` bytes that have arrived, without waiting (none may have).
    pub fn take(self: &Arc<Self>, len: usize) -> Taken {
        self.start();
        let mut state = self.state();
        if state.buf.is_empty() {
            return match state.end {
                Some(None) => Taken::End,
                Some(Some(errno)) => Taken::Failed(errno),
                None => Taken::Data(Vec::new()),
            };
        }
        let n = len.min(state.buf.len());
        let data: Vec<u8> = state.buf.drain(..n).collect();
        drop(state);
        self.changed.notify_all();
        Taken::Data(data)
    }

    /// Whether a read would find data or the end.
    pub fn ready(self: &Arc<Self>) -> bool {
        self.start();
        let state = self.state();
        !state.buf.is_empty() || state.end.is_some()
    }

    /// Waits until a read would find data or the end, or `timeout` passes (`None`: no
    /// limit). Says whether it is ready.
    pub fn wait(self: &Arc<Self>, timeout: Option<Duration>) -> bool {
        self.start();
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let mut state = self.state();
        loop {
            if !state.buf.is_empty() || state.end.is_some() {
                return true;
            }
            state = match deadline {
                None => self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    self.changed
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    /// Waits for data or the end, then takes up to `len` bytes.
    pub fn blocking_take(self: &Arc<Self>, len: usize) -> Taken {
        self.wait(None);
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pump(input: &'static [u8]) -> Arc<StdinPump> {
        StdinPump::new(Stream::input(Box::new(input), false))
    }

    #[test]
    fn reads_what_arrives_then_the_end() {
        let stdin = pump(b"hello");
        assert_eq!(stdin.blocking_take(3), Taken::Data(b"hel".to_vec()));
        assert_eq!(stdin.blocking_take(10), Taken::Data(b"lo".to_vec()));
        assert!(stdin.wait(None));
        assert_eq!(stdin.take(10), Taken::End);
        assert_eq!(stdin.blocking_take(10), Taken::End);
    }

    #[test]
    fn an_empty_input_is_ready_at_its_end() {
        let stdin = pump(b"");
        assert!(stdin.wait(Some(Duration::from_secs(10))));
        assert!(stdin.ready());
        assert_eq!(stdin.take(1), Taken::End);
    }

    #[test]
    fn waiting_for_input_that_does_not_come_times_out() {
        // A reader that blocks until the test ends: a pipe whose writer stays open.
        let (reader, writer) = std::io::pipe().unwrap();
        let stdin = StdinPump::new(Stream::input(Box::new(reader), false));
        assert!(!stdin.wait(Some(Duration::from_millis(20))));
        assert_eq!(stdin.take(4), Taken::Data(Vec::new()));
        drop(writer);
        assert!(stdin.wait(Some(Duration::from_secs(10))));
        assert_eq!(stdin.take(4), Taken::End);
    }
}
