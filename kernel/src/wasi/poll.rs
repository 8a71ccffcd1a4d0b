//! `poll_oneoff`: waiting for clock deadlines and descriptor readiness, with Wasmtime's
//! answers:
//!
//! - every subscription is checked before anything waits: a descriptor that is not open,
//!   or cannot be polled that way (a directory; stdin for writing, stdout and stderr for
//!   reading) fails the whole call with `EBADF`; a clock other than the monotonic and
//!   real-time ones fails it with `EINVAL`;
//! - one relative clock and nothing else is a plain sleep (its event says `nbytes` 1);
//! - ready events come in the order of their subscriptions; a descriptor's says `nbytes`
//!   1, and a file read at its end also `HANGUP`.
//!
//! Rights are not checked (they are advisory, as in Wasmtime), nor a file's open mode.
//! Regular files are always ready (as in POSIX). Stdout and stderr are always ready for
//! writing. Stdin is reported ready for reading: its reader offers no readiness query,
//! so a following read may block until input arrives.

use std::time::Duration;

use super::abi::{
    clockid, eventtype, Event, Subscription, SubscriptionKind, EVENT_FD_READWRITE_HANGUP,
    SUBSCRIPTION_CLOCK_ABSTIME,
};
use super::clock::Clocks;
use super::errno::{Errno, WasiResult};
use super::fd_table::Handle;
use super::WasiCtx;

/// The longest single sleep. Kernel 0.11 keeps one timer for all sleeping threads, and a
/// thread that goes to sleep re-arms it for its own wake-up even when another thread is due
/// sooner; that one then wakes late, as late as the longest sleep begun after it. Short
/// steps keep such delays short for the module's other threads (a `poll_oneoff` of a
/// second would otherwise hold back a thread's 10 ms wait by most of that second).
const SLEEP_STEP: Duration = Duration::from_millis(10);

/// A subscription's outcome, in the order of the subscriptions: ready now, or a clock
/// deadline (monotonic nanoseconds, context time).
#[derive(Debug)]
enum Outcome {
    Ready(Event),
    Deadline { userdata: u64, at: u64 },
}

/// A poll whose descriptor events are known, still to wait for its clocks. Holds no part of
/// the context, so the wait happens with the context unlocked (other threads go on).
#[derive(Debug)]
pub struct PendingPoll {
    outcomes: Vec<Outcome>,
    /// One relative clock alone: a plain sleep of this long, then its event.
    sleep: Option<(u64, Duration)>,
    clocks: Clocks,
}

impl PendingPoll {
    /// Waits for the earliest clock deadline when no descriptor is ready, and returns the
    /// events that are ready then, in the order of their subscriptions.
    pub fn wait(self) -> Vec<Event> {
        let PendingPoll {
            outcomes,
            sleep,
            clocks,
        } = self;
        if let Some((userdata, duration)) = sleep {
            let end = clocks
                .monotonic_ns()
                .saturating_add(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
            sleep_until(&clocks, end);
            let mut event = clock_event(userdata, Errno::Success);
            event.nbytes = 1;
            return vec![event];
        }
        let any_ready = outcomes.iter().any(|o| matches!(o, Outcome::Ready(_)));
        if !any_ready {
            let first = outcomes.iter().filter_map(|o| match o {
                Outcome::Deadline { at, .. } => Some(*at),
                Outcome::Ready(_) => None,
            });
            if let Some(first) = first.min() {
                sleep_until(&clocks, first);
            }
        }
        let now = clocks.monotonic_ns();
        outcomes
            .into_iter()
            .filter_map(|o| match o {
                Outcome::Ready(event) => Some(event),
                Outcome::Deadline { userdata, at } if at <= now => {
                    Some(clock_event(userdata, Errno::Success))
                }
                Outcome::Deadline { .. } => None,
            })
            .collect()
    }
}

/// Sleeps until the monotonic clock reads `end`, in steps of at most `SLEEP_STEP` (see
/// there).
pub(crate) fn sleep_until(clocks: &Clocks, end: u64) {
    loop {
        let now = clocks.monotonic_ns();
        if end <= now {
            break;
        }
        std::thread::sleep(Duration::from_nanos(end - now).min(SLEEP_STEP));
    }
}

impl WasiCtx {
    /// `poll_oneoff`: returns the events that are ready, waiting for the earliest clock
    /// deadline when no descriptor is ready.
    pub fn poll_oneoff(&mut self, subs: &[Subscription]) -> WasiResult<Vec<Event>> {
        Ok(self.poll_start(subs)?.wait())
    }

