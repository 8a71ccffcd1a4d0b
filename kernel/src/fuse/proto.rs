//! The FUSE wire format (protocol 7.31, as virtiofsd speaks it): opcodes, the request
//! header and bodies we send, and the replies we read. Everything is little-endian; the
//! layouts are the Linux `fuse_*` structures.
//!
//! Requests are built as byte vectors ([`Request`]); replies are decoded from the bytes the
//! device wrote ([`Reply`]), with every length checked: a short reply is `EIO`, never a
//! panic.

use crate::wasi::abi::{filetype, Filestat};
use crate::wasi::errno::{self, Errno, WasiResult};

/// The protocol version we ask for. virtiofsd accepts 7.27 and later.
pub const MAJOR: u32 = 7;
pub const MINOR: u32 = 31;

/// The node id of the shared directory's root.
pub const ROOT_ID: u64 = 1;

/// Size of `fuse_in_header`.
pub const IN_HEADER_LEN: usize = 40;
/// Size of `fuse_out_header`.
pub const OUT_HEADER_LEN: usize = 16;

/// Opcodes we send.
pub mod opcode {
    pub const LOOKUP: u32 = 1;
    pub const GETATTR: u32 = 3;
    pub const SETATTR: u32 = 4;
    pub const READLINK: u32 = 5;
    pub const SYMLINK: u32 = 6;
    pub const MKDIR: u32 = 9;
    pub const UNLINK: u32 = 10;
    pub const RMDIR: u32 = 11;
    pub const RENAME: u32 = 12;
    pub const LINK: u32 = 13;
    pub const OPEN: u32 = 14;
    pub const READ: u32 = 15;
    pub const WRITE: u32 = 16;
    pub const RELEASE: u32 = 18;
    pub const FSYNC: u32 = 20;
    pub const INIT: u32 = 26;
    pub const OPENDIR: u32 = 27;
    pub const READDIR: u32 = 28;
    pub const RELEASEDIR: u32 = 29;
    pub const FSYNCDIR: u32 = 30;
    pub const CREATE: u32 = 35;
    pub const BATCH_FORGET: u32 = 42;
    pub const FALLOCATE: u32 = 43;
}

/// `fuse_setattr_in.valid` bits.
pub mod fattr {
    pub const SIZE: u32 = 1 << 3;
    pub const ATIME: u32 = 1 << 4;
    pub const MTIME: u32 = 1 << 5;
    pub const FH: u32 = 1 << 6;
    pub const ATIME_NOW: u32 = 1 << 7;
    pub const MTIME_NOW: u32 = 1 << 8;
}

/// Linux `open(2)` flags, as the FUSE server reads them: with its host's values. Only
/// flags whose values x86_64, aarch64 and riscv64 Linux share are here (`O_DIRECTORY` and
/// `O_NOFOLLOW`, for one, differ on aarch64).
pub mod open_flags {
    pub const RDONLY: u32 = 0;
    pub const WRONLY: u32 = 1;
    pub const RDWR: u32 = 2;
    pub const CREAT: u32 = 0o100;
    pub const EXCL: u32 = 0o200;
    pub const TRUNC: u32 = 0o1000;
}

/// `FUSE_ATOMIC_O_TRUNC`: the server applies `O_TRUNC` at open.
pub const INIT_ATOMIC_O_TRUNC: u32 = 1 << 3;
/// `FUSE_FSYNC_FDATASYNC`: sync data only.
pub const FSYNC_FDATASYNC: u32 = 1;

/// A request under construction: header fields and the body after the header.
#[derive(Debug)]
pub struct Request {
    pub opcode: u32,
    pub nodeid: u64,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(opcode: u32, nodeid: u64) -> Request {
        Request {
            opcode,
            nodeid,
            body: Vec::new(),
        }
    }

    pub fn u32(mut self, value: u32) -> Request {
        self.body.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub fn u64(mut self, value: u64) -> Request {
        self.body.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// A NUL-terminated name (file names never hold NUL: the sandbox refuses them).
    pub fn name(mut self, name: &[u8]) -> Request {
        self.body.extend_from_slice(name);
        self.body.push(0);
        self
    }

    pub fn bytes(mut self, data: &[u8]) -> Request {
        self.body.extend_from_slice(data);
        self
    }

    /// The request's bytes with `fuse_in_header` (uid, gid and pid 0: the server acts with
    /// its own credentials).
    pub fn encode(&self, unique: u64) -> Vec<u8> {
        let len = IN_HEADER_LEN + self.body.len();
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&self.opcode.to_le_bytes());
        out.extend_from_slice(&unique.to_le_bytes());
        out.extend_from_slice(&self.nodeid.to_le_bytes());
        out.extend_from_slice(&[0u8; 16]); // uid, gid, pid, total_extlen, padding
        out.extend_from_slice(&self.body);
        out
    }
}

/// The body of a successful reply, read front to back.
#[derive(Debug)]
pub struct Reply<'a> {
    bytes: &'a [u8],
}

