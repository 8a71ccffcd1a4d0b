//! Descriptor operations (the `fd_*` functions) on a [`WasiCtx`].
//!
//! Every operation checks the descriptor's rights, and anything that changes a file
//! checks that its preopen is writable before the host is touched.

use super::abi::{dirent_bytes, fdflags, filetype, rights, whence, Fdstat, Filestat, ADVICE_MAX};
use super::errno::{Errno, WasiResult};
use super::fd_table::Handle;
use super::vfs::{DirEntry, FileHandle, TimeChange};
use super::WasiCtx;

/// Filestat reported for the standard streams (character devices without a host
/// inode).
fn stream_filestat() -> Filestat {
    Filestat {
        filetype: filetype::CHARACTER_DEVICE,
        nlink: 1,
        ..Filestat::default()
    }
}

/// Syncs after a write as the descriptor's `dsync`/`sync` flags ask.
fn sync_after_write(flags: u16, file: &mut dyn FileHandle) -> WasiResult<()> {
    if flags & fdflags::SYNC != 0 {
        file.sync(false)?;
    } else if flags & fdflags::DSYNC != 0 {
        file.sync(true)?;
    }
    Ok(())
}

impl WasiCtx {
    /// `fd_read`: up to `len` bytes from the current position.
    pub fn fd_read(&mut self, fd: u32, len: usize) -> WasiResult<Vec<u8>> {
        let entry = self.fds.get_mut(fd)?;
        if let Handle::Dir(_) = entry.handle {
            return Err(Errno::Isdir);
        }
        entry.require(rights::FD_READ)?;
        let rsync = entry.flags & fdflags::RSYNC != 0;
        match &mut entry.handle {
            Handle::Stream(s) => {
                let mut buf = vec![0u8; len];
                let n = s.read(&mut buf)?;
                buf.truncate(n);
                Ok(buf)
            }
            Handle::File(f) => {
                if rsync {
                    f.file.sync(true)?;
                }
                let data = f.file.read_at(len, f.pos)?;
                f.pos += data.len() as u64;
                Ok(data)
            }
            Handle::Dir(_) => Err(Errno::Isdir),
        }
    }

    /// `fd_pread`: up to `len` bytes at `offset`, leaving the position alone.
    pub fn fd_pread(&mut self, fd: u32, len: usize, offset: u64) -> WasiResult<Vec<u8>> {
        let entry = self.fds.get_mut(fd)?;
        match entry.handle {
            Handle::Dir(_) => return Err(Errno::Isdir),
            Handle::Stream(_) => return Err(Errno::Spipe),
            Handle::File(_) => {}
        }
        entry.require(rights::FD_READ | rights::FD_SEEK)?;
        let f = entry.file()?;
        f.file.read_at(len, offset)
    }

    /// `fd_write`: all of `data` at the position (or the end, with `append`).
    pub fn fd_write(&mut self, fd: u32, data: &[u8]) -> WasiResult<usize> {
        let entry = self.fds.get_mut(fd)?;
        if let Handle::Dir(_) = entry.handle {
            return Err(Errno::Isdir);
        }
        entry.require(rights::FD_WRITE)?;
        let flags = entry.flags;
        match &mut entry.handle {
            Handle::Stream(s) => s.write(data),
            Handle::File(f) => {
                f.root.check_writable()?;
                if flags & fdflags::APPEND != 0 {
                    f.pos = f.file.stat()?.size;
                }
                let end = f.pos.checked_add(data.len() as u64).ok_or(Errno::Fbig)?;
                f.file.write_at(data, f.pos)?;
                f.pos = end;
                sync_after_write(flags, f.file.as_mut())?;
                Ok(data.len())
            }
            Handle::Dir(_) => Err(Errno::Isdir),
        }
    }

    /// `fd_pwrite`: all of `data` at `offset`, leaving the position alone.
    pub fn fd_pwrite(&mut self, fd: u32, data: &[u8], offset: u64) -> WasiResult<usize> {
        let entry = self.fds.get_mut(fd)?;
        match entry.handle {
            Handle::Dir(_) => return Err(Errno::Isdir),
            Handle::Stream(_) => return Err(Errno::Spipe),
            Handle::File(_) => {}
        }
        entry.require(rights::FD_WRITE | rights::FD_SEEK)?;
        let flags = entry.flags;
        let f = entry.file()?;
        f.root.check_writable()?;
        offset.checked_add(data.len() as u64).ok_or(Errno::Fbig)?;
        f.file.write_at(data, offset)?;
        sync_after_write(flags, f.file.as_mut())?;
        Ok(data.len())
    }

