//! `wasi:filesystem` (types, preopens): a `descriptor` is a descriptor number of the
//! capability core, and each method is the core's operation on it, so paths are resolved
//! by the same sandbox, under the same read-only rule, on the same file systems as for
//! preview1. The core's error numbers become `error-code`s.
//!
//! The number stays open while the descriptor or a stream made from it lives
//! ([`WasiP2::hold`], [`WasiP2::release`]); the preopens stay open for the whole run.

use wasmtime::component::Resource;

use super::bindings::wasi::clocks::wall_clock::Datetime;
use super::bindings::wasi::filesystem::{preopens, types};
use super::io::{FileCursor, InputStream, IoError, OutputStream};
use super::WasiP2;
use crate::wasi::abi::{filetype, fstflags, lookupflags, oflags, rights, Filestat};
use crate::wasi::errno::{Errno, WasiResult};
use crate::wasi::fd_table::Handle;

use types::{
    DescriptorFlags, DescriptorStat, DescriptorType, DirectoryEntry, ErrorCode, MetadataHashValue,
    NewTimestamp, OpenFlags, PathFlags,
};

/// A `descriptor`: a number in the core's descriptor table.
#[derive(Debug)]
pub struct Descriptor(pub u32);

/// A `directory-entry-stream`: the entries, read when the stream was made, still to give.
#[derive(Debug)]
pub struct DirectoryEntries(std::vec::IntoIter<WasiResult<DirectoryEntry>>);

type FsResult<T> = wasmtime::Result<Result<T, ErrorCode>>;

/// The `error-code` for one of the core's error numbers.
pub fn error_code(errno: Errno) -> ErrorCode {
    match errno {
        Errno::Acces => ErrorCode::Access,
        Errno::Again => ErrorCode::WouldBlock,
        Errno::Already => ErrorCode::Already,
        Errno::Badf => ErrorCode::BadDescriptor,
        Errno::Busy => ErrorCode::Busy,
        Errno::Deadlk => ErrorCode::Deadlock,
        Errno::Dquot => ErrorCode::Quota,
        Errno::Exist => ErrorCode::Exist,
        Errno::Fbig => ErrorCode::FileTooLarge,
        Errno::Ilseq => ErrorCode::IllegalByteSequence,
        Errno::Inprogress => ErrorCode::InProgress,
        Errno::Intr => ErrorCode::Interrupted,
        Errno::Inval => ErrorCode::Invalid,
        Errno::Isdir => ErrorCode::IsDirectory,
        Errno::Loop => ErrorCode::Loop,
        Errno::Mlink => ErrorCode::TooManyLinks,
        Errno::Msgsize => ErrorCode::MessageSize,
        Errno::Nametoolong => ErrorCode::NameTooLong,
        Errno::Nodev => ErrorCode::NoDevice,
        Errno::Noent => ErrorCode::NoEntry,
        Errno::Nolck => ErrorCode::NoLock,
        Errno::Nomem => ErrorCode::InsufficientMemory,
        Errno::Nospc => ErrorCode::InsufficientSpace,
        Errno::Notdir => ErrorCode::NotDirectory,
        Errno::Notempty => ErrorCode::NotEmpty,
        Errno::Notrecoverable => ErrorCode::NotRecoverable,
        Errno::Notsup | Errno::Nosys => ErrorCode::Unsupported,
        Errno::Notty => ErrorCode::NoTty,
        Errno::Nxio => ErrorCode::NoSuchDevice,
        Errno::Overflow => ErrorCode::Overflow,
        Errno::Perm | Errno::Notcapable => ErrorCode::NotPermitted,
        Errno::Pipe => ErrorCode::Pipe,
        Errno::Rofs => ErrorCode::ReadOnly,
        Errno::Spipe => ErrorCode::InvalidSeek,
        Errno::Txtbsy => ErrorCode::TextFileBusy,
        Errno::Xdev => ErrorCode::CrossDevice,
        _ => ErrorCode::Io,
    }
}

/// A core result as the WIT gives it.
fn fs<T>(result: WasiResult<T>) -> FsResult<T> {
    Ok(result.map_err(error_code))
}

