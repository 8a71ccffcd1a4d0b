//! A FUSE client session: one request at a time over a [`Channel`] (in the guest, the
//! virtio-fs device's request queue), with the operations the WASI layer needs.
//!
//! Node ids come from `LOOKUP`, `CREATE`, `MKDIR`, `SYMLINK` and `LINK`; each such reply
//! makes the server hold the node until we `FORGET` it, which callers do through
//! [`Session::forget`] once they are done with it.

use std::io;

use super::proto::{self, fattr, opcode, Attr, Dirent, Entry, Reply, Request};
use crate::wasi::errno::{Errno, WasiResult};

/// How requests reach the FUSE server and replies come back.
pub trait Channel: Send {
    /// The largest request, header included, the channel carries.
    fn request_capacity(&self) -> usize;
    /// The largest reply, header included, the channel can receive.
    fn reply_capacity(&self) -> usize;
    /// Sends `request` and waits for its reply (out header included), which may be at most
    /// `reply_len` bytes long: the device is offered exactly that much room (virtiofsd
    /// fills all the room it is offered when it reads a file, so a `READ` gets no more
    /// than it asks for).
    fn call(&mut self, request: &[u8], reply_len: usize) -> io::Result<Vec<u8>>;
    /// The largest request without a reply, header included, the channel carries.
    fn post_capacity(&self) -> usize;
    /// Sends a request that has no reply (`BATCH_FORGET`).
    fn post(&mut self, request: &[u8]) -> io::Result<()>;
}

/// A time to set with `SETATTR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetTime {
    Keep,
    Now,
    /// Nanoseconds since the epoch.
    At(u64),
}

/// What `SETATTR` changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetAttr {
    pub size: Option<u64>,
    pub atime: SetTime,
    pub mtime: SetTime,
}

/// An initialised session.
pub struct Session {
    channel: Box<dyn Channel>,
    next_unique: u64,
    /// The most data bytes one `READ` or `WRITE` moves.
    io_size: usize,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("io_size", &self.io_size)
            .finish_non_exhaustive()
    }
}

/// Size of `fuse_write_in` (and `fuse_read_in`).
const RW_IN_LEN: usize = 40;
/// Room for the reply of a request that carries no data: the largest is a symlink's
/// content (`PATH_MAX`), or `CREATE`'s entry and open replies.
const DEFAULT_REPLY: usize = proto::OUT_HEADER_LEN + 4096;

impl Session {
    /// Opens a session: `INIT`, agreeing on the protocol version and transfer sizes.
    pub fn init(channel: Box<dyn Channel>) -> anyhow::Result<Session> {
        let mut session = Session {
            channel,
            next_unique: 1,
            io_size: 0,
        };
        let request = Request::new(opcode::INIT, 0)
            .u32(proto::MAJOR)
            .u32(proto::MINOR)
            .u32(0) // max_readahead
            .u32(proto::INIT_ATOMIC_O_TRUNC);
        let (bytes, unique) = session
            .exchange(&request, DEFAULT_REPLY)
            .map_err(|e| anyhow::anyhow!("FUSE INIT: {e}"))?;
        let mut reply =
            Reply::parse(&bytes, unique).map_err(|e| anyhow::anyhow!("FUSE INIT refused: {e}"))?;
        let major = reply.u32().map_err(anyhow::Error::new)?;
        let _minor = reply.u32().map_err(anyhow::Error::new)?;
        if major != proto::MAJOR {
            anyhow::bail!(
                "the FUSE server speaks protocol {major}, not {}",
                proto::MAJOR
            );
        }
        reply.skip(12).map_err(anyhow::Error::new)?; // max_readahead, flags, background
        let max_write = reply.u32().map_err(anyhow::Error::new)? as usize;
        let channel_limit = (session.channel.request_capacity() - proto::IN_HEADER_LEN - RW_IN_LEN)
            .min(session.channel.reply_capacity() - proto::OUT_HEADER_LEN);
        session.io_size = match max_write {
            0 => channel_limit,
            n => n.min(channel_limit),
        };
        if session.io_size < 4096 {
            anyhow::bail!("FUSE transfers of {} bytes are too small", session.io_size);
        }
        Ok(session)
    }

    /// Sends `request` with a fresh unique id; the raw reply and that id.
    fn exchange(&mut self, request: &Request, reply_len: usize) -> io::Result<(Vec<u8>, u64)> {
        let unique = self.next_unique;
        self.next_unique += 1;
        let bytes = request.encode(unique);
        let reply = self.channel.call(&bytes, reply_len)?;
        Ok((reply, unique))
    }

