//! [`StdFs`]: the host's file system through Rust std. Natively (tests, the host runner)
//! that is the machine's own; in the guest under uhyve it is the hypervisor's file mapping.
//!
//! Where std lacks an operation on a platform (Hermit: symlinks, a symlink's own times) the
//! answer is `ENOSYS`.

use std::fs::{self, File, FileTimes, Metadata, OpenOptions};
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::abi::{filetype, Filestat};
use super::errno::{Errno, WasiResult};
use super::vfs::{DirEntry, FileHandle, FileSystem, OpenHow, TimeChange, TimeSet};

/// The host file system, reached through std.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

impl FileSystem for StdFs {
    fn lstat(&self, path: &Path) -> WasiResult<Option<Filestat>> {
        match fs::symlink_metadata(path) {
            Ok(meta) => Ok(Some(filestat_at(path, &meta))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn stat_root(&self, path: &Path) -> WasiResult<Filestat> {
        Ok(filestat_at(path, &fs::metadata(path)?))
    }

    fn read_link(&self, path: &Path) -> WasiResult<Vec<u8>> {
        Ok(name_bytes(fs::read_link(path)?.as_os_str()))
    }

    fn list(&self, path: &Path) -> WasiResult<Vec<DirEntry>> {
        let mut entries = Vec::new();
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            if matches!(entry.file_name().to_str(), Some(".") | Some("..")) {
                continue;
            }
            #[cfg(unix)]
            let ino = {
                use std::os::unix::fs::DirEntryExt;
                entry.ino()
            };
            #[cfg(not(unix))]
            let ino = self.lstat(&entry.path())?.map_or(0, |stat| stat.ino);
            let mut filetype = entry
                .file_type()
                .map(filetype_of)
                .unwrap_or(filetype::UNKNOWN);
            if filetype == filetype::UNKNOWN {
                if let Ok(meta) = fs::symlink_metadata(entry.path()) {
                    filetype = filetype_of(meta.file_type());
                }
            }
            entries.push(DirEntry {
                name: name_bytes(&entry.file_name()),
                ino,
                filetype,
            });
        }
        Ok(entries)
    }

    fn open(&self, path: &Path, how: OpenHow) -> WasiResult<Box<dyn FileHandle>> {
        let file = OpenOptions::new()
            .read(how.read)
            .write(how.write)
            .create_new(how.create_new)
            .truncate(how.truncate)
            .open(path)?;
        Ok(Box::new(StdFile {
            file,
            #[cfg(target_os = "hermit")]
            path: path.to_path_buf(),
        }))
    }

    fn create_dir(&self, path: &Path) -> WasiResult<()> {
        Ok(fs::create_dir(path)?)
    }

    fn remove_dir(&self, path: &Path) -> WasiResult<()> {
        Ok(fs::remove_dir(path)?)
    }

    fn remove_file(&self, path: &Path) -> WasiResult<()> {
        Ok(fs::remove_file(path)?)
    }

    fn rename(&self, from: &Path, to: &Path) -> WasiResult<()> {
        Ok(fs::rename(from, to)?)
    }

    fn hard_link(&self, from: &Path, to: &Path) -> WasiResult<()> {
        Ok(fs::hard_link(from, to)?)
    }

    fn symlink(&self, target: &str, path: &Path) -> WasiResult<()> {
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(target, path)?;
            Ok(())
        }
        #[cfg(not(unix))]
        {
            let _ = (target, path);
            Err(Errno::Nosys)
        }
    }

    fn set_times(&self, path: &Path, change: TimeChange) -> WasiResult<()> {
        set_path_times(path, change)
    }

    fn sync_dir(&self, path: &Path, data_only: bool) -> WasiResult<()> {
        let dir = File::open(path)?;
        if data_only {
            dir.sync_data()?;
        } else {
            dir.sync_all()?;
        }
        Ok(())
    }
}

/// An open host file.
#[derive(Debug)]
pub struct StdFile {
    file: File,
    /// Its path, for the kernel's `lstat` (std on Hermit reports no inode numbers).
    #[cfg(target_os = "hermit")]
    path: std::path::PathBuf,
}

impl FileHandle for StdFile {
    fn read_at(&mut self, len: usize, offset: u64) -> WasiResult<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let mut done = 0;
        while done < len {
            match read_at(&mut self.file, &mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
        buf.truncate(done);
        Ok(buf)
    }

    fn write_at(&mut self, data: &[u8], offset: u64) -> WasiResult<()> {
        write_all_at(&mut self.file, data, offset)?;
        Ok(())
    }

    fn stat(&mut self) -> WasiResult<Filestat> {
        let meta = self.file.metadata()?;
        #[cfg(target_os = "hermit")]
        return Ok(filestat_at(&self.path, &meta));
        #[cfg(not(target_os = "hermit"))]
        Ok(filestat_of(&meta))
    }

    fn set_len(&mut self, len: u64) -> WasiResult<()> {
        Ok(self.file.set_len(len)?)
    }

    fn set_times(&mut self, change: TimeChange) -> WasiResult<()> {
        if change.is_empty() {
            return Ok(());
        }
        Ok(self.file.set_times(file_times(change)?)?)
    }

    fn sync(&mut self, data_only: bool) -> WasiResult<()> {
        if data_only {
            self.file.sync_data()?;
        } else {
            self.file.sync_all()?;
        }
        Ok(())
    }

    fn allocate(&mut self, offset: u64, len: u64) -> WasiResult<()> {
        let end = offset.checked_add(len).ok_or(Errno::Fbig)?;
        if end > i64::MAX as u64 {
            return Err(Errno::Fbig);
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: plain system call on a descriptor owned by `self.file`.
            let rc = unsafe {
                libc::posix_fallocate(
                    self.file.as_raw_fd(),
                    offset as libc::off_t,
                    len as libc::off_t,
                )
            };
            match rc {
                0 => return Ok(()),
                // The file system cannot reserve blocks: fall back to growing the file.
                libc::EOPNOTSUPP => {}
                code => return Err(io::Error::from_raw_os_error(code).into()),
            }
        }
        if self.file.metadata()?.len() < end {
            self.file.set_len(end)?;
        }
        Ok(())
    }

    fn advise(&mut self, offset: u64, len: u64, advice: u8) -> WasiResult<()> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let advice = match advice {
                0 => libc::POSIX_FADV_NORMAL,
                1 => libc::POSIX_FADV_SEQUENTIAL,
                2 => libc::POSIX_FADV_RANDOM,
                3 => libc::POSIX_FADV_WILLNEED,
                4 => libc::POSIX_FADV_DONTNEED,
                5 => libc::POSIX_FADV_NOREUSE,
                _ => return Err(Errno::Inval),
            };
            let offset = libc::off_t::try_from(offset).map_err(|_| Errno::Inval)?;
            let len = libc::off_t::try_from(len).map_err(|_| Errno::Inval)?;
            // SAFETY: plain system call on a descriptor owned by `self.file`.
            let rc = unsafe { libc::posix_fadvise(self.file.as_raw_fd(), offset, len, advice) };
            match rc {
                0 => Ok(()),
                // Some file systems refuse advice; it stays a hint.
                libc::ESPIPE | libc::EINVAL => Ok(()),
                code => Err(io::Error::from_raw_os_error(code).into()),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            // A hint the platform has no way to take: accepted without effect.
            let _ = (offset, len);
            if advice > super::abi::ADVICE_MAX {
                return Err(Errno::Inval);
            }
            Ok(())
        }
    }
}

#[cfg(unix)]
fn read_at(file: &mut File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    file.read_at(buf, offset)
}

#[cfg(not(unix))]
fn read_at(file: &mut File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    file.read(buf)
}

#[cfg(unix)]
fn write_all_at(file: &mut File, data: &[u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(data, offset)
}

#[cfg(not(unix))]
fn write_all_at(file: &mut File, data: &[u8], offset: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(data)
}

fn system_time(t: TimeSet) -> WasiResult<Option<SystemTime>> {
    Ok(match t {
        TimeSet::Keep => None,
        TimeSet::Now => Some(SystemTime::now()),
        TimeSet::At(ns) => Some(
            UNIX_EPOCH
                .checked_add(Duration::from_nanos(ns))
                .ok_or(Errno::Overflow)?,
        ),
    })
}

fn file_times(change: TimeChange) -> WasiResult<FileTimes> {
    let mut times = FileTimes::new();
    if let Some(a) = system_time(change.atime)? {
        times = times.set_accessed(a);
    }
    if let Some(m) = system_time(change.mtime)? {
        times = times.set_modified(m);
    }
    Ok(times)
}

/// Sets the times of the entry at `path` itself (a symlink is not followed).
#[cfg(unix)]
fn set_path_times(path: &Path, change: TimeChange) -> WasiResult<()> {
    use std::os::unix::ffi::OsStrExt;
    if change.is_empty() {
        return Ok(());
    }
    let spec = |t: TimeSet| -> WasiResult<libc::timespec> {
        Ok(match t {
            TimeSet::Keep => libc::timespec {
                tv_sec: 0,
                tv_nsec: libc::UTIME_OMIT,
            },
            TimeSet::Now => libc::timespec {
                tv_sec: 0,
                tv_nsec: libc::UTIME_NOW,
            },
            TimeSet::At(ns) => libc::timespec {
                tv_sec: libc::time_t::try_from(ns / 1_000_000_000).map_err(|_| Errno::Overflow)?,
                tv_nsec: (ns % 1_000_000_000) as _,
            },
        })
    };
    let times = [spec(change.atime)?, spec(change.mtime)?];
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::Inval)?;
    // SAFETY: `c_path` is NUL-terminated and `times` holds two timespecs, as utimensat
    // requires; neither is retained after the call.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error().into());
    }
    Ok(())
}

