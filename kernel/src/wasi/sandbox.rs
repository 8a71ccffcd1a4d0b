//! Path resolution confined to a preopened directory.
//!
//! Guest paths are never handed to the host as they are. They are resolved here, one
//! component at a time, against a [`DirRef`] (a directory inside a preopen, named by
//! the components leading to it from the preopen's root). As with capabilities, the
//! directory descriptor is the boundary, not just the preopen:
//!
//! - absolute paths and `..` above the directory are refused (`EPERM`, as Wasmtime's
//!   cap-std refuses an escape);
//! - every intermediate component is examined with `lstat`; a symlink is
//!   read and its target spliced into the remaining path, relative to the directory
//!   holding it (absolute targets are refused, `..` in targets obeys the same bound);
//! - more than [`MAX_SYMLINKS`] expansions is `ELOOP`;
//! - the final component is followed only when the caller asks for it.
//!
//! The result names an entry by root + components that contain no symlink, so the host
//! path built from it cannot leave the root unless the host tree changes between the
//! check and the use (the guest is the only user of its preopens).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::abi::Filestat;
use super::errno::{Errno, WasiResult};
use super::vfs::FileSystem;

/// How many symlinks one resolution may expand before giving up with `ELOOP`.
pub const MAX_SYMLINKS: usize = 40;

/// A preopened directory.
#[derive(Debug)]
pub struct Root {
    /// The file system it lives on.
    pub fs: Arc<dyn FileSystem>,
    /// Its path in that file system.
    pub host: PathBuf,
    /// When set, nothing below this root may be modified.
    pub read_only: bool,
}

impl Root {
    /// `lstat` in the root's file system.
    pub fn lstat(&self, path: &Path) -> WasiResult<Option<Filestat>> {
        self.fs.lstat(path)
    }

    /// Fails with `EROFS` when the root is read-only (call before any mutation).
    pub fn check_writable(&self) -> WasiResult<()> {
        if self.read_only {
            Err(Errno::Rofs)
        } else {
            Ok(())
        }
    }
}

/// A directory inside a root, named by symlink-free components from the root.
#[derive(Clone, Debug)]
pub struct DirRef {
    pub root: Arc<Root>,
    pub rel: Vec<String>,
}

impl DirRef {
    /// The root directory itself.
    pub fn root(root: Arc<Root>) -> DirRef {
        DirRef {
            root,
            rel: Vec::new(),
        }
    }

    /// The host path of this directory, without checks (see [`DirRef::checked_path`]).
    pub fn host_path(&self) -> PathBuf {
        join(&self.root, &self.rel)
    }

    /// The host path of this directory after checking that every component below the
    /// root is still a real directory, not a symlink. A directory descriptor names its
    /// directory by path, and the guest may since have renamed it and put a symlink in
    /// its place: the host would follow it. Gone is `ENOENT`, replaced is `ENOTDIR`.
    pub fn checked_path(&self) -> WasiResult<PathBuf> {
        let mut path = self.root.host.clone();
        for component in &self.rel {
            path.push(component);
            let meta = self.root.lstat(&path)?.ok_or(Errno::Noent)?;
            if !meta.is_dir() {
                return Err(Errno::Notdir);
            }
        }
        Ok(path)
    }
}

impl DirRef {
    /// The directory holding this one, or `None` at the root.
    pub fn parent(&self) -> Option<DirRef> {
        let (_, rel) = self.rel.split_last()?;
        Some(DirRef {
            root: self.root.clone(),
            rel: rel.to_vec(),
        })
    }

    /// The directory's metadata (the root's follows a symlink, as a preopen may be one).
    pub fn stat(&self) -> WasiResult<Filestat> {
        let path = self.checked_path()?;
        if self.rel.is_empty() {
            self.root.fs.stat_root(&path)
        } else {
            self.root.lstat(&path)?.ok_or(Errno::Noent)
        }
    }
}

/// The outcome of resolving a guest path.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The root the entry lives under.
    pub root: Arc<Root>,
    /// The directory holding the final component (symlink-free).
    pub parent: Vec<String>,
    /// The final component, or `None` when the path names `parent` itself
    /// (e.g. `"."`, `"a/.."`).
    pub name: Option<String>,
    /// Whether the guest path ended with a slash.
    pub trailing_slash: bool,
}