    /// Sends `request`; hands the successful reply's body to `decode`.
    fn call<T>(
        &mut self,
        request: Request,
        decode: impl FnOnce(Reply<'_>) -> WasiResult<T>,
    ) -> WasiResult<T> {
        self.call_sized(request, DEFAULT_REPLY, decode)
    }

    /// As [`Session::call`], for a reply of at most `reply_len` bytes (header included).
    fn call_sized<T>(
        &mut self,
        request: Request,
        reply_len: usize,
        decode: impl FnOnce(Reply<'_>) -> WasiResult<T>,
    ) -> WasiResult<T> {
        let (bytes, unique) = self.exchange(&request, reply_len).map_err(|_| Errno::Io)?;
        decode(Reply::parse(&bytes, unique)?)
    }

    /// The most data bytes one transfer moves.
    pub fn io_size(&self) -> usize {
        self.io_size
    }

    /// `LOOKUP` of `name` in `parent`; `None` when there is no such entry.
    pub fn lookup(&mut self, parent: u64, name: &[u8]) -> WasiResult<Option<Entry>> {
        match self.call(Request::new(opcode::LOOKUP, parent).name(name), |mut r| {
            r.entry()
        }) {
            Ok(entry) if entry.nodeid == 0 => Ok(None),
            Ok(entry) => Ok(Some(entry)),
            Err(Errno::Noent) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Drops one lookup of each of `nodes` (the root needs none and is skipped).
    pub fn forget(&mut self, nodes: &[u64]) {
        let nodes: Vec<u64> = nodes
            .iter()
            .copied()
            .filter(|&n| n != proto::ROOT_ID && n != 0)
            .collect();
        if nodes.is_empty() {
            return;
        }
        // As many as fit in one request each time.
        let per_request = (self.channel.post_capacity() - proto::IN_HEADER_LEN - 8) / 16;
        for chunk in nodes.chunks(per_request.max(1)) {
            let mut request = Request::new(opcode::BATCH_FORGET, 0)
                .u32(chunk.len() as u32)
                .u32(0);
            for &node in chunk {
                request = request.u64(node).u64(1);
            }
            let unique = self.next_unique;
            self.next_unique += 1;
            // A lost forget only leaves the server holding a node until the VM ends.
            let _ = self.channel.post(&request.encode(unique));
        }
    }

    pub fn getattr(&mut self, node: u64, fh: Option<u64>) -> WasiResult<Attr> {
        let request = Request::new(opcode::GETATTR, node)
            .u32(if fh.is_some() { 1 } else { 0 }) // FUSE_GETATTR_FH
            .u32(0)
            .u64(fh.unwrap_or(0));
        self.call(request, |mut r| r.attr_out())
    }

    pub fn setattr(&mut self, node: u64, fh: Option<u64>, change: SetAttr) -> WasiResult<Attr> {
        let mut valid = 0;
        if fh.is_some() {
            valid |= fattr::FH;
        }
        if change.size.is_some() {
            valid |= fattr::SIZE;
        }
        let mut time = |t: SetTime, set: u32, now: u32| -> (u64, u32) {
            match t {
                SetTime::Keep => (0, 0),
                SetTime::Now => {
                    valid |= set | now;
                    (0, 0)
                }
                SetTime::At(ns) => {
                    valid |= set;
                    (ns / 1_000_000_000, (ns % 1_000_000_000) as u32)
                }
            }
        };
        let (asec, ansec) = time(change.atime, fattr::ATIME, fattr::ATIME_NOW);
        let (msec, mnsec) = time(change.mtime, fattr::MTIME, fattr::MTIME_NOW);
        let request = Request::new(opcode::SETATTR, node)
            .u32(valid)
            .u32(0)
            .u64(fh.unwrap_or(0))
            .u64(change.size.unwrap_or(0))
            .u64(0) // lock_owner
            .u64(asec)
            .u64(msec)
            .u64(0) // ctime
            .u32(ansec)
            .u32(mnsec)
            .u32(0) // ctimensec
            .u32(0) // mode
            .u32(0)
            .u32(0) // uid
            .u32(0) // gid
            .u32(0);
        self.call(request, |mut r| r.attr_out())
    }

    pub fn readlink(&mut self, node: u64) -> WasiResult<Vec<u8>> {
        self.call(Request::new(opcode::READLINK, node), |r| {
            Ok(r.rest().to_vec())
        })
    }

    pub fn symlink(&mut self, parent: u64, name: &[u8], target: &[u8]) -> WasiResult<Entry> {
        let request = Request::new(opcode::SYMLINK, parent)
            .name(name)
            .name(target);
        self.call(request, |mut r| r.entry())
    }

    pub fn mkdir(&mut self, parent: u64, name: &[u8], mode: u32) -> WasiResult<Entry> {
        let request = Request::new(opcode::MKDIR, parent)
            .u32(mode)
            .u32(0o022)
            .name(name);
        self.call(request, |mut r| r.entry())
    }

    pub fn unlink(&mut self, parent: u64, name: &[u8]) -> WasiResult<()> {
        self.call(Request::new(opcode::UNLINK, parent).name(name), |_| Ok(()))
    }

    pub fn rmdir(&mut self, parent: u64, name: &[u8]) -> WasiResult<()> {
        self.call(Request::new(opcode::RMDIR, parent).name(name), |_| Ok(()))
    }

    pub fn rename(
        &mut self,
        parent: u64,
        name: &[u8],
        new_parent: u64,
        new_name: &[u8],
    ) -> WasiResult<()> {
        let request = Request::new(opcode::RENAME, parent)
            .u64(new_parent)
            .name(name)
            .name(new_name);
        self.call(request, |_| Ok(()))
    }

    pub fn link(&mut self, node: u64, new_parent: u64, new_name: &[u8]) -> WasiResult<Entry> {
        let request = Request::new(opcode::LINK, new_parent)
            .u64(node)
            .name(new_name);
        self.call(request, |mut r| r.entry())
    }

    /// `OPEN` with Linux open flags; the file handle.
    pub fn open(&mut self, node: u64, flags: u32) -> WasiResult<u64> {
        let request = Request::new(opcode::OPEN, node).u32(flags).u32(0);
        self.call(request, |mut r| r.open_out())
    }

    /// `OPENDIR` (the server adds `O_DIRECTORY` itself).
    pub fn opendir(&mut self, node: u64) -> WasiResult<u64> {
        let request = Request::new(opcode::OPENDIR, node).u32(0).u32(0);
        self.call(request, |mut r| r.open_out())
    }

    /// `CREATE`: a new file `name` in `parent`, opened with `flags`.
    pub fn create(
        &mut self,
        parent: u64,
        name: &[u8],
        flags: u32,
        mode: u32,
    ) -> WasiResult<(Entry, u64)> {
        let request = Request::new(opcode::CREATE, parent)
            .u32(flags)
            .u32(mode)
            .u32(0o022)
            .u32(0)
            .name(name);
        self.call(request, |mut r| {
            let entry = r.entry()?;
            Ok((entry, r.open_out()?))
        })
    }

    /// Reads up to `len` bytes at `offset` (fewer only at the end of the file).
    pub fn read(&mut self, node: u64, fh: u64, offset: u64, len: usize) -> WasiResult<Vec<u8>> {
        let mut out = Vec::with_capacity(len.min(self.io_size));
        while out.len() < len {
            let want = (len - out.len()).min(self.io_size);
            let at = offset.checked_add(out.len() as u64).ok_or(Errno::Inval)?;
            let request = Request::new(opcode::READ, node)
                .u64(fh)
                .u64(at)
                .u32(want as u32)
                .u32(0)
                .u64(0)
                .u32(0)
                .u32(0);
            let reply_len = proto::OUT_HEADER_LEN + want;
            let chunk = self.call_sized(request, reply_len, |r| Ok(r.rest().to_vec()))?;
            let got = chunk.len();
            out.extend_from_slice(&chunk[..got.min(want)]);
            if got < want {
                break;
            }
        }
        Ok(out)
    }

    /// Writes all of `data` at `offset`.
    pub fn write(&mut self, node: u64, fh: u64, offset: u64, data: &[u8]) -> WasiResult<()> {
        let mut done = 0;
        while done < data.len() {
            let chunk = &data[done..(done + self.io_size).min(data.len())];
            let at = offset.checked_add(done as u64).ok_or(Errno::Fbig)?;
            let request = Request::new(opcode::WRITE, node)
                .u64(fh)
                .u64(at)
                .u32(chunk.len() as u32)
                .u32(0)
                .u64(0)
                .u32(0)
                .u32(0)
                .bytes(chunk);
            let written = self.call(request, |mut r| r.u32())? as usize;
            if written == 0 {
                return Err(Errno::Io);
            }
            done += written.min(chunk.len());
        }
        Ok(())
    }

    pub fn release(&mut self, node: u64, fh: u64) -> WasiResult<()> {
        let request = Request::new(opcode::RELEASE, node)
            .u64(fh)
            .u32(0)
            .u32(0)
            .u64(0);
        self.call(request, |_| Ok(()))
    }

    pub fn releasedir(&mut self, node: u64, fh: u64) -> WasiResult<()> {
        let request = Request::new(opcode::RELEASEDIR, node)
            .u64(fh)
            .u32(0)
            .u32(0)
            .u64(0);
        self.call(request, |_| Ok(()))
    }

    pub fn fsync(&mut self, node: u64, fh: u64, data_only: bool, dir: bool) -> WasiResult<()> {
        let op = if dir { opcode::FSYNCDIR } else { opcode::FSYNC };
        let flags = if data_only { proto::FSYNC_FDATASYNC } else { 0 };
        let request = Request::new(op, node).u64(fh).u32(flags).u32(0);
        self.call(request, |_| Ok(()))
    }

    /// `READDIR` from `offset` (0 for the start); an empty list at the end.
    pub fn readdir(&mut self, node: u64, fh: u64, offset: u64) -> WasiResult<Vec<Dirent>> {
        let request = Request::new(opcode::READDIR, node)
            .u64(fh)
            .u64(offset)
            .u32(self.io_size as u32)
            .u32(0)
            .u64(0)
            .u32(0)
            .u32(0);
        let reply_len = proto::OUT_HEADER_LEN + self.io_size;
        self.call_sized(request, reply_len, |r| proto::dirents(r.rest()))
    }

    /// `FALLOCATE` (mode 0: the file grows to cover the range).
    pub fn fallocate(&mut self, node: u64, fh: u64, offset: u64, len: u64) -> WasiResult<()> {
        let request = Request::new(opcode::FALLOCATE, node)
            .u64(fh)
            .u64(offset)
            .u64(len)
            .u32(0)
            .u32(0);
        self.call(request, |_| Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    /// What the fake server saw: each request's opcode, node, body and reply room.
    type Log = Arc<Mutex<Vec<(u32, u64, Vec<u8>, usize)>>>;

    /// A channel that answers from a script of (error, body) replies.
    struct Scripted {
        replies: VecDeque<(i32, Vec<u8>)>,
        log: Log,
        capacity: usize,
    }

    impl Channel for Scripted {
        fn request_capacity(&self) -> usize {
            self.capacity
        }

        fn reply_capacity(&self) -> usize {
            self.capacity
        }

        fn call(&mut self, request: &[u8], reply_len: usize) -> io::Result<Vec<u8>> {
            let opcode = u32::from_le_bytes(request[4..8].try_into().unwrap());
            let unique = u64::from_le_bytes(request[8..16].try_into().unwrap());
            let node = u64::from_le_bytes(request[16..24].try_into().unwrap());
            let body = request[proto::IN_HEADER_LEN..].to_vec();
            self.log
                .lock()
                .unwrap()
                .push((opcode, node, body, reply_len));
            let (error, body) = self.replies.pop_front().expect("a scripted reply");
            let mut out = Vec::new();
            out.extend_from_slice(&((proto::OUT_HEADER_LEN + body.len()) as u32).to_le_bytes());
            out.extend_from_slice(&error.to_le_bytes());
            out.extend_from_slice(&unique.to_le_bytes());
            out.extend_from_slice(&body);
            Ok(out)
        }

        fn post_capacity(&self) -> usize {
            proto::IN_HEADER_LEN + 8 + 16 * 2
        }

        fn post(&mut self, request: &[u8]) -> io::Result<()> {
            assert!(
                request.len() <= self.post_capacity(),
                "a forget too big to post"
            );
            let opcode = u32::from_le_bytes(request[4..8].try_into().unwrap());
            let body = request[proto::IN_HEADER_LEN..].to_vec();
            self.log.lock().unwrap().push((opcode, 0, body, 0));
            Ok(())
        }
    }

    fn init_reply(max_write: u32) -> (i32, Vec<u8>) {
        let mut body = Vec::new();
        for v in [proto::MAJOR, proto::MINOR, 0, 0, 0] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        body.extend_from_slice(&max_write.to_le_bytes());
        body.resize(64, 0);
        (0, body)
    }

    fn session(replies: Vec<(i32, Vec<u8>)>, capacity: usize) -> (Session, Log) {
        let log = Log::default();
        let channel = Scripted {
            replies: replies.into(),
            log: log.clone(),
            capacity,
        };
        (Session::init(Box::new(channel)).unwrap(), log)
    }

    #[test]
    fn transfers_are_cut_to_the_smaller_of_the_server_and_the_channel() {
        let (s, _) = session(vec![init_reply(1 << 20)], 64 * 1024);
        assert_eq!(s.io_size(), 64 * 1024 - proto::IN_HEADER_LEN - RW_IN_LEN);
        let (s, _) = session(vec![init_reply(8192)], 64 * 1024);
        assert_eq!(s.io_size(), 8192);
    }

    #[test]
    fn reads_ask_for_exactly_what_they_want_chunk_by_chunk() {
        let (mut s, log) = session(
            vec![
                init_reply(4096),
                (0, vec![1; 4096]),
                (0, vec![2; 4096]),
                (0, vec![3; 100]), // the end of the file
            ],
            64 * 1024,
        );
        let data = s.read(7, 9, 10, 10_000).unwrap();
        assert_eq!(data.len(), 4096 * 2 + 100);
        let log = log.lock().unwrap();
        let reads: Vec<_> = log.iter().filter(|r| r.0 == opcode::READ).collect();
        assert_eq!(reads.len(), 3);
        for (i, (_, node, body, room)) in reads.iter().enumerate() {
            assert_eq!(*node, 7);
            let fh = u64::from_le_bytes(body[0..8].try_into().unwrap());
            let offset = u64::from_le_bytes(body[8..16].try_into().unwrap());
            let size = u32::from_le_bytes(body[16..20].try_into().unwrap()) as usize;
            assert_eq!((fh, offset), (9, 10 + 4096 * i as u64));
            assert_eq!(size, if i < 2 { 4096 } else { 10_000 - 8192 });
            assert_eq!(
                *room,
                proto::OUT_HEADER_LEN + size,
                "no more room than asked"
            );
        }
    }

    #[test]
    fn missing_entries_are_none_and_errors_are_the_servers() {
        let (mut s, _) = session(
            vec![init_reply(4096), (-2, vec![]), (-39, vec![]), (-13, vec![])],
            64 * 1024,
        );
        assert_eq!(s.lookup(1, b"nope"), Ok(None));
        assert_eq!(s.rmdir(1, b"full"), Err(Errno::Notempty));
        assert_eq!(s.unlink(1, b"x"), Err(Errno::Acces));
    }

    #[test]
    fn forgets_skip_the_root_and_come_in_batches_that_fit() {
        let (mut s, log) = session(vec![init_reply(4096)], 64 * 1024);
        // The scripted channel posts two nodes at most per request.
        s.forget(&[proto::ROOT_ID, 5, 6, 7]);
        let log = log.lock().unwrap();
        let forgets: Vec<_> = log
            .iter()
            .filter(|r| r.0 == opcode::BATCH_FORGET)
            .map(|r| &r.2)
            .collect();
        assert_eq!(forgets.len(), 2);
        let nodes = |body: &Vec<u8>| -> Vec<u64> {
            let count = u32::from_le_bytes(body[0..4].try_into().unwrap()) as usize;
            (0..count)
                .map(|i| u64::from_le_bytes(body[8 + 16 * i..16 + 16 * i].try_into().unwrap()))
                .collect()
        };
        assert_eq!(nodes(forgets[0]), [5, 6]);
        assert_eq!(nodes(forgets[1]), [7]);
    }

    #[test]
    fn times_are_set_to_the_nanosecond_or_to_now() {
        let mut attr_out = vec![0u8; 104];
        attr_out[16 + 60..16 + 64].copy_from_slice(&0o100644u32.to_le_bytes());
        let (mut s, log) = session(vec![init_reply(4096), (0, attr_out)], 64 * 1024);
        let change = SetAttr {
            size: None,
            atime: SetTime::Now,
            mtime: SetTime::At(5_000_000_007),
        };
        s.setattr(3, Some(4), change).unwrap();
        let log = log.lock().unwrap();
        let (_, _, body, _) = log.last().unwrap();
        let valid = u32::from_le_bytes(body[0..4].try_into().unwrap());
        assert_eq!(
            valid,
            fattr::FH | fattr::ATIME | fattr::ATIME_NOW | fattr::MTIME
        );
        assert_eq!(u64::from_le_bytes(body[40..48].try_into().unwrap()), 5);
        assert_eq!(u32::from_le_bytes(body[60..64].try_into().unwrap()), 7);
    }
}
