//! What the guest needs from Hermit beyond std: the hooks Wasmtime's custom platform calls
//! (memory, TLS, instruction caches, code run in place), a stack aligned for Wasmtime, time
//! slices for the threads of a threads module, page-table edits the timer cannot preempt, the consoles and exit device of the machine it runs
//! on, the virtio-fs device that brings host directories and the virtio console that
//! streams stdin on x86 (with the device mappings and DMA memory they need). Under QEMU the launch script says so
//! (`HERMIT_WASM_PLATFORM=qemu` in the kernel's environment); a disk boot's configuration
//! says `serial`; otherwise (uhyve) std's own I/O and exit carry everything.

pub mod code_memory;
pub mod counter;
mod device_memory;
mod dma;
mod icache;
pub mod page_tables;
#[cfg(target_arch = "x86_64")]
mod power_off;
mod qemu;
#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
mod semihosting;
pub mod shared_memory;
mod stack_alignment;
pub mod timeslice;
pub mod virtio_fs;
mod virtio_stdin;
mod wasmtime_hooks;

pub use stack_alignment::with_aligned_stack;

use crate::usage::RunRecord;
use crate::wasi::Stdio;

/// The kernel environment variable the QEMU launch scripts set.
pub const PLATFORM_VAR: &str = "HERMIT_WASM_PLATFORM";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// QEMU: the module's stdout and stderr go to devices of their own, the kernel's
    /// console (and our status line) to the serial port.
    Qemu,
    /// uhyve: std's stdio and exit are forwarded to the host process.
    Uhyve,
    /// A disk booted by firmware, with no device of QEMU's: the module's stdout and stderr
    /// go to the kernel's console (the serial port), then the status line; stdin is empty;
    /// the kernel powers the machine off.
    Serial,
}

impl Host {
    pub fn detect() -> Host {
        match std::env::var(PLATFORM_VAR).as_deref() {
            Ok("qemu") => Host::Qemu,
            Ok("serial") => Host::Serial,
            _ => Host::Uhyve,
        }
    }

    /// What a panic of the runner does besides printing its message. On a disk boot on
    /// x86_64 the machine powers off or halts (`power_off.rs`) instead of going through
    /// the kernel's shutdown, which resets a machine without ACPI PM1a and so would run the
    /// module again. (A panic of the kernel itself still takes the kernel's path.)
    pub fn on_panic(self) {
        #[cfg(target_arch = "x86_64")]
        if self == Host::Serial {
            let print = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                print(info);
                power_off::power_off_and_halt()
            }));
        }
    }

    /// The module's stdio.
    pub fn stdio(self) -> Stdio {
        match self {
            Host::Qemu => Stdio {
                stdin: qemu_stdin(),
                stdout: Box::new(qemu::Console::stdout()),
                stderr: Box::new(qemu::Console::stderr()),
                terminal: [false; 3],
            },
            Host::Serial => Stdio {
                stdin: Box::new(std::io::empty()),
                stdout: Box::new(std::io::stdout()),
                stderr: Box::new(std::io::stderr()),
                terminal: [false; 3],
            },
            Host::Uhyve => Stdio {
                stdin: Box::new(std::io::stdin()),
                stdout: Box::new(std::io::stdout()),
                stderr: Box::new(std::io::stderr()),
                terminal: [false; 3],
            },
        }
    }

    /// Ends the VM with `status`, after the guest's run record (the launch script's run
    /// report is made of it).
    pub fn exit(self, status: i32, record: &RunRecord) -> ! {
        // The launch script reads the record and the status from these lines of the
        // serial log (the exit device itself carries fewer bits on some machines): one
        // write, so that no other line lands between them. A record that cannot be
        // written (serialising strings and numbers does not fail) is left out, and the
        // script says the guest gave none.
        let mut lines = format!("\n{}", crate::phases::lines());
        if let Ok(record) = serde_json::to_string(record) {
            lines.push_str(&format!("hermit-wasm: run {record}\n"));
        }
        lines.push_str(&format!("hermit-wasm: exit status {status}\n"));
        match self {
            Host::Qemu => {
                let _ = std::io::Write::write_all(&mut std::io::stderr(), lines.as_bytes());
                qemu::exit(status)
            }
            Host::Serial => {
                // Read from the serial console by run-disk.sh or a person. Then the
                // machine powers off and must never boot the module again: on x86_64 the
                // runner writes the sleep register and halts (`power_off.rs`), as kernel
                // 0.11 would reset a machine without PM1a; on aarch64 and riscv64 the
                // kernel's PSCI or SBI call, which waits forever if it fails.
                let _ = std::io::Write::flush(&mut std::io::stdout());
                let _ = std::io::Write::write_all(&mut std::io::stderr(), lines.as_bytes());
                #[cfg(target_arch = "x86_64")]
                power_off::power_off_and_halt();
                #[cfg(not(target_arch = "x86_64"))]
                std::process::exit(status)
            }
            Host::Uhyve => std::process::exit(status),
        }
    }
}

/// The module's stdin under QEMU, as the launch script hands it over: a stream through a
/// virtio console port, or QEMU's own stdin by semihosting; none is an empty stdin.
fn qemu_stdin() -> Box<dyn std::io::Read + Send> {
    if let Some(stream) = virtio_stdin::VirtioStdin::from_env() {
        return Box::new(stream);
    }
    #[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
    if let Some(input) = qemu::Input::stdin() {
        return Box::new(input);
    }
    Box::new(std::io::empty())
}
