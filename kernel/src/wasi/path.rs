//! Path operations (the `path_*` functions) on a [`WasiCtx`].
//!
//! Paths are resolved by [`sandbox::resolve`] relative to a directory descriptor; the
//! host only ever sees the resulting symlink-free path inside the preopen. Changes are
//! refused on read-only preopens before the host is touched.

use std::sync::Arc;

use super::abi::{fdflags, filetype, lookupflags, oflags, rights, Filestat};
use super::errno::{Errno, WasiResult};
use super::fd_table::{FdEntry, Handle, OpenDir, OpenFile};
use super::sandbox::{self, DirRef, Resolved};
use super::vfs::{OpenHow, TimeChange};
use super::WasiCtx;

impl WasiCtx {
    /// The directory behind `fd` (`ENOTDIR` if it is something else) after checking
    /// `right`, with the descriptor's inheriting rights.
    fn dir_fd(&self, fd: u32, right: u64) -> WasiResult<(DirRef, u64)> {
        let entry = self.fds.get(fd)?;
        let dir = match &entry.handle {
            Handle::Dir(d) => d.dir.clone(),
            _ => return Err(Errno::Notdir),
        };
        entry.require(right)?;
        Ok((dir, entry.rights_inheriting))
    }

    /// Resolves `path` under directory `fd` after checking `right`.
    fn resolve_at(&self, fd: u32, right: u64, path: &str, follow: bool) -> WasiResult<Resolved> {
        let (dir, _) = self.dir_fd(fd, right)?;
        sandbox::resolve(&dir, path, follow)
    }

    /// `path_open`: opens (and possibly creates or truncates) a file or directory.
    #[allow(clippy::too_many_arguments)]
    pub fn path_open(
        &mut self,
        fd: u32,
        dirflags: u32,
        path: &str,
        oflags: u32,
        base: u64,
        inheriting: u64,
        fdflags: u32,
    ) -> WasiResult<u32> {
        let oflags = u16::try_from(oflags)
            .ok()
            .filter(|o| o & !oflags::ALL == 0)
            .ok_or(Errno::Inval)?;
        let fdflags = u16::try_from(fdflags)
            .ok()
            .filter(|f| f & !fdflags::ALL == 0)
            .ok_or(Errno::Inval)?;
        let creat = oflags & oflags::CREAT != 0;
        let excl = oflags & oflags::EXCL != 0;
        let trunc = oflags & oflags::TRUNC != 0;
        let want_dir = oflags & oflags::DIRECTORY != 0;

        let mut needed = rights::PATH_OPEN;
        if creat {
            needed |= rights::PATH_CREATE_FILE;
        }
        if trunc {
            needed |= rights::PATH_FILESTAT_SET_SIZE;
        }
        let (dir, dir_inheriting) = self.dir_fd(fd, needed)?;
        // A trailing slash asks for the directory a final symlink names, as in POSIX.
        let follow = dirflags & lookupflags::SYMLINK_FOLLOW != 0 || path.ends_with('/');
        let resolved = sandbox::resolve(&dir, path, follow)?;
        let root = resolved.root.clone();

        let wants_write = base & rights::WRITE_ACCESS != 0;
        let wants_read = base & (rights::FD_READ | rights::FD_READDIR) != 0;
        if creat || trunc || wants_write || fdflags & fdflags::APPEND != 0 {
            root.check_writable()?;
        }

        let host = resolved.host_path();
        let existing = resolved.lstat()?;
        let meta = match existing {
            Some(meta) => {
                if creat && excl {
                    return Err(Errno::Exist);
                }
                if meta.is_symlink() {
                    // Only reached when not following: O_NOFOLLOW semantics.
                    return Err(Errno::Loop);
                }
                if meta.is_dir() {
                    if trunc || wants_write {
                        return Err(Errno::Isdir);
                    }
                    let entry = FdEntry {
                        handle: Handle::Dir(OpenDir {
                            dir: resolved.as_dir_ref(),
                            preopen: None,
                        }),
                        rights_base: base & dir_inheriting & rights::DIRECTORY,
                        rights_inheriting: inheriting & dir_inheriting,
                        flags: fdflags,
                    };
                    return self.fds.insert(entry);
                }
                if want_dir || resolved.trailing_slash {
                    return Err(Errno::Notdir);
                }
                Some(meta)
            }
            None => {
                if !creat {
                    return Err(Errno::Noent);
                }
                if want_dir {
                    return Err(Errno::Inval);
                }
                if resolved.trailing_slash || resolved.name.is_none() {
                    return Err(Errno::Isdir);
                }
                None
            }
        };

        let create = meta.is_none();
        let write = wants_write || create || trunc;
        let file = root.fs.open(
            &host,
            OpenHow {
                read: wants_read || !write,
                write,
                create_new: create,
                truncate: trunc,
            },
        )?;
        // What `lstat` said (a final symlink was followed or refused above); a new file is
        // a regular one.
        let filetype = meta.map_or(filetype::REGULAR_FILE, |meta| meta.filetype);
        let entry = FdEntry {
            handle: Handle::File(OpenFile {
                file,
                pos: 0,
                root,
                filetype,
            }),
            rights_base: base & dir_inheriting & rights::FILE,
            rights_inheriting: inheriting & dir_inheriting,
            flags: fdflags,
        };
        self.fds.insert(entry)
    }