impl<'a> Reply<'a> {
    /// Checks the out header of `bytes` against `unique`; the body on success, the
    /// server's errno otherwise.
    pub fn parse(bytes: &'a [u8], unique: u64) -> WasiResult<Reply<'a>> {
        if bytes.len() < OUT_HEADER_LEN {
            return Err(Errno::Io);
        }
        let len = u32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
        let error = i32::from_le_bytes(bytes[4..8].try_into().unwrap());
        let got = u64::from_le_bytes(bytes[8..16].try_into().unwrap());
        if got != unique || len < OUT_HEADER_LEN || len > bytes.len() {
            return Err(Errno::Io);
        }
        if error != 0 {
            return Err(error_of(error));
        }
        Ok(Reply {
            bytes: &bytes[OUT_HEADER_LEN..len],
        })
    }

    /// The rest of the body.
    pub fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    fn take(&mut self, n: usize) -> WasiResult<&'a [u8]> {
        if self.bytes.len() < n {
            return Err(Errno::Io);
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    pub fn u32(&mut self) -> WasiResult<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    pub fn u64(&mut self) -> WasiResult<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    pub fn skip(&mut self, n: usize) -> WasiResult<()> {
        self.take(n).map(drop)
    }

    /// `fuse_attr` (88 bytes).
    pub fn attr(&mut self) -> WasiResult<Attr> {
        let ino = self.u64()?;
        let size = self.u64()?;
        let _blocks = self.u64()?;
        let atime = self.u64()?;
        let mtime = self.u64()?;
        let ctime = self.u64()?;
        let atimensec = self.u32()?;
        let mtimensec = self.u32()?;
        let ctimensec = self.u32()?;
        let mode = self.u32()?;
        let nlink = self.u32()?;
        self.skip(20)?; // uid, gid, rdev, blksize, flags
        let ts = |secs: u64, ns: u32| secs.saturating_mul(1_000_000_000).saturating_add(ns.into());
        Ok(Attr {
            ino,
            size,
            mode,
            nlink,
            atim: ts(atime, atimensec),
            mtim: ts(mtime, mtimensec),
            ctim: ts(ctime, ctimensec),
        })
    }

    /// `fuse_entry_out` (128 bytes).
    pub fn entry(&mut self) -> WasiResult<Entry> {
        let nodeid = self.u64()?;
        self.skip(32)?; // generation, entry_valid, attr_valid, their nanoseconds
        let attr = self.attr()?;
        Ok(Entry { nodeid, attr })
    }

    /// `fuse_attr_out` (104 bytes).
    pub fn attr_out(&mut self) -> WasiResult<Attr> {
        self.skip(16)?; // attr_valid, attr_valid_nsec, dummy
        self.attr()
    }

    /// `fuse_open_out` (16 bytes): the file handle.
    pub fn open_out(&mut self) -> WasiResult<u64> {
        let fh = self.u64()?;
        self.skip(8)?;
        Ok(fh)
    }
}

/// What the server says about a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub size: u64,
    /// POSIX mode: file type and permission bits.
    pub mode: u32,
    pub nlink: u32,
    /// Nanoseconds since the epoch.
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
}

impl Attr {
    /// The WASI file type of the mode's type bits.
    pub fn filetype(&self) -> u8 {
        match self.mode & 0o170000 {
            0o040000 => filetype::DIRECTORY,
            0o100000 => filetype::REGULAR_FILE,
            0o120000 => filetype::SYMBOLIC_LINK,
            0o020000 => filetype::CHARACTER_DEVICE,
            0o060000 => filetype::BLOCK_DEVICE,
            0o140000 => filetype::SOCKET_STREAM,
            _ => filetype::UNKNOWN,
        }
    }

    /// The WASI filestat; `dev` is the one shared directory's.
    pub fn filestat(&self, dev: u64) -> Filestat {
        Filestat {
            dev,
            ino: self.ino,
            filetype: self.filetype(),
            nlink: self.nlink.into(),
            size: self.size,
            atim: self.atim,
            mtim: self.mtim,
            ctim: self.ctim,
        }
    }
}

/// A node the server now counts one lookup of (until we forget it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub nodeid: u64,
    pub attr: Attr,
}

/// One entry of a `READDIR` reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dirent {
    pub ino: u64,
    /// Where the next entry starts (the offset to pass to the following `READDIR`).
    pub off: u64,
    /// The `DT_*` type (`d_type`).
    pub kind: u32,
    pub name: Vec<u8>,
}

impl Dirent {
    /// The WASI file type of a `DT_*` type; `UNKNOWN` when the server did not say.
    pub fn filetype(&self) -> u8 {
        match self.kind {
            1 | 12 => filetype::UNKNOWN, // FIFO, socket: no better WASI type for a FIFO
            2 => filetype::CHARACTER_DEVICE,
            4 => filetype::DIRECTORY,
            6 => filetype::BLOCK_DEVICE,
            8 => filetype::REGULAR_FILE,
            10 => filetype::SYMBOLIC_LINK,
            _ => filetype::UNKNOWN,
        }
    }
}

