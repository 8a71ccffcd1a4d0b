//! The 0.2 front door run natively against std: descriptors and streams over the core,
//! error codes, stdio, exit, pollables.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::Resource;

use super::bindings::wasi::cli::{exit, stdin, stdout};
use super::bindings::wasi::clocks::monotonic_clock;
use super::bindings::wasi::filesystem::preopens::Host as _;
use super::bindings::wasi::filesystem::types::{
    DescriptorFlags, DescriptorType, ErrorCode, HostDescriptor, HostDirectoryEntryStream,
    OpenFlags, PathFlags,
};
use super::bindings::wasi::io::poll::{Host as _, HostPollable};
use super::bindings::wasi::io::streams::{HostInputStream, HostOutputStream, StreamError};
use super::filesystem::Descriptor;
use super::WasiP2;
use crate::wasi::std_fs::StdFs;
use crate::wasi::{Exit, Preopen, Stdio, WasiConfig};

/// What the component wrote to stdout.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A component's state with `dir` preopened as `"."` (read-only when `read_only`).
fn wasi(dir: &std::path::Path, read_only: bool, stdout: Captured) -> WasiP2 {
    WasiP2::new(
        WasiConfig {
            args: vec!["test".into()],
            preopens: vec![Preopen {
                fs: Arc::new(StdFs),
                host: dir.to_owned(),
                guest: ".".into(),
                read_only,
            }],
            ..WasiConfig::default()
        },
        Stdio {
            stdin: Box::new(&b"typed in"[..]),
            stdout: Box::new(stdout),
            stderr: Box::new(std::io::sink()),
            terminal: [false; 3],
        },
    )
    .unwrap()
}

/// Another handle on the same resource, as a borrow passes it.
fn again<T: 'static>(resource: &Resource<T>) -> Resource<T> {
    Resource::new_borrow(resource.rep())
}

fn root(p2: &mut WasiP2) -> Resource<Descriptor> {
    let mut dirs = p2.get_directories().unwrap();
    assert_eq!(dirs.len(), 1);
    let (dir, name) = dirs.remove(0);
    assert_eq!(name, ".");
    dir
}

#[test]
fn files_are_written_and_read_through_streams_and_descriptors() {
    let t = tempfile::tempdir().unwrap();
    let mut p2 = wasi(t.path(), false, Captured::default());
    let dir = root(&mut p2);
    let file = p2
        .open_at(
            again(&dir),
            PathFlags::empty(),
            "f.txt".into(),
            OpenFlags::CREATE,
            DescriptorFlags::READ | DescriptorFlags::WRITE,
        )
        .unwrap()
        .unwrap();
    let fd = p2.table.get(&file).unwrap().0;
    let out = p2.write_via_stream(again(&file), 0).unwrap().unwrap();
    assert_eq!(p2.check_write(again(&out)).unwrap().unwrap(), 64 << 10);
    HostOutputStream::write(&mut p2, again(&out), b"hello".to_vec())
        .unwrap()
        .unwrap();
    p2.blocking_write_and_flush(again(&out), b", world".to_vec())
        .unwrap()
        .unwrap();
    HostOutputStream::drop(&mut p2, out).unwrap();
    assert_eq!(
        std::fs::read(t.path().join("f.txt")).unwrap(),
        b"hello, world"
    );

    let input = p2.read_via_stream(again(&file), 7).unwrap().unwrap();
    // The descriptor goes first; its number stays open for the stream.
    HostDescriptor::drop(&mut p2, file).unwrap();
    assert!(p2.ctx.fds.contains(fd));
    assert_eq!(
        p2.blocking_read(again(&input), 100).unwrap().unwrap(),
        b"world"
    );
    assert!(matches!(
        HostInputStream::read(&mut p2, again(&input), 100).unwrap(),
        Err(StreamError::Closed)
    ));
    HostInputStream::drop(&mut p2, input).unwrap();
    assert!(
        !p2.ctx.fds.contains(fd),
        "the last holder closes the number"
    );

    let stat = p2
        .stat_at(again(&dir), PathFlags::empty(), "f.txt".into())
        .unwrap()
        .unwrap();
    assert_eq!((stat.type_, stat.size), (DescriptorType::RegularFile, 12));
    let file = p2
        .open_at(
            again(&dir),
            PathFlags::empty(),
            "f.txt".into(),
            OpenFlags::empty(),
            DescriptorFlags::READ,
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        HostDescriptor::read(&mut p2, again(&file), 3, 2)
            .unwrap()
            .unwrap(),
        (b"llo".to_vec(), false)
    );
    assert_eq!(
        HostDescriptor::read(&mut p2, again(&file), 3, 12)
            .unwrap()
            .unwrap(),
        (Vec::new(), true)
    );
    // Not opened for writing: no stream to write.
    assert_eq!(
        p2.write_via_stream(again(&file), 0).unwrap().unwrap_err(),
        ErrorCode::BadDescriptor
    );

    let entries = p2.read_directory(again(&dir)).unwrap().unwrap();
    let entry = p2.read_directory_entry(again(&entries)).unwrap().unwrap();
    let entry = entry.expect("one entry");
    assert_eq!(
        (entry.name.as_str(), entry.type_),
        ("f.txt", DescriptorType::RegularFile)
    );
    assert!(p2
        .read_directory_entry(again(&entries))
        .unwrap()
        .unwrap()
        .is_none());

    // The preopen stays open when its descriptor goes.
    HostDescriptor::drop(&mut p2, dir).unwrap();
    assert!(p2.ctx.fds.contains(3));
}

