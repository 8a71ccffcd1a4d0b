//! The guest's file descriptor table: what each fd refers to, with its rights and flags.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::abi::filetype;
use super::errno::{Errno, WasiResult};
use super::sandbox::{DirRef, Root};
use super::stdio::Stream;
use super::vfs::FileHandle;

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

/// One descriptor.
#[derive(Debug)]
pub struct FdEntry {
    pub handle: Handle,
    pub rights_base: u64,
    pub rights_inheriting: u64,
    /// `$fdflags` in effect (append, nonblock, ... as the guest set them).
    pub flags: u16,
}

impl FdEntry {
    /// Fails with `ENOTCAPABLE` unless every bit of `rights` is held.
    pub fn require(&self, rights: u64) -> WasiResult<()> {
        if self.rights_base & rights == rights {
            Ok(())
        } else {
            Err(Errno::Notcapable)
        }
    }

    /// The WASI file type of the descriptor.
    pub fn filetype(&self) -> u8 {
        match &self.handle {
            Handle::Stream(_) => filetype::CHARACTER_DEVICE,
            Handle::File(f) => f.filetype,
            Handle::Dir(_) => filetype::DIRECTORY,
        }
    }

    /// The open file; `EISDIR` for a directory, `EBADF` for a stream.
    pub fn file(&mut self) -> WasiResult<&mut OpenFile> {
        match &mut self.handle {
            Handle::File(f) => Ok(f),
            Handle::Dir(_) => Err(Errno::Isdir),
            Handle::Stream(_) => Err(Errno::Badf),
        }
    }

    /// The open directory, or `ENOTDIR`.
    pub fn dir(&self) -> WasiResult<&OpenDir> {
        match &self.handle {
            Handle::Dir(d) => Ok(d),
            _ => Err(Errno::Notdir),
        }
    }
}

/// Descriptor number → entry. New descriptors take the lowest free number.
#[derive(Debug, Default)]
pub struct FdTable {
    entries: BTreeMap<u32, FdEntry>,
}

impl FdTable {
    /// An empty table.
    pub fn new() -> FdTable {
        FdTable::default()
    }

    /// The entry of `fd`, or `EBADF`.
    pub fn get(&self, fd: u32) -> WasiResult<&FdEntry> {
        self.entries.get(&fd).ok_or(Errno::Badf)
    }

    /// The entry of `fd` for changes, or `EBADF`.
    pub fn get_mut(&mut self, fd: u32) -> WasiResult<&mut FdEntry> {
        self.entries.get_mut(&fd).ok_or(Errno::Badf)
    }

    /// Adds an entry under the lowest free number (`EMFILE` when none is left).
    pub fn insert(&mut self, entry: FdEntry) -> WasiResult<u32> {
        let mut fd = 0u32;
        for &used in self.entries.keys() {
            if used != fd {
                break;
            }
            fd = fd.checked_add(1).ok_or(Errno::Mfile)?;
        }
        self.entries.insert(fd, entry);
        Ok(fd)
    }

    /// Removes `fd` (`EBADF` if it is not open).
    pub fn remove(&mut self, fd: u32) -> WasiResult<FdEntry> {
        self.entries.remove(&fd).ok_or(Errno::Badf)
    }

    /// `fd_renumber`: moves `from` onto `to`, closing what `to` held. Both must be open.
    pub fn renumber(&mut self, from: u32, to: u32) -> WasiResult<()> {
        if !self.entries.contains_key(&from) || !self.entries.contains_key(&to) {
            return Err(Errno::Badf);
        }
        if from == to {
            return Ok(());
        }
        let entry = self.entries.remove(&from).ok_or(Errno::Badf)?;
        self.entries.insert(to, entry);
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

    fn stream() -> FdEntry {
        FdEntry {
            handle: Handle::Stream(Stream::Input(Box::new(std::io::empty()))),
            rights_base: 0b10,
            rights_inheriting: 0,
            flags: 0,
        }
    }

    #[test]
    fn lowest_free_number_and_renumber() {
        let mut t = FdTable::new();
        assert_eq!(t.insert(stream()), Ok(0));
        assert_eq!(t.insert(stream()), Ok(1));
        assert_eq!(t.insert(stream()), Ok(2));
        t.remove(1).unwrap();
        assert_eq!(t.insert(stream()), Ok(1));
        assert_eq!(t.remove(7).unwrap_err(), Errno::Badf);
        assert_eq!(t.renumber(0, 9), Err(Errno::Badf));
        t.renumber(0, 2).unwrap();
        assert!(!t.contains(0) && t.contains(2));
        assert_eq!(t.insert(stream()), Ok(0));
    }

    #[test]
    fn rights_are_checked() {
        let e = stream();
        assert_eq!(e.require(0b10), Ok(()));
        assert_eq!(e.require(0b110), Err(Errno::Notcapable));
    }
}