    /// `path_create_directory`.
    pub fn path_create_directory(&mut self, fd: u32, path: &str) -> WasiResult<()> {
        let resolved = self.resolve_at(fd, rights::PATH_CREATE_DIRECTORY, path, false)?;
        if resolved.name.is_none() {
            return Err(Errno::Exist);
        }
        resolved.root.check_writable()?;
        resolved.root.fs.create_dir(&resolved.host_path())
    }

    /// `path_filestat_get`.
    pub fn path_filestat_get(&mut self, fd: u32, flags: u32, path: &str) -> WasiResult<Filestat> {
        let follow = flags & lookupflags::SYMLINK_FOLLOW != 0 || path.ends_with('/');
        let resolved = self.resolve_at(fd, rights::PATH_FILESTAT_GET, path, follow)?;
        let meta = resolved.lstat()?.ok_or(Errno::Noent)?;
        if resolved.trailing_slash && !meta.is_dir() {
            return Err(Errno::Notdir);
        }
        Ok(meta)
    }

    /// `path_filestat_set_times`.
    #[allow(clippy::too_many_arguments)]
    pub fn path_filestat_set_times(
        &mut self,
        fd: u32,
        flags: u32,
        path: &str,
        atim: u64,
        mtim: u64,
        fst: u32,
    ) -> WasiResult<()> {
        let change = TimeChange::new(atim, mtim, fst)?;
        let follow = flags & lookupflags::SYMLINK_FOLLOW != 0;
        let resolved = self.resolve_at(fd, rights::PATH_FILESTAT_SET_TIMES, path, follow)?;
        let meta = resolved.lstat()?.ok_or(Errno::Noent)?;
        if resolved.trailing_slash && !meta.is_dir() {
            return Err(Errno::Notdir);
        }
        resolved.root.check_writable()?;
        resolved.root.fs.set_times(&resolved.host_path(), change)
    }

    /// `path_link`: a hard link `new_path` to `old_path`.
    pub fn path_link(
        &mut self,
        old_fd: u32,
        old_flags: u32,
        old_path: &str,
        new_fd: u32,
        new_path: &str,
    ) -> WasiResult<()> {
        let follow = old_flags & lookupflags::SYMLINK_FOLLOW != 0;
        let old = self.resolve_at(old_fd, rights::PATH_LINK_SOURCE, old_path, follow)?;
        let new = self.resolve_at(new_fd, rights::PATH_LINK_TARGET, new_path, false)?;
        // A link out of a read-only preopen would make its file writable elsewhere.
        old.root.check_writable()?;
        new.root.check_writable()?;
        let old_meta = old.lstat()?.ok_or(Errno::Noent)?;
        if old_meta.is_dir() {
            return Err(Errno::Perm);
        }
        if old.trailing_slash {
            return Err(Errno::Notdir);
        }
        check_new_entry(&new)?;
        same_fs(&old, &new)?;
        old.root.fs.hard_link(&old.host_path(), &new.host_path())
    }

