//! WASI `errno` values (witx `$errno`, a `u16`) and the mapping from host I/O errors.
//!
//! Every host function returns its errno as an `i32`; internally operations return
//! [`WasiResult`] and the binding layer turns `Err(errno)` into its code.

use std::fmt;
use std::io;

/// Result of a WASI operation: the value, or the errno to hand to the guest.
pub type WasiResult<T> = Result<T, Errno>;

macro_rules! errnos {
    ($($name:ident = $code:literal, $text:literal;)*) => {
        /// One WASI preview1 error number.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum Errno {
            $(#[doc = $text] $name = $code,)*
        }

        impl Errno {
            /// The witx name of this errno (e.g. `"noent"`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Errno::$name => $text,)*
                }
            }

            /// The errno for a numeric code, if the code is defined.
            pub fn from_code(code: u16) -> Option<Errno> {
                match code {
                    $($code => Some(Errno::$name),)*
                    _ => None,
                }
            }
        }
    };
}

errnos! {
    Success = 0, "success";
    TooBig = 1, "2big";
    Acces = 2, "acces";
    Addrinuse = 3, "addrinuse";
    Addrnotavail = 4, "addrnotavail";
    Afnosupport = 5, "afnosupport";
    Again = 6, "again";
    Already = 7, "already";
    Badf = 8, "badf";
    Badmsg = 9, "badmsg";
    Busy = 10, "busy";
    Canceled = 11, "canceled";
    Child = 12, "child";
    Connaborted = 13, "connaborted";
    Connrefused = 14, "connrefused";
    Connreset = 15, "connreset";
    Deadlk = 16, "deadlk";
    Destaddrreq = 17, "destaddrreq";
    Dom = 18, "dom";
    Dquot = 19, "dquot";
    Exist = 20, "exist";
    Fault = 21, "fault";
    Fbig = 22, "fbig";
    Hostunreach = 23, "hostunreach";
    Idrm = 24, "idrm";
    Ilseq = 25, "ilseq";
    Inprogress = 26, "inprogress";
    Intr = 27, "intr";
    Inval = 28, "inval";
    Io = 29, "io";
    Isconn = 30, "isconn";
    Isdir = 31, "isdir";
    Loop = 32, "loop";
    Mfile = 33, "mfile";
    Mlink = 34, "mlink";
    Msgsize = 35, "msgsize";
    Multihop = 36, "multihop";
    Nametoolong = 37, "nametoolong";
    Netdown = 38, "netdown";
    Netreset = 39, "netreset";
    Netunreach = 40, "netunreach";
    Nfile = 41, "nfile";
    Nobufs = 42, "nobufs";
    Nodev = 43, "nodev";
    Noent = 44, "noent";
    Noexec = 45, "noexec";
    Nolck = 46, "nolck";
    Nolink = 47, "nolink";
    Nomem = 48, "nomem";
    Nomsg = 49, "nomsg";
    Noprotoopt = 50, "noprotoopt";
    Nospc = 51, "nospc";
    Nosys = 52, "nosys";
    Notconn = 53, "notconn";
    Notdir = 54, "notdir";
    Notempty = 55, "notempty";
    Notrecoverable = 56, "notrecoverable";
    Notsock = 57, "notsock";
    Notsup = 58, "notsup";
    Notty = 59, "notty";
    Nxio = 60, "nxio";
    Overflow = 61, "overflow";
    Ownerdead = 62, "ownerdead";
    Perm = 63, "perm";
    Pipe = 64, "pipe";
    Proto = 65, "proto";
    Protonosupport = 66, "protonosupport";
    Prototype = 67, "prototype";
    Range = 68, "range";
    Rofs = 69, "rofs";
    Spipe = 70, "spipe";
    Srch = 71, "srch";
    Stale = 72, "stale";
    Timedout = 73, "timedout";
    Txtbsy = 74, "txtbsy";
    Xdev = 75, "xdev";
    Notcapable = 76, "notcapable";
}

impl Errno {
    /// The value a host function returns to the guest.
    pub fn code(self) -> i32 {
        self as u16 as i32
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "errno {} ({})", self.name(), *self as u16)
    }
}

impl std::error::Error for Errno {}

