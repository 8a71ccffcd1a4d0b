//! The guest's file descriptor table: what each fd refers to and how it was opened.
//!
//! Rights are advisory, as in Wasmtime: no descriptor stores them and no operation checks
//! them. [`Handle::fdstat`] computes the rights `fd_fdstat_get` reports from what the
//! descriptor is (and, for a file, whether it was opened for reading and writing).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::abi::{filetype, rights, Fdstat};
use super::errno::{Errno, WasiResult};
use super::sandbox::{DirRef, Root};
use super::stdio::Stream;
use super::vfs::FileHandle;
use crate::limit_spec::LimitName;
use crate::usage::Usage;

/// An open regular file (or other non-directory host object).
#[derive(Debug)]
pub struct OpenFile {
    pub file: Box<dyn FileHandle>,
    /// The descriptor's position (`fd_seek`, `fd_tell`; moved by `fd_read`, `fd_write`).
    pub pos: u64,
    /// The root it was opened under (read-only roots refuse changes through it too).
    pub root: Arc<Root>,
    /// The WASI file type, fixed at open time.
    pub filetype: u8,
    /// Opened for reading: `fd_read` and `fd_pread` are `EBADF` otherwise.
    pub readable: bool,
    /// Opened for writing: `fd_write`, `fd_pwrite`, `fd_allocate` and
    /// `fd_filestat_set_size` are `EBADF` otherwise.
    pub writable: bool,
    /// The `$fdflags` in effect: only `APPEND` (writes go to the end) and `NONBLOCK`
    /// (recorded, no effect on a file) are ever kept.
    pub flags: u16,
}

/// An open directory.
#[derive(Debug)]
pub struct OpenDir {
    pub dir: DirRef,
    /// Set for preopens: the name the guest sees (`fd_prestat_dir_name`).
    pub preopen: Option<String>,
}

/// What a descriptor refers to.
#[derive(Debug)]
pub enum Handle {
    Stream(Stream),
    File(OpenFile),
    Dir(OpenDir),
}

impl Handle {
    /// `fd_fdstat_get`: the file type, flags and the rights Wasmtime reports for such a
    /// descriptor (see [`rights`]).
    pub fn fdstat(&self) -> Fdstat {
        match self {
            Handle::Stream(s) => s.fdstat(),
            Handle::File(f) => {
                let rights = rights::file(f.readable, f.writable);
                Fdstat {
                    filetype: f.filetype,
                    flags: f.flags,
                    rights_base: rights,
                    rights_inheriting: rights,
                }
            }
            Handle::Dir(d) => {
                let (base, inheriting) = if d.preopen.is_some() {
                    (rights::PREOPEN_BASE, rights::PREOPEN_INHERITING)
                } else {
                    (rights::OPENED_DIRECTORY, rights::OPENED_DIRECTORY)
                };
                Fdstat {
                    filetype: filetype::DIRECTORY,
                    flags: 0,
                    rights_base: base,
                    rights_inheriting: inheriting,
                }
            }
        }
    }

    /// The open directory: `EBADF` for anything else, as Wasmtime answers every call that
    /// takes a directory descriptor (but `path_open`, see [`Handle::dir_to_open_in`]).
    pub fn dir(&self) -> WasiResult<&OpenDir> {
        match self {
            Handle::Dir(d) => Ok(d),
            Handle::File(_) | Handle::Stream(_) => Err(Errno::Badf),
        }
    }

    /// The open directory `path_open` opens in: `ENOTDIR` for a file, `EBADF` for a
    /// stream, as Wasmtime answers.
    pub fn dir_to_open_in(&self) -> WasiResult<&OpenDir> {
        match self {
            Handle::Dir(d) => Ok(d),
            Handle::File(_) => Err(Errno::Notdir),
            Handle::Stream(_) => Err(Errno::Badf),
        }
    }
}

/// Descriptor number → what it refers to. A new descriptor takes the largest number
/// freed by a close or renumber, else one above the largest in use, as in Wasmtime (not
/// the lowest free number, as POSIX would).
#[derive(Debug, Default)]
pub struct FdTable {
    entries: BTreeMap<u32, Handle>,
    /// Numbers closed or renumbered away and not taken again.
    free: BTreeSet<u32>,
    /// The most descriptors open at once (`LIMIT files`), and what to tell when it refuses.
    limit: Option<(u64, Arc<Usage>)>,
}

impl FdTable {
    /// An empty table.
    pub fn new() -> FdTable {
        FdTable::default()
    }

    /// The handle of `fd`, or `EBADF`.
    pub fn get(&self, fd: u32) -> WasiResult<&Handle> {
        self.entries.get(&fd).ok_or(Errno::Badf)
    }