impl Resolved {
    /// The host path of the entry (the final component is not followed by this module;
    /// it is a symlink only when the caller did not ask to follow it). A final name the
    /// host cannot take (a NUL in it) is `EINVAL` here, where a call first touches it, as
    /// Linux's call with that name would fail in Wasmtime.
    pub fn host_path(&self) -> WasiResult<PathBuf> {
        let mut path = join(&self.root, &self.parent);
        if let Some(name) = &self.name {
            if name.contains('\0') {
                return Err(Errno::Inval);
            }
            path.push(name);
        }
        Ok(path)
    }

    /// The directory holding the entry.
    pub fn parent_ref(&self) -> DirRef {
        DirRef {
            root: self.root.clone(),
            rel: self.parent.clone(),
        }
    }

    /// The entry as a directory reference (valid when the entry is a directory).
    pub fn as_dir_ref(&self) -> DirRef {
        let mut rel = self.parent.clone();
        rel.extend(self.name.clone());
        DirRef {
            root: self.root.clone(),
            rel,
        }
    }

    /// `lstat` of the entry (`None` when it does not exist).
    pub fn lstat(&self) -> WasiResult<Option<Filestat>> {
        self.root.lstat(&self.host_path()?)
    }
}

fn join(root: &Root, rel: &[String]) -> PathBuf {
    let mut path = root.host.clone();
    path.extend(rel);
    path
}

/// Splits a guest path into components; `Err` for paths the sandbox refuses outright.
fn components(path: &str) -> WasiResult<VecDeque<String>> {
    if path.is_empty() {
        return Err(Errno::Noent);
    }
    if path.starts_with('/') {
        return Err(Errno::Perm);
    }
    Ok(path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_owned)
        .collect())
}

/// The one name `path` holds, as Rust's `Path::components` counts them (empty and `.`
/// components are dropped, except a leading `.`), when that is a single normal name:
/// `a`, `a/`, `a//`, `a/.`, but not `./a`, `/a`, `..` or `a/b`.
pub fn single_name(path: &str) -> Option<&str> {
    if path.starts_with('/') || path == "." || path.starts_with("./") {
        return None;
    }
    let mut names = path.split('/').filter(|c| !c.is_empty() && *c != ".");
    match (names.next(), names.next()) {
        (Some(name), None) if name != ".." => Some(name),
        _ => None,
    }
}

/// Resolves `path` relative to `dir`, following the final component when it is a
/// symlink and `follow_final` is set.
pub fn resolve(dir: &DirRef, path: &str, follow_final: bool) -> WasiResult<Resolved> {
    let mut queue = components(path)?;
    dir.checked_path()?;
    let mut trailing_slash = path.ends_with('/');
    // Components below `dir`; never popped past its start.
    let base = dir.rel.len();
    let mut stack = dir.rel.clone();
    let mut expansions = 0usize;

    while let Some(component) = queue.pop_front() {
        if component == ".." {
            if stack.len() == base {
                return Err(Errno::Perm);
            }
            stack.pop();
            continue;
        }
        let is_last = queue.is_empty();
        // A name the host cannot take, when it is looked up here (as cap-std finds when it
        // reaches that component); a final one left for the call is refused when the call
        // touches it (`Resolved::host_path`).
        if component.contains('\0') && !(is_last && !follow_final) {
            return Err(Errno::Inval);
        }
        if is_last && !follow_final {
            return Ok(Resolved {
                root: dir.root.clone(),
                parent: stack,
                name: Some(component),
                trailing_slash,
            });
        }
        let mut host = join(&dir.root, &stack);
        host.push(&component);
        let meta = match dir.root.lstat(&host)? {
            Some(meta) => meta,
            None if is_last => {
                return Ok(Resolved {
                    root: dir.root.clone(),
                    parent: stack,
                    name: Some(component),
                    trailing_slash,
                });
            }
            None => return Err(Errno::Noent),
        };
        if meta.is_symlink() {
            expansions += 1;
            if expansions > MAX_SYMLINKS {
                return Err(Errno::Loop);
            }
            let target = dir.root.fs.read_link(&host)?;
            let target = String::from_utf8(target).map_err(|_| Errno::Ilseq)?;
            if target.is_empty() {
                return Err(Errno::Noent);
            }
            if is_last && target.ends_with('/') {
                trailing_slash = true;
            }
            let mut expanded = components(&target)?;
            expanded.append(&mut queue);
            queue = expanded;
            continue;
        }
        if is_last {
            return Ok(Resolved {
                root: dir.root.clone(),
                parent: stack,
                name: Some(component),
                trailing_slash,
            });
        }
        if !meta.is_dir() {
            return Err(Errno::Notdir);
        }
        stack.push(component);
    }

    Ok(Resolved {
        root: dir.root.clone(),
        parent: stack,
        name: None,
        trailing_slash,
    })
}

