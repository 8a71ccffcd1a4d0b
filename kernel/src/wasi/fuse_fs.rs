//! [`FuseFs`]: host directories reached through a FUSE session: in the guest, the
//! virtio-fs device that the QEMU launch script connects to virtiofsd, which serves one
//! staging folder holding each map as a numbered directory.
//!
//! Paths are relative to the share's root (`0/dir/file`). Every operation looks its path
//! up one component at a time from the root, never caching node ids across operations, and
//! forgets the nodes it looked up when done; an open file holds its own node until closed.
//! The server does the work on the host (its errors come back as they are), so nothing
//! here emulates an operation: links, renames, times and sizes are the host's.

use std::fmt;
use std::path::{Component, Path};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::fuse::proto::{open_flags, Entry, ROOT_ID};
use crate::fuse::session::{SetAttr, SetTime};
use crate::fuse::Session;

use super::abi::{filetype, Filestat, ADVICE_MAX};
use super::errno::{Errno, WasiResult};
use super::vfs::{DirEntry, FileHandle, FileSystem, OpenHow, TimeChange, TimeSet};

/// The device number reported for every entry (FUSE attributes carry none).
const DEV: u64 = 0xf5e;

/// Permissions of what the guest creates (the host's umask still applies).
const FILE_MODE: u32 = 0o100644;
const DIR_MODE: u32 = 0o755;

/// A FUSE session seen as a file system.
#[derive(Clone)]
pub struct FuseFs {
    session: Arc<Mutex<Session>>,
}

impl fmt::Debug for FuseFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FuseFs").finish_non_exhaustive()
    }
}

/// The nodes one operation looked up, forgotten when it ends.
struct Held<'a> {
    session: MutexGuard<'a, Session>,
    nodes: Vec<u64>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let nodes = std::mem::take(&mut self.nodes);
        self.session.forget(&nodes);
    }
}

impl Held<'_> {
    /// Looks up `name` in `parent`, holding the node until the operation ends.
    fn lookup(&mut self, parent: u64, name: &[u8]) -> WasiResult<Option<Entry>> {
        let entry = self.session.lookup(parent, name)?;
        if let Some(entry) = entry {
            self.nodes.push(entry.nodeid);
        }
        Ok(entry)
    }

    /// The node at `path` (`None` if its last component does not exist).
    fn walk(&mut self, path: &Path) -> WasiResult<Option<Entry>> {
        let names = components(path)?;
        let Some((last, dirs)) = names.split_last() else {
            let attr = self.session.getattr(ROOT_ID, None)?;
            return Ok(Some(Entry {
                nodeid: ROOT_ID,
                attr,
            }));
        };
        let parent = self.walk_dirs(dirs)?;
        self.lookup(parent, last)
    }

    /// The node at `path`, which must exist.
    fn node(&mut self, path: &Path) -> WasiResult<Entry> {
        self.walk(path)?.ok_or(Errno::Noent)
    }

    /// The directory holding `path`'s last component, and that component.
    fn parent<'p>(&mut self, path: &'p Path) -> WasiResult<(u64, &'p [u8])> {
        let names = components(path)?;
        let (last, dirs) = names.split_last().ok_or(Errno::Inval)?;
        Ok((self.walk_dirs(dirs)?, last))
    }

    fn walk_dirs(&mut self, dirs: &[&[u8]]) -> WasiResult<u64> {
        let mut node = ROOT_ID;
        for name in dirs {
            let entry = self.lookup(node, name)?.ok_or(Errno::Noent)?;
            if entry.attr.filetype() != filetype::DIRECTORY {
                return Err(Errno::Notdir);
            }
            node = entry.nodeid;
        }
        Ok(node)
    }
}

/// The names along `path` (relative, symlink-free: the sandbox built it).
fn components(path: &Path) -> WasiResult<Vec<&[u8]>> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(Ok(os_bytes(name))),
            Component::CurDir => None,
            _ => Some(Err(Errno::Notcapable)),
        })
        .collect()
}

#[cfg(unix)]
fn os_bytes(name: &std::ffi::OsStr) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    name.as_bytes()
}

#[cfg(target_os = "hermit")]
fn os_bytes(name: &std::ffi::OsStr) -> &[u8] {
    use std::os::hermit::ffi::OsStrExt;
    name.as_bytes()
}

