//! Host file-system primitives that differ between Unix (native tests) and Hermit:
//! metadata conversion, positioned I/O, time setting, directory listing, symlinks.
//!
//! Where std on Hermit lacks an operation (symlinks, hard links, setting times) the
//! host error is `Unsupported`, which maps to `ENOSYS`.

use std::fs::{self, File, FileTimes, Metadata};

use super::host_file::HostFile;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::abi::{filetype, fstflags, Filestat};
use super::errno::{Errno, WasiResult};

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

/// Nanoseconds since the epoch of a host timestamp (0 when unknown or before 1970).
#[cfg(not(unix))]
fn nanos(t: io::Result<SystemTime>) -> u64 {
    t.ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
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

/// The `filestat` of the entry at `path` (not following a last symlink), whose metadata is
/// `meta`. In the guest, std's metadata lacks the device, inode and link count; the
/// kernel's own `lstat` has them.
pub fn filestat_at(path: &Path, meta: &Metadata) -> Filestat {
    #[allow(unused_mut)]
    let mut stat = filestat_of(meta);
    #[cfg(target_os = "hermit")]
    if let Some(ids) = hermit_ids::of_path(path) {
        ids.apply(&mut stat);
    }
    #[cfg(not(target_os = "hermit"))]
    let _ = path;
    stat
}

/// The `filestat` of an open file (with the kernel's ids in the guest, as `filestat_at`).
pub fn file_filestat(file: &HostFile) -> WasiResult<Filestat> {
    #[allow(unused_mut)]
    let mut stat = filestat_of(&file.metadata()?);
    #[cfg(target_os = "hermit")]
    if let Some(ids) = hermit_ids::of_file(file.std()) {
        ids.apply(&mut stat);
    }
    Ok(stat)
}

/// Device, inode and link count from the Hermit kernel's `lstat` / `fstat`.
#[cfg(target_os = "hermit")]
mod hermit_ids {
    use std::fs::File;
    use std::os::hermit::io::AsRawFd;
    use std::path::Path;

    use super::Filestat;

    pub struct Ids {
        dev: u64,
        ino: u64,
        nlink: u64,
    }

    impl Ids {
        fn of(stat: &hermit_abi::stat) -> Ids {
            Ids {
                dev: stat.st_dev,
                ino: stat.st_ino,
                nlink: stat.st_nlink.max(1),
            }
        }

        pub fn apply(&self, stat: &mut Filestat) {
            stat.dev = self.dev;
            stat.ino = self.ino;
            stat.nlink = self.nlink;
        }
    }

    pub fn of_path(path: &Path) -> Option<Ids> {
        let name = std::ffi::CString::new(path.to_str()?).ok()?;
        // SAFETY: `name` is a valid C string; `stat` is plain data the kernel fills in.
        let mut stat: hermit_abi::stat = unsafe { core::mem::zeroed() };
        let rc = unsafe { hermit_abi::lstat(name.as_ptr(), &mut stat) };
        (rc == 0).then(|| Ids::of(&stat))
    }

    pub fn of_file(file: &File) -> Option<Ids> {
        // SAFETY: as above, on a descriptor `file` owns.
        let mut stat: hermit_abi::stat = unsafe { core::mem::zeroed() };
        let rc = unsafe { hermit_abi::fstat(file.as_raw_fd(), &mut stat) };
        (rc == 0).then(|| Ids::of(&stat))
    }
}

/// Reads until `len` bytes or end of file (one short read is not the end).
pub fn read_full(file: &mut HostFile, len: usize) -> WasiResult<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        match file.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
    buf.truncate(done);
    Ok(buf)
}