    /// `fd_seek`: moves the position; returns the new one.
    pub fn fd_seek(&mut self, fd: u32, offset: i64, whence: u32) -> WasiResult<u64> {
        let entry = self.fds.get_mut(fd)?;
        match entry.handle {
            Handle::Dir(_) => return Err(Errno::Isdir),
            Handle::Stream(_) => return Err(Errno::Spipe),
            Handle::File(_) => {}
        }
        // Asking for the position only needs the tell right.
        if offset == 0 && whence == u32::from(whence::CUR) {
            entry.require(rights::FD_TELL)?;
        } else {
            entry.require(rights::FD_SEEK)?;
        }
        let f = entry.file()?;
        let base = match u8::try_from(whence) {
            Ok(whence::SET) => 0,
            Ok(whence::CUR) => f.pos,
            Ok(whence::END) => f.file.stat()?.size,
            _ => return Err(Errno::Inval),
        };
        let pos = base.checked_add_signed(offset).ok_or(Errno::Inval)?;
        if pos > i64::MAX as u64 {
            return Err(Errno::Inval);
        }
        f.pos = pos;
        Ok(pos)
    }

    /// `fd_tell`: the current position.
    pub fn fd_tell(&mut self, fd: u32) -> WasiResult<u64> {
        let entry = self.fds.get_mut(fd)?;
        match entry.handle {
            Handle::Dir(_) => return Err(Errno::Isdir),
            Handle::Stream(_) => return Err(Errno::Spipe),
            Handle::File(_) => {}
        }
        entry.require(rights::FD_TELL)?;
        Ok(entry.file()?.pos)
    }

    /// `fd_close`.
    pub fn fd_close(&mut self, fd: u32) -> WasiResult<()> {
        self.fds.remove(fd).map(drop)
    }

    /// `fd_renumber`: `fd` takes the number `to` (closing what was there).
    pub fn fd_renumber(&mut self, fd: u32, to: u32) -> WasiResult<()> {
        self.fds.renumber(fd, to)
    }

    /// `fd_sync`: file data and metadata to storage.
    pub fn fd_sync(&mut self, fd: u32) -> WasiResult<()> {
        let entry = self.fds.get_mut(fd)?;
        entry.require(rights::FD_SYNC)?;
        match &mut entry.handle {
            Handle::Stream(s) => s.flush(),
            Handle::File(f) => f.file.sync(false),
            Handle::Dir(d) => d.dir.root.fs.sync_dir(&d.dir.checked_path()?, false),
        }
    }

    /// `fd_datasync`: file data to storage.
    pub fn fd_datasync(&mut self, fd: u32) -> WasiResult<()> {
        let entry = self.fds.get_mut(fd)?;
        entry.require(rights::FD_DATASYNC)?;
        match &mut entry.handle {
            Handle::Stream(s) => s.flush(),
            Handle::File(f) => f.file.sync(true),
            Handle::Dir(d) => d.dir.root.fs.sync_dir(&d.dir.checked_path()?, true),
        }
    }

    /// `fd_advise`: an access-pattern hint for a file.
    pub fn fd_advise(&mut self, fd: u32, offset: u64, len: u64, advice: u32) -> WasiResult<()> {
        let advice = u8::try_from(advice)
            .ok()
            .filter(|&a| a <= ADVICE_MAX)
            .ok_or(Errno::Inval)?;
        let entry = self.fds.get_mut(fd)?;
        match entry.handle {
            Handle::Dir(_) => return Err(Errno::Isdir),
            Handle::Stream(_) => return Err(Errno::Spipe),
            Handle::File(_) => {}
        }
        entry.require(rights::FD_ADVISE)?;
        entry.file()?.file.advise(offset, len, advice)
    }

    /// `fd_allocate`: makes sure the range is allocated (the file grows if needed).
    pub fn fd_allocate(&mut self, fd: u32, offset: u64, len: u64) -> WasiResult<()> {
        let entry = self.fds.get_mut(fd)?;
        match entry.handle {
            Handle::Dir(_) => return Err(Errno::Isdir),
            Handle::Stream(_) => return Err(Errno::Spipe),
            Handle::File(_) => {}
        }
        entry.require(rights::FD_ALLOCATE)?;
        if len == 0 {
            return Err(Errno::Inval);
        }
        let f = entry.file()?;
        f.root.check_writable()?;
        f.file.allocate(offset, len)
    }

    /// `fd_fdstat_get`.
    pub fn fd_fdstat_get(&mut self, fd: u32) -> WasiResult<Fdstat> {
        let entry = self.fds.get(fd)?;
        Ok(Fdstat {
            filetype: entry.filetype(),
            flags: entry.flags,
            rights_base: entry.rights_base,
            rights_inheriting: entry.rights_inheriting,
        })
    }

    /// `fd_fdstat_set_flags`. Files and directories keep any flags (append is applied on
    /// every write, dsync/sync/rsync by syncing around I/O, nonblock has no effect on
    /// them, as in POSIX). Streams cannot be made non-blocking or synchronous:
    /// `ENOTSUP`.
    pub fn fd_fdstat_set_flags(&mut self, fd: u32, flags: u32) -> WasiResult<()> {
        let flags = u16::try_from(flags)
            .ok()
            .filter(|f| f & !fdflags::ALL == 0)
            .ok_or(Errno::Inval)?;
        let entry = self.fds.get_mut(fd)?;
        entry.require(rights::FD_FDSTAT_SET_FLAGS)?;
        if let Handle::Stream(_) = entry.handle {
            if flags & !fdflags::APPEND != 0 {
                return Err(Errno::Notsup);
            }
        }
        entry.flags = flags;
        Ok(())
    }