fn set_time(t: TimeSet) -> SetTime {
    match t {
        TimeSet::Keep => SetTime::Keep,
        TimeSet::Now => SetTime::Now,
        TimeSet::At(ns) => SetTime::At(ns),
    }
}

fn times(change: TimeChange) -> SetAttr {
    SetAttr {
        size: None,
        atime: set_time(change.atime),
        mtime: set_time(change.mtime),
    }
}

impl FuseFs {
    pub fn new(session: Session) -> FuseFs {
        FuseFs {
            session: Arc::new(Mutex::new(session)),
        }
    }

    fn held(&self) -> Held<'_> {
        Held {
            session: lock(&self.session),
            nodes: Vec::new(),
        }
    }
}

fn lock(session: &Mutex<Session>) -> MutexGuard<'_, Session> {
    session
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FileSystem for FuseFs {
    fn lstat(&self, path: &Path) -> WasiResult<Option<Filestat>> {
        Ok(self.held().walk(path)?.map(|e| e.attr.filestat(DEV)))
    }

    fn stat_root(&self, path: &Path) -> WasiResult<Filestat> {
        self.lstat(path)?.ok_or(Errno::Noent)
    }

    fn read_link(&self, path: &Path) -> WasiResult<Vec<u8>> {
        let mut held = self.held();
        let node = held.node(path)?.nodeid;
        held.session.readlink(node)
    }

    fn list(&self, path: &Path) -> WasiResult<Vec<DirEntry>> {
        let mut held = self.held();
        let dir = held.node(path)?.nodeid;
        let fh = held.session.opendir(dir)?;
        let mut listed = Vec::new();
        let mut offset = 0;
        let result = loop {
            match held.session.readdir(dir, fh, offset) {
                Ok(batch) if batch.is_empty() => break Ok(()),
                Ok(batch) => {
                    offset = batch.last().map_or(offset, |d| d.off);
                    listed.extend(batch);
                }
                Err(e) => break Err(e),
            }
        };
        let _ = held.session.releasedir(dir, fh);
        result?;
        let mut entries = Vec::with_capacity(listed.len());
        for d in listed {
            if d.name == b"." || d.name == b".." {
                continue;
            }
            let mut kind = d.filetype();
            if kind == filetype::UNKNOWN {
                if let Some(entry) = held.lookup(dir, &d.name)? {
                    kind = entry.attr.filetype();
                }
            }
            entries.push(DirEntry {
                name: d.name,
                ino: d.ino,
                filetype: kind,
            });
        }
        Ok(entries)
    }

    fn open(&self, path: &Path, how: OpenHow) -> WasiResult<Box<dyn FileHandle>> {
        let mut held = self.held();
        let mut flags = match (how.read, how.write) {
            (_, false) => open_flags::RDONLY,
            (false, true) => open_flags::WRONLY,
            (true, true) => open_flags::RDWR,
        };
        if how.truncate {
            flags |= open_flags::TRUNC;
        }
        let (node, fh) = if how.create_new {
            let (parent, name) = held.parent(path)?;
            // With O_EXCL an existing entry, a symlink included, is EEXIST: nothing is
            // followed.
            let flags = flags | open_flags::CREAT | open_flags::EXCL;
            let (entry, fh) = held.session.create(parent, name, flags, FILE_MODE)?;
            (entry.nodeid, fh)
        } else {
            let entry = held.node(path)?;
            match entry.attr.filetype() {
                filetype::DIRECTORY => return Err(Errno::Isdir),
                filetype::SYMBOLIC_LINK => return Err(Errno::Loop),
                _ => {}
            }
            let fh = held.session.open(entry.nodeid, flags)?;
            // The file keeps this lookup until it is closed.
            held.nodes.pop();
            (entry.nodeid, fh)
        };
        Ok(Box::new(FuseFile {
            session: self.session.clone(),
            node,
            fh,
        }))
    }

    fn create_dir(&self, path: &Path) -> WasiResult<()> {
        let mut held = self.held();
        let (parent, name) = held.parent(path)?;
        let entry = held.session.mkdir(parent, name, DIR_MODE)?;
        held.nodes.push(entry.nodeid);
        Ok(())
    }

    fn remove_dir(&self, path: &Path) -> WasiResult<()> {
        let mut held = self.held();
        let (parent, name) = held.parent(path)?;
        held.session.rmdir(parent, name)
    }

    fn remove_file(&self, path: &Path) -> WasiResult<()> {
        let mut held = self.held();
        let (parent, name) = held.parent(path)?;
        held.session.unlink(parent, name)
    }

    fn rename(&self, from: &Path, to: &Path) -> WasiResult<()> {
        let mut held = self.held();
        let (old_parent, old_name) = held.parent(from)?;
        let (new_parent, new_name) = held.parent(to)?;
        held.session
            .rename(old_parent, old_name, new_parent, new_name)
    }

    fn hard_link(&self, from: &Path, to: &Path) -> WasiResult<()> {
        let mut held = self.held();
        let node = held.node(from)?.nodeid;
        let (parent, name) = held.parent(to)?;
        let entry = held.session.link(node, parent, name)?;
        held.nodes.push(entry.nodeid);
        Ok(())
    }

    fn symlink(&self, target: &str, path: &Path) -> WasiResult<()> {
        let mut held = self.held();
        let (parent, name) = held.parent(path)?;
        let entry = held.session.symlink(parent, name, target.as_bytes())?;
        held.nodes.push(entry.nodeid);
        Ok(())
    }

    fn set_times(&self, path: &Path, change: TimeChange) -> WasiResult<()> {
        if change.is_empty() {
            return Ok(());
        }
        let mut held = self.held();
        let node = held.node(path)?.nodeid;
        held.session.setattr(node, None, times(change)).map(drop)
    }

    fn sync_dir(&self, path: &Path, data_only: bool) -> WasiResult<()> {
        let mut held = self.held();
        let dir = held.node(path)?.nodeid;
        let fh = held.session.opendir(dir)?;
        let result = held.session.fsync(dir, fh, data_only, true);
        let _ = held.session.releasedir(dir, fh);
        result
    }
}