impl From<io::Error> for Errno {
    fn from(err: io::Error) -> Errno {
        from_io(&err)
    }
}

/// Maps a host I/O error to the closest WASI errno.
///
/// The raw OS code is used where its numbering is known (Linux and Hermit share the
/// Linux numbers); otherwise the portable [`io::ErrorKind`] decides.
pub fn from_io(err: &io::Error) -> Errno {
    if let Some(errno) = err.raw_os_error().and_then(from_os_code) {
        return errno;
    }
    from_kind(err.kind())
}

/// Maps a portable error kind to an errno (used when no raw OS code is available).
pub fn from_kind(kind: io::ErrorKind) -> Errno {
    use io::ErrorKind as K;
    match kind {
        K::NotFound => Errno::Noent,
        K::PermissionDenied => Errno::Acces,
        K::ConnectionRefused => Errno::Connrefused,
        K::ConnectionReset => Errno::Connreset,
        K::HostUnreachable => Errno::Hostunreach,
        K::NetworkUnreachable => Errno::Netunreach,
        K::ConnectionAborted => Errno::Connaborted,
        K::NotConnected => Errno::Notconn,
        K::AddrInUse => Errno::Addrinuse,
        K::AddrNotAvailable => Errno::Addrnotavail,
        K::NetworkDown => Errno::Netdown,
        K::BrokenPipe => Errno::Pipe,
        K::AlreadyExists => Errno::Exist,
        K::WouldBlock => Errno::Again,
        K::NotADirectory => Errno::Notdir,
        K::IsADirectory => Errno::Isdir,
        K::DirectoryNotEmpty => Errno::Notempty,
        K::ReadOnlyFilesystem => Errno::Rofs,
        K::StaleNetworkFileHandle => Errno::Stale,
        K::InvalidInput => Errno::Inval,
        K::InvalidData => Errno::Ilseq,
        K::TimedOut => Errno::Timedout,
        K::StorageFull => Errno::Nospc,
        K::NotSeekable => Errno::Spipe,
        K::QuotaExceeded => Errno::Dquot,
        K::FileTooLarge => Errno::Fbig,
        K::ResourceBusy => Errno::Busy,
        K::ExecutableFileBusy => Errno::Txtbsy,
        K::Deadlock => Errno::Deadlk,
        K::CrossesDevices => Errno::Xdev,
        K::TooManyLinks => Errno::Mlink,
        K::InvalidFilename => Errno::Nametoolong,
        K::ArgumentListTooLong => Errno::TooBig,
        K::Interrupted => Errno::Intr,
        K::Unsupported => Errno::Nosys,
        K::OutOfMemory => Errno::Nomem,
        K::UnexpectedEof => Errno::Io,
        _ => Errno::Io,
    }
}

/// Maps a raw OS error number (Linux numbering, shared by Hermit) to an errno.
#[cfg(any(target_os = "linux", target_os = "hermit"))]
pub fn from_os_code(code: i32) -> Option<Errno> {
    from_linux_code(code)
}