    /// `path_readlink`: the content of a symlink.
    pub fn path_readlink(&mut self, fd: u32, path: &str) -> WasiResult<Vec<u8>> {
        let resolved = self.resolve_at(fd, rights::PATH_READLINK, path, false)?;
        if resolved.name.is_none() {
            return Err(Errno::Inval);
        }
        let meta = resolved.lstat()?.ok_or(Errno::Noent)?;
        if !meta.is_symlink() {
            return Err(Errno::Inval);
        }
        resolved.root.fs.read_link(&resolved.host_path())
    }

    /// `path_remove_directory`: removes an empty directory.
    pub fn path_remove_directory(&mut self, fd: u32, path: &str) -> WasiResult<()> {
        let resolved = self.resolve_at(fd, rights::PATH_REMOVE_DIRECTORY, path, false)?;
        if resolved.name.is_none() {
            return Err(Errno::Inval);
        }
        resolved.root.check_writable()?;
        let meta = resolved.lstat()?.ok_or(Errno::Noent)?;
        if !meta.is_dir() {
            return Err(Errno::Notdir);
        }
        resolved.root.fs.remove_dir(&resolved.host_path())
    }

    /// `path_unlink_file`: removes a non-directory entry.
    pub fn path_unlink_file(&mut self, fd: u32, path: &str) -> WasiResult<()> {
        let resolved = self.resolve_at(fd, rights::PATH_UNLINK_FILE, path, false)?;
        if resolved.name.is_none() {
            return Err(Errno::Isdir);
        }
        resolved.root.check_writable()?;
        let meta = resolved.lstat()?.ok_or(Errno::Noent)?;
        if meta.is_dir() {
            return Err(Errno::Isdir);
        }
        if resolved.trailing_slash {
            return Err(Errno::Notdir);
        }
        resolved.root.fs.remove_file(&resolved.host_path())
    }

    /// `path_rename`.
    pub fn path_rename(
        &mut self,
        fd: u32,
        old_path: &str,
        new_fd: u32,
        new_path: &str,
    ) -> WasiResult<()> {
        let old = self.resolve_at(fd, rights::PATH_RENAME_SOURCE, old_path, false)?;
        let new = self.resolve_at(new_fd, rights::PATH_RENAME_TARGET, new_path, false)?;
        if old.name.is_none() || new.name.is_none() {
            return Err(Errno::Busy);
        }
        old.root.check_writable()?;
        new.root.check_writable()?;
        let old_meta = old.lstat()?.ok_or(Errno::Noent)?;
        if !old_meta.is_dir() && (old.trailing_slash || new.trailing_slash) {
            return Err(Errno::Notdir);
        }
        same_fs(&old, &new)?;
        old.root.fs.rename(&old.host_path(), &new.host_path())
    }

    /// `path_symlink`: a symlink `new_path` whose content is `target`. Targets that are
    /// absolute or climb above the preopen are refused (`ENOTCAPABLE`): they could never
    /// be followed from inside the sandbox.
    pub fn path_symlink(&mut self, target: &str, fd: u32, new_path: &str) -> WasiResult<()> {
        let new = self.resolve_at(fd, rights::PATH_SYMLINK, new_path, false)?;
        if target.is_empty() {
            return Err(Errno::Noent);
        }
        if target.contains('\0') {
            return Err(Errno::Inval);
        }
        if target.starts_with('/') {
            return Err(Errno::Notcapable);
        }
        let mut depth = new.parent.len();
        for component in target.split('/') {
            match component {
                "" | "." => {}
                ".." => depth = depth.checked_sub(1).ok_or(Errno::Notcapable)?,
                _ => depth += 1,
            }
        }
        new.root.check_writable()?;
        check_new_entry(&new)?;
        new.root.fs.symlink(target, &new.host_path())
    }
}

