//! `poll_oneoff`: waiting for clock deadlines and descriptor readiness.
//!
//! Rights are not checked (they are advisory, as in Wasmtime). Regular files are always
//! ready (as in POSIX). Stdout and stderr are always ready for
//! writing. Stdin is reported ready for reading: its reader offers no readiness query,
//! so a following read may block until input arrives.

use std::time::Duration;

use super::abi::{
    clockid, eventtype, Event, Subscription, SubscriptionKind, SUBSCRIPTION_CLOCK_ABSTIME,
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

/// A clock subscription turned into a monotonic deadline.
#[derive(Debug)]
struct Deadline {
    userdata: u64,
    /// Monotonic nanoseconds (context time) at which it fires.
    at: u64,
}

/// A poll whose descriptor events are known, still to wait for its clocks. Holds no part of
/// the context, so the wait happens with the context unlocked (other threads go on).
#[derive(Debug)]
pub struct PendingPoll {
    events: Vec<Event>,
    deadlines: Vec<Deadline>,
    clocks: Clocks,
}

impl PendingPoll {
    /// Waits for the earliest clock deadline when no descriptor is ready, and returns the
    /// events that are ready then.
    pub fn wait(self) -> Vec<Event> {
        let PendingPoll {
            mut events,
            deadlines,
            clocks,
        } = self;
        if events.is_empty() {
            if let Some(first) = deadlines.iter().map(|d| d.at).min() {
                // In steps of at most `SLEEP_STEP`: see there.
                loop {
                    let now = clocks.monotonic_ns();
                    if first <= now {
                        break;
                    }
                    std::thread::sleep(Duration::from_nanos(first - now).min(SLEEP_STEP));
                }
            }
        }
        let now = clocks.monotonic_ns();
        for d in deadlines.iter().filter(|d| d.at <= now) {
            events.push(clock_event(d.userdata, Errno::Success));
        }
        events
    }
}

impl WasiCtx {
    /// `poll_oneoff`: returns the events that are ready, waiting for the earliest clock
    /// deadline when no descriptor is ready.
    pub fn poll_oneoff(&mut self, subs: &[Subscription]) -> WasiResult<Vec<Event>> {
        Ok(self.poll_start(subs).wait())
    }

    /// The first half of `poll_oneoff`: the descriptor events and the clock deadlines.
    pub fn poll_start(&mut self, subs: &[Subscription]) -> PendingPoll {
        let mut events = Vec::new();
        let mut deadlines = Vec::new();
        let now = self.clocks.monotonic_ns();
        for sub in subs {
            match sub.kind {
                SubscriptionKind::Clock {
                    id, timeout, flags, ..
                } => match self.deadline(id, timeout, flags, now) {
                    Ok(at) => deadlines.push(Deadline {
                        userdata: sub.userdata,
                        at,
                    }),
                    Err(errno) => events.push(clock_event(sub.userdata, errno)),
                },
                SubscriptionKind::FdRead(fd) => {
                    events.push(self.fd_event(sub.userdata, fd, eventtype::FD_READ));
                }
                SubscriptionKind::FdWrite(fd) => {
                    events.push(self.fd_event(sub.userdata, fd, eventtype::FD_WRITE));
                }
            }
        }
        PendingPoll {
            events,
            deadlines,
            clocks: self.clocks,
        }
    }

    /// The monotonic deadline of a clock subscription.
    fn deadline(&self, id: u32, timeout: u64, flags: u16, now: u64) -> WasiResult<u64> {
        let absolute = flags & SUBSCRIPTION_CLOCK_ABSTIME != 0;
        match id {
            clockid::MONOTONIC | clockid::PROCESS_CPUTIME_ID | clockid::THREAD_CPUTIME_ID => {
                Ok(if absolute {
                    timeout
                } else {
                    now.saturating_add(timeout)
                })
            }
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

    /// The readiness event of a descriptor subscription.
    fn fd_event(&mut self, userdata: u64, fd: u32, kind: u8) -> Event {
        let mut event = Event {
            userdata,
            error: Errno::Success,
            kind,
            nbytes: 0,
            flags: 0,
        };
        let handle = match self.fds.get_mut(fd) {
            Ok(handle) => handle,
            Err(errno) => {
                event.error = errno;
                return event;
            }
        };
        // Rights are advisory: none is checked.
        match handle {
            Handle::Stream(s) => {
                if s.is_input() != (kind == eventtype::FD_READ) {
                    event.error = Errno::Badf;
                }
            }
            Handle::File(f) => {
                if kind == eventtype::FD_READ {
                    match f.file.stat() {
                        Ok(stat) => event.nbytes = stat.size.saturating_sub(f.pos),
                        Err(e) => event.error = e,
                    }
                }
            }
            Handle::Dir(_) => event.error = Errno::Isdir,
        }
        event
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