    /// `fd_fdstat_set_rights`: rights may only be dropped (`ENOTCAPABLE` otherwise).
    pub fn fd_fdstat_set_rights(&mut self, fd: u32, base: u64, inheriting: u64) -> WasiResult<()> {
        let entry = self.fds.get_mut(fd)?;
        if base & !entry.rights_base != 0 || inheriting & !entry.rights_inheriting != 0 {
            return Err(Errno::Notcapable);
        }
        entry.rights_base = base;
        entry.rights_inheriting = inheriting;
        Ok(())
    }

    /// `fd_filestat_get`.
    pub fn fd_filestat_get(&mut self, fd: u32) -> WasiResult<Filestat> {
        let entry = self.fds.get_mut(fd)?;
        entry.require(rights::FD_FILESTAT_GET)?;
        match &mut entry.handle {
            Handle::Stream(_) => Ok(stream_filestat()),
            Handle::File(f) => f.file.stat(),
            Handle::Dir(d) => d.dir.stat(),
        }
    }

    /// `fd_filestat_set_size`: truncates or extends a file.
    pub fn fd_filestat_set_size(&mut self, fd: u32, size: u64) -> WasiResult<()> {
        let entry = self.fds.get_mut(fd)?;
        match entry.handle {
            Handle::Dir(_) => return Err(Errno::Isdir),
            Handle::Stream(_) => return Err(Errno::Inval),
            Handle::File(_) => {}
        }
        entry.require(rights::FD_FILESTAT_SET_SIZE)?;
        if size > i64::MAX as u64 {
            return Err(Errno::Fbig);
        }
        let f = entry.file()?;
        f.root.check_writable()?;
        f.file.set_len(size)
    }

    /// `fd_filestat_set_times`.
    pub fn fd_filestat_set_times(
        &mut self,
        fd: u32,
        atim: u64,
        mtim: u64,
        fst: u32,
    ) -> WasiResult<()> {
        let change = TimeChange::new(atim, mtim, fst)?;
        let entry = self.fds.get_mut(fd)?;
        entry.require(rights::FD_FILESTAT_SET_TIMES)?;
        match &mut entry.handle {
            Handle::Stream(_) => Err(Errno::Badf),
            Handle::File(f) => {
                f.root.check_writable()?;
                f.file.set_times(change)
            }
            Handle::Dir(d) => {
                d.dir.root.check_writable()?;
                d.dir.root.fs.set_times(&d.dir.checked_path()?, change)
            }
        }
    }

    /// The guest name of a preopen (`fd_prestat_get`, `fd_prestat_dir_name`); `EBADF`
    /// for any other descriptor.
    pub fn fd_prestat_name(&mut self, fd: u32) -> WasiResult<String> {
        match &self.fds.get(fd)?.handle {
            Handle::Dir(d) => d.preopen.clone().ok_or(Errno::Badf),
            _ => Err(Errno::Badf),
        }
    }

    /// `fd_readdir`: the dirent bytes from entry `cookie` on, cut at `buf_len` (a full
    /// buffer tells the guest to call again).
    pub fn fd_readdir(&mut self, fd: u32, cookie: u64, buf_len: usize) -> WasiResult<Vec<u8>> {
        let entry = self.fds.get(fd)?;
        let dir = match &entry.handle {
            Handle::Dir(d) => &d.dir,
            _ => return Err(Errno::Notdir),
        };
        entry.require(rights::FD_READDIR)?;
        let host = dir.checked_path()?;
        let own = dir.stat()?;
        // `..` of a preopen's root is the root itself: nothing above it is revealed.
        let parent = match dir.parent() {
            Some(parent) => parent.stat()?,
            None => own,
        };
        let mut entries = vec![
            DirEntry {
                name: b".".to_vec(),
                ino: own.ino,
                filetype: filetype::DIRECTORY,
            },
            DirEntry {
                name: b"..".to_vec(),
                ino: parent.ino,
                filetype: filetype::DIRECTORY,
            },
        ];
        // Sorted by name: a stable order, so cookies stay valid between calls.
        let mut listed = dir.root.fs.list(&host)?;
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        entries.extend(listed);
        let mut out = Vec::with_capacity(buf_len.min(64 << 10));
        let start = usize::try_from(cookie).unwrap_or(usize::MAX);
        for (i, e) in entries.iter().enumerate().skip(start) {
            if out.len() >= buf_len {
                break;
            }
            out.extend(dirent_bytes(i as u64 + 1, e.ino, e.filetype, &e.name));
        }
        out.truncate(buf_len);
        Ok(out)
    }

    /// Socket functions on an fd that exists: it is not a socket (none is ever granted).
    pub fn not_a_socket(&mut self, fd: u32) -> WasiResult<()> {
        self.fds.get(fd)?;
        Err(Errno::Notsock)
    }
}