    /// The first half of `poll_oneoff`: every subscription checked, the descriptor events
    /// and the clock deadlines.
    pub fn poll_start(&mut self, subs: &[Subscription]) -> WasiResult<PendingPoll> {
        if let [sub] = subs {
            if let SubscriptionKind::Clock { timeout, flags, .. } = sub.kind {
                if flags & SUBSCRIPTION_CLOCK_ABSTIME == 0 {
                    return Ok(PendingPoll {
                        outcomes: Vec::new(),
                        sleep: Some((sub.userdata, Duration::from_nanos(timeout))),
                        clocks: self.clocks,
                    });
                }
            }
        }
        let now = self.clocks.monotonic_ns();
        let mut outcomes = Vec::with_capacity(subs.len());
        for sub in subs {
            outcomes.push(match sub.kind {
                SubscriptionKind::Clock {
                    id, timeout, flags, ..
                } => Outcome::Deadline {
                    userdata: sub.userdata,
                    at: self.deadline(id, timeout, flags, now)?,
                },
                SubscriptionKind::FdRead(fd) => {
                    Outcome::Ready(self.fd_event(sub.userdata, fd, eventtype::FD_READ)?)
                }
                SubscriptionKind::FdWrite(fd) => {
                    Outcome::Ready(self.fd_event(sub.userdata, fd, eventtype::FD_WRITE)?)
                }
            });
        }
        Ok(PendingPoll {
            outcomes,
            sleep: None,
            clocks: self.clocks,
        })
    }

    /// The monotonic deadline of a clock subscription (`EINVAL` for the CPU-time clocks,
    /// as in Wasmtime).
    fn deadline(&self, id: u32, timeout: u64, flags: u16, now: u64) -> WasiResult<u64> {
        let absolute = flags & SUBSCRIPTION_CLOCK_ABSTIME != 0;
        match id {
            clockid::MONOTONIC => Ok(if absolute {
                timeout
            } else {
                now.saturating_add(timeout)
            }),
            clockid::REALTIME => {
                if absolute {
                    let wall = self.clocks.now(clockid::REALTIME)?;
                    Ok(now.saturating_add(timeout.saturating_sub(wall)))
                } else {
                    Ok(now.saturating_add(timeout))
                }
            }
            _ => Err(Errno::Inval),
        }
    }

    /// The readiness event of a descriptor subscription: `EBADF` (for the whole poll) for
    /// a descriptor that is not open or cannot be polled that way.
    fn fd_event(&mut self, userdata: u64, fd: u32, kind: u8) -> WasiResult<Event> {
        let mut event = Event {
            userdata,
            error: Errno::Success,
            kind,
            nbytes: 1,
            flags: 0,
        };
        // Rights are advisory, and a file's open mode is not asked either.
        match self.fds.get_mut(fd)? {
            Handle::Stream(s) if s.is_input() == (kind == eventtype::FD_READ) => {}
            Handle::File(f) if kind == eventtype::FD_READ => {
                if f.file.stat()?.size <= f.pos {
                    event.flags = EVENT_FD_READWRITE_HANGUP;
                }
            }
            Handle::File(_) => {}
            Handle::Stream(_) | Handle::Dir(_) => return Err(Errno::Badf),
        }
        Ok(event)
    }
}

fn clock_event(userdata: u64, error: Errno) -> Event {
    Event {
        userdata,
        error,
        kind: eventtype::CLOCK,
        nbytes: 0,
        flags: 0,
    }
}
