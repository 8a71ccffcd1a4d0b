//! The file systems preopens live on, as the WASI layer sees them: [`FileSystem`] for
//! operations on paths and [`FileHandle`] for an open file.
//!
//! A preopen's root is a path in one of these file systems: [`std_fs::StdFs`] (the
//! host's, through Rust std: native runs, and uhyve's file mapping in the guest) or
//! [`fuse_fs::FuseFs`] (host directories shared with a QEMU guest through virtio-fs).
//! Paths handed to them are always ones the [`sandbox`](super::sandbox) resolved: the
//! root's path joined with symlink-free components, never a guest path as it was given.
//!
//! [`std_fs::StdFs`]: super::std_fs::StdFs
//! [`fuse_fs::FuseFs`]: super::fuse_fs::FuseFs

use std::fmt;
use std::path::Path;

use super::abi::{fstflags, Filestat};
use super::errno::{Errno, WasiResult};

/// Operations on entries named by path.
pub trait FileSystem: Send + Sync + fmt::Debug {
    /// The entry at `path` itself (a final symlink is not followed); `None` if there is none.
    fn lstat(&self, path: &Path) -> WasiResult<Option<Filestat>>;
    /// The entry at a preopen's own path, following symlinks (a preopen may be one).
    fn stat_root(&self, path: &Path) -> WasiResult<Filestat>;
    /// The content of the symlink at `path`.
    fn read_link(&self, path: &Path) -> WasiResult<Vec<u8>>;
    /// The entries of the directory at `path`, without `.` and `..`, in any order.
    fn list(&self, path: &Path) -> WasiResult<Vec<DirEntry>>;
    /// Opens (or creates) the regular file at `path`.
    fn open(&self, path: &Path, how: OpenHow) -> WasiResult<Box<dyn FileHandle>>;
    fn create_dir(&self, path: &Path) -> WasiResult<()>;
    /// Removes the empty directory at `path`.
    fn remove_dir(&self, path: &Path) -> WasiResult<()>;
    /// Removes the non-directory at `path`.
    fn remove_file(&self, path: &Path) -> WasiResult<()>;
    fn rename(&self, from: &Path, to: &Path) -> WasiResult<()>;
    /// A hard link `to` of the entry at `from`.
    fn hard_link(&self, from: &Path, to: &Path) -> WasiResult<()>;
    /// A symlink at `path` whose content is `target`.
    fn symlink(&self, target: &str, path: &Path) -> WasiResult<()>;
    /// Sets the times of the entry at `path` itself (a symlink is not followed).
    fn set_times(&self, path: &Path, change: TimeChange) -> WasiResult<()>;
    /// Syncs the directory at `path` to storage.
    fn sync_dir(&self, path: &Path, data_only: bool) -> WasiResult<()>;
}

/// An open regular file. Positions are the WASI layer's: every transfer names its offset.
pub trait FileHandle: Send + fmt::Debug {
    /// Up to `len` bytes at `offset` (fewer only at the end of the file).
    fn read_at(&mut self, len: usize, offset: u64) -> WasiResult<Vec<u8>>;
    /// All of `data` at `offset`.
    fn write_at(&mut self, data: &[u8], offset: u64) -> WasiResult<()>;
    fn stat(&mut self) -> WasiResult<Filestat>;
    /// Truncates or extends the file to `len` bytes.
    fn set_len(&mut self, len: u64) -> WasiResult<()>;
    fn set_times(&mut self, change: TimeChange) -> WasiResult<()>;
    fn sync(&mut self, data_only: bool) -> WasiResult<()>;
    /// Makes sure `[offset, offset + len)` is allocated: the file grows to cover it.
    fn allocate(&mut self, offset: u64, len: u64) -> WasiResult<()>;
    /// An access-pattern hint (`$advice`); it may be ignored.
    fn advise(&mut self, offset: u64, len: u64, advice: u8) -> WasiResult<()>;
}

/// How to open a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenHow {
    pub read: bool,
    pub write: bool,
    /// Create the file; it must not exist.
    pub create_new: bool,
    pub truncate: bool,
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    pub filetype: u8,
}

/// One time to change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSet {
    Keep,
    /// The file system's current time.
    Now,
    /// Nanoseconds since the epoch.
    At(u64),
}

/// Which times to set, decoded from `$fstflags` (`EINVAL` for contradictory flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeChange {
    pub atime: TimeSet,
    pub mtime: TimeSet,
}

impl TimeChange {
    /// Decodes `fst_flags` with the given timestamps.
    pub fn new(atim: u64, mtim: u64, flags: u32) -> WasiResult<TimeChange> {
        let flags = u16::try_from(flags).map_err(|_| Errno::Inval)?;
        if flags & !fstflags::ALL != 0 {
            return Err(Errno::Inval);
        }
        let pick = |set: u16, now: u16, t: u64| -> WasiResult<TimeSet> {
            match (flags & set != 0, flags & now != 0) {
                (true, true) => Err(Errno::Inval),
                (true, false) => Ok(TimeSet::At(t)),
                (false, true) => Ok(TimeSet::Now),
                (false, false) => Ok(TimeSet::Keep),
            }
        };
        Ok(TimeChange {
            atime: pick(fstflags::ATIM, fstflags::ATIM_NOW, atim)?,
            mtime: pick(fstflags::MTIM, fstflags::MTIM_NOW, mtim)?,
        })
    }

    /// Whether nothing is to change.
    pub fn is_empty(&self) -> bool {
        self.atime == TimeSet::Keep && self.mtime == TimeSet::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_flags_are_validated() {
        use fstflags::*;
        assert_eq!(
            TimeChange::new(1, 2, u32::from(ATIM | ATIM_NOW)),
            Err(Errno::Inval)
        );
        assert_eq!(
            TimeChange::new(1, 2, u32::from(MTIM | MTIM_NOW)),
            Err(Errno::Inval)
        );
        assert_eq!(TimeChange::new(1, 2, 0x10), Err(Errno::Inval));
        let c = TimeChange::new(1, 2, u32::from(MTIM | ATIM_NOW)).unwrap();
        assert_eq!(c.atime, TimeSet::Now);
        assert_eq!(c.mtime, TimeSet::At(2));
        assert!(TimeChange::new(1, 2, 0).unwrap().is_empty());
    }
}
