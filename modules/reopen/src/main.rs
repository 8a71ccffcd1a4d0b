//! `reopen DIR`: re-opens the preopened directory DIR (as `fd_prestat_dir_name` names
//! it, e.g. `.` or `/data`) with `path_open(preopen, ".", DIRECTORY)` and no rights at
//! all, then works through the new descriptor, every call with rights 0: creates
//! `reopen-new.txt`, writes it, reads it back, renames it to `reopen-renamed.txt` (left in
//! place), creates and removes `reopen-dir`, and prints the existing `greeting.txt`.
//!
//! Tests that rights are advisory, as under `wasmtime run`: a runner that enforced them
//! would refuse all of this with `ENOTCAPABLE`. Prints one line per step (`step: ok` or
//! `step: errno N`) and the re-opened descriptor's fdstat; exits 1 if a step failed.

use std::process::exit;

/// `$fdstat`, as `fd_fdstat_get` writes it.
#[repr(C)]
#[derive(Default)]
struct Fdstat {
    filetype: u8,
    flags: u16,
    rights_base: u64,
    rights_inheriting: u64,
}

/// `$ciovec` / `$iovec`.
#[repr(C)]
struct Iovec {
    buf: *const u8,
    len: usize,
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn fd_prestat_get(fd: u32, prestat: *mut u32) -> u16;
    fn fd_prestat_dir_name(fd: u32, path: *mut u8, len: usize) -> u16;
    fn fd_fdstat_get(fd: u32, stat: *mut Fdstat) -> u16;
    fn path_open(
        dirfd: u32,
        dirflags: u32,
        path: *const u8,
        path_len: usize,
        oflags: u16,
        rights_base: u64,
        rights_inheriting: u64,
        fdflags: u16,
        opened: *mut u32,
    ) -> u16;
    fn fd_write(fd: u32, iovs: *const Iovec, iovs_len: usize, written: *mut usize) -> u16;
    fn fd_read(fd: u32, iovs: *const Iovec, iovs_len: usize, read: *mut usize) -> u16;
    fn fd_close(fd: u32) -> u16;
    fn path_rename(
        fd: u32,
        old: *const u8,
        old_len: usize,
        new_fd: u32,
        new: *const u8,
        new_len: usize,
    ) -> u16;
    fn path_create_directory(fd: u32, path: *const u8, len: usize) -> u16;
    fn path_remove_directory(fd: u32, path: *const u8, len: usize) -> u16;
}

const OFLAGS_CREAT: u16 = 1 << 0;
const OFLAGS_DIRECTORY: u16 = 1 << 1;
const OFLAGS_TRUNC: u16 = 1 << 3;
/// `$preopentype` of a directory.
const PREOPENTYPE_DIR: u32 = 0;
/// `errno::badf`: what `fd_prestat_get` answers past the last preopen.
const ERRNO_BADF: u16 = 8;

const CONTENT: &[u8] = b"created through a re-opened directory\n";

/// The step log: prints each result and remembers whether one failed.
struct Steps {
    failed: bool,
}

impl Steps {
    /// Prints `name: ok` or `name: errno N`; returns the value on success.
    fn check<T>(&mut self, name: &str, result: Result<T, u16>) -> Option<T> {
        match result {
            Ok(value) => {
                println!("{name}: ok");
                Some(value)
            }
            Err(errno) => {
                println!("{name}: errno {errno}");
                self.failed = true;
                None
            }
        }
    }
}

fn errno(code: u16) -> Result<(), u16> {
    if code == 0 {
        Ok(())
    } else {
        Err(code)
    }
}

/// The fd of the preopened directory named `name`, scanning fds 3, 4, ...
fn find_preopen(name: &str) -> Option<u32> {
    for fd in 3u32.. {
        let mut prestat = [0u32; 2];
        // SAFETY: `prestat` has the 8 bytes of a `$prestat`.
        match unsafe { fd_prestat_get(fd, prestat.as_mut_ptr()) } {
            0 => {}
            ERRNO_BADF => return None,
            _ => continue,
        }
        if prestat[0] & 0xff != PREOPENTYPE_DIR {
            continue;
        }
        let mut buf = vec![0u8; prestat[1] as usize];
        // SAFETY: `buf` has the length the guest was told.
        if unsafe { fd_prestat_dir_name(fd, buf.as_mut_ptr(), buf.len()) } != 0 {
            continue;
        }
        if buf == name.as_bytes() {
            return Some(fd);
        }
    }
    None
}

