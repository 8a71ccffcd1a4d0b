//! `wasi-fuzz`: runs a script of WASI preview1 calls read from stdin and prints every
//! result, so that two runtimes given the same script can be compared line by line (`cargo
//! xtask fuzz-wasi`). Each script line is one call with its arguments; each output line
//! is the call's line number, the call, its errno and the values it returned. At the end
//! (and at every `tree` line) the module prints the tree of its working folder, preopen
//! fd 3, as it sees it through WASI: names, types, sizes, contents and symlink targets.
//!
//! The script's grammar (one call per line; `#` starts a comment line; tokens are
//! separated by blanks):
//! - a descriptor is a number (`3`, `99`, `4294967295`) or `$K`, the one the `open` that
//!   named slot K returned (9999 when that open failed);
//! - a path or text is percent-encoded: bytes other than `A-Za-z0-9._/-` are `%XX`, and
//!   `%` alone is the empty string;
//! - numbers are decimal or `0x` hexadecimal.
//!
//! `reset` closes every descriptor above 3 and forgets the slots, so that one input can
//! hold many independent scripts (each working in a folder of its own).

use std::collections::BTreeMap;
use std::io::Read;

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Fdstat {
    filetype: u8,
    flags: u16,
    rights_base: u64,
    rights_inheriting: u64,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Filestat {
    dev: u64,
    ino: u64,
    filetype: u8,
    nlink: u64,
    size: u64,
    atim: u64,
    mtim: u64,
    ctim: u64,
}

#[repr(C)]
struct Iovec {
    buf: *const u8,
    len: usize,
}

/// `$subscription`: userdata, then the tagged union (tag at 8, contents from 16).
#[repr(C)]
#[derive(Clone, Copy)]
struct Subscription {
    userdata: u64,
    tag: u8,
    _pad: [u8; 7],
    /// Clock: id (u32, then 4 bytes of padding), timeout, precision, flags (u16). Fd
    /// events: the descriptor in the first 4 bytes.
    contents: [u64; 4],
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Event {
    userdata: u64,
    error: u16,
    kind: u8,
    nbytes: u64,
    flags: u16,
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn fd_advise(fd: u32, offset: u64, len: u64, advice: u8) -> u16;
    fn fd_allocate(fd: u32, offset: u64, len: u64) -> u16;
    fn fd_close(fd: u32) -> u16;
    fn fd_datasync(fd: u32) -> u16;
    fn fd_fdstat_get(fd: u32, stat: *mut Fdstat) -> u16;
    fn fd_fdstat_set_flags(fd: u32, flags: u16) -> u16;
    fn fd_fdstat_set_rights(fd: u32, base: u64, inheriting: u64) -> u16;
    fn fd_filestat_get(fd: u32, stat: *mut Filestat) -> u16;
    fn fd_filestat_set_size(fd: u32, size: u64) -> u16;
    fn fd_filestat_set_times(fd: u32, atim: u64, mtim: u64, flags: u16) -> u16;
    fn fd_pread(fd: u32, iovs: *const Iovec, len: usize, offset: u64, read: *mut usize) -> u16;
    fn fd_prestat_get(fd: u32, prestat: *mut [u32; 2]) -> u16;
    fn fd_prestat_dir_name(fd: u32, path: *mut u8, len: usize) -> u16;
    fn fd_pwrite(fd: u32, iovs: *const Iovec, len: usize, offset: u64, written: *mut usize) -> u16;
    fn fd_read(fd: u32, iovs: *const Iovec, len: usize, read: *mut usize) -> u16;
    fn fd_readdir(fd: u32, buf: *mut u8, len: usize, cookie: u64, used: *mut usize) -> u16;
    fn fd_renumber(fd: u32, to: u32) -> u16;
    fn fd_seek(fd: u32, offset: i64, whence: u8, new_offset: *mut u64) -> u16;
    fn fd_sync(fd: u32) -> u16;
    fn fd_tell(fd: u32, offset: *mut u64) -> u16;
    fn fd_write(fd: u32, iovs: *const Iovec, len: usize, written: *mut usize) -> u16;
    fn path_create_directory(fd: u32, path: *const u8, len: usize) -> u16;
    fn path_filestat_get(
        fd: u32,
        flags: u32,
        path: *const u8,
        len: usize,
        st: *mut Filestat,
    ) -> u16;
    fn path_filestat_set_times(
        fd: u32,
        flags: u32,
        path: *const u8,
        len: usize,
        atim: u64,
        mtim: u64,
        fst_flags: u16,
    ) -> u16;
    fn path_link(
        old_fd: u32,
        old_flags: u32,
        old: *const u8,
        old_len: usize,
        new_fd: u32,
        new: *const u8,
        new_len: usize,
    ) -> u16;
    fn path_open(
        fd: u32,
        dirflags: u32,
        path: *const u8,
        len: usize,
        oflags: u16,
        base: u64,
        inheriting: u64,
        fdflags: u16,
        opened: *mut u32,
    ) -> u16;
    fn path_readlink(
        fd: u32,
        path: *const u8,
        len: usize,
        buf: *mut u8,
        buf_len: usize,
        used: *mut usize,
    ) -> u16;
    fn path_remove_directory(fd: u32, path: *const u8, len: usize) -> u16;
    fn path_rename(
        fd: u32,
        old: *const u8,
        old_len: usize,
        new_fd: u32,
        new: *const u8,
        new_len: usize,
    ) -> u16;
    fn path_symlink(old: *const u8, old_len: usize, fd: u32, new: *const u8, new_len: usize)
        -> u16;
    fn path_unlink_file(fd: u32, path: *const u8, len: usize) -> u16;
    fn poll_oneoff(subs: *const Subscription, events: *mut Event, n: usize, got: *mut usize)
        -> u16;
    fn clock_res_get(id: u32, res: *mut u64) -> u16;
    fn clock_time_get(id: u32, precision: u64, time: *mut u64) -> u16;
}

/// What an `open` of a slot that failed stands for later.
const FAILED_SLOT: u32 = 9999;
/// The working folder's preopen.
const ROOT: u32 = 3;
/// Rights to read a file (`FD_READ`), and a directory (`FD_READ`, `FD_READDIR`).
const READ: u64 = 0x2;
const READ_DIR: u64 = 0x4002;
/// Times below this (in ns) are ones a script set; above, the clock's own.
const SCRIPT_TIME_LIMIT: u64 = 1_000_000_000_000_000;

/// The errno as the output shows it.
fn errno(code: u16) -> String {
    const NAMES: [&str; 77] = [
        "SUCCESS",
        "2BIG",
        "ACCES",
        "ADDRINUSE",
        "ADDRNOTAVAIL",
        "AFNOSUPPORT",
        "AGAIN",
        "ALREADY",
        "BADF",
        "BADMSG",
        "BUSY",
        "CANCELED",
        "CHILD",
        "CONNABORTED",
        "CONNREFUSED",
        "CONNRESET",
        "DEADLK",
        "DESTADDRREQ",
        "DOM",
        "DQUOT",
        "EXIST",
        "FAULT",
        "FBIG",
        "HOSTUNREACH",
        "IDRM",
        "ILSEQ",
        "INPROGRESS",
        "INTR",
        "INVAL",
        "IO",
        "ISCONN",
        "ISDIR",
        "LOOP",
        "MFILE",
        "MLINK",
        "MSGSIZE",
        "MULTIHOP",
        "NAMETOOLONG",
        "NETDOWN",
        "NETRESET",
        "NETUNREACH",
        "NFILE",
        "NOBUFS",
        "NODEV",
        "NOENT",
        "NOEXEC",
        "NOLCK",
        "NOLINK",
        "NOMEM",
        "NOMSG",
        "NOPROTOOPT",
        "NOSPC",
        "NOSYS",
        "NOTCONN",
        "NOTDIR",
        "NOTEMPTY",
        "NOTRECOVERABLE",
        "NOTSOCK",
        "NOTSUP",
        "NOTTY",
        "NXIO",
        "OVERFLOW",
        "OWNERDEAD",
        "PERM",
        "PIPE",
        "PROTO",
        "RANGE",
        "ROFS",
        "SPIPE",
        "SRCH",
        "STALE",
        "TIMEDOUT",
        "TXTBSY",
        "XDEV",
        "NOTCAPABLE",
        "?",
        "?",
    ];
    match code {
        0 => "ok".to_string(),
        c => format!("E{}({c})", NAMES.get(c as usize).copied().unwrap_or("?")),
    }
}

/// Bytes as the output shows them: printable ASCII as is, the rest (and `%`) as `%XX`.
fn shown(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        if b.is_ascii_graphic() && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A time as the output shows it: a script's own value, or `now` for the clock's.
fn time(ns: u64) -> String {
    if ns < SCRIPT_TIME_LIMIT {
        ns.to_string()
    } else {
        "now".to_string()
    }
}

fn filestat(st: &Filestat) -> String {
    format!(
        "type={} nlink={} size={} atim={} mtim={}",
        st.filetype,
        st.nlink,
        st.size,
        time(st.atim),
        time(st.mtim)
    )
}

struct Interpreter {
    slots: BTreeMap<String, u32>,
    /// Every descriptor an open or renumber handed out, for `reset`.
    handed_out: Vec<u32>,
}

impl Interpreter {
    fn fd(&self, token: &str) -> Result<u32, String> {
        match token.strip_prefix('$') {
            Some(slot) => Ok(self.slots.get(slot).copied().unwrap_or(FAILED_SLOT)),
            None => number(token).map(|n| n as u32),
        }
    }

    /// Runs one line; gives what to print after its number (`None` for a comment).
    fn line(&mut self, line: &str) -> Result<Option<String>, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((&op, args)) = words.split_first() else {
            return Ok(None);
        };
        if op.starts_with('#') {
            return Ok(None);
        }
        let want = |n: usize| -> Result<(), String> {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!("{op} takes {n} arguments, not {}", args.len()))
            }
        };
        let out = match op {
            "open" => {
                want(8)?;
                let (dir, lookup) = (self.fd(args[0])?, number(args[1])? as u32);
                let path = text(args[2])?;
                let (oflags, base) = (number(args[3])? as u16, number(args[4])?);
                let (inheriting, fdflags) = (number(args[5])?, number(args[6])? as u16);
                let mut fd = 0;
                // SAFETY: the path and the result live across the call.
                let e = unsafe {
                    path_open(
                        dir,
                        lookup,
                        path.as_ptr(),
                        path.len(),
                        oflags,
                        base,
                        inheriting,
                        fdflags,
                        &mut fd,
                    )
                };
                let slot = args[7].trim_start_matches('$').to_string();
                if e == 0 {
                    self.slots.insert(slot, fd);
                    self.handed_out.push(fd);
                    format!("{} fd={fd}", errno(e))
                } else {
                    self.slots.remove(&slot);
                    errno(e)
                }
            }
            "close" => {
                want(1)?;
                // SAFETY: plain values.
                errno(unsafe { fd_close(self.fd(args[0])?) })
            }
            "read" | "pread" => {
                let offset = if op == "pread" {
                    want(3)?;
                    Some(number(args[2])?)
                } else {
                    want(2)?;
                    None
                };
                self.read(self.fd(args[0])?, &[number(args[1])? as usize], offset)
            }
            "readv" => {
                want(3)?;
                let lens = [number(args[1])? as usize, number(args[2])? as usize];
                self.read(self.fd(args[0])?, &lens, None)
            }
            "write" | "pwrite" => {
                let offset = if op == "pwrite" {
                    want(3)?;
                    Some(number(args[2])?)
                } else {
                    want(2)?;
                    None
                };
                self.write(self.fd(args[0])?, &[text(args[1])?], offset)
            }
            "writev" => {
                want(3)?;
                self.write(self.fd(args[0])?, &[text(args[1])?, text(args[2])?], None)
            }
            "seek" => {
                want(3)?;
                let mut at = 0;
                // SAFETY: plain values and a result that lives across the call.
                let e = unsafe {
                    fd_seek(
                        self.fd(args[0])?,
                        number(args[1])? as i64,
                        number(args[2])? as u8,
                        &mut at,
                    )
                };
                with_value(e, || format!("offset={at}"))
            }
            "tell" => {
                want(1)?;
                let mut at = 0;
                // SAFETY: as above.
                let e = unsafe { fd_tell(self.fd(args[0])?, &mut at) };
                with_value(e, || format!("offset={at}"))
            }
            "fdstat" => {
                want(1)?;
                let mut st = Fdstat::default();
                // SAFETY: as above.
                let e = unsafe { fd_fdstat_get(self.fd(args[0])?, &mut st) };
                with_value(e, || {
                    format!(
                        "type={} flags={:#x} base={:#x} inheriting={:#x}",
                        st.filetype, st.flags, st.rights_base, st.rights_inheriting
                    )
                })
            }
            "setflags" => {
                want(2)?;
                // SAFETY: plain values.
                errno(unsafe { fd_fdstat_set_flags(self.fd(args[0])?, number(args[1])? as u16) })
            }
            "setrights" => {
                want(3)?;
                let (fd, base, inheriting) =
                    (self.fd(args[0])?, number(args[1])?, number(args[2])?);
                // SAFETY: plain values.
                errno(unsafe { fd_fdstat_set_rights(fd, base, inheriting) })
            }
            "fstat" => {
                want(1)?;
                let mut st = Filestat::default();
                // SAFETY: a result that lives across the call.
                let e = unsafe { fd_filestat_get(self.fd(args[0])?, &mut st) };
                with_value(e, || filestat(&st))
            }
            "fsetsize" => {
                want(2)?;
                // SAFETY: plain values.
                errno(unsafe { fd_filestat_set_size(self.fd(args[0])?, number(args[1])?) })
            }
            "fsettimes" => {
                want(4)?;
                let fd = self.fd(args[0])?;
                let (atim, mtim, flags) = (number(args[1])?, number(args[2])?, number(args[3])?);
                // SAFETY: plain values.
                errno(unsafe { fd_filestat_set_times(fd, atim, mtim, flags as u16) })
            }
            "advise" => {
                want(4)?;
                let fd = self.fd(args[0])?;
                let (offset, len, advice) = (number(args[1])?, number(args[2])?, number(args[3])?);
                // SAFETY: plain values.
                errno(unsafe { fd_advise(fd, offset, len, advice as u8) })
            }
            "allocate" => {
                want(3)?;
                let (fd, offset, len) = (self.fd(args[0])?, number(args[1])?, number(args[2])?);
                // SAFETY: plain values.
                errno(unsafe { fd_allocate(fd, offset, len) })
            }
            "datasync" => {
                want(1)?;
                // SAFETY: plain values.
                errno(unsafe { fd_datasync(self.fd(args[0])?) })
            }
            "sync" => {
                want(1)?;
                // SAFETY: plain values.
                errno(unsafe { fd_sync(self.fd(args[0])?) })
            }
            "renumber" => {
                want(2)?;
                let (from, to) = (self.fd(args[0])?, self.fd(args[1])?);
                // SAFETY: plain values.
                let e = unsafe { fd_renumber(from, to) };
                if e == 0 {
                    self.handed_out.push(to);
                }
                errno(e)
            }
            "prestat" => {
                want(2)?;
                let fd = self.fd(args[0])?;
                let mut prestat = [0u32; 2];
                // SAFETY: a result that lives across the call.
                let e = unsafe { fd_prestat_get(fd, &mut prestat) };
                let mut name = vec![0u8; number(args[1])? as usize];
                // SAFETY: `name` is as long as the length given.
                let e2 = unsafe { fd_prestat_dir_name(fd, name.as_mut_ptr(), name.len()) };
                format!(
                    "{} tag={} len={} name: {} {}",
                    errno(e),
                    prestat[0] & 0xff,
                    prestat[1],
                    errno(e2),
                    if e2 == 0 { shown(&name) } else { String::new() }
                )
            }
            "readdir" => {
                want(3)?;
                self.readdir(
                    self.fd(args[0])?,
                    number(args[1])? as usize,
                    number(args[2])?,
                )
            }
            "mkdir" | "rmdir" | "unlink" => {
                want(2)?;
                let (fd, path) = (self.fd(args[0])?, text(args[1])?);
                let f = match op {
                    "mkdir" => path_create_directory,
                    "rmdir" => path_remove_directory,
                    _ => path_unlink_file,
                };
                // SAFETY: the path lives across the call.
                errno(unsafe { f(fd, path.as_ptr(), path.len()) })
            }
            "pstat" => {
                want(3)?;
                let (fd, lookup, path) = (self.fd(args[0])?, number(args[1])?, text(args[2])?);
                let mut st = Filestat::default();
                // SAFETY: the path and result live across the call.
                let e = unsafe {
                    path_filestat_get(fd, lookup as u32, path.as_ptr(), path.len(), &mut st)
                };
                with_value(e, || filestat(&st))
            }
            "psettimes" => {
                want(6)?;
                let (fd, lookup, path) = (self.fd(args[0])?, number(args[1])?, text(args[2])?);
                let (atim, mtim, flags) = (number(args[3])?, number(args[4])?, number(args[5])?);
                // SAFETY: the path lives across the call.
                errno(unsafe {
                    path_filestat_set_times(
                        fd,
                        lookup as u32,
                        path.as_ptr(),
                        path.len(),
                        atim,
                        mtim,
                        flags as u16,
                    )
                })
            }
            "link" => {
                want(5)?;
                let (old_fd, lookup, old) = (self.fd(args[0])?, number(args[1])?, text(args[2])?);
                let (new_fd, new) = (self.fd(args[3])?, text(args[4])?);
                // SAFETY: the paths live across the call.
                errno(unsafe {
                    path_link(
                        old_fd,
                        lookup as u32,
                        old.as_ptr(),
                        old.len(),
                        new_fd,
                        new.as_ptr(),
                        new.len(),
                    )
                })
            }
            "symlink" => {
                want(3)?;
                let (target, fd, path) = (text(args[0])?, self.fd(args[1])?, text(args[2])?);
                // SAFETY: the paths live across the call.
                errno(unsafe {
                    path_symlink(target.as_ptr(), target.len(), fd, path.as_ptr(), path.len())
                })
            }
            "readlink" => {
                want(3)?;
                let (fd, path) = (self.fd(args[0])?, text(args[1])?);
                let mut buf = vec![0u8; number(args[2])? as usize];
                let mut used = 0;
                // SAFETY: the path, buffer and result live across the call.
                let e = unsafe {
                    path_readlink(
                        fd,
                        path.as_ptr(),
                        path.len(),
                        buf.as_mut_ptr(),
                        buf.len(),
                        &mut used,
                    )
                };
                with_value(e, || {
                    format!("{used} {}", shown(&buf[..used.min(buf.len())]))
                })
            }
            "rename" => {
                want(4)?;
                let (old_fd, old) = (self.fd(args[0])?, text(args[1])?);
                let (new_fd, new) = (self.fd(args[2])?, text(args[3])?);
                // SAFETY: the paths live across the call.
                errno(unsafe {
                    path_rename(
                        old_fd,
                        old.as_ptr(),
                        old.len(),
                        new_fd,
                        new.as_ptr(),
                        new.len(),
                    )
                })
            }
            "poll" => self.poll(args)?,
            "clockres" => {
                want(1)?;
                let mut res = 0;
                // SAFETY: a result that lives across the call.
                let e = unsafe { clock_res_get(number(args[0])? as u32, &mut res) };
                with_value(e, || format!("nonzero={}", res > 0))
            }
            "clocktime" => {
                want(1)?;
                let mut now = 0;
                // SAFETY: a result that lives across the call.
                let e = unsafe { clock_time_get(number(args[0])? as u32, 1, &mut now) };
                with_value(e, || format!("nonzero={}", now > 0))
            }
            "tree" => {
                want(0)?;
                let mut out = String::from("\n");
                tree(ROOT, "", &mut out, 0);
                out
            }
            "reset" => {
                want(0)?;
                let mut fds = std::mem::take(&mut self.handed_out);
                fds.sort_unstable();
                fds.dedup();
                for fd in fds.into_iter().filter(|&fd| fd > ROOT) {
                    // SAFETY: plain values; a descriptor already closed just says so.
                    unsafe { fd_close(fd) };
                }
                self.slots.clear();
                "done".to_string()
            }
            other => return Err(format!("unknown call {other:?}")),
        };
        Ok(Some(out))
    }

    fn read(&self, fd: u32, lens: &[usize], offset: Option<u64>) -> String {
        let mut bufs: Vec<Vec<u8>> = lens.iter().map(|&len| vec![0u8; len]).collect();
        let iovs: Vec<Iovec> = bufs
            .iter_mut()
            .map(|b| Iovec {
                buf: b.as_mut_ptr(),
                len: b.len(),
            })
            .collect();
        let mut got = 0;
        // SAFETY: the buffers and the result live across the call.
        let e = unsafe {
            match offset {
                Some(offset) => fd_pread(fd, iovs.as_ptr(), iovs.len(), offset, &mut got),
                None => fd_read(fd, iovs.as_ptr(), iovs.len(), &mut got),
            }
        };
        with_value(e, || {
            let all: Vec<u8> = bufs.concat();
            format!("{got} {}", shown(&all[..got.min(all.len())]))
        })
    }

    fn write(&self, fd: u32, texts: &[Vec<u8>], offset: Option<u64>) -> String {
        let iovs: Vec<Iovec> = texts
            .iter()
            .map(|t| Iovec {
                buf: t.as_ptr(),
                len: t.len(),
            })
            .collect();
        let mut put = 0;
        // SAFETY: the texts and the result live across the call.
        let e = unsafe {
            match offset {
                Some(offset) => fd_pwrite(fd, iovs.as_ptr(), iovs.len(), offset, &mut put),
                None => fd_write(fd, iovs.as_ptr(), iovs.len(), &mut put),
            }
        };
        with_value(e, || format!("{put}"))
    }

    fn readdir(&self, fd: u32, len: usize, cookie: u64) -> String {
        let mut buf = vec![0u8; len];
        let mut used = 0;
        // SAFETY: the buffer and the result live across the call.
        let e = unsafe { fd_readdir(fd, buf.as_mut_ptr(), buf.len(), cookie, &mut used) };
        with_value(e, || {
            let mut out = format!("used={used}");
            let mut at = 0;
            let used = used.min(buf.len());
            while at + 24 <= used {
                let next = u64::from_le_bytes(buf[at..at + 8].try_into().unwrap());
                let namlen = u32::from_le_bytes(buf[at + 16..at + 20].try_into().unwrap());
                let kind = buf[at + 20];
                let name_at = at + 24;
                let end = (name_at + namlen as usize).min(used);
                out.push_str(&format!(
                    " [{} type={kind} next={next}]",
                    shown(&buf[name_at..end])
                ));
                at = name_at + namlen as usize;
            }
            out
        })
    }

    /// `poll SUB...`: `cNS` a relative monotonic clock of NS nanoseconds, `rFD` / `wFD`
    /// readiness to read or write FD (a number or `$K`).
    fn poll(&self, args: &[&str]) -> Result<String, String> {
        let mut subs = Vec::new();
        for (userdata, arg) in args.iter().enumerate() {
            let (tag, contents) = match arg.split_at(1) {
                ("c", ns) => (0u8, [1u64, number(ns)?, 0, 0]),
                ("r", fd) => (1u8, [self.fd(fd)? as u64, 0, 0, 0]),
                ("w", fd) => (2u8, [self.fd(fd)? as u64, 0, 0, 0]),
                _ => return Err(format!("not a subscription: {arg:?}")),
            };
            subs.push(Subscription {
                userdata: userdata as u64,
                tag,
                _pad: [0; 7],
                contents,
            });
        }
        let mut events = vec![Event::default(); subs.len()];
        let mut got = 0;
        // SAFETY: the subscriptions, events and result live across the call.
        let e = unsafe { poll_oneoff(subs.as_ptr(), events.as_mut_ptr(), subs.len(), &mut got) };
        Ok(with_value(e, || {
            let mut out = format!("events={got}");
            for ev in &events[..got.min(events.len())] {
                out.push_str(&format!(
                    " [ud={} {} type={} nbytes={} flags={}]",
                    ev.userdata,
                    errno(ev.error),
                    ev.kind,
                    ev.nbytes,
                    ev.flags
                ));
            }
            out
        }))
    }
}

