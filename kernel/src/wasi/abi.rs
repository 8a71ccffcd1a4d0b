//! The wasi_snapshot_preview1 ABI: constants (rights, flags, types) and byte layouts of
//! the structures exchanged through guest memory, with bounds-checked accessors.
//!
//! Layouts follow the witx definitions (little-endian, natural alignment):
//! `fdstat` 24 bytes, `filestat` 64, `dirent` 24 (+ name), `prestat` 8, `iovec` 8,
//! `subscription` 48, `event` 32.

use super::errno::{Errno, WasiResult};

/// `$rights` bits, and the sets `fd_fdstat_get` reports.
pub mod rights {
    pub const FD_DATASYNC: u64 = 1 << 0;
    pub const FD_READ: u64 = 1 << 1;
    pub const FD_SEEK: u64 = 1 << 2;
    pub const FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
    pub const FD_SYNC: u64 = 1 << 4;
    pub const FD_TELL: u64 = 1 << 5;
    pub const FD_WRITE: u64 = 1 << 6;
    pub const FD_ADVISE: u64 = 1 << 7;
    pub const FD_ALLOCATE: u64 = 1 << 8;
    pub const PATH_CREATE_DIRECTORY: u64 = 1 << 9;
    pub const PATH_CREATE_FILE: u64 = 1 << 10;
    pub const PATH_LINK_SOURCE: u64 = 1 << 11;
    pub const PATH_LINK_TARGET: u64 = 1 << 12;
    pub const PATH_OPEN: u64 = 1 << 13;
    pub const FD_READDIR: u64 = 1 << 14;
    pub const PATH_READLINK: u64 = 1 << 15;
    pub const PATH_RENAME_SOURCE: u64 = 1 << 16;
    pub const PATH_RENAME_TARGET: u64 = 1 << 17;
    pub const PATH_FILESTAT_GET: u64 = 1 << 18;
    pub const PATH_FILESTAT_SET_SIZE: u64 = 1 << 19;
    pub const PATH_FILESTAT_SET_TIMES: u64 = 1 << 20;
    pub const FD_FILESTAT_GET: u64 = 1 << 21;
    pub const FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
    pub const FD_FILESTAT_SET_TIMES: u64 = 1 << 23;
    pub const PATH_SYMLINK: u64 = 1 << 24;
    pub const PATH_REMOVE_DIRECTORY: u64 = 1 << 25;
    pub const PATH_UNLINK_FILE: u64 = 1 << 26;
    pub const POLL_FD_READWRITE: u64 = 1 << 27;
    pub const SOCK_SHUTDOWN: u64 = 1 << 28;
    pub const SOCK_ACCEPT: u64 = 1 << 29;

    /// Every right defined by preview1.
    pub const ALL: u64 = (1 << 30) - 1;

    // Rights are advisory, as in Wasmtime: no operation checks them. `fd_fdstat_get`
    // reports the sets below, which are the ones Wasmtime reports (read in 36's
    // `crates/wasi/src/preview1.rs` and 45's `crates/wasi/src/p1.rs`: what it computes for
    // files, opened directories and stdio).

    /// `rights_base` of a preopened directory (`0x7B7FE00`).
    pub const PREOPEN_BASE: u64 = PATH_CREATE_DIRECTORY
        | PATH_CREATE_FILE
        | PATH_LINK_SOURCE
        | PATH_LINK_TARGET
        | PATH_OPEN
        | FD_READDIR
        | PATH_READLINK
        | PATH_RENAME_SOURCE
        | PATH_RENAME_TARGET
        | PATH_SYMLINK
        | PATH_REMOVE_DIRECTORY
        | PATH_UNLINK_FILE
        | PATH_FILESTAT_GET
        | PATH_FILESTAT_SET_TIMES
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_TIMES;

    /// The file rights Wasmtime adds to a preopen's inheriting rights.
    const PREOPEN_FILE: u64 = FD_DATASYNC
        | FD_READ
        | FD_SEEK
        | FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_TELL
        | FD_WRITE
        | FD_ADVISE
        | FD_ALLOCATE
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_SIZE
        | FD_FILESTAT_SET_TIMES
        | POLL_FD_READWRITE;

    /// `rights_inheriting` of a preopened directory (`0xFF7FFFF`).
    pub const PREOPEN_INHERITING: u64 = PREOPEN_BASE | PREOPEN_FILE;