/// Reads up to `len` bytes at `offset` without moving the file position.
pub fn read_at(file: &mut HostFile, len: usize, offset: u64) -> WasiResult<Vec<u8>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; len];
        let mut done = 0;
        while done < len {
            match file.std().read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
        buf.truncate(done);
        Ok(buf)
    }
    #[cfg(not(unix))]
    {
        let saved = file.stream_position()?;
        file.seek(SeekFrom::Start(offset))?;
        let result = read_full(file, len);
        file.seek(SeekFrom::Start(saved))?;
        result
    }
}

/// Writes all of `data` at `offset` without moving the file position.
pub fn write_at(file: &mut HostFile, data: &[u8], offset: u64) -> WasiResult<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.std().write_all_at(data, offset)?;
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let saved = file.stream_position()?;
        file.seek(SeekFrom::Start(offset))?;
        let result = file.write_all(data);
        file.seek(SeekFrom::Start(saved))?;
        Ok(result?)
    }
}

/// Writes all of `data` at the current position (or at the end for `append`).
pub fn write(file: &mut HostFile, data: &[u8], append: bool) -> WasiResult<()> {
    if append {
        file.seek(SeekFrom::End(0))?;
    }
    file.write_all(data)?;
    Ok(())
}

/// Which times to set, decoded from `$fstflags` (`EINVAL` for contradictory flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeChange {
    pub atime: Option<SystemTime>,
    pub mtime: Option<SystemTime>,
}

impl TimeChange {
    /// Decodes `fst_flags` with the given timestamps.
    pub fn new(atim: u64, mtim: u64, flags: u32) -> WasiResult<TimeChange> {
        let flags = u16::try_from(flags).map_err(|_| Errno::Inval)?;
        if flags & !fstflags::ALL != 0 {
            return Err(Errno::Inval);
        }
        let pick = |set: u16, now: u16, t: u64| -> WasiResult<Option<SystemTime>> {
            match (flags & set != 0, flags & now != 0) {
                (true, true) => Err(Errno::Inval),
                (true, false) => UNIX_EPOCH
                    .checked_add(Duration::from_nanos(t))
                    .map(Some)
                    .ok_or(Errno::Overflow),
                (false, true) => Ok(Some(SystemTime::now())),
                (false, false) => Ok(None),
            }
        };
        Ok(TimeChange {
            atime: pick(fstflags::ATIM, fstflags::ATIM_NOW, atim)?,
            mtime: pick(fstflags::MTIM, fstflags::MTIM_NOW, mtim)?,
        })
    }

    fn times(&self) -> FileTimes {
        let mut times = FileTimes::new();
        if let Some(a) = self.atime {
            times = times.set_accessed(a);
        }
        if let Some(m) = self.mtime {
            times = times.set_modified(m);
        }
        times
    }

    /// Whether nothing is to change.
    pub fn is_empty(&self) -> bool {
        self.atime.is_none() && self.mtime.is_none()
    }
}

/// Sets times through an open file.
pub fn set_file_times(file: &File, change: TimeChange) -> WasiResult<()> {
    if change.is_empty() {
        return Ok(());
    }
    file.set_times(change.times())?;
    Ok(())
}

/// Sets the times of the entry at `path` itself (a symlink is not followed).
#[cfg(unix)]
pub fn set_path_times(path: &Path, change: TimeChange) -> WasiResult<()> {
    use std::os::unix::ffi::OsStrExt;
    if change.is_empty() {
        return Ok(());
    }
    let spec = |t: Option<SystemTime>| -> WasiResult<libc::timespec> {
        Ok(match t {
            None => libc::timespec {
                tv_sec: 0,
                tv_nsec: libc::UTIME_OMIT,
            },
            Some(t) => {
                let d = t.duration_since(UNIX_EPOCH).map_err(|_| Errno::Inval)?;
                libc::timespec {
                    tv_sec: libc::time_t::try_from(d.as_secs()).map_err(|_| Errno::Overflow)?,
                    tv_nsec: d.subsec_nanos().into(),
                }
            }
        })
    };
    let times = [spec(change.atime)?, spec(change.mtime)?];
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::Inval)?;
    // SAFETY: `c_path` is NUL-terminated and `times` holds two timespecs, as
    // utimensat requires; neither is retained after the call.
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
pub fn set_path_times(path: &Path, change: TimeChange) -> WasiResult<()> {
    if change.is_empty() {
        return Ok(());
    }
    let meta = fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Err(Errno::Nosys);
    }
    let file = File::open(path).or_else(|_| fs::OpenOptions::new().write(true).open(path))?;
    set_file_times(&file, change)
}