    /// The handle of `fd` for changes, or `EBADF`.
    pub fn get_mut(&mut self, fd: u32) -> WasiResult<&mut Handle> {
        self.entries.get_mut(&fd).ok_or(Errno::Badf)
    }

    /// From now on at most `limit` descriptors may be open at once: [`FdTable::insert`]
    /// refuses one more with `EMFILE`, as a process at its `ulimit -n` is refused, and
    /// tells `usage`. Fails if more are open already.
    pub fn set_limit(&mut self, limit: u64, usage: Arc<Usage>) -> Result<(), u64> {
        let open = self.entries.len() as u64;
        if open > limit {
            return Err(open);
        }
        self.limit = Some((limit, usage));
        Ok(())
    }

    /// Adds a handle under the largest freed number, else the one above the largest in
    /// use, else the largest hole below (`EMFILE` when none is left, or the limit is
    /// reached).
    pub fn insert(&mut self, handle: Handle) -> WasiResult<u32> {
        if let Some((limit, usage)) = &self.limit {
            if self.entries.len() as u64 >= *limit {
                usage.refused(LimitName::Files);
                return Err(Errno::Mfile);
            }
        }
        let fd = match self.free.pop_last() {
            Some(fd) => fd,
            None => match self.entries.last_key_value() {
                None => 0,
                Some((&last, _)) => match last.checked_add(1) {
                    Some(fd) => fd,
                    None => (0..u32::MAX)
                        .rev()
                        .find(|fd| !self.entries.contains_key(fd))
                        .ok_or(Errno::Mfile)?,
                },
            },
        };
        self.entries.insert(fd, handle);
        Ok(fd)
    }

    /// Removes `fd` (`EBADF` if it is not open); its number may be taken again.
    pub fn remove(&mut self, fd: u32) -> WasiResult<Handle> {
        let handle = self.entries.remove(&fd).ok_or(Errno::Badf)?;
        self.free.insert(fd);
        Ok(handle)
    }

    /// `fd_renumber`: moves `from` onto `to`, closing what `to` held. Both must be open.
    pub fn renumber(&mut self, from: u32, to: u32) -> WasiResult<()> {
        if !self.entries.contains_key(&from) || !self.entries.contains_key(&to) {
            return Err(Errno::Badf);
        }
        if from == to {
            return Ok(());
        }
        let handle = self.entries.remove(&from).ok_or(Errno::Badf)?;
        self.entries.insert(to, handle);
        self.free.insert(from);
        Ok(())
    }

    /// Whether `fd` is open.
    pub fn contains(&self, fd: u32) -> bool {
        self.entries.contains_key(&fd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> Handle {
        Handle::Stream(Stream::input(Box::new(std::io::empty()), false))
    }

    #[test]
    fn the_largest_freed_number_first_and_renumber() {
        let mut t = FdTable::new();
        for fd in 0..6 {
            assert_eq!(t.insert(stream()), Ok(fd));
        }
        t.remove(3).unwrap();
        t.remove(5).unwrap();
        // As Wasmtime: 5, then 3, then above the largest in use.
        assert_eq!(t.insert(stream()), Ok(5));
        assert_eq!(t.insert(stream()), Ok(3));
        assert_eq!(t.insert(stream()), Ok(6));
        assert_eq!(t.remove(7).unwrap_err(), Errno::Badf);
        assert_eq!(t.renumber(0, 9), Err(Errno::Badf));
        t.renumber(0, 2).unwrap();
        assert!(!t.contains(0) && t.contains(2));
        assert_eq!(t.insert(stream()), Ok(0));
    }

    #[test]
    fn the_limit_counts_every_open_descriptor() {
        let mut t = FdTable::new();
        for _ in 0..3 {
            t.insert(stream()).unwrap();
        }
        let usage = Arc::new(Usage::new(None));
        assert_eq!(t.set_limit(2, Arc::clone(&usage)), Err(3));
        t.set_limit(4, Arc::clone(&usage)).unwrap();
        assert_eq!(t.insert(stream()), Ok(3));
        assert_eq!(t.insert(stream()), Err(Errno::Mfile));
        assert_eq!(usage.record().limits_reached, ["files"]);
        t.remove(0).unwrap();
        assert_eq!(t.insert(stream()), Ok(0));
        t.renumber(0, 3).unwrap();
        assert_eq!(t.insert(stream()), Ok(0));
    }

    #[test]
    fn a_stream_is_not_a_directory() {
        assert_eq!(stream().dir().err(), Some(Errno::Badf));
    }
}