    /// `rights_base` and `rights_inheriting` of a directory opened by `path_open`
    /// (`0x3FB7FFBB`): Wasmtime 45's `ALL & !(FD_SEEK | FD_FILESTAT_SET_SIZE |
    /// PATH_FILESTAT_SET_SIZE | FD_WRITE)` for a directory opened for reading (45 also
    /// drops `FD_READ | FD_READDIR` when `path_open` asked for no `FD_READ`; we do not).
    /// `fd_fdstat_set_rights` is `ENOTSUP`, as in 45; the official suite's
    /// `truncation_rights` relies on both.
    pub const OPENED_DIRECTORY: u64 =
        ALL & !(FD_SEEK | FD_FILESTAT_SET_SIZE | FD_WRITE | PATH_FILESTAT_SET_SIZE);

    /// `rights_base` and `rights_inheriting` of stdin.
    pub const STDIN: u64 = FD_READ;

    /// `rights_base` and `rights_inheriting` of stdout and stderr.
    pub const STDOUT: u64 = FD_WRITE;

    /// `rights_base` and `rights_inheriting` of a regular file opened for reading and/or
    /// writing: everything, less `FD_READ | FD_READDIR` when not readable and `FD_WRITE`
    /// when not writable (read-only `0x3FFFFFBF`, write-only `0x3FFFBFFD`, both
    /// `0x3FFFFFFF`).
    pub const fn file(readable: bool, writable: bool) -> u64 {
        let mut rights = ALL;
        if !readable {
            rights &= !(FD_READ | FD_READDIR);
        }
        if !writable {
            rights &= !FD_WRITE;
        }
        rights
    }

    /// Rights whose presence on `path_open` is refused on a read-only preopen (`EROFS`).
    /// Only `FD_WRITE` opens a file for writing, but read-only preopens keep refusing
    /// the whole set, as they did when rights were enforced.
    pub const WRITE_ACCESS: u64 = FD_DATASYNC | FD_WRITE | FD_ALLOCATE | FD_FILESTAT_SET_SIZE;
}

/// `$filetype` values.
pub mod filetype {
    pub const UNKNOWN: u8 = 0;
    pub const BLOCK_DEVICE: u8 = 1;
    pub const CHARACTER_DEVICE: u8 = 2;
    pub const DIRECTORY: u8 = 3;
    pub const REGULAR_FILE: u8 = 4;
    pub const SOCKET_DGRAM: u8 = 5;
    pub const SOCKET_STREAM: u8 = 6;
    pub const SYMBOLIC_LINK: u8 = 7;
}

/// `$fdflags` bits.
pub mod fdflags {
    pub const APPEND: u16 = 1 << 0;
    pub const DSYNC: u16 = 1 << 1;
    pub const NONBLOCK: u16 = 1 << 2;
    pub const RSYNC: u16 = 1 << 3;
    pub const SYNC: u16 = 1 << 4;
    pub const ALL: u16 = APPEND | DSYNC | NONBLOCK | RSYNC | SYNC;
}

/// `$oflags` bits.
pub mod oflags {
    pub const CREAT: u16 = 1 << 0;
    pub const DIRECTORY: u16 = 1 << 1;
    pub const EXCL: u16 = 1 << 2;
    pub const TRUNC: u16 = 1 << 3;
    pub const ALL: u16 = CREAT | DIRECTORY | EXCL | TRUNC;
}

/// `$lookupflags` bits.
pub mod lookupflags {
    pub const SYMLINK_FOLLOW: u32 = 1 << 0;
    pub const ALL: u32 = SYMLINK_FOLLOW;
}

/// `$fstflags` bits.
pub mod fstflags {
    pub const ATIM: u16 = 1 << 0;
    pub const ATIM_NOW: u16 = 1 << 1;
    pub const MTIM: u16 = 1 << 2;
    pub const MTIM_NOW: u16 = 1 << 3;
    pub const ALL: u16 = ATIM | ATIM_NOW | MTIM | MTIM_NOW;
}

/// `$whence` values.
pub mod whence {
    pub const SET: u8 = 0;
    pub const CUR: u8 = 1;
    pub const END: u8 = 2;
}

/// `$advice` values (the largest valid one).
pub const ADVICE_MAX: u8 = 5;

/// `$clockid` values.
pub mod clockid {
    pub const REALTIME: u32 = 0;
    pub const MONOTONIC: u32 = 1;
    pub const PROCESS_CPUTIME_ID: u32 = 2;
    pub const THREAD_CPUTIME_ID: u32 = 3;
}