fn open(dirfd: u32, path: &str, oflags: u16) -> Result<u32, u16> {
    let mut fd = 0;
    // SAFETY: `path` and `fd` are valid for the call; rights and fdflags are 0.
    errno(unsafe {
        path_open(
            dirfd,
            0,
            path.as_ptr(),
            path.len(),
            oflags,
            0,
            0,
            0,
            &mut fd,
        )
    })?;
    Ok(fd)
}

fn close(fd: u32) -> Result<(), u16> {
    // SAFETY: closing a descriptor has no memory arguments.
    errno(unsafe { fd_close(fd) })
}

fn write_all(fd: u32, mut data: &[u8]) -> Result<(), u16> {
    while !data.is_empty() {
        let iov = Iovec {
            buf: data.as_ptr(),
            len: data.len(),
        };
        let mut written = 0;
        // SAFETY: `iov` names `data`, which outlives the call.
        errno(unsafe { fd_write(fd, &iov, 1, &mut written) })?;
        data = &data[written..];
    }
    Ok(())
}

fn read_all(fd: u32) -> Result<Vec<u8>, u16> {
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        let iov = Iovec {
            buf: buf.as_mut_ptr(),
            len: buf.len(),
        };
        let mut read = 0;
        // SAFETY: `iov` names `buf`, which outlives the call.
        errno(unsafe { fd_read(fd, &iov, 1, &mut read) })?;
        if read == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..read]);
    }
}

fn main() {
    let Some(name) = std::env::args().nth(1) else {
        eprintln!("usage: reopen PREOPENED-DIRECTORY");
        exit(2);
    };
    let mut steps = Steps { failed: false };
    let Some(preopen) = find_preopen(&name) else {
        println!("find preopen {name}: not found");
        exit(1);
    };
    println!("find preopen {name}: ok");

    let Some(dir) = steps.check("reopen", open(preopen, ".", OFLAGS_DIRECTORY)) else {
        exit(1);
    };
    let mut stat = Fdstat::default();
    // SAFETY: `stat` has the layout of a `$fdstat`.
    match unsafe { fd_fdstat_get(dir, &mut stat) } {
        // The type only: rights are advisory, and the ones reported for a directory opened
        // without rights are ours (docs/decisions.md, "WASI semantics"), not compared.
        0 => println!("fdstat: filetype {}", stat.filetype),
        errno => {
            println!("fdstat: errno {errno}");
            steps.failed = true;
        }
    }

    let created = open(dir, "reopen-new.txt", OFLAGS_CREAT | OFLAGS_TRUNC);
    if let Some(fd) = steps.check("create reopen-new.txt", created) {
        steps.check("write", write_all(fd, CONTENT));
        steps.check("close", close(fd));
    }
    if let Some(fd) = steps.check("open reopen-new.txt again", open(dir, "reopen-new.txt", 0)) {
        match read_all(fd) {
            Ok(data) if data == CONTENT => println!("read back: ok"),
            Ok(_) => {
                println!("read back: different content");
                steps.failed = true;
            }
            Err(errno) => {
                steps.check::<()>("read back", Err(errno));
            }
        }
        steps.check("close", close(fd));
    }
    let (old, new) = ("reopen-new.txt", "reopen-renamed.txt");
    // SAFETY: both paths outlive the call.
    let renamed =
        unsafe { path_rename(dir, old.as_ptr(), old.len(), dir, new.as_ptr(), new.len()) };
    steps.check("rename to reopen-renamed.txt", errno(renamed));
    let sub = "reopen-dir";
    // SAFETY: `sub` outlives the calls.
    let made = unsafe { path_create_directory(dir, sub.as_ptr(), sub.len()) };
    steps.check("mkdir reopen-dir", errno(made));
    // SAFETY: as above.
    let removed = unsafe { path_remove_directory(dir, sub.as_ptr(), sub.len()) };
    steps.check("rmdir reopen-dir", errno(removed));

    if let Some(fd) = steps.check("open greeting.txt", open(dir, "greeting.txt", 0)) {
        if let Some(data) = steps.check("read greeting.txt", read_all(fd)) {
            print!("{}", String::from_utf8_lossy(&data));
        }
        steps.check("close", close(fd));
    }
    steps.check("close directory", close(dir));
    exit(i32::from(steps.failed));
}