/// Advises the host about an access pattern (advice is a hint; the host may ignore it).
#[cfg(target_os = "linux")]
pub fn advise(file: &HostFile, offset: u64, len: u64, advice: u8) -> WasiResult<()> {
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
    // SAFETY: plain system call on a descriptor owned by `file`.
    let rc = unsafe { libc::posix_fadvise(file.std().as_raw_fd(), offset, len, advice) };
    match rc {
        0 => Ok(()),
        // Some file systems (e.g. pipes, overlay quirks) refuse advice; it stays a hint.
        libc::ESPIPE | libc::EINVAL => Ok(()),
        code => Err(io::Error::from_raw_os_error(code).into()),
    }
}

/// Advice is a hint the platform has no way to take: accepted without effect, as
/// POSIX allows.
#[cfg(not(target_os = "linux"))]
pub fn advise(_file: &HostFile, _offset: u64, _len: u64, advice: u8) -> WasiResult<()> {
    if advice > super::abi::ADVICE_MAX {
        return Err(Errno::Inval);
    }
    Ok(())
}

/// Makes sure the byte range `[offset, offset + len)` is allocated: the file grows to
/// at least `offset + len` bytes.
pub fn allocate(file: &mut HostFile, offset: u64, len: u64) -> WasiResult<()> {
    let end = offset.checked_add(len).ok_or(Errno::Fbig)?;
    if end > i64::MAX as u64 {
        return Err(Errno::Fbig);
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: plain system call on a descriptor owned by `file`.
        let rc = unsafe {
            libc::posix_fallocate(
                file.std().as_raw_fd(),
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
    if file.metadata()?.len() < end {
        file.set_len(end)?;
    }
    Ok(())
}

/// The bytes of a file name.
pub fn name_bytes(name: &std::ffi::OsStr) -> Vec<u8> {
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

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    pub filetype: u8,
}

/// Lists `dir`: `.` and `..` first, then the entries sorted by name (a stable order, so
/// cookies stay valid between calls). `parent` is the host path of `..` (the
/// directory itself at a root, so nothing above the root is revealed).
pub fn list_dir(dir: &Path, parent: &Path) -> WasiResult<Vec<DirEntry>> {
    let ino = |p: &Path| -> WasiResult<u64> { Ok(filestat_at(p, &fs::metadata(p)?).ino) };
    let mut entries = vec![
        DirEntry {
            name: b".".to_vec(),
            ino: ino(dir)?,
            filetype: filetype::DIRECTORY,
        },
        DirEntry {
            name: b"..".to_vec(),
            ino: ino(parent)?,
            filetype: filetype::DIRECTORY,
        },
    ];
    let mut rest = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        // Hermit's std passes on the `.` and `..` that a virtio-fs directory lists.
        if matches!(entry.file_name().to_str(), Some(".") | Some("..")) {
            continue;
        }
        #[cfg(unix)]
        let ino = {
            use std::os::unix::fs::DirEntryExt;
            entry.ino()
        };
        #[cfg(target_os = "hermit")]
        let ino = hermit_ids::of_path(&entry.path()).map_or(0, |ids| {
            let mut stat = Filestat::default();
            ids.apply(&mut stat);
            stat.ino
        });
        #[cfg(not(any(unix, target_os = "hermit")))]
        let ino = 0;
        let mut filetype = entry
            .file_type()
            .map(filetype_of)
            .unwrap_or(filetype::UNKNOWN);
        // Hermit's std does not get the type from a virtio-fs listing: ask for it.
        if filetype == filetype::UNKNOWN {
            if let Ok(meta) = fs::symlink_metadata(entry.path()) {
                filetype = filetype_of(meta.file_type());
            }
        }
        rest.push(DirEntry {
            name: name_bytes(&entry.file_name()),
            ino,
            filetype,
        });
    }
    rest.sort_by(|a, b| a.name.cmp(&b.name));
    entries.extend(rest);
    Ok(entries)
}

/// Removes the empty directory at `path`.
pub fn remove_dir(path: &Path) -> WasiResult<()> {
    fs::remove_dir(path)?;
    // Kernel 0.11's virtio-fs client reports success whatever the host answered.
    #[cfg(target_os = "hermit")]
    if fs::symlink_metadata(path).is_ok() {
        let empty = fs::read_dir(path)?
            .filter_map(Result::ok)
            .all(|e| matches!(e.file_name().to_str(), Some(".") | Some("..")));
        return Err(if empty { Errno::Acces } else { Errno::Notempty });
    }
    Ok(())
}

/// Removes the file (or symlink) at `path`.
pub fn remove_file(path: &Path) -> WasiResult<()> {
    fs::remove_file(path)?;
    // As for `remove_dir`: the guest kernel does not pass on the host's refusal.
    #[cfg(target_os = "hermit")]
    if fs::symlink_metadata(path).is_ok() {
        return Err(Errno::Acces);
    }
    Ok(())
}

/// Creates a symlink at `link` whose content is `target`.
pub fn symlink(target: &str, link: &Path) -> WasiResult<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(target, link)?;
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let _ = (target, link);
        Err(Errno::Nosys)
    }
}