/// Prints the tree below directory `dir` + `prefix` (names in order, a line each).
fn tree(dir: u32, prefix: &str, out: &mut String, depth: usize) {
    if depth > 8 {
        return;
    }
    let path = if prefix.is_empty() { "." } else { prefix };
    let mut fd = 0;
    // SAFETY: the path and result live across the call.
    let e = unsafe {
        path_open(
            dir,
            0,
            path.as_ptr(),
            path.len(),
            2,
            READ_DIR,
            0,
            0,
            &mut fd,
        )
    };
    if e != 0 {
        out.push_str(&format!("  {path}/: open {}\n", errno(e)));
        return;
    }
    let mut names = Vec::new();
    let mut cookie = 0;
    loop {
        let mut buf = vec![0u8; 4096];
        let mut used = 0;
        // SAFETY: the buffer and the result live across the call.
        let e = unsafe { fd_readdir(fd, buf.as_mut_ptr(), buf.len(), cookie, &mut used) };
        if e != 0 {
            out.push_str(&format!("  {path}/: readdir {}\n", errno(e)));
            break;
        }
        let mut at = 0;
        let mut last = None;
        while at + 24 <= used {
            let next = u64::from_le_bytes(buf[at..at + 8].try_into().unwrap());
            let namlen = u32::from_le_bytes(buf[at + 16..at + 20].try_into().unwrap()) as usize;
            if at + 24 + namlen > used {
                break;
            }
            let name = buf[at + 24..at + 24 + namlen].to_vec();
            if name != b"." && name != b".." {
                names.push(name);
            }
            last = Some(next);
            at += 24 + namlen;
        }
        match last {
            Some(next) if used == buf.len() => cookie = next,
            _ => break,
        }
    }
    // SAFETY: plain values.
    unsafe { fd_close(fd) };
    names.sort();
    names.dedup();
    for name in names {
        let name = String::from_utf8_lossy(&name).into_owned();
        let child = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let mut st = Filestat::default();
        // SAFETY: the path and result live across the call.
        let e = unsafe { path_filestat_get(dir, 0, child.as_ptr(), child.len(), &mut st) };
        if e != 0 {
            out.push_str(&format!(
                "  {}: stat {}\n",
                shown(child.as_bytes()),
                errno(e)
            ));
            continue;
        }
        match st.filetype {
            3 => {
                out.push_str(&format!("  {}/ dir\n", shown(child.as_bytes())));
                tree(dir, &child, out, depth + 1);
            }
            7 => {
                let mut buf = vec![0u8; 256];
                let mut used = 0;
                // SAFETY: as above.
                let e = unsafe {
                    path_readlink(
                        dir,
                        child.as_ptr(),
                        child.len(),
                        buf.as_mut_ptr(),
                        buf.len(),
                        &mut used,
                    )
                };
                out.push_str(&format!(
                    "  {} -> {} {}\n",
                    shown(child.as_bytes()),
                    errno(e),
                    shown(&buf[..used.min(buf.len())])
                ));
            }
            4 => {
                let mut file = 0;
                // SAFETY: as above.
                let e = unsafe {
                    path_open(
                        dir,
                        0,
                        child.as_ptr(),
                        child.len(),
                        0,
                        READ,
                        0,
                        0,
                        &mut file,
                    )
                };
                let mut content = vec![0u8; 128];
                let mut got = 0;
                if e == 0 {
                    let iov = Iovec {
                        buf: content.as_mut_ptr(),
                        len: content.len(),
                    };
                    // SAFETY: the buffer and result live across the call.
                    unsafe {
                        fd_read(file, &iov, 1, &mut got);
                        fd_close(file);
                    }
                }
                out.push_str(&format!(
                    "  {} file size={} {}\n",
                    shown(child.as_bytes()),
                    st.size,
                    shown(&content[..got.min(content.len())])
                ));
            }
            other => out.push_str(&format!("  {} type={other}\n", shown(child.as_bytes()))),
        }
    }
}

