//! Path operations (the `path_*` functions) on a [`WasiCtx`].
//!
//! Paths are resolved by [`sandbox::resolve`] relative to a directory descriptor; the
//! host only ever sees the resulting symlink-free path inside the preopen. Rights are
//! advisory, as in Wasmtime: no operation checks the directory descriptor's rights, and
//! `path_open` takes the new descriptor's open mode from `rights_base` and `oflags`
//! alone. Changes are refused on read-only preopens (`EROFS`) before the host is
//! touched.

use std::sync::Arc;

use super::abi::{fdflags, filetype, lookupflags, oflags, rights, Filestat};
use super::errno::{Errno, WasiResult};
use super::fd_table::{Handle, OpenDir, OpenFile};
use super::fs::KEPT_FDFLAGS;
use super::sandbox::{self, DirRef, Resolved};
use super::vfs::{OpenHow, TimeChange};
use super::WasiCtx;

impl WasiCtx {
    /// The directory behind `fd`: `EBADF` for a file or a stream.
    fn dir_fd(&self, fd: u32) -> WasiResult<DirRef> {
        Ok(self.fds.get(fd)?.dir()?.dir.clone())
    }

    /// Resolves `path` under directory `fd`.
    fn resolve_at(&self, fd: u32, path: &str, follow: bool) -> WasiResult<Resolved> {
        sandbox::resolve(&self.dir_fd(fd)?, path, follow)
    }

    /// Resolves `path` under directory `fd` for a call Wasmtime makes with the whole path
    /// at once (Linux `openat2`, `statx`): a NUL anywhere in it is `EINVAL` before anything
    /// is looked up.
    fn resolve_whole_path_at(&self, fd: u32, path: &str, follow: bool) -> WasiResult<Resolved> {
        let dir = self.dir_fd(fd)?;
        if path.contains('\0') {
            return Err(Errno::Inval);
        }
        sandbox::resolve(&dir, path, follow)
    }