#[test]
fn the_cores_errors_become_error_codes() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("sub")).unwrap();
    let mut p2 = wasi(t.path(), false, Captured::default());
    let dir = root(&mut p2);
    let mut open = |path: &str, open: OpenFlags, flags: DescriptorFlags| {
        p2.open_at(again(&dir), PathFlags::empty(), path.into(), open, flags)
            .unwrap()
            .map(|_| ())
    };
    let read = DescriptorFlags::READ;
    assert_eq!(
        open("missing", OpenFlags::empty(), read),
        Err(ErrorCode::NoEntry)
    );
    assert_eq!(
        open("../outside", OpenFlags::empty(), read),
        Err(ErrorCode::NotPermitted)
    );
    assert_eq!(
        open("sub", OpenFlags::empty(), DescriptorFlags::WRITE),
        Err(ErrorCode::IsDirectory)
    );
    assert_eq!(
        open(
            "x",
            OpenFlags::CREATE,
            DescriptorFlags::READ | DescriptorFlags::FILE_INTEGRITY_SYNC
        ),
        Err(ErrorCode::Unsupported)
    );
    assert_eq!(open("sub", OpenFlags::DIRECTORY, read), Ok(()));

    let mut ro = wasi(t.path(), true, Captured::default());
    let dir = root(&mut ro);
    let created = ro
        .open_at(
            again(&dir),
            PathFlags::empty(),
            "new".into(),
            OpenFlags::CREATE,
            DescriptorFlags::WRITE,
        )
        .unwrap();
    assert_eq!(created.map(|_| ()), Err(ErrorCode::ReadOnly));
    assert_eq!(
        ro.get_flags(again(&dir)).unwrap().unwrap(),
        DescriptorFlags::READ,
        "a read-only preopen is not mutable"
    );
}

#[test]
fn stdout_stdin_and_exit() {
    let t = tempfile::tempdir().unwrap();
    let captured = Captured::default();
    let mut p2 = wasi(t.path(), false, captured.clone());
    let out = stdout::Host::get_stdout(&mut p2).unwrap();
    p2.blocking_write_and_flush(again(&out), b"to stdout\n".to_vec())
        .unwrap()
        .unwrap();
    assert_eq!(captured.0.lock().unwrap().as_slice(), b"to stdout\n");
    // More than the WIT allows at once ends the run.
    assert!(p2
        .blocking_write_and_flush(again(&out), vec![0; 4097])
        .is_err());
    // A `write` past what check-write allows is taken whole, as Wasmtime's stdout takes it.
    let budget = p2.check_write(again(&out)).unwrap().unwrap() as usize;
    HostOutputStream::write(&mut p2, again(&out), vec![b'x'; budget + 1])
        .unwrap()
        .unwrap();
    assert_eq!(captured.0.lock().unwrap().len(), 10 + budget + 1);

    let input = stdin::Host::get_stdin(&mut p2).unwrap();
    let mut read = Vec::new();
    loop {
        match p2.blocking_read(again(&input), 3).unwrap() {
            Ok(data) => read.extend(data),
            Err(StreamError::Closed) => break,
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(read, b"typed in");

    let err = exit::Host::exit_with_code(&mut p2, 3).unwrap_err();
    assert_eq!(err.downcast_ref::<Exit>(), Some(&Exit(3)));
    let err = exit::Host::exit(&mut p2, Err(())).unwrap_err();
    assert_eq!(err.downcast_ref::<Exit>(), Some(&Exit(1)));
}

#[test]
fn pollables_wait_for_their_time_and_poll_says_which_are_ready() {
    let t = tempfile::tempdir().unwrap();
    let mut p2 = wasi(t.path(), false, Captured::default());
    let start = Instant::now();
    let soon = monotonic_clock::Host::subscribe_duration(&mut p2, 30_000_000).unwrap();
    let later = monotonic_clock::Host::subscribe_duration(&mut p2, 60_000_000_000).unwrap();
    assert!(!p2.ready(again(&soon)).unwrap());
    assert_eq!(p2.poll(vec![again(&later), again(&soon)]).unwrap(), vec![1]);
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert!(p2.ready(again(&soon)).unwrap());
    HostPollable::drop(&mut p2, soon).unwrap();
    assert!(p2.poll(Vec::new()).is_err(), "an empty list ends the run");
}
