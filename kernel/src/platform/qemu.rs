//! QEMU's devices as the guest uses them directly (it runs in ring 0 / EL1 / S-mode): the
//! consoles that carry the module's stdout and stderr, and the device that ends the VM.
//!
//! - x86_64: two `isa-debugcon` ports (0xe9 stdout, 0xea stderr) and `isa-debug-exit` (0xf4).
//! - aarch64, riscv64: semihosting. The module's stderr is the host's standard error
//!   (`":tt"` opened for appending), its stdout the host's standard output (`":tt"` opened
//!   for writing) or, where the launch script names one in [`STDOUT_VAR`], that host file:
//!   on riscv64 OpenSBI takes semihosting's standard output for its console, which carries
//!   the kernel's log. The module's stdin is the host file the launch script names in
//!   [`STDIN_VAR`] (the script's stdin, collected), read by semihosting. `SYS_EXIT` ends
//!   the VM.

use std::io;

/// The kernel environment variable that names the host file for the module's stdout
/// (semihosting boards; the riscv64 launch script sets `/dev/fd/3`).
#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
pub const STDOUT_VAR: &str = "HERMIT_WASM_STDOUT";

/// The kernel environment variable that names the host file holding the module's stdin
/// (semihosting boards; unset when the launch script's stdin was a terminal).
#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
pub const STDIN_VAR: &str = "HERMIT_WASM_STDIN";

/// A byte stream to the host, one device or host file per stream.
pub struct Console {
    #[cfg(target_arch = "x86_64")]
    port: u16,
    /// The semihosting handle; `None` if the host refused to open the stream.
    #[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
    handle: Option<isize>,
}

#[cfg(target_arch = "x86_64")]
mod x86_64 {
    pub const STDOUT_PORT: u16 = 0xe9;
    pub const STDERR_PORT: u16 = 0xea;
    pub const EXIT_PORT: u16 = 0xf4;

    /// # Safety
    /// Port I/O to a device QEMU was told to provide.
    pub unsafe fn outb(port: u16, value: u8) {
        unsafe {
            core::arch::asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
        };
    }

    /// # Safety
    /// As `outb`.
    pub unsafe fn outl(port: u16, value: u32) {
        unsafe {
            core::arch::asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack, preserves_flags))
        };
    }
}

impl Console {
    #[cfg(target_arch = "x86_64")]
    pub fn stdout() -> Console {
        Console {
            port: x86_64::STDOUT_PORT,
        }
    }

    #[cfg(target_arch = "x86_64")]
    pub fn stderr() -> Console {
        Console {
            port: x86_64::STDERR_PORT,
        }
    }

    #[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
    pub fn stdout() -> Console {
        use std::sync::OnceLock;

        use super::semihosting::{self, mode};
        static HANDLE: OnceLock<Option<isize>> = OnceLock::new();
        let handle = *HANDLE.get_or_init(|| match std::env::var(STDOUT_VAR) {
            Ok(path) => semihosting::open(&path, mode::APPEND),
            Err(_) => semihosting::open(":tt", mode::WRITE),
        });
        Console { handle }
    }

    #[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
    pub fn stderr() -> Console {
        use std::sync::OnceLock;

        use super::semihosting::{self, mode};
        static HANDLE: OnceLock<Option<isize>> = OnceLock::new();
        let handle = *HANDLE.get_or_init(|| semihosting::open(":tt", mode::APPEND));
        Console { handle }
    }
}

impl io::Write for Console {
    #[cfg(target_arch = "x86_64")]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for &byte in buf {
            // SAFETY: the launch script attaches a debugcon to this port.
            unsafe { x86_64::outb(self.port, byte) };
        }
        Ok(buf.len())
    }

    #[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(handle) = self.handle else {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the host did not open this stream (QEMU without semihosting?)",
            ));
        };
        if buf.is_empty() {
            return Ok(0);
        }
        match super::semihosting::write(handle, buf) {
            0 => Err(io::ErrorKind::WriteZero.into()),
            written => Ok(written),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The module's stdin on the semihosting boards: a host file read from its start to its
/// end, which the module sees as EOF.
#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
pub struct Input {
    /// The semihosting handle; `None` if the host refused to open the file.
    handle: Option<isize>,
}

#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
impl Input {
    /// The file named in [`STDIN_VAR`]; `None` if the launch script named none.
    pub fn stdin() -> Option<Input> {
        use super::semihosting::{self, mode};
        let path = std::env::var(STDIN_VAR).ok()?;
        Some(Input {
            handle: semihosting::open(&path, mode::READ_BINARY),
        })
    }
}

#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
impl io::Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(handle) = self.handle else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the host did not open the stdin file (QEMU without semihosting?)",
            ));
        };
        if buf.is_empty() {
            return Ok(0);
        }
        Ok(super::semihosting::read(handle, buf))
    }
}

/// Stops the VM. The status itself travels in the serial log (see `Host::exit`); the
/// device only needs to end QEMU.
#[cfg(target_arch = "x86_64")]
pub fn exit(status: i32) -> ! {
    // SAFETY: the launch script attaches isa-debug-exit here; QEMU exits on the write.
    unsafe { x86_64::outl(x86_64::EXIT_PORT, status as u32 & 0x7f) };
    // Without the device (a hand-made command line) fall back to the kernel's shutdown.
    std::process::exit(status)
}

/// Stops the VM with semihosting `SYS_EXIT`; QEMU exits with the status's low 8 bits.
#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
pub fn exit(status: i32) -> ! {
    super::semihosting::exit(status);
    std::process::exit(status)
}