/// Maps a Linux error number (as the OS, or a FUSE server, reports it) to an errno.
pub fn from_linux_code(code: i32) -> Option<Errno> {
    let errno = match code {
        1 => Errno::Perm,
        2 => Errno::Noent,
        3 => Errno::Srch,
        4 => Errno::Intr,
        5 => Errno::Io,
        6 => Errno::Nxio,
        7 => Errno::TooBig,
        8 => Errno::Noexec,
        9 => Errno::Badf,
        10 => Errno::Child,
        11 => Errno::Again,
        12 => Errno::Nomem,
        13 => Errno::Acces,
        14 => Errno::Fault,
        16 => Errno::Busy,
        17 => Errno::Exist,
        18 => Errno::Xdev,
        19 => Errno::Nodev,
        20 => Errno::Notdir,
        21 => Errno::Isdir,
        22 => Errno::Inval,
        23 => Errno::Nfile,
        24 => Errno::Mfile,
        25 => Errno::Notty,
        26 => Errno::Txtbsy,
        27 => Errno::Fbig,
        28 => Errno::Nospc,
        29 => Errno::Spipe,
        30 => Errno::Rofs,
        31 => Errno::Mlink,
        32 => Errno::Pipe,
        33 => Errno::Dom,
        34 => Errno::Range,
        35 => Errno::Deadlk,
        36 => Errno::Nametoolong,
        37 => Errno::Nolck,
        38 => Errno::Nosys,
        39 => Errno::Notempty,
        40 => Errno::Loop,
        42 => Errno::Nomsg,
        43 => Errno::Idrm,
        67 => Errno::Nolink,
        71 => Errno::Proto,
        72 => Errno::Multihop,
        74 => Errno::Badmsg,
        75 => Errno::Overflow,
        84 => Errno::Ilseq,
        88 => Errno::Notsock,
        89 => Errno::Destaddrreq,
        90 => Errno::Msgsize,
        91 => Errno::Prototype,
        92 => Errno::Noprotoopt,
        93 => Errno::Protonosupport,
        95 => Errno::Notsup,
        97 => Errno::Afnosupport,
        98 => Errno::Addrinuse,
        99 => Errno::Addrnotavail,
        100 => Errno::Netdown,
        101 => Errno::Netunreach,
        102 => Errno::Netreset,
        103 => Errno::Connaborted,
        104 => Errno::Connreset,
        105 => Errno::Nobufs,
        106 => Errno::Isconn,
        107 => Errno::Notconn,
        110 => Errno::Timedout,
        111 => Errno::Connrefused,
        113 => Errno::Hostunreach,
        114 => Errno::Already,
        115 => Errno::Inprogress,
        116 => Errno::Stale,
        122 => Errno::Dquot,
        125 => Errno::Canceled,
        130 => Errno::Ownerdead,
        131 => Errno::Notrecoverable,
        _ => return None,
    };
    Some(errno)
}

/// Raw OS numbers of other hosts are not interpreted; the error kind decides.
#[cfg(not(any(target_os = "linux", target_os = "hermit")))]
pub fn from_os_code(_code: i32) -> Option<Errno> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_witx() {
        assert_eq!(Errno::Success.code(), 0);
        assert_eq!(Errno::TooBig.code(), 1);
        assert_eq!(Errno::Badf.code(), 8);
        assert_eq!(Errno::Inval.code(), 28);
        assert_eq!(Errno::Loop.code(), 32);
        assert_eq!(Errno::Noent.code(), 44);
        assert_eq!(Errno::Nosys.code(), 52);
        assert_eq!(Errno::Notdir.code(), 54);
        assert_eq!(Errno::Notsock.code(), 57);
        assert_eq!(Errno::Perm.code(), 63);
        assert_eq!(Errno::Rofs.code(), 69);
        assert_eq!(Errno::Notcapable.code(), 76);
        for code in 0..=76u16 {
            assert_eq!(Errno::from_code(code).map(|e| e as u16), Some(code));
        }
        assert_eq!(Errno::from_code(77), None);
    }

    #[test]
    fn io_errors_map_by_kind() {
        let err = io::Error::new(io::ErrorKind::NotFound, "gone");
        assert_eq!(Errno::from(err), Errno::Noent);
        let err = io::Error::new(io::ErrorKind::AlreadyExists, "there");
        assert_eq!(Errno::from(err), Errno::Exist);
        let err = io::Error::new(io::ErrorKind::PermissionDenied, "no");
        assert_eq!(Errno::from(err), Errno::Acces);
        let err = io::Error::other("strange");
        assert_eq!(Errno::from(err), Errno::Io);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn io_errors_map_by_os_code() {
        assert_eq!(Errno::from(io::Error::from_raw_os_error(40)), Errno::Loop);
        assert_eq!(
            Errno::from(io::Error::from_raw_os_error(39)),
            Errno::Notempty
        );
        assert_eq!(Errno::from(io::Error::from_raw_os_error(20)), Errno::Notdir);
        assert_eq!(Errno::from(io::Error::from_raw_os_error(18)), Errno::Xdev);
        assert_eq!(Errno::from(io::Error::from_raw_os_error(9999)), Errno::Io);
    }

    #[test]
    fn display_names_the_errno() {
        assert_eq!(Errno::Noent.to_string(), "errno noent (44)");
    }
}