/// `$eventtype` values.
pub mod eventtype {
    pub const CLOCK: u8 = 0;
    pub const FD_READ: u8 = 1;
    pub const FD_WRITE: u8 = 2;
}

/// `$subclockflags`: the timeout is an absolute time of the clock.
pub const SUBSCRIPTION_CLOCK_ABSTIME: u16 = 1 << 0;

/// `$eventrwflags`: the peer hung up.
pub const EVENT_FD_READWRITE_HANGUP: u16 = 1 << 0;

/// `$preopentype`: a preopened directory.
pub const PREOPENTYPE_DIR: u8 = 0;

/// `$sdflags` bits (sock_shutdown).
pub const SDFLAGS_ALL: u8 = 0b11;

/// Size of a `dirent` header (the name follows it).
pub const DIRENT_SIZE: usize = 24;
/// Size of a `subscription`.
pub const SUBSCRIPTION_SIZE: u32 = 48;
/// Size of an `event`.
pub const EVENT_SIZE: u32 = 32;

/// `$fdstat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fdstat {
    pub filetype: u8,
    pub flags: u16,
    pub rights_base: u64,
    pub rights_inheriting: u64,
}

impl Fdstat {
    /// Encodes the 24-byte witx layout.
    pub fn to_bytes(&self) -> [u8; 24] {
        let mut b = [0u8; 24];
        b[0] = self.filetype;
        b[2..4].copy_from_slice(&self.flags.to_le_bytes());
        b[8..16].copy_from_slice(&self.rights_base.to_le_bytes());
        b[16..24].copy_from_slice(&self.rights_inheriting.to_le_bytes());
        b
    }
}

/// `$filestat`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Filestat {
    pub dev: u64,
    pub ino: u64,
    pub filetype: u8,
    pub nlink: u64,
    pub size: u64,
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
}

impl Filestat {
    pub fn is_dir(&self) -> bool {
        self.filetype == filetype::DIRECTORY
    }

    pub fn is_symlink(&self) -> bool {
        self.filetype == filetype::SYMBOLIC_LINK
    }

    /// Encodes the 64-byte witx layout.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..8].copy_from_slice(&self.dev.to_le_bytes());
        b[8..16].copy_from_slice(&self.ino.to_le_bytes());
        b[16] = self.filetype;
        b[24..32].copy_from_slice(&self.nlink.to_le_bytes());
        b[32..40].copy_from_slice(&self.size.to_le_bytes());
        b[40..48].copy_from_slice(&self.atim.to_le_bytes());
        b[48..56].copy_from_slice(&self.mtim.to_le_bytes());
        b[56..64].copy_from_slice(&self.ctim.to_le_bytes());
        b
    }
}

/// Encodes a `dirent` header followed by its name.
pub fn dirent_bytes(next: u64, ino: u64, filetype: u8, name: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; DIRENT_SIZE];
    b[0..8].copy_from_slice(&next.to_le_bytes());
    b[8..16].copy_from_slice(&ino.to_le_bytes());
    b[16..20].copy_from_slice(&(name.len() as u32).to_le_bytes());
    b[20] = filetype;
    b.extend_from_slice(name);
    b
}

/// The contents of a `subscription`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionKind {
    Clock {
        id: u32,
        timeout: u64,
        precision: u64,
        flags: u16,
    },
    FdRead(u32),
    FdWrite(u32),
}

/// A decoded `subscription`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub userdata: u64,
    pub kind: SubscriptionKind,
}

impl Subscription {
    /// Decodes the 48-byte witx layout; an unknown tag, clock or clock flag is `EINVAL`.
    pub fn from_bytes(b: &[u8]) -> WasiResult<Subscription> {
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        let kind = match b[8] {
            eventtype::CLOCK => {
                let id = u32_at(16);
                let flags = u16::from_le_bytes([b[40], b[41]]);
                if id > clockid::THREAD_CPUTIME_ID || flags & !SUBSCRIPTION_CLOCK_ABSTIME != 0 {
                    return Err(Errno::Inval);
                }
                SubscriptionKind::Clock {
                    id,
                    timeout: u64_at(24),
                    precision: u64_at(32),
                    flags,
                }
            }
            eventtype::FD_READ => SubscriptionKind::FdRead(u32_at(16)),
            eventtype::FD_WRITE => SubscriptionKind::FdWrite(u32_at(16)),
            _ => return Err(Errno::Inval),
        };
        Ok(Subscription {
            userdata: u64_at(0),
            kind,
        })
    }
}