fn with_value(e: u16, value: impl FnOnce() -> String) -> String {
    if e == 0 {
        format!("ok {}", value())
    } else {
        errno(e)
    }
}

fn number(token: &str) -> Result<u64, String> {
    let parsed = match token.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => token
            .parse::<u64>()
            .or_else(|_| token.parse::<i64>().map(|n| n as u64)),
    };
    parsed.map_err(|_| format!("not a number: {token:?}"))
}

/// A percent-encoded path or text (`%` alone: empty).
fn text(token: &str) -> Result<Vec<u8>, String> {
    if token == "%" {
        return Ok(Vec::new());
    }
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = token
                .get(i + 1..i + 3)
                .ok_or_else(|| format!("a bad escape in {token:?}"))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad escape {hex:?}"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn main() {
    let mut script = String::new();
    if let Err(err) = std::io::stdin().read_to_string(&mut script) {
        println!("cannot read the script: {err}");
        std::process::exit(2);
    }
    let mut interpreter = Interpreter {
        slots: BTreeMap::new(),
        handed_out: Vec::new(),
    };
    for (n, line) in script.lines().enumerate() {
        match interpreter.line(line) {
            Ok(Some(out)) => println!("{} {} -> {out}", n + 1, line.trim()),
            Ok(None) => {}
            Err(err) => {
                println!("{}: {err}", n + 1);
                std::process::exit(2);
            }
        }
    }
    let mut out = String::new();
    tree(ROOT, "", &mut out, 0);
    print!("end: tree\n{out}");
}
