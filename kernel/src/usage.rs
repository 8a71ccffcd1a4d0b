//! What a run consumes, counted while it runs and checked against the limits the runner
//! enforces itself (`memory`, `output`, `files`, `threads`; `limit_spec.rs`). One [`Usage`] per run,
//! shared by every thread's store (the memory limiter), the standard streams (output) and
//! the fd table (descriptors) and `thread-spawn` (threads); at the end it becomes the guest's part of the run report
//! ([`UsageRecord`]), which [`RunRecord`] completes with how the run ended (the line the
//! launch script turns into the report; the runner and the platform's exit both use it).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;
use wasmtime::ResourceLimiter;

use crate::limit_spec::LimitName;

/// Which output stream bytes went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// Counters of one run.
#[derive(Debug, Default)]
pub struct Usage {
    /// Bytes stdout and stderr may carry together.
    output_limit: Option<u64>,
    /// Bytes the module wrote, to each stream and in all (the total is what is checked).
    stdout: AtomicU64,
    stderr: AtomicU64,
    output: AtomicU64,
    /// The largest size any linear memory of the module reached, in bytes.
    peak_memory: AtomicU64,
    /// Set once a limit refused something: a memory or table growth, a descriptor, output,
    /// a thread.
    memory_reached: AtomicBool,
    files_reached: AtomicBool,
    threads_reached: AtomicBool,
    output_reached: AtomicBool,
    /// Set when the run's end is claimed: nothing more goes out.
    output_closed: AtomicBool,
}

impl Usage {
    /// Counters for a run whose stdout and stderr may carry `output_limit` bytes together.
    pub fn new(output_limit: Option<u64>) -> Usage {
        Usage {
            output_limit,
            ..Usage::default()
        }
    }

    /// Counts a write of `len` bytes to `stream`: returns how many of them may go out, all
    /// of them unless the output limit is reached (then the rest of the budget, maybe 0).
    pub fn take_output(&self, stream: OutputStream, len: usize) -> usize {
        if self.output_closed.load(Ordering::SeqCst) {
            return 0;
        }
        let len = len as u64;
        let taken = match self.output_limit {
            None => {
                self.output.fetch_add(len, Ordering::SeqCst);
                len
            }
            Some(limit) => {
                let before = self
                    .output
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                        Some(used.saturating_add(len).min(limit))
                    })
                    .expect("the closure always gives a value");
                let taken = limit.min(before.saturating_add(len)) - before;
                if taken < len {
                    self.output_reached.store(true, Ordering::SeqCst);
                }
                taken
            }
        };
        let counter = match stream {
            OutputStream::Stdout => &self.stdout,
            OutputStream::Stderr => &self.stderr,
        };
        counter.fetch_add(taken, Ordering::SeqCst);
        taken as usize
    }

    /// Closes the module's output: the run is ending, and what other threads write from
    /// now on is dropped, uncounted.
    pub fn close_output(&self) {
        self.output_closed.store(true, Ordering::SeqCst);
    }

    /// Whether the output limit cut a write: the run must end.
    pub fn output_limit_reached(&self) -> Option<LimitExceeded> {
        let limit = self.output_limit?;
        self.output_reached
            .load(Ordering::SeqCst)
            .then_some(LimitExceeded {
                name: LimitName::Output,
                limit,
            })
    }

    /// Records that a linear memory now holds `bytes`.
    pub fn memory_is(&self, bytes: u64) {
        self.peak_memory.fetch_max(bytes, Ordering::SeqCst);
    }

    /// Records that the `name` limit refused something (a growth, a descriptor).
    pub fn refused(&self, name: LimitName) {
        let flag = match name {
            LimitName::Memory => &self.memory_reached,
            LimitName::Files => &self.files_reached,
            LimitName::Threads => &self.threads_reached,
            LimitName::Output => &self.output_reached,
            // Enforced outside the guest: nothing here refuses on their behalf.
            LimitName::Cpu | LimitName::Wall => return,
        };
        flag.store(true, Ordering::SeqCst);
    }

    /// What was counted so far.
    pub fn record(&self) -> UsageRecord {
        let reached = [
            (LimitName::Memory, &self.memory_reached),
            (LimitName::Files, &self.files_reached),
            (LimitName::Threads, &self.threads_reached),
            (LimitName::Output, &self.output_reached),
        ];
        UsageRecord {
            peak_memory_bytes: self.peak_memory.load(Ordering::SeqCst),
            stdout_bytes: self.stdout.load(Ordering::SeqCst),
            stderr_bytes: self.stderr.load(Ordering::SeqCst),
            limits_reached: reached
                .into_iter()
                .filter(|(_, flag)| flag.load(Ordering::SeqCst))
                .map(|(name, _)| name.as_str())
                .collect(),
        }
    }
}

/// The guest's counters at the end of a run, as the run report carries them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UsageRecord {
    /// The largest size a linear memory of the module reached.
    pub peak_memory_bytes: u64,
    /// Bytes the module wrote (what the output limit let through).
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    /// Limits that refused something during the run, whether or not that ended it.
    pub limits_reached: Vec<&'static str>,
}

/// A limit that ends the run when it is reached (`output`; `cpu` and `wall` end it from
/// outside the guest). Raised as a trap from the call that reached it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitExceeded {
    pub name: LimitName,
    pub limit: u64,
}

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name {
            LimitName::Output => write!(
                f,
                "output limit exceeded: the module wrote more than {} bytes to stdout and \
                 stderr (LIMIT output, --limit output=)",
                self.limit
            ),
            name => write!(f, "{name} limit exceeded ({})", self.limit),
        }
    }
}