/// An `event` to report from `poll_oneoff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub userdata: u64,
    pub error: Errno,
    pub kind: u8,
    pub nbytes: u64,
    pub flags: u16,
}

impl Event {
    /// Encodes the 32-byte witx layout.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[0..8].copy_from_slice(&self.userdata.to_le_bytes());
        b[8..10].copy_from_slice(&(self.error as u16).to_le_bytes());
        b[10] = self.kind;
        b[16..24].copy_from_slice(&self.nbytes.to_le_bytes());
        b[24..26].copy_from_slice(&self.flags.to_le_bytes());
        b
    }
}

/// Bounds-checked access to the guest's linear memory. Out-of-bounds accesses are `EFAULT`.
///
/// Every access copies: no Rust reference into the memory is ever handed out. A shared
/// memory (wasm32-wasip1-threads) is written by other threads while a WASI call runs, so a
/// `&[u8]` or `&mut [u8]` over it would assert an exclusivity nobody can give; bytes are
/// copied in and out through raw pointers instead, as the guest's own plain loads and
/// stores would move them.
pub struct Mem<'a> {
    base: *mut u8,
    len: usize,
    /// The memory borrowed for `'a`: it neither moves nor shrinks while this view lives.
    _memory: std::marker::PhantomData<&'a [std::cell::UnsafeCell<u8>]>,
}