/// Decodes the `fuse_dirent` records of a `READDIR` reply body.
pub fn dirents(mut bytes: &[u8]) -> WasiResult<Vec<Dirent>> {
    const FIXED: usize = 24;
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < FIXED {
            return Err(Errno::Io);
        }
        let ino = u64::from_le_bytes(bytes[0..8].try_into().unwrap());
        let off = u64::from_le_bytes(bytes[8..16].try_into().unwrap());
        let namelen = u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize;
        let kind = u32::from_le_bytes(bytes[20..24].try_into().unwrap());
        let end = FIXED.checked_add(namelen).ok_or(Errno::Io)?;
        if bytes.len() < end {
            return Err(Errno::Io);
        }
        out.push(Dirent {
            ino,
            off,
            kind,
            name: bytes[FIXED..end].to_vec(),
        });
        let record = end.next_multiple_of(8).min(bytes.len());
        bytes = &bytes[record..];
    }
    Ok(out)
}

/// The WASI errno of a FUSE reply's (negative, Linux-numbered) error.
pub fn error_of(error: i32) -> Errno {
    errno::from_linux_code(error.saturating_neg()).unwrap_or(Errno::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(error: i32, unique: u64, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((OUT_HEADER_LEN + body.len()) as u32).to_le_bytes());
        out.extend_from_slice(&error.to_le_bytes());
        out.extend_from_slice(&unique.to_le_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn requests_carry_the_header() {
        let bytes = Request::new(opcode::LOOKUP, 7).name(b"file").encode(42);
        assert_eq!(bytes.len(), IN_HEADER_LEN + 5);
        assert_eq!(&bytes[0..4], &(45u32).to_le_bytes());
        assert_eq!(&bytes[4..8], &opcode::LOOKUP.to_le_bytes());
        assert_eq!(&bytes[8..16], &42u64.to_le_bytes());
        assert_eq!(&bytes[16..24], &7u64.to_le_bytes());
        assert_eq!(&bytes[40..], b"file\0");
    }

    #[test]
    fn replies_are_checked() {
        assert_eq!(
            Reply::parse(&reply(-2, 5, &[]), 5).unwrap_err(),
            Errno::Noent
        );
        assert_eq!(
            Reply::parse(&reply(-39, 5, &[]), 5).unwrap_err(),
            Errno::Notempty
        );
        assert_eq!(Reply::parse(&reply(0, 6, &[]), 5).unwrap_err(), Errno::Io);
        assert_eq!(Reply::parse(&[0; 8], 5).unwrap_err(), Errno::Io);
        let bytes = reply(0, 5, &[1, 0, 0, 0]);
        let mut r = Reply::parse(&bytes, 5).unwrap();
        assert_eq!(r.u32().unwrap(), 1);
        assert_eq!(r.u64().unwrap_err(), Errno::Io, "short bodies are EIO");
    }

    #[test]
    fn entries_decode() {
        let mut body = Vec::new();
        body.extend_from_slice(&9u64.to_le_bytes()); // nodeid
        body.extend_from_slice(&[0u8; 32]);
        for v in [77u64, 5, 1, 10, 20, 30] {
            body.extend_from_slice(&v.to_le_bytes()); // ino size blocks atime mtime ctime
        }
        for v in [1u32, 2, 3, 0o100644, 2, 0, 0, 0, 4096, 0] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        let bytes = reply(0, 1, &body);
        let entry = Reply::parse(&bytes, 1).unwrap().entry().unwrap();
        assert_eq!(entry.nodeid, 9);
        assert_eq!(entry.attr.ino, 77);
        assert_eq!(entry.attr.size, 5);
        assert_eq!(entry.attr.filetype(), filetype::REGULAR_FILE);
        assert_eq!(entry.attr.atim, 10_000_000_001);
        assert_eq!(entry.attr.mtim, 20_000_000_002);
        assert_eq!(entry.attr.filestat(3).nlink, 2);
    }

    #[test]
    fn dirents_decode_with_padding() {
        let mut body = Vec::new();
        for (ino, name, kind) in [(1u64, &b"a"[..], 8u32), (2, b"dir12345", 4)] {
            body.extend_from_slice(&ino.to_le_bytes());
            body.extend_from_slice(&(ino * 10).to_le_bytes());
            body.extend_from_slice(&(name.len() as u32).to_le_bytes());
            body.extend_from_slice(&kind.to_le_bytes());
            body.extend_from_slice(name);
            while body.len() % 8 != 0 {
                body.push(0);
            }
        }
        let entries = dirents(&body).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].name, b"a");
        assert_eq!(entries[0].filetype(), filetype::REGULAR_FILE);
        assert_eq!(entries[1].name, b"dir12345");
        assert_eq!(entries[1].off, 20);
        assert_eq!(entries[1].filetype(), filetype::DIRECTORY);
        assert_eq!(dirents(&body[..40]).unwrap_err(), Errno::Io);
    }
}