/// Resolves `path` under `dir` for a call that acts on an entry of a directory (create,
/// remove, link, rename, read a link), as Wasmtime's cap-std does: the final component is
/// not followed, except that a path that names a directory (ending in `/` or `/.`, or
/// whose last component is `.` or `..`) is that directory, followed all the way, and the
/// call acts on its `.` (`name` is `None`). Such a path that leads to nothing is
/// `ENOENT`, to something else than a directory `ENOTDIR`.
pub fn resolve_parent(dir: &DirRef, path: &str) -> WasiResult<Resolved> {
    let last = path.rsplit('/').next().unwrap_or("");
    let names_a_dir = path.ends_with('/') || path.ends_with("/.") || last == "." || last == "..";
    if !names_a_dir {
        return resolve(dir, path, false);
    }
    let resolved = resolve(dir, path, true)?;
    let meta = resolved.lstat()?.ok_or(Errno::Noent)?;
    if !meta.is_dir() {
        return Err(Errno::Notdir);
    }
    Ok(Resolved {
        root: resolved.root.clone(),
        parent: resolved.as_dir_ref().rel,
        name: None,
        trailing_slash: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasi::std_fs::StdFs;
    use std::fs;

    fn sandbox(read_only: bool) -> (tempfile::TempDir, DirRef) {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        fs::create_dir_all(root.join("dir/nested")).unwrap();
        fs::write(root.join("dir/nested/file"), b"x").unwrap();
        fs::write(outer.path().join("secret"), b"s").unwrap();
        let root = Arc::new(Root {
            fs: Arc::new(StdFs),
            host: root,
            read_only,
        });
        (outer, DirRef::root(root))
    }

    #[test]
    fn a_single_name_is_counted_as_rusts_path_counts_it() {
        for path in ["a", "a/", "a//", "a/.", "a/./", "a\0b/"] {
            assert_eq!(
                single_name(path),
                Some(path.split('/').next().unwrap()),
                "{path}"
            );
        }
        for path in ["./a", "/a", ".", "..", "../", "a/b", "a/..", "", "//a"] {
            assert_eq!(single_name(path), None, "{path}");
        }
    }

    #[test]
    fn plain_and_dotted_paths_resolve_inside() {
        let (_t, dir) = sandbox(false);
        let r = resolve(
            &dir,
            "dir/.//nested/../../dir/nested/../nested///./file",
            false,
        )
        .unwrap();
        assert_eq!(r.parent, ["dir", "nested"]);
        assert_eq!(r.name.as_deref(), Some("file"));
        assert!(!r.trailing_slash);

        let r = resolve(&dir, "dir/nested/", false).unwrap();
        assert_eq!(r.name.as_deref(), Some("nested"));
        assert!(r.trailing_slash);

        let r = resolve(&dir, ".", false).unwrap();
        assert!(r.parent.is_empty() && r.name.is_none());
        let r = resolve(&dir, "dir/..", false).unwrap();
        assert!(r.parent.is_empty() && r.name.is_none());
    }

    #[test]
    fn escapes_are_refused() {
        let (_t, dir) = sandbox(false);
        for path in [
            "..",
            "../secret",
            "dir/../../secret",
            "dir/nested/../../../root/dir",
        ] {
            assert_eq!(
                resolve(&dir, path, true).unwrap_err(),
                Errno::Perm,
                "{path}"
            );
        }
        for path in ["/etc/passwd", "/", "//dir"] {
            assert_eq!(
                resolve(&dir, path, false).unwrap_err(),
                Errno::Perm,
                "{path}"
            );
        }
        // The directory fd is the boundary, even below the preopen's root.
        let nested = DirRef {
            root: dir.root.clone(),
            rel: vec!["dir".into()],
        };
        assert_eq!(
            resolve(&nested, "nested/../nested/file", false)
                .unwrap()
                .parent,
            ["dir", "nested"]
        );
        assert_eq!(
            resolve(&nested, "nested/../../dir/nested", false).unwrap_err(),
            Errno::Perm
        );
        assert_eq!(
            resolve(&nested, "../../secret", false).unwrap_err(),
            Errno::Perm
        );
    }

    #[test]
    fn bad_paths_are_errors() {
        let (_t, dir) = sandbox(false);
        assert_eq!(resolve(&dir, "", false).unwrap_err(), Errno::Noent);
        // A NUL where a component is looked up is refused there; in a final name left for
        // the call, where the call first touches it.
        assert_eq!(
            resolve(&dir, "dir\0/nested/file", false).unwrap_err(),
            Errno::Inval
        );
        assert_eq!(
            resolve(&dir, "dir/nested/file\0", true).unwrap_err(),
            Errno::Inval
        );
        let left = resolve(&dir, "dir/nested/file\0", false).unwrap();
        assert_eq!(left.host_path().unwrap_err(), Errno::Inval);
        assert_eq!(left.lstat().unwrap_err(), Errno::Inval);
        assert_eq!(
            resolve(&dir, "missing/file", false).unwrap_err(),
            Errno::Noent
        );
        assert_eq!(
            resolve(&dir, "dir/nested/file/x", false).unwrap_err(),
            Errno::Notdir
        );
        // A missing final component is fine (it may be created).
        let r = resolve(&dir, "dir/new", true).unwrap();
        assert_eq!(r.name.as_deref(), Some("new"));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_followed_inside_and_refused_outside() {
        use std::os::unix::fs::symlink;
        let (t, dir) = sandbox(false);
        let root = dir.root.host.clone();
        symlink("dir/nested", root.join("inside")).unwrap();
        symlink("../secret", root.join("up")).unwrap();
        symlink(t.path().join("secret"), root.join("abs")).unwrap();
        symlink("/etc", root.join("etc")).unwrap();
        symlink("nested/../../../secret", root.join("dir/sneaky")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        symlink("ping", root.join("pong")).unwrap();
        symlink("pong", root.join("ping")).unwrap();

        let r = resolve(&dir, "inside/file", false).unwrap();
        assert_eq!(r.parent, ["dir", "nested"]);
        let r = resolve(&dir, "inside", true).unwrap();
        assert_eq!(r.as_dir_ref().rel, ["dir", "nested"]);
        // Not following the final component leaves the link itself.
        let r = resolve(&dir, "up", false).unwrap();
        assert_eq!(r.name.as_deref(), Some("up"));

        for path in ["up", "abs", "etc/passwd", "etc", "dir/sneaky"] {
            assert_eq!(
                resolve(&dir, path, true).unwrap_err(),
                Errno::Perm,
                "{path}"
            );
        }
        for path in ["loop", "ping", "loop/x"] {
            assert_eq!(
                resolve(&dir, path, true).unwrap_err(),
                Errno::Loop,
                "{path}"
            );
        }
        assert_eq!(resolve(&dir, "pong/x", false).unwrap_err(), Errno::Loop);
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_replaced_by_a_symlink_is_not_followed() {
        let (t, dir) = sandbox(false);
        let root = dir.root.host.clone();
        let held = DirRef {
            root: dir.root.clone(),
            rel: vec!["dir".into()],
        };
        fs::rename(root.join("dir"), root.join("moved")).unwrap();
        assert_eq!(held.checked_path().unwrap_err(), Errno::Noent);
        std::os::unix::fs::symlink(t.path(), root.join("dir")).unwrap();
        assert_eq!(held.checked_path().unwrap_err(), Errno::Notdir);
        assert_eq!(resolve(&held, "secret", false).unwrap_err(), Errno::Notdir);
    }

    #[test]
    fn read_only_roots_refuse_writes() {
        let (_t, dir) = sandbox(true);
        assert_eq!(dir.root.check_writable(), Err(Errno::Rofs));
        let (_t, dir) = sandbox(false);
        assert_eq!(dir.root.check_writable(), Ok(()));
    }
}