/// Sets the times of the entry at `path` itself. Without `utimensat`, a symlink's own
/// times cannot be set (`ENOSYS`); other entries are opened and set through the handle.
#[cfg(not(unix))]
fn set_path_times(path: &Path, change: TimeChange) -> WasiResult<()> {
    if change.is_empty() {
        return Ok(());
    }
    let meta = fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Err(Errno::Nosys);
    }
    let file = File::open(path).or_else(|_| OpenOptions::new().write(true).open(path))?;
    Ok(file.set_times(file_times(change)?)?)
}

/// The WASI file type of a host file type.
pub fn filetype_of(ft: fs::FileType) -> u8 {
    if ft.is_dir() {
        return filetype::DIRECTORY;
    }
    if ft.is_file() {
        return filetype::REGULAR_FILE;
    }
    if ft.is_symlink() {
        return filetype::SYMBOLIC_LINK;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_block_device() {
            return filetype::BLOCK_DEVICE;
        }
        if ft.is_char_device() {
            return filetype::CHARACTER_DEVICE;
        }
        if ft.is_socket() {
            return filetype::SOCKET_STREAM;
        }
    }
    filetype::UNKNOWN
}

/// The WASI `filestat` of host metadata.
#[cfg(unix)]
pub fn filestat_of(meta: &Metadata) -> Filestat {
    use std::os::unix::fs::MetadataExt;
    let ts = |secs: i64, ns: i64| -> u64 {
        if secs < 0 {
            0
        } else {
            (secs as u64)
                .saturating_mul(1_000_000_000)
                .saturating_add(ns as u64)
        }
    };
    Filestat {
        dev: meta.dev(),
        ino: meta.ino(),
        filetype: filetype_of(meta.file_type()),
        nlink: meta.nlink(),
        size: meta.len(),
        atim: ts(meta.atime(), meta.atime_nsec()),
        mtim: ts(meta.mtime(), meta.mtime_nsec()),
        ctim: ts(meta.ctime(), meta.ctime_nsec()),
    }
}

