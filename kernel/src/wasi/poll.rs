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
use super::errno::{Errno, WasiResult};
use super::fd_table::Handle;
use super::WasiCtx;

/// A clock subscription turned into a monotonic deadline.
struct Deadline {
    userdata: u64,
    /// Monotonic nanoseconds (context time) at which it fires.
    at: u64,
}

impl WasiCtx {
    /// `poll_oneoff`: returns the events that are ready, waiting for the earliest clock
    /// deadline when no descriptor is ready.
    pub fn poll_oneoff(&mut self, subs: &[Subscription]) -> WasiResult<Vec<Event>> {
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
        if events.is_empty() {
            if let Some(first) = deadlines.iter().map(|d| d.at).min() {
                let now = self.clocks.monotonic_ns();
                if first > now {
                    std::thread::sleep(Duration::from_nanos(first - now));
                }
            }
        }
        let now = self.clocks.monotonic_ns();
        for d in deadlines.iter().filter(|d| d.at <= now) {
            events.push(clock_event(d.userdata, Errno::Success));
        }
        Ok(events)
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