    /// `path_open`: opens (and possibly creates or truncates) a file or directory.
    ///
    /// As in Wasmtime, `rights_inheriting` is ignored and `rights_base` only chooses the
    /// open mode: the file is opened for writing when `rights_base` has `FD_WRITE` or
    /// `oflags` has `CREAT` or `TRUNC`, and for reading when `rights_base` has `FD_READ`
    /// or lacks `FD_WRITE` (so `rights_base` 0 opens read-only). `SYNC`, `DSYNC` and
    /// `RSYNC` are `ENOTSUP`; `APPEND` and `NONBLOCK` are kept on a file. A path that
    /// is a directory opens as a directory, unless for writing (`EISDIR`).
    #[allow(clippy::too_many_arguments)]
    pub fn path_open(
        &mut self,
        fd: u32,
        dirflags: u32,
        path: &str,
        oflags: u32,
        base: u64,
        _inheriting: u64,
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
        let dir = self.fds.get(fd)?.dir_to_open_in()?.dir.clone();
        let creat = oflags & oflags::CREAT != 0;
        let excl = oflags & oflags::EXCL != 0;
        let trunc = oflags & oflags::TRUNC != 0;
        let want_dir = oflags & oflags::DIRECTORY != 0;
        // In Wasmtime's order: the synchronous-I/O flags first, then the combinations.
        if fdflags & !KEPT_FDFLAGS != 0 {
            return Err(Errno::Notsup);
        }
        if want_dir && (creat || excl || trunc) {
            return Err(Errno::Inval);
        }
        // Wasmtime opens the whole path at once (Linux `openat2`): a NUL in it is `EINVAL`
        // before anything is looked up (after the flags are checked).
        if path.contains('\0') {
            return Err(Errno::Inval);
        }

        // Creating through a path that names a directory is `EISDIR` once the way there is
        // found, whatever is there (Linux's `open`).
        if creat && path.ends_with('/') {
            sandbox::resolve(&dir, path, false)?;
            return Err(Errno::Isdir);
        }
        // `O_CREAT | O_EXCL` never follows a final symlink: one there, even dangling, is
        // `EEXIST` (Linux's `open`).
        if creat && excl && sandbox::resolve(&dir, path, false)?.lstat()?.is_some() {
            return Err(Errno::Exist);
        }
        // A trailing slash asks for the directory a final symlink names, as in POSIX.
        let follow = dirflags & lookupflags::SYMLINK_FOLLOW != 0 || path.ends_with('/');
        let resolved = sandbox::resolve(&dir, path, follow)?;
        let root = resolved.root.clone();

        let write = base & rights::FD_WRITE != 0 || creat || trunc;
        let read = base & rights::FD_READ != 0 || base & rights::FD_WRITE == 0;
        // Read-only preopens refuse exactly what they refused when rights were enforced.
        if creat || trunc || base & rights::WRITE_ACCESS != 0 || fdflags & fdflags::APPEND != 0 {
            root.check_writable()?;
        }

        let host = resolved.host_path()?;
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
                    if write {
                        return Err(Errno::Isdir);
                    }
                    return self.fds.insert(Handle::Dir(OpenDir {
                        dir: resolved.as_dir_ref(),
                        preopen: None,
                    }));
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
                if resolved.trailing_slash || resolved.name.is_none() {
                    return Err(Errno::Isdir);
                }
                None
            }
        };

        let create = meta.is_none();
        let file = root.fs.open(
            &host,
            OpenHow {
                read,
                write,
                create_new: create,
                truncate: trunc,
            },
        )?;
        // What `lstat` said (a final symlink was followed or refused above); a new file is
        // a regular one.
        let filetype = meta.map_or(filetype::REGULAR_FILE, |meta| meta.filetype);
        self.fds.insert(Handle::File(OpenFile {
            file,
            pos: 0,
            root,
            filetype,
            readable: read,
            writable: write,
            flags: fdflags,
        }))
    }

    /// `path_create_directory` (a trailing slash is ignored, as cap-std ignores it).
    pub fn path_create_directory(&mut self, fd: u32, path: &str) -> WasiResult<()> {
        let dir = self.dir_fd(fd)?;
        let resolved = sandbox::resolve_parent(&dir, strip_trailing_slashes(path))?;
        if resolved.name.is_none() {
            return Err(Errno::Exist);
        }
        resolved.root.check_writable()?;
        resolved.root.fs.create_dir(&resolved.host_path()?)
    }

    /// `path_filestat_get`. Without following, a path of one name (as Rust's `Path`
    /// counts components: `name/`, `name/.`, `name//`, not `./name`) is that name's own
    /// `lstat` whatever the slashes say, as cap-std takes a shortcut there.
    pub fn path_filestat_get(&mut self, fd: u32, flags: u32, path: &str) -> WasiResult<Filestat> {
        let follow_flag = flags & lookupflags::SYMLINK_FOLLOW != 0;
        if !follow_flag {
            if let Some(name) = sandbox::single_name(path) {
                let resolved = self.resolve_whole_path_at(fd, name, false)?;
                return resolved.lstat()?.ok_or(Errno::Noent);
            }
        }
        let follow = follow_flag || path.ends_with('/');
        let resolved = self.resolve_whole_path_at(fd, path, follow)?;
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
        let follow = flags & lookupflags::SYMLINK_FOLLOW != 0 || path.ends_with('/');
        let resolved = if follow {
            self.resolve_whole_path_at(fd, path, follow)?
        } else {
            self.resolve_at(fd, path, follow)?
        };
        // Without following, Wasmtime asks Linux to set nothing at the final name, which
        // Linux grants without looking (`utimensat` with both times omitted).
        if !follow && change.is_empty() {
            resolved.host_path()?;
            return resolved.root.check_writable();
        }
        let meta = resolved.lstat()?.ok_or(Errno::Noent)?;
        if resolved.trailing_slash && !meta.is_dir() {
            return Err(Errno::Notdir);
        }
        resolved.root.check_writable()?;
        resolved.root.fs.set_times(&resolved.host_path()?, change)
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
        let (old_dir, new_dir) = (self.dir_fd(old_fd)?, self.dir_fd(new_fd)?);
        // A link out of a read-only preopen would make its file writable elsewhere.
        old_dir.root.check_writable()?;
        new_dir.root.check_writable()?;
        // Wasmtime links the entry itself and refuses to follow a final symlink.
        if old_flags & lookupflags::SYMLINK_FOLLOW != 0 {
            return Err(Errno::Inval);
        }
        let old = sandbox::resolve_parent(&old_dir, old_path)?;
        let new = sandbox::resolve_parent(&new_dir, new_path)?;
        // Both names reach the host call before Linux looks at either.
        old.host_path()?;
        new.host_path()?;
        // In Linux's order: the old entry must be there, the new one must not, and the old
        // one must not be a directory (the `.` of a path that names one is one).
        let old_is_dir = match old.name {
            None => true,
            Some(_) => old.lstat()?.ok_or(Errno::Noent)?.is_dir(),
        };
        check_new_entry(&new)?;
        if old_is_dir {
            return Err(Errno::Perm);
        }
        same_fs(&old, &new)?;
        old.root.fs.hard_link(&old.host_path()?, &new.host_path()?)
    }

    /// `path_readlink`: the content of a symlink.
    pub fn path_readlink(&mut self, fd: u32, path: &str) -> WasiResult<Vec<u8>> {
        let resolved = sandbox::resolve_parent(&self.dir_fd(fd)?, path)?;
        if resolved.name.is_none() {
            return Err(Errno::Inval);
        }
        let meta = resolved.lstat()?.ok_or(Errno::Noent)?;
        if !meta.is_symlink() {
            return Err(Errno::Inval);
        }
        resolved.root.fs.read_link(&resolved.host_path()?)
    }

    /// `path_remove_directory`: removes an empty directory (a path that names the
    /// directory itself, `x/`, is its `.`: `EINVAL`, as Linux answers).
    pub fn path_remove_directory(&mut self, fd: u32, path: &str) -> WasiResult<()> {
        let resolved = sandbox::resolve_parent(&self.dir_fd(fd)?, path)?;
        if resolved.name.is_none() {
            return Err(Errno::Inval);
        }
        resolved.root.check_writable()?;
        let meta = resolved.lstat()?.ok_or(Errno::Noent)?;
        if !meta.is_dir() {
            return Err(Errno::Notdir);
        }
        resolved.root.fs.remove_dir(&resolved.host_path()?)
    }

    /// `path_unlink_file`: removes a non-directory entry (a path that names a directory,
    /// `x/`, is `EISDIR`).
    pub fn path_unlink_file(&mut self, fd: u32, path: &str) -> WasiResult<()> {
        let resolved = sandbox::resolve_parent(&self.dir_fd(fd)?, path)?;
        if resolved.name.is_none() {
            return Err(Errno::Isdir);
        }
        resolved.root.check_writable()?;
        let meta = resolved.lstat()?.ok_or(Errno::Noent)?;
        if meta.is_dir() {
            return Err(Errno::Isdir);
        }
        resolved.root.fs.remove_file(&resolved.host_path()?)
    }

    /// `path_rename`.
    pub fn path_rename(
        &mut self,
        fd: u32,
        old_path: &str,
        new_fd: u32,
        new_path: &str,
    ) -> WasiResult<()> {
        // Both descriptors first, as Wasmtime looks them up before either path.
        let (old_dir, new_dir) = (self.dir_fd(fd)?, self.dir_fd(new_fd)?);
        // As Wasmtime: trailing slashes are set aside while the entries are found; one on
        // either name then asks for a directory to rename (from Wasmtime 46 on, the new
        // name's too), which a symlink never is.
        let old = sandbox::resolve_parent(&old_dir, strip_trailing_slashes(old_path))?;
        let new = sandbox::resolve_parent(&new_dir, strip_trailing_slashes(new_path))?;
        // Both names reach the host call before Linux looks at either.
        old.host_path()?;
        new.host_path()?;
        if old.name.is_none() || new.name.is_none() {
            return Err(Errno::Busy);
        }
        old.root.check_writable()?;
        new.root.check_writable()?;
        let old_meta = old.lstat()?.ok_or(Errno::Noent)?;
        let wants_dir = |path: &str| path.len() > 1 && path.ends_with('/');
        if !old_meta.is_dir() && (wants_dir(old_path) || wants_dir(new_path)) {
            return Err(Errno::Notdir);
        }
        same_fs(&old, &new)?;
        old.root.fs.rename(&old.host_path()?, &new.host_path()?)
    }

    /// `path_symlink`: a symlink `new_path` whose content is `target`. An absolute
    /// target is refused (`EPERM`, as Wasmtime); one that climbs above the preopen may be
    /// made, as in Wasmtime, and can never be followed from inside the sandbox.
    pub fn path_symlink(&mut self, target: &str, fd: u32, new_path: &str) -> WasiResult<()> {
        let dir = self.dir_fd(fd)?;
        if target.starts_with('/') {
            return Err(Errno::Perm);
        }
        let new = sandbox::resolve_parent(&dir, new_path)?;
        if target.contains('\0') {
            return Err(Errno::Inval);
        }
        new.host_path()?;
        if target.is_empty() {
            return Err(Errno::Noent);
        }
        new.root.check_writable()?;
        check_new_entry(&new)?;
        new.root.fs.symlink(target, &new.host_path()?)
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

/// Checks that `new` (from [`sandbox::resolve_parent`]) names an entry that can be
/// created as a non-directory (a link, a symlink): it must not exist (`EEXIST`, whatever
/// it is, the `.` of a directory included).
fn check_new_entry(new: &Resolved) -> WasiResult<()> {
    if new.name.is_none() {
        return Err(Errno::Exist);
    }
    match new.lstat()? {
        Some(_) => Err(Errno::Exist),
        None => Ok(()),
    }
}

/// `path` without its trailing slashes (but `/` stays), as cap-std sets them aside for
/// `mkdir` and `rename`.
fn strip_trailing_slashes(path: &str) -> &str {
    let stripped = path.trim_end_matches('/');
    if stripped.is_empty() && !path.is_empty() {
        "/"
    } else {
        stripped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasi::abi::{clockid, eventtype, fstflags, whence, Subscription, SubscriptionKind};
    use crate::wasi::std_fs::{filestat_of, StdFs};
    use crate::wasi::{Preopen, Stdio, WasiConfig};
    use std::fs;
    use std::path::{Path, PathBuf};

    const ROOT_FD: u32 = 3;
    const ALL: u64 = rights::ALL;
    const CREAT: u32 = oflags::CREAT as u32;
    const DIRECTORY: u32 = oflags::DIRECTORY as u32;
    const EXCL: u32 = oflags::EXCL as u32;
    const TRUNC: u32 = oflags::TRUNC as u32;

    /// A context whose preopens are `(host, read_only)`, seen as `/0`, `/1`, ... from
    /// fd 3 on.
    fn ctx_with(preopens: &[(PathBuf, bool)]) -> WasiCtx {
        WasiCtx::new(
            WasiConfig {
                args: vec!["test".into()],
                env: vec![],
                preopens: preopens
                    .iter()
                    .enumerate()
                    .map(|(i, (host, read_only))| Preopen {
                        fs: Arc::new(StdFs),
                        host: host.clone(),
                        guest: format!("/{i}"),
                        read_only: *read_only,
                    })
                    .collect(),
                ..WasiConfig::default()
            },
            Stdio {
                stdin: Box::new(std::io::empty()),
                stdout: Box::new(std::io::sink()),
                stderr: Box::new(std::io::sink()),
                terminal: [false; 3],
            },
        )
        .unwrap()
    }

    fn ctx(root: &Path, read_only: bool) -> WasiCtx {
        ctx_with(&[(root.to_owned(), read_only)])
    }

    /// `outer/root` with `root/dir/file` ("data") and `outer/secret`.
    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("root/dir")).unwrap();
        fs::write(t.path().join("root/dir/file"), b"data").unwrap();
        fs::write(t.path().join("secret"), b"secret").unwrap();
        t
    }

    /// `dir` and every entry below it, with its content (files) or target (symlinks),
    /// size and modification time — to prove nothing changed.
    fn snapshot(dir: &Path) -> Vec<(String, Option<Vec<u8>>, u64, u64)> {
        let meta = fs::symlink_metadata(dir).unwrap();
        let mut out = vec![(
            dir.display().to_string(),
            None,
            meta.len(),
            filestat_of(&meta).mtim,
        )];
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let meta = fs::symlink_metadata(e.path()).unwrap();
                let content = if meta.is_file() {
                    Some(fs::read(e.path()).unwrap())
                } else if meta.is_symlink() {
                    Some(
                        fs::read_link(e.path())
                            .unwrap()
                            .display()
                            .to_string()
                            .into_bytes(),
                    )
                } else {
                    None
                };
                let stat = filestat_of(&meta);
                out.push((
                    e.path().display().to_string(),
                    content,
                    stat.size,
                    stat.mtim,
                ));
                if meta.is_dir() {
                    stack.push(e.path());
                }
            }
        }
        out.sort();
        out
    }

    /// Tries every change through directory `d` of a read-only preopen (and, when
    /// `other` is a writable directory fd, between the two) and checks each is `EROFS`.
    fn assert_every_change_refused(c: &mut WasiCtx, d: u32, other: u32) {
        let ro = Some(Errno::Rofs);
        let now = u32::from(fstflags::MTIM_NOW);
        let append = u32::from(fdflags::APPEND);
        let open = |c: &mut WasiCtx, path: &str, o: u32, base: u64, flags: u32| {
            c.path_open(d, 0, path, o, base, 0, flags).err()
        };
        assert_eq!(open(c, "new", CREAT, ALL, 0), ro);
        assert_eq!(open(c, "new", CREAT, 0, 0), ro);
        assert_eq!(open(c, "new", CREAT | EXCL, 0, 0), ro);
        assert_eq!(open(c, "dir/file", CREAT, 0, 0), ro);
        assert_eq!(open(c, "dir/file", TRUNC, 0, 0), ro);
        assert_eq!(open(c, "dir/file", 0, rights::FD_WRITE, 0), ro);
        assert_eq!(
            open(c, "dir/file", 0, rights::FD_READ | rights::FD_WRITE, 0),
            ro
        );
        for right in [
            rights::FD_DATASYNC,
            rights::FD_ALLOCATE,
            rights::FD_FILESTAT_SET_SIZE,
        ] {
            assert_eq!(open(c, "dir/file", 0, right, 0), ro);
        }
        assert_eq!(open(c, "dir/file", 0, rights::FD_READ, append), ro);
        assert_eq!(open(c, "dir/file", 0, 0, append), ro);
        assert_eq!(open(c, "dir", 0, rights::FD_WRITE, 0), ro);
        assert_eq!(c.path_create_directory(d, "newdir").err(), ro);
        assert_eq!(c.path_create_directory(d, "dir/sub").err(), ro);
        assert_eq!(c.path_remove_directory(d, "dir").err(), ro);
        assert_eq!(c.path_unlink_file(d, "dir/file").err(), ro);
        assert_eq!(c.path_rename(d, "dir/file", d, "moved").err(), ro);
        assert_eq!(c.path_rename(d, "dir", d, "moved-dir").err(), ro);
        assert_eq!(c.path_rename(d, "dir/file", other, "out").err(), ro);
        assert_eq!(c.path_rename(other, "w", d, "in").err(), ro);
        assert_eq!(c.path_link(d, 0, "dir/file", d, "link").err(), ro);
        assert_eq!(c.path_link(d, 0, "dir/file", other, "out").err(), ro);
        assert_eq!(c.path_link(other, 0, "w", d, "in").err(), ro);
        assert_eq!(c.path_symlink("dir/file", d, "sym").err(), ro);
        assert_eq!(
            c.path_filestat_set_times(d, 0, "dir/file", 0, 0, now).err(),
            ro
        );
        assert_eq!(c.path_filestat_set_times(d, 0, "dir", 0, 0, now).err(), ro);
        assert_eq!(c.fd_filestat_set_times(d, 0, 0, now).err(), ro);

        // Reading works; a file opened there refuses every change with `EROFS` too.
        for base in [0, rights::FD_READ, rights::FD_READ | rights::FD_SEEK] {
            let fd = c.path_open(d, 0, "dir/file", 0, base, 0, 0).unwrap();
            assert_eq!(c.fd_read(fd, 10).unwrap(), b"data");
            assert_eq!(c.fd_write(fd, b"x").err(), ro);
            assert_eq!(c.fd_pwrite(fd, b"x", 0).err(), ro);
            assert_eq!(c.fd_filestat_set_size(fd, 0).err(), ro);
            assert_eq!(c.fd_filestat_set_times(fd, 0, 0, now).err(), ro);
            // Not supported anywhere, as in Wasmtime.
            assert_eq!(c.fd_allocate(fd, 0, 100).err(), Some(Errno::Notsup));
            c.fd_close(fd).unwrap();
        }
    }

    #[test]
    fn read_only_preopen_refuses_every_change() {
        let t = tree();
        let root = t.path().join("root");
        let writable = t.path().join("writable");
        fs::create_dir(&writable).unwrap();
        fs::write(writable.join("w"), b"w").unwrap();
        let before = (snapshot(&root), snapshot(&writable));
        let mut c = ctx_with(&[(root.clone(), true), (writable.clone(), false)]);
        let other = ROOT_FD + 1;

        // Through the preopen itself.
        assert_every_change_refused(&mut c, ROOT_FD, other);
        // Through the preopen re-opened with no rights at all.
        let again = c.path_open(ROOT_FD, 0, ".", DIRECTORY, 0, 0, 0).unwrap();
        assert_every_change_refused(&mut c, again, other);
        // Through a subdirectory opened with a directory's rights.
        let base = rights::PREOPEN_BASE;
        let sub = c
            .path_open(ROOT_FD, 0, "dir", DIRECTORY, base, ALL, 0)
            .unwrap();
        assert_eq!(
            c.path_open(sub, 0, "file", 0, rights::FD_WRITE, 0, 0).err(),
            Some(Errno::Rofs)
        );
        assert_eq!(c.path_unlink_file(sub, "file").err(), Some(Errno::Rofs));
        assert_eq!(
            c.fd_filestat_set_times(sub, 0, 0, 2).err(),
            Some(Errno::Rofs)
        );

        assert_eq!((snapshot(&root), snapshot(&writable)), before);
    }

    #[test]
    fn a_directory_reopened_with_no_rights_does_everything() {
        let t = tree();
        let root = t.path().join("root");
        let mut c = ctx(&root, false);
        let d = c.path_open(ROOT_FD, 0, ".", DIRECTORY, 0, 0, 0).unwrap();
        let stat = c.fd_fdstat_get(d).unwrap();
        assert_eq!(stat.filetype, filetype::DIRECTORY);
        assert_eq!(
            (stat.rights_base, stat.rights_inheriting, stat.flags),
            (0x3FB7_FFBB, 0x3FB7_FFBB, 0)
        );

        // Created with rights 0: opened for reading and writing.
        let f = c
            .path_open(d, 0, "new.txt", CREAT | TRUNC, 0, 0, 0)
            .unwrap();
        assert_eq!(c.fd_fdstat_get(f).unwrap().rights_base, 0x3FFF_FFFF);
        assert_eq!(c.fd_write(f, b"hello\n"), Ok(6));
        assert_eq!(c.fd_seek(f, 0, whence::SET.into()), Ok(0));
        assert_eq!(c.fd_read(f, 64).unwrap(), b"hello\n");
        c.fd_close(f).unwrap();
        // Opened again with rights 0: read-only.
        let f = c.path_open(d, 0, "new.txt", 0, 0, 0, 0).unwrap();
        assert_eq!(c.fd_read(f, 64).unwrap(), b"hello\n");
        assert_eq!(c.fd_pread(f, 2, 1).unwrap(), b"el");
        assert_eq!(c.fd_fdstat_get(f).unwrap().rights_base, 0x3FFF_FFBF);
        c.fd_close(f).unwrap();

        c.path_rename(d, "new.txt", d, "renamed.txt").unwrap();
        c.path_create_directory(d, "sub").unwrap();
        let sub = c.path_open(d, 0, "sub", DIRECTORY, 0, 0, 0).unwrap();
        c.path_link(d, 0, "renamed.txt", sub, "hard").unwrap();
        c.path_symlink("hard", sub, "soft").unwrap();
        assert_eq!(c.path_readlink(sub, "soft").unwrap(), b"hard");
        assert_eq!(c.path_filestat_get(sub, 0, "hard").unwrap().nlink, 2);
        let now = u32::from(fstflags::MTIM_NOW);
        c.path_filestat_set_times(d, 0, "renamed.txt", 0, 0, now)
            .unwrap();
        c.fd_filestat_set_times(sub, 0, 0, now).unwrap();
        assert!(!c.fd_readdir(sub, 0, 4096).unwrap().is_empty());
        c.path_unlink_file(sub, "soft").unwrap();
        c.path_unlink_file(sub, "hard").unwrap();
        c.fd_close(sub).unwrap();
        c.path_remove_directory(d, "sub").unwrap();
        assert_eq!(fs::read(root.join("renamed.txt")).unwrap(), b"hello\n");
        c.path_unlink_file(d, "renamed.txt").unwrap();
        assert!(!root.join("renamed.txt").exists() && !root.join("sub").exists());
    }

    #[test]
    fn open_modes_follow_wasmtime() {
        let t = tree();
        let mut c = ctx(&t.path().join("root"), false);
        let open = |c: &mut WasiCtx, o: u32, base: u64, flags: u32| {
            c.path_open(ROOT_FD, 0, "dir/file", o, base, 0, flags)
        };
        let rights_of = |c: &mut WasiCtx, fd: u32| {
            let s = c.fd_fdstat_get(fd).unwrap();
            assert_eq!(s.rights_base, s.rights_inheriting);
            s.rights_base
        };

        // Rights 0: read-only.
        let fd = open(&mut c, 0, 0, 0).unwrap();
        assert_eq!(rights_of(&mut c, fd), 0x3FFF_FFBF);
        assert_eq!(c.fd_write(fd, b"x"), Err(Errno::Badf));
        assert_eq!(c.fd_pwrite(fd, b"x", 0), Err(Errno::Badf));
        // What Linux's ftruncate answers Wasmtime for a read-only descriptor.
        assert_eq!(c.fd_filestat_set_size(fd, 0), Err(Errno::Inval));
        assert_eq!(c.fd_allocate(fd, 0, 10), Err(Errno::Notsup));
        // Advisory rights: everything else works on a read-only file.
        assert_eq!(c.fd_tell(fd), Ok(0));
        c.fd_sync(fd).unwrap();
        c.fd_datasync(fd).unwrap();
        c.fd_advise(fd, 0, 0, 0).unwrap();
        c.fd_filestat_set_times(fd, 0, 0, u32::from(fstflags::MTIM_NOW))
            .unwrap();
        assert_eq!(c.fd_read(fd, 10).unwrap(), b"data");
        // FD_WRITE alone: write-only.
        let fd = open(&mut c, 0, rights::FD_WRITE, 0).unwrap();
        assert_eq!(rights_of(&mut c, fd), 0x3FFF_BFFD);
        assert_eq!(c.fd_read(fd, 10), Err(Errno::Badf));
        assert_eq!(c.fd_pread(fd, 10, 0), Err(Errno::Badf));
        assert_eq!(c.fd_write(fd, b"D"), Ok(1));
        // Both.
        let fd = open(&mut c, 0, rights::FD_READ | rights::FD_WRITE, 0).unwrap();
        assert_eq!(rights_of(&mut c, fd), 0x3FFF_FFFF);
        assert_eq!(c.fd_read(fd, 10).unwrap(), b"Data");
        // Every other right without FD_WRITE still opens read-only.
        let fd = open(&mut c, 0, ALL & !rights::FD_WRITE, 0).unwrap();
        assert_eq!(c.fd_write(fd, b"x"), Err(Errno::Badf));
        // TRUNC and CREAT open for writing (and reading, without FD_WRITE).
        let fd = open(&mut c, TRUNC, 0, 0).unwrap();
        assert_eq!(rights_of(&mut c, fd), 0x3FFF_FFFF);
        assert_eq!(c.fd_write(fd, b"new"), Ok(3));
        let fd = open(&mut c, CREAT, rights::FD_WRITE, 0).unwrap();
        assert_eq!(rights_of(&mut c, fd), 0x3FFF_BFFD);
        // rights_inheriting is ignored.
        let d = c.path_open(ROOT_FD, 0, "dir", DIRECTORY, 0, 0, 0).unwrap();
        assert!(c.path_open(d, 0, "file", 0, ALL, ALL, 0).is_ok());

        // fdflags: the synchronous ones are not supported, APPEND and NONBLOCK are kept.
        for sync in [fdflags::SYNC, fdflags::DSYNC, fdflags::RSYNC] {
            assert_eq!(
                open(&mut c, 0, rights::FD_READ, sync.into()),
                Err(Errno::Notsup)
            );
        }
        let flags = fdflags::APPEND | fdflags::NONBLOCK;
        let fd = open(&mut c, 0, rights::FD_WRITE, flags.into()).unwrap();
        assert_eq!(c.fd_fdstat_get(fd).unwrap().flags, flags);
        assert_eq!(c.fd_write(fd, b"!"), Ok(1));
        assert_eq!(fs::read(t.path().join("root/dir/file")).unwrap(), b"new!");

        // Directories.
        for o in [CREAT, EXCL, TRUNC] {
            assert_eq!(
                c.path_open(ROOT_FD, 0, "dir", DIRECTORY | o, 0, 0, 0),
                Err(Errno::Inval)
            );
        }
        assert_eq!(open(&mut c, DIRECTORY, 0, 0), Err(Errno::Notdir));
        let dir =
            |c: &mut WasiCtx, o: u32, base: u64| c.path_open(ROOT_FD, 0, "dir", o, base, 0, 0);
        assert_eq!(dir(&mut c, 0, rights::FD_WRITE), Err(Errno::Isdir));
        assert_eq!(dir(&mut c, TRUNC, 0), Err(Errno::Isdir));
        assert_eq!(dir(&mut c, CREAT, 0), Err(Errno::Isdir));
        assert_eq!(dir(&mut c, CREAT | EXCL, 0), Err(Errno::Exist));
        // A directory opened without DIRECTORY, with the flags of a file: a directory fd.
        let fd = dir(&mut c, 0, ALL & !rights::FD_WRITE).unwrap();
        let stat = c.fd_fdstat_get(fd).unwrap();
        assert_eq!((stat.filetype, stat.flags), (filetype::DIRECTORY, 0));
        assert_eq!(stat.rights_base, rights::OPENED_DIRECTORY);
        let fd = c
            .path_open(ROOT_FD, 0, "dir", 0, 0, 0, fdflags::APPEND.into())
            .unwrap();
        assert_eq!(c.fd_fdstat_get(fd).unwrap().flags, 0);

        // The directory descriptor: a file is ENOTDIR, a stream EBADF.
        let file = open(&mut c, 0, 0, 0).unwrap();
        assert_eq!(c.path_open(file, 0, "x", 0, 0, 0, 0), Err(Errno::Notdir));
        assert_eq!(c.path_open(1, 0, "x", 0, 0, 0, 0), Err(Errno::Badf));
        assert_eq!(c.path_create_directory(0, "x"), Err(Errno::Badf));
        // Only path_open says ENOTDIR for a file, as Wasmtime.
        assert_eq!(c.path_create_directory(file, "x"), Err(Errno::Badf));
        assert_eq!(c.fd_readdir(2, 0, 100), Err(Errno::Badf));
        assert_eq!(c.fd_readdir(file, 0, 100), Err(Errno::Badf));
    }

    #[test]
    fn paths_cannot_leave_the_preopen() {
        let t = tree();
        let root = t.path().join("root");
        let mut c = ctx(&root, false);
        let refused = Some(Errno::Perm);
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
        // A symlink that climbs out may be made (as in Wasmtime), never followed.
        assert_eq!(c.path_symlink("../secret", ROOT_FD, "up"), Ok(()));
        assert_eq!(
            c.path_open(ROOT_FD, lookupflags::SYMLINK_FOLLOW, "up", 0, ALL, 0, 0)
                .err(),
            refused
        );
        assert!(!t.path().join("escaped").exists());
        assert!(!t.path().join("stolen").exists());

        // A subdirectory fd is a boundary of its own.
        let dir = c
            .path_open(ROOT_FD, 0, "dir", oflags::DIRECTORY.into(), 0, 0, 0)
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
            Err(Errno::Perm)
        );
        assert_eq!(
            c.path_open(ROOT_FD, follow, "abs", 0, ALL, 0, 0),
            Err(Errno::Perm)
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
        // A hard link never follows a symlink (Wasmtime refuses to), so it cannot reach
        // something outside either.
        assert_eq!(
            c.path_link(ROOT_FD, follow, "abs", ROOT_FD, "hard"),
            Err(Errno::Inval)
        );
    }

    #[test]
    fn file_round_trip() {
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
        // Opened with FD_WRITE and without FD_READ: write-only.
        assert_eq!(c.fd_read(fd, 5), Err(Errno::Badf));
        assert_eq!(c.fd_seek(fd, -2, 1), Ok(3));
        assert_eq!(c.fd_seek(fd, -9, 1), Err(Errno::Inval));
        assert_eq!(c.fd_tell(fd), Ok(3));
        // Rights cannot be changed: writes still work, reads still do not.
        assert_eq!(c.fd_fdstat_set_rights(fd, 0, 0), Err(Errno::Notsup));
        assert_eq!(c.fd_fdstat_set_rights(fd, ALL, ALL), Err(Errno::Notsup));
        assert_eq!(c.fd_fdstat_get(fd).unwrap().rights_base, 0x3FFF_BFFD);
        assert_eq!(c.fd_write(fd, b"x"), Ok(1));
        assert_eq!(c.fd_read(fd, 5), Err(Errno::Badf));
        c.fd_close(fd).unwrap();
        assert_eq!(c.fd_close(fd), Err(Errno::Badf));
        assert_eq!(c.path_filestat_get(ROOT_FD, 0, "f").unwrap().size, 5);
        assert_eq!(fs::read(t.path().join("root/f")).unwrap(), b"helxo");
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
        // A descriptor that is not open fails the whole call, as in Wasmtime; so does
        // one polled the wrong way, and a directory.
        assert_eq!(c.poll_oneoff(&subs), Err(Errno::Badf));
        for (fd, kind) in [
            (0, eventtype::FD_WRITE),
            (1, eventtype::FD_READ),
            (ROOT_FD, 1),
        ] {
            let kind = match kind {
                eventtype::FD_WRITE => SubscriptionKind::FdWrite(fd),
                _ => SubscriptionKind::FdRead(fd),
            };
            let sub = Subscription { userdata: 4, kind };
            assert_eq!(c.poll_oneoff(&[subs[0], sub]), Err(Errno::Badf));
        }
        // Ready events in the order of their subscriptions; a file read at its end says
        // HANGUP; a clock not due is left out.
        let f = c
            .path_open(ROOT_FD, 0, "dir/file", 0, rights::FD_READ, 0, 0)
            .unwrap();
        let later = Subscription {
            userdata: 9,
            kind: SubscriptionKind::Clock {
                id: clockid::MONOTONIC,
                timeout: 3_600_000_000_000,
                precision: 0,
                flags: 0,
            },
        };
        let read = |userdata| Subscription {
            userdata,
            kind: SubscriptionKind::FdRead(f),
        };
        let events = c.poll_oneoff(&[read(5), later, subs[0]]).unwrap();
        let got: Vec<_> = events
            .iter()
            .map(|e| (e.userdata, e.kind, e.nbytes, e.flags))
            .collect();
        assert_eq!(
            got,
            [
                (5, eventtype::FD_READ, 1, 0),
                (1, eventtype::FD_WRITE, 1, 0)
            ]
        );
        c.fd_seek(f, 0, whence::END.into()).unwrap();
        let events = c.poll_oneoff(&[read(6), later]).unwrap();
        assert_eq!(events[0].flags, crate::wasi::abi::EVENT_FD_READWRITE_HANGUP);
        // The CPU-time clocks cannot be waited for among others.
        let cpu = Subscription {
            userdata: 7,
            kind: SubscriptionKind::Clock {
                id: clockid::PROCESS_CPUTIME_ID,
                timeout: 0,
                precision: 0,
                flags: 0,
            },
        };
        assert_eq!(c.poll_oneoff(&[cpu, read(8)]), Err(Errno::Inval));

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
}
