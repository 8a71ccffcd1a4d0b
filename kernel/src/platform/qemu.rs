//! QEMU's devices as the guest uses them directly (it runs in ring 0 / EL1 / S-mode): the
//! consoles that carry the module's stdout and stderr, and the device that ends the VM.
//!
//! x86_64: two `isa-debugcon` ports (0xe9 stdout, 0xea stderr) and `isa-debug-exit` (0xf4).

use std::io;

/// A byte stream to the host, one device per stream.
pub struct Console {
    #[cfg(target_arch = "x86_64")]
    port: u16,
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

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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