/// Links and renames stay within one file system (`EXDEV` otherwise).
fn same_fs(old: &Resolved, new: &Resolved) -> WasiResult<()> {
    if Arc::ptr_eq(&old.root.fs, &new.root.fs) {
        Ok(())
    } else {
        Err(Errno::Xdev)
    }
}

/// Checks that `new` names an entry that can be created as a non-directory: it must
/// not exist (`EEXIST`), and a trailing slash is `ENOENT` when it does not.
fn check_new_entry(new: &Resolved) -> WasiResult<()> {
    if new.name.is_none() {
        return Err(Errno::Exist);
    }
    match new.lstat()? {
        Some(_) => Err(Errno::Exist),
        None if new.trailing_slash => Err(Errno::Noent),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasi::abi::{fstflags, SubscriptionKind};
    use crate::wasi::std_fs::{filestat_of, StdFs};
    use crate::wasi::{Preopen, Stdio, WasiConfig};
    use std::fs;
    use std::path::Path;

    const ROOT_FD: u32 = 3;
    const ALL: u64 = rights::ALL;

    fn ctx(root: &Path, read_only: bool) -> WasiCtx {
        WasiCtx::new(
            WasiConfig {
                args: vec!["test".into()],
                env: vec![],
                preopens: vec![Preopen {
                    fs: Arc::new(StdFs),
                    host: root.to_owned(),
                    guest: "/".into(),
                    read_only,
                }],
            },
            Stdio {
                stdin: Box::new(std::io::empty()),
                stdout: Box::new(std::io::sink()),
                stderr: Box::new(std::io::sink()),
            },
        )
        .unwrap()
    }

    /// `outer/root` with `root/dir/file` ("data") and `outer/secret`.
    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("root/dir")).unwrap();
        fs::write(t.path().join("root/dir/file"), b"data").unwrap();
        fs::write(t.path().join("secret"), b"secret").unwrap();
        t
    }

    /// Every entry below `dir` with its content (files) — to prove nothing changed.
    fn snapshot(dir: &Path) -> Vec<(String, Option<Vec<u8>>, u64)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let meta = fs::symlink_metadata(e.path()).unwrap();
                let content = meta.is_file().then(|| fs::read(e.path()).unwrap());
                let mtime = filestat_of(&meta).mtim;
                out.push((e.path().display().to_string(), content, mtime));
                if meta.is_dir() {
                    stack.push(e.path());
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn read_only_preopen_refuses_every_change() {
        let t = tree();
        let root = t.path().join("root");
        let before = snapshot(&root);
        let mut c = ctx(&root, true);
        let ro = Some(Errno::Rofs);

        assert_eq!(
            c.path_open(ROOT_FD, 0, "new", oflags::CREAT.into(), ALL, ALL, 0)
                .err(),
            ro
        );
        assert_eq!(
            c.path_open(ROOT_FD, 0, "dir/file", oflags::TRUNC.into(), 0, 0, 0)
                .err(),
            ro
        );
        assert_eq!(
            c.path_open(ROOT_FD, 0, "dir/file", 0, rights::FD_WRITE, 0, 0)
                .err(),
            ro
        );
        assert_eq!(
            c.path_open(
                ROOT_FD,
                0,
                "dir/file",
                0,
                rights::FD_READ,
                0,
                fdflags::APPEND.into()
            )
            .err(),
            ro
        );
        assert_eq!(c.path_create_directory(ROOT_FD, "newdir").err(), ro);
        assert_eq!(c.path_remove_directory(ROOT_FD, "dir").err(), ro);
        assert_eq!(c.path_unlink_file(ROOT_FD, "dir/file").err(), ro);
        assert_eq!(
            c.path_rename(ROOT_FD, "dir/file", ROOT_FD, "moved").err(),
            ro
        );
        assert_eq!(
            c.path_link(ROOT_FD, 0, "dir/file", ROOT_FD, "link").err(),
            ro
        );
        assert_eq!(c.path_symlink("dir/file", ROOT_FD, "sym").err(), ro);
        let now = u32::from(fstflags::MTIM_NOW);
        assert_eq!(
            c.path_filestat_set_times(ROOT_FD, 0, "dir/file", 0, 0, now)
                .err(),
            ro
        );

        // Reading works, and a read-only file fd refuses changes too.
        let fd = c
            .path_open(
                ROOT_FD,
                0,
                "dir/file",
                0,
                rights::FILE & !rights::WRITE_ACCESS,
                0,
                0,
            )
            .unwrap();
        assert_eq!(c.fd_read(fd, 10).unwrap(), b"data");
        assert_eq!(c.fd_filestat_set_times(fd, 0, 0, now).err(), ro);
        // Without the rights, writes stop earlier; either way nothing reaches the host.
        assert!(c.fd_write(fd, b"x").is_err());
        assert!(c.fd_filestat_set_size(fd, 0).is_err());
        assert!(c.fd_allocate(fd, 0, 100).is_err());
        assert_eq!(c.fd_filestat_set_times(ROOT_FD, 0, 0, now).err(), ro);

        assert_eq!(snapshot(&root), before);
    }

    #[test]
    fn paths_cannot_leave_the_preopen() {
        let t = tree();
        let root = t.path().join("root");
        let mut c = ctx(&root, false);
        let refused = Some(Errno::Notcapable);
        assert_eq!(
            c.path_open(ROOT_FD, 0, "../secret", 0, ALL, 0, 0).err(),
            refused
        );
        assert_eq!(
            c.path_open(ROOT_FD, 0, "/etc/passwd", 0, ALL, 0, 0).err(),
            refused
        );
        assert_eq!(
            c.path_open(ROOT_FD, 0, "dir/../../secret", 0, ALL, 0, 0)
                .err(),
            refused
        );
        assert_eq!(c.path_filestat_get(ROOT_FD, 0, "..").err(), refused);
        assert_eq!(
            c.path_create_directory(ROOT_FD, "../escaped").err(),
            refused
        );
        assert_eq!(
            c.path_rename(ROOT_FD, "dir/file", ROOT_FD, "../stolen")
                .err(),
            refused
        );
        assert_eq!(c.path_symlink("/etc", ROOT_FD, "abs").err(), refused);
        assert_eq!(c.path_symlink("../secret", ROOT_FD, "up").err(), refused);
        assert!(!t.path().join("escaped").exists());
        assert!(!t.path().join("stolen").exists());

        // A subdirectory fd is a boundary of its own.
        let dir = c
            .path_open(
                ROOT_FD,
                0,
                "dir",
                oflags::DIRECTORY.into(),
                rights::DIRECTORY,
                ALL,
                0,
            )
            .unwrap();
        assert_eq!(
            c.path_open(dir, 0, "../dir/file", 0, ALL, 0, 0).err(),
            refused
        );
        assert!(c
            .path_open(dir, 0, "file", 0, rights::FD_READ, 0, 0)
            .is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_and_loops_are_refused() {
        use std::os::unix::fs::symlink;
        let t = tree();
        let root = t.path().join("root");
        symlink("../secret", root.join("up")).unwrap();
        symlink(t.path().join("secret"), root.join("abs")).unwrap();
        symlink("dir/file", root.join("inside")).unwrap();
        symlink("self", root.join("self")).unwrap();
        let mut c = ctx(&root, false);
        let follow = lookupflags::SYMLINK_FOLLOW;
        assert_eq!(
            c.path_open(ROOT_FD, follow, "up", 0, ALL, 0, 0),
            Err(Errno::Notcapable)
        );
        assert_eq!(
            c.path_open(ROOT_FD, follow, "abs", 0, ALL, 0, 0),
            Err(Errno::Notcapable)
        );
        assert_eq!(
            c.path_open(ROOT_FD, follow, "self", 0, ALL, 0, 0),
            Err(Errno::Loop)
        );
        // Without following, opening a symlink is ELOOP (O_NOFOLLOW).
        assert_eq!(
            c.path_open(ROOT_FD, 0, "inside", 0, ALL, 0, 0),
            Err(Errno::Loop)
        );
        // A trailing slash follows a final symlink: here to a file, so ENOTDIR.
        assert_eq!(
            c.path_open(ROOT_FD, 0, "inside/", 0, 0, 0, 0),
            Err(Errno::Notdir)
        );
        let fd = c
            .path_open(ROOT_FD, follow, "inside", 0, rights::FD_READ, 0, 0)
            .unwrap();
        assert_eq!(c.fd_read(fd, 10).unwrap(), b"data");
        // The link itself can be inspected and removed; its outside target is untouched.
        assert_eq!(c.path_readlink(ROOT_FD, "up").unwrap(), b"../secret");
        c.path_unlink_file(ROOT_FD, "up").unwrap();
        assert_eq!(fs::read(t.path().join("secret")).unwrap(), b"secret");
        // A hard link cannot be made to something outside either.
        assert_eq!(
            c.path_link(ROOT_FD, follow, "abs", ROOT_FD, "hard"),
            Err(Errno::Notcapable)
        );
    }

    #[test]
    fn file_round_trip_with_rights() {
        let t = tree();
        let mut c = ctx(&t.path().join("root"), false);
        let creat = u32::from(oflags::CREAT);
        let fd = c
            .path_open(
                ROOT_FD,
                0,
                "f",
                creat,
                rights::FD_WRITE | rights::FD_SEEK,
                0,
                0,
            )
            .unwrap();
        assert_eq!(c.fd_write(fd, b"hello"), Ok(5));
        assert_eq!(c.fd_read(fd, 5), Err(Errno::Notcapable));
        assert_eq!(c.fd_seek(fd, -2, 1), Ok(3));
        assert_eq!(c.fd_seek(fd, -9, 1), Err(Errno::Inval));
        assert_eq!(c.fd_tell(fd), Err(Errno::Notcapable));
        assert_eq!(
            c.fd_fdstat_set_rights(fd, rights::FD_WRITE | rights::FD_READ, 0),
            Err(Errno::Notcapable)
        );
        c.fd_fdstat_set_rights(fd, rights::FD_SEEK, 0).unwrap();
        assert_eq!(c.fd_write(fd, b"x"), Err(Errno::Notcapable));
        c.fd_close(fd).unwrap();
        assert_eq!(c.fd_close(fd), Err(Errno::Badf));
        assert_eq!(c.path_filestat_get(ROOT_FD, 0, "f").unwrap().size, 5);
        assert_eq!(
            c.path_open(ROOT_FD, 0, "f", creat | u32::from(oflags::EXCL), 0, 0, 0),
            Err(Errno::Exist)
        );
        assert_eq!(
            c.path_open(ROOT_FD, 0, "f/", 0, 0, 0, 0),
            Err(Errno::Notdir)
        );
        assert_eq!(
            c.path_open(ROOT_FD, 0, "missing", 0, 0, 0, 0),
            Err(Errno::Noent)
        );
        assert_eq!(c.path_unlink_file(ROOT_FD, "dir"), Err(Errno::Isdir));
        assert_eq!(c.path_remove_directory(ROOT_FD, "f"), Err(Errno::Notdir));
        assert_eq!(
            c.path_remove_directory(ROOT_FD, "dir"),
            Err(Errno::Notempty)
        );
    }

    #[test]
    fn poll_reports_ready_streams_and_expired_clocks() {
        let t = tree();
        let mut c = ctx(&t.path().join("root"), false);
        let subs = [
            Subscription {
                userdata: 1,
                kind: SubscriptionKind::FdWrite(1),
            },
            Subscription {
                userdata: 2,
                kind: SubscriptionKind::FdRead(99),
            },
        ];
        let events = c.poll_oneoff(&subs).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].userdata, events[0].error), (1, Errno::Success));
        assert_eq!((events[1].userdata, events[1].error), (2, Errno::Badf));

        let clock = Subscription {
            userdata: 3,
            kind: SubscriptionKind::Clock {
                id: 1,
                timeout: 5_000_000,
                precision: 0,
                flags: 0,
            },
        };
        let start = std::time::Instant::now();
        let events = c.poll_oneoff(&[clock]).unwrap();
        assert!(start.elapsed() >= std::time::Duration::from_millis(5));
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].userdata, events[0].error), (3, Errno::Success));
    }

    use crate::wasi::abi::Subscription;
}