/// The WASI `filestat` of host metadata. Hermit's std exposes no device, inode or link
/// count: they read as 0, 0 and 1; the change time is the creation time if known.
#[cfg(not(unix))]
pub fn filestat_of(meta: &Metadata) -> Filestat {
    let nanos = |t: io::Result<SystemTime>| -> u64 {
        t.ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    };
    Filestat {
        dev: 0,
        ino: 0,
        filetype: filetype_of(meta.file_type()),
        nlink: 1,
        size: meta.len(),
        atim: nanos(meta.accessed()),
        mtim: nanos(meta.modified()),
        ctim: nanos(meta.created().or_else(|_| meta.modified())),
    }
}

/// The `filestat` of the entry at `path`, whose metadata is `meta`; in the guest the
/// device, inode and link count come from the kernel's own `lstat`.
fn filestat_at(path: &Path, meta: &Metadata) -> Filestat {
    #[allow(unused_mut)]
    let mut stat = filestat_of(meta);
    #[cfg(target_os = "hermit")]
    if let Some(name) = path.to_str().and_then(|p| std::ffi::CString::new(p).ok()) {
        // SAFETY: `name` is a valid C string; `raw` is plain data the kernel fills in.
        let mut raw: hermit_abi::stat = unsafe { core::mem::zeroed() };
        if unsafe { hermit_abi::lstat(name.as_ptr(), &mut raw) } == 0 {
            stat.dev = raw.st_dev;
            stat.ino = raw.st_ino;
            stat.nlink = raw.st_nlink.max(1);
        }
    }
    #[cfg(not(target_os = "hermit"))]
    let _ = path;
    stat
}

/// The bytes of a file name.
fn name_bytes(name: &std::ffi::OsStr) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        name.as_bytes().to_vec()
    }
    #[cfg(target_os = "hermit")]
    {
        use std::os::hermit::ffi::OsStrExt;
        name.as_bytes().to_vec()
    }
    #[cfg(not(any(unix, target_os = "hermit")))]
    {
        name.to_string_lossy().into_owned().into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positioned_io_and_sizes() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("f");
        let how = OpenHow {
            read: true,
            write: true,
            create_new: true,
            truncate: false,
        };
        let mut f = StdFs.open(&path, how).unwrap();
        f.write_at(b"hello", 0).unwrap();
        f.write_at(b"J", 0).unwrap();
        assert_eq!(f.read_at(10, 0).unwrap(), b"Jello");
        assert_eq!(f.read_at(10, 3).unwrap(), b"lo");
        f.write_at(b"!", 7).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"Jello\0\0!");
        f.allocate(4, 10).unwrap();
        assert_eq!(f.stat().unwrap().size, 14);
        f.allocate(0, 2).unwrap();
        assert_eq!(f.stat().unwrap().size, 14);
        f.set_len(3).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"Jel");
        assert_eq!(StdFs.open(&path, how).unwrap_err(), Errno::Exist);
    }

    #[test]
    fn listing_skips_dot_entries() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("b"), b"").unwrap();
        fs::create_dir(t.path().join("a")).unwrap();
        let mut names: Vec<_> = StdFs
            .list(t.path())
            .unwrap()
            .into_iter()
            .map(|e| (String::from_utf8(e.name).unwrap(), e.filetype))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ("a".to_string(), filetype::DIRECTORY),
                ("b".to_string(), filetype::REGULAR_FILE),
            ]
        );
        assert_eq!(StdFs.lstat(&t.path().join("zz")).unwrap(), None);
    }
}