impl<'a> Mem<'a> {
    /// Wraps the bytes of a memory this thread has to itself.
    pub fn new(bytes: &'a mut [u8]) -> Mem<'a> {
        Mem {
            base: bytes.as_mut_ptr(),
            len: bytes.len(),
            _memory: std::marker::PhantomData,
        }
    }

    /// Wraps the bytes of a shared memory, which other threads may access concurrently.
    pub fn shared(bytes: &'a [std::cell::UnsafeCell<u8>]) -> Mem<'a> {
        Mem {
            base: std::cell::UnsafeCell::raw_get(bytes.as_ptr()),
            len: bytes.len(),
            _memory: std::marker::PhantomData,
        }
    }

    /// The start of `len` bytes at `ptr`, checked to lie inside the memory.
    fn at(&self, ptr: u32, len: usize) -> WasiResult<*mut u8> {
        let start = ptr as usize;
        let end = start.checked_add(len).ok_or(Errno::Fault)?;
        if end > self.len {
            return Err(Errno::Fault);
        }
        // SAFETY: `start <= end <= self.len`, so the result stays inside (or one past the
        // end of) the memory `base` points to.
        Ok(unsafe { self.base.add(start) })
    }

    /// Checks that `len` bytes at `ptr` lie inside the memory.
    pub fn check(&self, ptr: u32, len: u32) -> WasiResult<()> {
        self.at(ptr, len as usize).map(drop)
    }

    /// Copies `out.len()` bytes at `ptr` into `out`.
    pub fn read_into(&self, ptr: u32, out: &mut [u8]) -> WasiResult<()> {
        let from = self.at(ptr, out.len())?;
        // SAFETY: `at` checked that the range lies inside the memory, which is live and
        // unmoved for `'a`; `out` is ours, so the two cannot overlap. No reference to the
        // guest's bytes is formed. Guest stores to a shared memory racing with the copy are
        // formally a data race, tolerated as Wasmtime's own WASI layers tolerate it: the
        // copy may see some mix of old and new bytes, as a plain guest load would.
        unsafe { std::ptr::copy_nonoverlapping(from, out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// A copy of `len` bytes at `ptr`. The range is checked before anything is allocated:
    /// `len` comes from the guest.
    pub fn read(&self, ptr: u32, len: u32) -> WasiResult<Vec<u8>> {
        self.check(ptr, len)?;
        let mut out = vec![0; len as usize];
        self.read_into(ptr, &mut out)?;
        Ok(out)
    }

    /// Copies `data` to `ptr`.
    pub fn write(&mut self, ptr: u32, data: &[u8]) -> WasiResult<()> {
        let to = self.at(ptr, data.len())?;
        // SAFETY: as in `read_into`: in bounds, live, not overlapping `data`, and written
        // through a raw pointer only.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), to, data.len()) };
        Ok(())
    }

    fn read_array<const N: usize>(&self, ptr: u32) -> WasiResult<[u8; N]> {
        let mut out = [0; N];
        self.read_into(ptr, &mut out)?;
        Ok(out)
    }

    pub fn read_u8(&self, ptr: u32) -> WasiResult<u8> {
        Ok(self.read_array::<1>(ptr)?[0])
    }

    pub fn read_u16(&self, ptr: u32) -> WasiResult<u16> {
        Ok(u16::from_le_bytes(self.read_array(ptr)?))
    }

    pub fn read_u32(&self, ptr: u32) -> WasiResult<u32> {
        Ok(u32::from_le_bytes(self.read_array(ptr)?))
    }

    pub fn read_u64(&self, ptr: u32) -> WasiResult<u64> {
        Ok(u64::from_le_bytes(self.read_array(ptr)?))
    }

    pub fn write_u8(&mut self, ptr: u32, v: u8) -> WasiResult<()> {
        self.write(ptr, &[v])
    }

    pub fn write_u16(&mut self, ptr: u32, v: u16) -> WasiResult<()> {
        self.write(ptr, &v.to_le_bytes())
    }

    pub fn write_u32(&mut self, ptr: u32, v: u32) -> WasiResult<()> {
        self.write(ptr, &v.to_le_bytes())
    }

    pub fn write_u64(&mut self, ptr: u32, v: u64) -> WasiResult<()> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// A UTF-8 string of `len` bytes at `ptr` (`EILSEQ` when not UTF-8).
    pub fn read_str(&self, ptr: u32, len: u32) -> WasiResult<String> {
        String::from_utf8(self.read(ptr, len)?).map_err(|_| Errno::Ilseq)
    }

    /// The buffer of an iovec/ciovec array a call moves bytes through, as `(buf, buf_len)`
    /// checked against memory: the first one that is not empty, or none.
    pub fn iovecs(&self, ptr: u32, count: u32) -> WasiResult<Vec<(u32, u32)>> {
        let size = count.checked_mul(8).ok_or(Errno::Fault)?;
        let raw = self.read(ptr, size)?;
        // As Wasmtime: only the first buffer that is not empty is read or written, so a
        // call moves at most that many bytes (none at all when every buffer is empty).
        for chunk in raw.chunks_exact(8) {
            let buf = u32::from_le_bytes(chunk[0..4].try_into().expect("4 bytes"));
            let len = u32::from_le_bytes(chunk[4..8].try_into().expect("4 bytes"));
            if len == 0 {
                continue;
            }
            self.check(buf, len)?;
            return Ok(vec![(buf, len)]);
        }
        Ok(Vec::new())
    }

    /// Concatenates the bytes named by a ciovec array (for writes).
    pub fn gather(&self, iovs: &[(u32, u32)]) -> WasiResult<Vec<u8>> {
        let total: usize = iovs.iter().map(|&(_, len)| len as usize).sum();
        let mut out = vec![0; total];
        let mut at = 0;
        for &(buf, len) in iovs {
            self.read_into(buf, &mut out[at..at + len as usize])?;
            at += len as usize;
        }
        Ok(out)
    }

    /// Spreads `data` over an iovec array (for reads); returns the bytes placed.
    pub fn scatter(&mut self, iovs: &[(u32, u32)], data: &[u8]) -> WasiResult<usize> {
        let mut done = 0;
        for &(buf, len) in iovs {
            if done == data.len() {
                break;
            }
            let n = (len as usize).min(data.len() - done);
            self.write(buf, &data[done..done + n])?;
            done += n;
        }
        Ok(done)
    }
}

/// Total length of an iovec array, refusing totals over `u32::MAX` (`EINVAL`).
pub fn iovecs_len(iovs: &[(u32, u32)]) -> WasiResult<usize> {
    let total: u64 = iovs.iter().map(|&(_, len)| u64::from(len)).sum();
    if total > u64::from(u32::MAX) {
        return Err(Errno::Inval);
    }
    Ok(total as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_have_witx_offsets() {
        let f = Fdstat {
            filetype: 4,
            flags: 0x11,
            rights_base: 0x0102,
            rights_inheriting: 0x0304,
        }
        .to_bytes();
        assert_eq!(
            (f[0], f[2], f[8], f[9], f[16], f[17]),
            (4, 0x11, 2, 1, 4, 3)
        );

        let s = Filestat {
            dev: 1,
            ino: 2,
            filetype: 3,
            nlink: 4,
            size: 5,
            atim: 6,
            mtim: 7,
            ctim: 8,
        }
        .to_bytes();
        for (offset, value) in [
            (0, 1),
            (8, 2),
            (16, 3),
            (24, 4),
            (32, 5),
            (40, 6),
            (48, 7),
            (56, 8),
        ] {
            assert_eq!(s[offset], value, "offset {offset}");
        }

        let d = dirent_bytes(9, 10, 4, b"ab");
        assert_eq!(
            (d[0], d[8], d[16], d[20], &d[24..]),
            (9, 10, 2, 4, &b"ab"[..])
        );

        let e = Event {
            userdata: 7,
            error: Errno::Badf,
            kind: eventtype::FD_READ,
            nbytes: 3,
            flags: 1,
        }
        .to_bytes();
        assert_eq!((e[0], e[8], e[10], e[16], e[24]), (7, 8, 1, 3, 1));
    }

    #[test]
    fn reported_rights_are_wasmtimes() {
        assert_eq!(rights::PREOPEN_BASE, 0x7B7_FE00);
        assert_eq!(rights::PREOPEN_INHERITING, 0xFF7_FFFF);
        assert_eq!(rights::OPENED_DIRECTORY, 0x3FB7_FFBB);
        assert_eq!(rights::file(true, false), 0x3FFF_FFBF);
        assert_eq!(rights::file(false, true), 0x3FFF_BFFD);
        assert_eq!(rights::file(true, true), 0x3FFF_FFFF);
        assert_eq!(rights::ALL, 0x3FFF_FFFF);
    }

    #[test]
    fn subscription_decodes_clock_and_fd() {
        let mut b = [0u8; 48];
        b[0] = 42;
        b[8] = eventtype::CLOCK;
        b[16] = 1;
        b[24..32].copy_from_slice(&1000u64.to_le_bytes());
        b[40] = 1;
        let s = Subscription::from_bytes(&b).unwrap();
        assert_eq!(s.userdata, 42);
        assert_eq!(
            s.kind,
            SubscriptionKind::Clock {
                id: 1,
                timeout: 1000,
                precision: 0,
                flags: 1
            }
        );
        b[8] = eventtype::FD_WRITE;
        assert_eq!(
            Subscription::from_bytes(&b).unwrap().kind,
            SubscriptionKind::FdWrite(1)
        );
        b[8] = 9;
        assert_eq!(Subscription::from_bytes(&b), Err(Errno::Inval));
    }

    #[test]
    fn memory_accesses_are_bounds_checked() {
        let mut bytes = vec![0u8; 16];
        let mut mem = Mem::new(&mut bytes);
        mem.write_u32(12, 0xdead_beef).unwrap();
        assert_eq!(mem.read_u32(12).unwrap(), 0xdead_beef);
        assert_eq!(mem.write_u32(13, 1), Err(Errno::Fault));
        assert_eq!(mem.read_u64(u32::MAX), Err(Errno::Fault));
        assert_eq!(mem.read(16, 0).map(|v| v.len()), Ok(0));
        assert_eq!(mem.check(16, 1), Err(Errno::Fault));
        // A length from the guest is checked before anything is allocated for it.
        assert_eq!(mem.read(0, u32::MAX), Err(Errno::Fault));
        assert_eq!(mem.read_str(0, u32::MAX), Err(Errno::Fault));
        // An iovec pointing outside memory is refused up front.
        mem.write_u32(0, 8).unwrap();
        mem.write_u32(4, 100).unwrap();
        assert_eq!(mem.iovecs(0, 1), Err(Errno::Fault));
    }

    #[test]
    fn a_shared_memory_is_read_and_written_by_copies() {
        let cells: Vec<std::cell::UnsafeCell<u8>> =
            (0..32u8).map(std::cell::UnsafeCell::new).collect();
        let mut mem = Mem::shared(&cells);
        assert_eq!(mem.read(4, 4).unwrap(), [4, 5, 6, 7]);
        mem.write(30, &[9, 9]).unwrap();
        assert_eq!(mem.write(31, &[9, 9]), Err(Errno::Fault));
        mem.write_u32(0, 8).unwrap();
        mem.write_u32(4, 3).unwrap();
        let iovs = mem.iovecs(0, 1).unwrap();
        assert_eq!(mem.gather(&iovs).unwrap(), [8, 9, 10]);
        assert_eq!(mem.scatter(&iovs, b"abcdef").unwrap(), 3);
        let bytes: Vec<u8> = cells.into_iter().map(|c| c.into_inner()).collect();
        assert_eq!(&bytes[8..11], b"abc");
        assert_eq!(&bytes[30..], [9, 9]);
    }
}