/// An open file: its node (looked up once, forgotten at close) and the server's handle.
struct FuseFile {
    session: Arc<Mutex<Session>>,
    node: u64,
    fh: u64,
}

impl fmt::Debug for FuseFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FuseFile")
            .field("node", &self.node)
            .field("fh", &self.fh)
            .finish()
    }
}

impl Drop for FuseFile {
    fn drop(&mut self) {
        let mut session = lock(&self.session);
        let _ = session.release(self.node, self.fh);
        session.forget(&[self.node]);
    }
}

impl FuseFile {
    fn session(&self) -> MutexGuard<'_, Session> {
        lock(&self.session)
    }
}

impl FileHandle for FuseFile {
    fn read_at(&mut self, len: usize, offset: u64) -> WasiResult<Vec<u8>> {
        self.session().read(self.node, self.fh, offset, len)
    }

    fn write_at(&mut self, data: &[u8], offset: u64) -> WasiResult<()> {
        self.session().write(self.node, self.fh, offset, data)
    }

    fn stat(&mut self) -> WasiResult<Filestat> {
        Ok(self
            .session()
            .getattr(self.node, Some(self.fh))?
            .filestat(DEV))
    }

    fn set_len(&mut self, len: u64) -> WasiResult<()> {
        let change = SetAttr {
            size: Some(len),
            atime: SetTime::Keep,
            mtime: SetTime::Keep,
        };
        self.session()
            .setattr(self.node, Some(self.fh), change)
            .map(drop)
    }

    fn set_times(&mut self, change: TimeChange) -> WasiResult<()> {
        if change.is_empty() {
            return Ok(());
        }
        self.session()
            .setattr(self.node, Some(self.fh), times(change))
            .map(drop)
    }

    fn sync(&mut self, data_only: bool) -> WasiResult<()> {
        self.session().fsync(self.node, self.fh, data_only, false)
    }

    fn allocate(&mut self, offset: u64, len: u64) -> WasiResult<()> {
        let end = offset.checked_add(len).ok_or(Errno::Fbig)?;
        if end > i64::MAX as u64 {
            return Err(Errno::Fbig);
        }
        match self.session().fallocate(self.node, self.fh, offset, len) {
            Ok(()) => return Ok(()),
            // The host file system cannot reserve blocks: grow the file instead.
            Err(Errno::Notsup) | Err(Errno::Nosys) => {}
            Err(e) => return Err(e),
        }
        if self.stat()?.size < end {
            self.set_len(end)?;
        }
        Ok(())
    }

    fn advise(&mut self, _offset: u64, _len: u64, advice: u8) -> WasiResult<()> {
        // A hint FUSE has no message for: accepted without effect, as POSIX allows.
        if advice > ADVICE_MAX {
            return Err(Errno::Inval);
        }
        Ok(())
    }
}