/// The content of the symlink at `path`.
pub fn read_link(path: &Path) -> WasiResult<Vec<u8>> {
    let target = fs::read_link(path)?;
    Ok(name_bytes(target.as_os_str()))
}

/// Opens a directory's host handle (for syncing or setting its times).
pub fn open_dir(path: &Path) -> WasiResult<File> {
    Ok(File::open(path)?)
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
        let c = TimeChange::new(1, 2, u32::from(MTIM)).unwrap();
        assert_eq!(c.atime, None);
        assert_eq!(c.mtime, Some(UNIX_EPOCH + Duration::from_nanos(2)));
        assert!(TimeChange::new(1, 2, 0).unwrap().is_empty());
    }

    #[test]
    fn positioned_io_keeps_the_cursor() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("f");
        let mut f = HostFile::open(
            &path,
            fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true),
            true,
        )
        .unwrap();
        write(&mut f, b"hello", false).unwrap();
        write_at(&mut f, b"J", 0).unwrap();
        assert_eq!(f.stream_position().unwrap(), 5);
        assert_eq!(read_at(&mut f, 10, 0).unwrap(), b"Jello");
        write(&mut f, b"!", true).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"Jello!");
        allocate(&mut f, 4, 10).unwrap();
        assert_eq!(f.metadata().unwrap().len(), 14);
        allocate(&mut f, 0, 2).unwrap();
        assert_eq!(f.metadata().unwrap().len(), 14);
    }

    #[test]
    fn listing_is_sorted_after_dot_entries() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("b"), b"").unwrap();
        fs::create_dir(t.path().join("a")).unwrap();
        let names: Vec<_> = list_dir(t.path(), t.path())
            .unwrap()
            .into_iter()
            .map(|e| (String::from_utf8(e.name).unwrap(), e.filetype))
            .collect();
        assert_eq!(
            names,
            [
                (".".to_string(), filetype::DIRECTORY),
                ("..".to_string(), filetype::DIRECTORY),
                ("a".to_string(), filetype::DIRECTORY),
                ("b".to_string(), filetype::REGULAR_FILE),
            ]
        );
    }
}