impl std::error::Error for LimitExceeded {}

/// Bytes a table element is counted as against the memory limit (a pointer).
pub const TABLE_ELEMENT_BYTES: u64 = 8;

/// Wasmtime's resource limiter for one store: each linear memory may grow to `memory`
/// bytes, each table to as many elements as fill `memory` at [`TABLE_ELEMENT_BYTES`]
/// each; past that, the growth fails as the specification says (`memory.grow` gives -1)
/// and the module sees an allocation failure. Every size it lets a memory reach is counted.
#[derive(Debug)]
pub struct MemoryLimiter {
    pub memory: Option<u64>,
    pub usage: std::sync::Arc<Usage>,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let desired = desired as u64;
        if self.memory.is_some_and(|limit| desired > limit) {
            self.usage.refused(LimitName::Memory);
            return Ok(false);
        }
        self.usage.memory_is(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let bytes = (desired as u64).saturating_mul(TABLE_ELEMENT_BYTES);
        if self.memory.is_some_and(|limit| bytes > limit) {
            self.usage.refused(LimitName::Memory);
            return Ok(false);
        }
        Ok(true)
    }
}

/// How a run ended and what it consumed, as the guest saw it: one line of JSON that the
/// launch script completes into the run report (`--report`). `ended` and `limit` come
/// first, the launcher reads them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunRecord {
    /// `exit` (returned or `proc_exit`), `trap`, `limit`, or `failure` (the runner could
    /// not run the module).
    pub ended: &'static str,
    /// The limit that ended the run.
    pub limit: Option<&'static str>,
    /// The trap, limit or failure, as printed to stderr.
    pub message: Option<String>,
    #[serde(flatten)]
    pub usage: UsageRecord,
}

impl RunRecord {
    /// The record of a run the runner could not start.
    pub fn failure(err: &anyhow::Error) -> RunRecord {
        RunRecord {
            ended: "failure",
            limit: None,
            message: Some(format!("{err:?}")),
            usage: UsageRecord::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn output_is_cut_at_the_limit_across_both_streams() {
        let usage = Usage::new(Some(10));
        assert_eq!(usage.take_output(OutputStream::Stdout, 4), 4);
        assert!(usage.output_limit_reached().is_none());
        assert_eq!(usage.take_output(OutputStream::Stderr, 6), 6);
        assert!(usage.output_limit_reached().is_none());
        assert_eq!(usage.take_output(OutputStream::Stdout, 3), 0);
        let exceeded = usage.output_limit_reached().unwrap();
        assert_eq!(exceeded.limit, 10);
        assert!(exceeded.to_string().contains("more than 10 bytes"));
        let record = usage.record();
        assert_eq!((record.stdout_bytes, record.stderr_bytes), (4, 6));
        assert_eq!(record.limits_reached, ["output"]);
    }

    #[test]
    fn a_write_across_the_limit_keeps_its_head() {
        let usage = Usage::new(Some(5));
        assert_eq!(usage.take_output(OutputStream::Stdout, 8), 5);
        assert!(usage.output_limit_reached().is_some());
        assert_eq!(usage.record().stdout_bytes, 5);
    }

    #[test]
    fn nothing_goes_out_once_the_output_is_closed() {
        let usage = Usage::new(None);
        assert_eq!(usage.take_output(OutputStream::Stdout, 3), 3);
        usage.close_output();
        assert_eq!(usage.take_output(OutputStream::Stdout, 3), 0);
        assert!(usage.output_limit_reached().is_none());
        assert_eq!(usage.record().stdout_bytes, 3);
    }

    #[test]
    fn without_a_limit_everything_is_counted() {
        let usage = Usage::new(None);
        assert_eq!(usage.take_output(OutputStream::Stdout, 1 << 20), 1 << 20);
        assert_eq!(usage.take_output(OutputStream::Stderr, 7), 7);
        assert!(usage.output_limit_reached().is_none());
        assert_eq!(usage.record().stderr_bytes, 7);
        assert!(usage.record().limits_reached.is_empty());
    }

    #[test]
    fn threads_share_one_budget_exactly() {
        let usage = Arc::new(Usage::new(Some(10_000)));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let usage = Arc::clone(&usage);
                let stream = if i % 2 == 0 {
                    OutputStream::Stdout
                } else {
                    OutputStream::Stderr
                };
                std::thread::spawn(move || {
                    (0..1000)
                        .map(|_| usage.take_output(stream, 3))
                        .sum::<usize>()
                })
            })
            .collect();
        let taken: usize = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum::<usize>();
        assert_eq!(taken, 10_000);
        let record = usage.record();
        assert_eq!(record.stdout_bytes + record.stderr_bytes, 10_000);
    }

    #[test]
    fn the_limiter_refuses_growth_past_the_limit_and_counts_the_peak() {
        let usage = Arc::new(Usage::new(None));
        let mut limiter = MemoryLimiter {
            memory: Some(1 << 20),
            usage: Arc::clone(&usage),
        };
        assert!(limiter.memory_growing(0, 65536, None).unwrap());
        assert!(limiter.memory_growing(65536, 1 << 20, None).unwrap());
        assert!(!limiter
            .memory_growing(1 << 20, (1 << 20) + 65536, None)
            .unwrap());
        assert!(limiter.table_growing(0, 1000, None).unwrap());
        assert!(!limiter.table_growing(0, 1 << 20, None).unwrap());
        let record = usage.record();
        assert_eq!(record.peak_memory_bytes, 1 << 20);
        assert_eq!(record.limits_reached, ["memory"]);
    }
}