fn descriptor_type(filetype: u8) -> DescriptorType {
    match filetype {
        filetype::BLOCK_DEVICE => DescriptorType::BlockDevice,
        filetype::CHARACTER_DEVICE => DescriptorType::CharacterDevice,
        filetype::DIRECTORY => DescriptorType::Directory,
        filetype::REGULAR_FILE => DescriptorType::RegularFile,
        filetype::SOCKET_DGRAM | filetype::SOCKET_STREAM => DescriptorType::Socket,
        filetype::SYMBOLIC_LINK => DescriptorType::SymbolicLink,
        _ => DescriptorType::Unknown,
    }
}

fn datetime(ns: u64) -> Datetime {
    Datetime {
        seconds: ns / 1_000_000_000,
        nanoseconds: (ns % 1_000_000_000) as u32,
    }
}

fn stat(stat: Filestat) -> DescriptorStat {
    DescriptorStat {
        type_: descriptor_type(stat.filetype),
        link_count: stat.nlink,
        size: stat.size,
        data_access_timestamp: Some(datetime(stat.atim)),
        data_modification_timestamp: Some(datetime(stat.mtim)),
        status_change_timestamp: Some(datetime(stat.ctim)),
    }
}

/// A device and inode number pair as two words no one can map back to the pair (a
/// 128-bit mix), as the WIT asks of `metadata-hash`.
fn metadata_hash(stat: Filestat) -> MetadataHashValue {
    fn mix(mut x: u64) -> u64 {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
    let lower = mix(stat.dev ^ mix(stat.ino));
    MetadataHashValue {
        lower,
        upper: mix(lower ^ stat.ino.rotate_left(32)),
    }
}

/// One time as `fd_filestat_set_times` takes it: the time and the flags for it.
fn new_time(time: NewTimestamp, set: u16, now: u16) -> WasiResult<(u64, u16)> {
    Ok(match time {
        NewTimestamp::NoChange => (0, 0),
        NewTimestamp::Now => (0, now),
        NewTimestamp::Timestamp(t) => {
            let ns = t
                .seconds
                .checked_mul(1_000_000_000)
                .and_then(|ns| ns.checked_add(u64::from(t.nanoseconds)))
                .ok_or(Errno::Overflow)?;
            (ns, set)
        }
    })
}

fn times(atim: NewTimestamp, mtim: NewTimestamp) -> WasiResult<(u64, u64, u32)> {
    let (a, a_flags) = new_time(atim, fstflags::ATIM, fstflags::ATIM_NOW)?;
    let (m, m_flags) = new_time(mtim, fstflags::MTIM, fstflags::MTIM_NOW)?;
    Ok((a, m, u32::from(a_flags | m_flags)))
}

fn lookup(flags: PathFlags) -> u32 {
    if flags.contains(PathFlags::SYMLINK_FOLLOW) {
        lookupflags::SYMLINK_FOLLOW
    } else {
        0
    }
}

impl WasiP2 {
    /// The descriptor's number.
    fn fd(&self, descriptor: &Resource<Descriptor>) -> wasmtime::Result<u32> {
        Ok(self.table.get(descriptor)?.0)
    }

    /// The descriptor's number when it is an open file opened for reading
    /// (`read`) or writing, `bad-descriptor` otherwise, as Wasmtime checks before it makes
    /// a stream.
    fn file_fd(
        &self,
        descriptor: &Resource<Descriptor>,
        write: bool,
    ) -> wasmtime::Result<WasiResult<u32>> {
        let fd = self.fd(descriptor)?;
        Ok(match self.ctx.fds.get(fd) {
            Ok(Handle::File(f)) if (if write { f.writable } else { f.readable }) => Ok(fd),
            Ok(_) => Err(Errno::Badf),
            Err(errno) => Err(errno),
        })
    }

    /// A new descriptor resource for core number `fd`.
    fn descriptor(&mut self, fd: u32) -> wasmtime::Result<Resource<Descriptor>> {
        self.hold(fd);
        Ok(self.table.push(Descriptor(fd))?)
    }
}

impl types::Host for WasiP2 {
    fn filesystem_error_code(
        &mut self,
        error: Resource<IoError>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        let IoError(errno) = *self.table.get(&error)?;
        Ok(Some(error_code(errno)))
    }
}

impl types::HostDescriptor for WasiP2 {
    fn read_via_stream(
        &mut self,
        descriptor: Resource<Descriptor>,
        offset: u64,
    ) -> FsResult<Resource<InputStream>> {
        let fd = match self.file_fd(&descriptor, false)? {
            Ok(fd) => fd,
            Err(errno) => return fs(Err(errno)),
        };
        self.hold(fd);
        Ok(Ok(self
            .table
            .push(InputStream::File(FileCursor { fd, pos: offset }))?))
    }

    fn write_via_stream(
        &mut self,
        descriptor: Resource<Descriptor>,
        offset: u64,
    ) -> FsResult<Resource<OutputStream>> {
        let fd = match self.file_fd(&descriptor, true)? {
            Ok(fd) => fd,
            Err(errno) => return fs(Err(errno)),
        };
        self.hold(fd);
        Ok(Ok(self.table.push(OutputStream::File(FileCursor {
            fd,
            pos: offset,
        }))?))
    }

    fn append_via_stream(
        &mut self,
        descriptor: Resource<Descriptor>,
    ) -> FsResult<Resource<OutputStream>> {
        let fd = match self.file_fd(&descriptor, true)? {
            Ok(fd) => fd,
            Err(errno) => return fs(Err(errno)),
        };
        self.hold(fd);
        Ok(Ok(self.table.push(OutputStream::Append(fd))?))
    }

    fn advise(
        &mut self,
        descriptor: Resource<Descriptor>,
        offset: u64,
        length: u64,
        advice: types::Advice,
    ) -> FsResult<()> {
        let fd = self.fd(&descriptor)?;
        // The WIT lists the advice in preview1's order.
        fs(self.ctx.fd_advise(fd, offset, length, advice as u32))
    }

    fn sync_data(&mut self, descriptor: Resource<Descriptor>) -> FsResult<()> {
        let fd = self.fd(&descriptor)?;
        fs(self.ctx.fd_datasync(fd))
    }

    fn sync(&mut self, descriptor: Resource<Descriptor>) -> FsResult<()> {
        let fd = self.fd(&descriptor)?;
        fs(self.ctx.fd_sync(fd))
    }

    fn get_flags(&mut self, descriptor: Resource<Descriptor>) -> FsResult<DescriptorFlags> {
        let fd = self.fd(&descriptor)?;
        fs(match self.ctx.fds.get(fd) {
            Ok(Handle::File(f)) => {
                let mut flags = DescriptorFlags::empty();
                if f.readable {
                    flags |= DescriptorFlags::READ;
                }
                if f.writable {
                    flags |= DescriptorFlags::WRITE;
                }
                Ok(flags)
            }
            Ok(Handle::Dir(d)) => {
                let mut flags = DescriptorFlags::READ;
                if d.dir.root.check_writable().is_ok() {
                    flags |= DescriptorFlags::MUTATE_DIRECTORY;
                }
                Ok(flags)
            }
            Ok(Handle::Stream(_)) => Err(Errno::Badf),
            Err(errno) => Err(errno),
        })
    }

    fn get_type(&mut self, descriptor: Resource<Descriptor>) -> FsResult<DescriptorType> {
        let fd = self.fd(&descriptor)?;
        fs(self
            .ctx
            .fd_fdstat_get(fd)
            .map(|fdstat| descriptor_type(fdstat.filetype)))
    }

    fn set_size(&mut self, descriptor: Resource<Descriptor>, size: u64) -> FsResult<()> {
        let fd = self.fd(&descriptor)?;
        fs(self.ctx.fd_filestat_set_size(fd, size))
    }

    fn set_times(
        &mut self,
        descriptor: Resource<Descriptor>,
        atim: NewTimestamp,
        mtim: NewTimestamp,
    ) -> FsResult<()> {
        let fd = self.fd(&descriptor)?;
        fs(times(atim, mtim)
            .and_then(|(a, m, flags)| self.ctx.fd_filestat_set_times(fd, a, m, flags)))
    }

    fn read(
        &mut self,
        descriptor: Resource<Descriptor>,
        length: u64,
        offset: u64,
    ) -> FsResult<(Vec<u8>, bool)> {
        let fd = self.fd(&descriptor)?;
        let len = usize::try_from(length)
            .unwrap_or(usize::MAX)
            .min(super::MAX_READ);
        fs(self.ctx.fd_pread(fd, len, offset).map(|data| {
            let end = data.is_empty();
            (data, end)
        }))
    }

    fn write(
        &mut self,
        descriptor: Resource<Descriptor>,
        buffer: Vec<u8>,
        offset: u64,
    ) -> FsResult<u64> {
        let fd = self.fd(&descriptor)?;
        fs(self.ctx.fd_pwrite(fd, &buffer, offset).map(|n| n as u64))
    }

    fn read_directory(
        &mut self,
        descriptor: Resource<Descriptor>,
    ) -> FsResult<Resource<DirectoryEntries>> {
        let fd = self.fd(&descriptor)?;
        let entries = (|| {
            let dir = &self.ctx.fds.get(fd)?.dir()?.dir;
            let host = dir.checked_path()?;
            dir.root.fs.list(&host)
        })();
        let entries = match entries {
            Ok(entries) => entries,
            Err(errno) => return fs(Err(errno)),
        };
        let entries: Vec<WasiResult<DirectoryEntry>> = entries
            .into_iter()
            .map(|e| {
                Ok(DirectoryEntry {
                    type_: descriptor_type(e.filetype),
                    name: String::from_utf8(e.name).map_err(|_| Errno::Ilseq)?,
                })
            })
            .collect();
        Ok(Ok(self
            .table
            .push(DirectoryEntries(entries.into_iter()))?))
    }

    fn create_directory_at(
        &mut self,
        descriptor: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        let fd = self.fd(&descriptor)?;
        fs(self.ctx.path_create_directory(fd, &path))
    }

    fn stat(&mut self, descriptor: Resource<Descriptor>) -> FsResult<DescriptorStat> {
        let fd = self.fd(&descriptor)?;
        fs(self.ctx.fd_filestat_get(fd).map(stat))
    }

    fn stat_at(
        &mut self,
        descriptor: Resource<Descriptor>,
        flags: PathFlags,
        path: String,
    ) -> FsResult<DescriptorStat> {
        let fd = self.fd(&descriptor)?;
        fs(self
            .ctx
            .path_filestat_get(fd, lookup(flags), &path)
            .map(stat))
    }

    fn set_times_at(
        &mut self,
        descriptor: Resource<Descriptor>,
        flags: PathFlags,
        path: String,
        atim: NewTimestamp,
        mtim: NewTimestamp,
    ) -> FsResult<()> {
        let fd = self.fd(&descriptor)?;
        fs(times(atim, mtim).and_then(|(a, m, fst)| {
            self.ctx
                .path_filestat_set_times(fd, lookup(flags), &path, a, m, fst)
        }))
    }

    fn link_at(
        &mut self,
        descriptor: Resource<Descriptor>,
        old_flags: PathFlags,
        old_path: String,
        new_descriptor: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        let (fd, new_fd) = (self.fd(&descriptor)?, self.fd(&new_descriptor)?);
        fs(self
            .ctx
            .path_link(fd, lookup(old_flags), &old_path, new_fd, &new_path))
    }

    fn open_at(
        &mut self,
        descriptor: Resource<Descriptor>,
        path_flags: PathFlags,
        path: String,
        open_flags: OpenFlags,
        flags: DescriptorFlags,
    ) -> FsResult<Resource<Descriptor>> {
        let fd = self.fd(&descriptor)?;
        let mut o = 0u16;
        for (open, bit) in [
            (OpenFlags::CREATE, oflags::CREAT),
            (OpenFlags::DIRECTORY, oflags::DIRECTORY),
            (OpenFlags::EXCLUSIVE, oflags::EXCL),
            (OpenFlags::TRUNCATE, oflags::TRUNC),
        ] {
            if open_flags.contains(open) {
                o |= bit;
            }
        }
        let mut base = 0u64;
        if flags.contains(DescriptorFlags::READ) {
            base |= rights::FD_READ;
        }
        if flags.contains(DescriptorFlags::WRITE) {
            base |= rights::FD_WRITE;
        }
        // The synchronous-I/O flags are refused, as the core refuses preview1's.
        if flags.intersects(
            DescriptorFlags::FILE_INTEGRITY_SYNC
                | DescriptorFlags::DATA_INTEGRITY_SYNC
                | DescriptorFlags::REQUESTED_WRITE_SYNC,
        ) {
            return fs(Err(Errno::Notsup));
        }
        match self
            .ctx
            .path_open(fd, lookup(path_flags), &path, u32::from(o), base, 0, 0)
        {
            Ok(new) => Ok(Ok(self.descriptor(new)?)),
            Err(errno) => fs(Err(errno)),
        }
    }

    fn readlink_at(&mut self, descriptor: Resource<Descriptor>, path: String) -> FsResult<String> {
        let fd = self.fd(&descriptor)?;
        fs(self
            .ctx
            .path_readlink(fd, &path)
            .and_then(|target| String::from_utf8(target).map_err(|_| Errno::Ilseq)))
    }

    fn remove_directory_at(
        &mut self,
        descriptor: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        let fd = self.fd(&descriptor)?;
        fs(self.ctx.path_remove_directory(fd, &path))
    }

    fn rename_at(
        &mut self,
        descriptor: Resource<Descriptor>,
        old_path: String,
        new_descriptor: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        let (fd, new_fd) = (self.fd(&descriptor)?, self.fd(&new_descriptor)?);
        fs(self.ctx.path_rename(fd, &old_path, new_fd, &new_path))
    }

    fn symlink_at(
        &mut self,
        descriptor: Resource<Descriptor>,
        old_path: String,
        new_path: String,
    ) -> FsResult<()> {
        let fd = self.fd(&descriptor)?;
        fs(self.ctx.path_symlink(&old_path, fd, &new_path))
    }

    fn unlink_file_at(&mut self, descriptor: Resource<Descriptor>, path: String) -> FsResult<()> {
        let fd = self.fd(&descriptor)?;
        fs(self.ctx.path_unlink_file(fd, &path))
    }

    fn is_same_object(
        &mut self,
        descriptor: Resource<Descriptor>,
        other: Resource<Descriptor>,
    ) -> wasmtime::Result<bool> {
        let (a, b) = (self.fd(&descriptor)?, self.fd(&other)?);
        Ok(
            match (self.ctx.fd_filestat_get(a), self.ctx.fd_filestat_get(b)) {
                (Ok(a), Ok(b)) => (a.dev, a.ino) == (b.dev, b.ino),
                _ => false,
            },
        )
    }

    fn metadata_hash(&mut self, descriptor: Resource<Descriptor>) -> FsResult<MetadataHashValue> {
        let fd = self.fd(&descriptor)?;
        fs(self.ctx.fd_filestat_get(fd).map(metadata_hash))
    }

    fn metadata_hash_at(
        &mut self,
        descriptor: Resource<Descriptor>,
        flags: PathFlags,
        path: String,
    ) -> FsResult<MetadataHashValue> {
        let fd = self.fd(&descriptor)?;
        fs(self
            .ctx
            .path_filestat_get(fd, lookup(flags), &path)
            .map(metadata_hash))
    }

    fn drop(&mut self, descriptor: Resource<Descriptor>) -> wasmtime::Result<()> {
        let Descriptor(fd) = self.table.delete(descriptor)?;
        self.release(fd);
        Ok(())
    }
}

impl types::HostDirectoryEntryStream for WasiP2 {
    fn read_directory_entry(
        &mut self,
        entries: Resource<DirectoryEntries>,
    ) -> FsResult<Option<DirectoryEntry>> {
        let DirectoryEntries(entries) = self.table.get_mut(&entries)?;
        fs(entries.next().transpose())
    }

    fn drop(&mut self, entries: Resource<DirectoryEntries>) -> wasmtime::Result<()> {
        self.table.delete(entries)?;
        Ok(())
    }
}

impl preopens::Host for WasiP2 {
    fn get_directories(&mut self) -> wasmtime::Result<Vec<(Resource<Descriptor>, String)>> {
        let preopens = self.preopens.clone();
        preopens
            .into_iter()
            .map(|(fd, name)| Ok((self.descriptor(fd)?, name)))
            .collect()
    }
}
