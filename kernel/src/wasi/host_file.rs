//! An open host file with a position that behaves as POSIX says, on every platform.
//!
//! Natively this is `std::fs::File`. In the Hermit guest, files in mapped directories come
//! through kernel 0.11's virtio-fs client, whose handles only move forward: each read or
//! write happens at the handle's own offset, which advances by the bytes moved, and its
//! `lseek` does not change that offset. There the WASI position is kept here, and the
//! handle is brought to it before each read or write: by reading forward to skip bytes,
//! or by opening the file again (offset 0) to go back. Writing past the end first fills the
//! gap with zeros; a shorter length is set by reading the kept part, opening with
//! truncation and writing it back. Going back or shrinking a file thus costs time in
//! proportion to the bytes before the new position (the kernel has no truncate either).

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// An open host file.
#[derive(Debug)]
pub struct HostFile {
    file: File,
    #[cfg(target_os = "hermit")]
    forward_only: ForwardOnly,
}

/// What emulating positions on a forward-only handle needs.
#[cfg(target_os = "hermit")]
#[derive(Debug)]
struct ForwardOnly {
    /// To open the file again (never creating or truncating it).
    path: std::path::PathBuf,
    writable: bool,
    /// The WASI position.
    pos: u64,
    /// The kernel handle's own offset.
    handle_pos: u64,
}

impl HostFile {
    /// Opens `path` with `options`; `writable` says whether `options` write. In the guest
    /// the file is always opened for reading too, which skipping forward needs.
    pub fn open(path: &Path, options: &mut OpenOptions, writable: bool) -> io::Result<HostFile> {
        #[cfg(target_os = "hermit")]
        {
            options.read(true);
            Ok(HostFile {
                file: options.open(path)?,
                forward_only: ForwardOnly {
                    path: path.to_path_buf(),
                    writable,
                    pos: 0,
                    handle_pos: 0,
                },
            })
        }
        #[cfg(not(target_os = "hermit"))]
        {
            let _ = writable;
            Ok(HostFile {
                file: options.open(path)?,
            })
        }
    }

    /// The std file underneath (for platform calls that do not move the position).
    pub fn std(&self) -> &File {
        &self.file
    }

    pub fn metadata(&self) -> io::Result<Metadata> {
        self.file.metadata()
    }

    pub fn sync_all(&self) -> io::Result<()> {
        self.file.sync_all()
    }

    pub fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Truncates or extends the file to `len` bytes; the position stays.
    #[cfg(not(target_os = "hermit"))]
    pub fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    /// Truncates or extends the file to `len` bytes; the position stays.
    #[cfg(target_os = "hermit")]
    pub fn set_len(&mut self, len: u64) -> io::Result<()> {
        let size = self.file.metadata()?.len();
        if len >= size {
            let reached = self.handle_to(size)?;
            return self.fill_zeros(len - reached);
        }
        let keep = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
        self.reopen(false)?;
        let mut kept = vec![0u8; keep];
        self.file.read_exact(&mut kept)?;
        self.reopen(true)?;
        self.file.write_all(&kept)?;
        self.forward_only.handle_pos = len;
        Ok(())
    }
}

#[cfg(target_os = "hermit")]
impl HostFile {
    /// Opens the file again: the handle is at offset 0 (the file emptied if `truncate`).
    fn reopen(&mut self, truncate: bool) -> io::Result<()> {
        let f = &mut self.forward_only;
        self.file = OpenOptions::new()
            .read(true)
            .write(f.writable || truncate)
            .truncate(truncate)
            .open(&f.path)?;
        f.handle_pos = 0;
        Ok(())
    }

    /// Brings the handle to `pos`, or to the end of the file if that comes first; returns
    /// where it is.
    fn handle_to(&mut self, pos: u64) -> io::Result<u64> {
        if pos < self.forward_only.handle_pos {
            self.reopen(false)?;
        }
        let mut skip = vec![0u8; 64 * 1024];
        while self.forward_only.handle_pos < pos {
            let want = (pos - self.forward_only.handle_pos).min(skip.len() as u64) as usize;
            match self.file.read(&mut skip[..want]) {
                Ok(0) => break,
                Ok(n) => self.forward_only.handle_pos += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.forward_only.handle_pos)
    }

    /// Writes `count` zero bytes at the handle.
    fn fill_zeros(&mut self, mut count: u64) -> io::Result<()> {
        let zeros = vec![0u8; 64 * 1024];
        while count > 0 {
            let n = count.min(zeros.len() as u64) as usize;
            self.file.write_all(&zeros[..n])?;
            self.forward_only.handle_pos += n as u64;
            count -= n as u64;
        }
        Ok(())
    }
}

#[cfg(not(target_os = "hermit"))]
impl Read for HostFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}

#[cfg(not(target_os = "hermit"))]
impl Write for HostFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(not(target_os = "hermit"))]
impl Seek for HostFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

#[cfg(target_os = "hermit")]
impl Read for HostFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let pos = self.forward_only.pos;
        if self.handle_to(pos)? < pos {
            return Ok(0);
        }
        let n = self.file.read(buf)?;
        self.forward_only.handle_pos += n as u64;
        self.forward_only.pos += n as u64;
        Ok(n)
    }
}

#[cfg(target_os = "hermit")]
impl Write for HostFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let pos = self.forward_only.pos;
        let reached = self.handle_to(pos)?;
        self.fill_zeros(pos - reached)?;
        let n = self.file.write(buf)?;
        self.forward_only.handle_pos += n as u64;
        self.forward_only.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(target_os = "hermit")]
impl Seek for HostFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let (base, delta) = match to {
            SeekFrom::Start(n) => {
                self.forward_only.pos = n;
                return Ok(n);
            }
            SeekFrom::Current(d) => (self.forward_only.pos, d),
            SeekFrom::End(d) => (self.file.metadata()?.len(), d),
        };
        let pos = base
            .checked_add_signed(delta)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        self.forward_only.pos = pos;
        Ok(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_writes_and_seeks_like_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut options = OpenOptions::new();
        options.read(true).write(true).create_new(true);
        let mut file = HostFile::open(&path, &mut options, true).unwrap();
        file.write_all(b"hello world").unwrap();
        assert_eq!(file.stream_position().unwrap(), 11);
        file.seek(SeekFrom::Start(6)).unwrap();
        let mut word = String::new();
        file.read_to_string(&mut word).unwrap();
        assert_eq!(word, "world");
        file.seek(SeekFrom::End(2)).unwrap();
        file.write_all(b"!").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world\0\0!");
        file.set_len(5).unwrap();
        assert_eq!(
            file.stream_position().unwrap(),
            14,
            "set_len keeps the position"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");
    }
}
