//! Arm / RISC-V semihosting: the guest asks QEMU (`-semihosting-config enable=on`) to do
//! I/O on the host and to end the VM. The guest runs at EL1 / in S-mode, where QEMU honours
//! the calls.
//!
//! A call passes an operation number and the address of a parameter block (guest virtual
//! memory: QEMU translates it with the guest's page tables) and returns one value.
//! aarch64 traps with `hlt #0xf000`; riscv64 with the sequence `slli x0, x0, 0x1f; ebreak;
//! srai x0, x0, 7`, which QEMU only recognises uncompressed and within one page.

/// `SYS_OPEN`: parameters `[name, mode, name length]`; returns a handle or -1.
const SYS_OPEN: usize = 0x01;
/// `SYS_WRITE`: parameters `[handle, buffer, length]`; returns the bytes NOT written.
const SYS_WRITE: usize = 0x05;
/// `SYS_READ`: parameters `[handle, buffer, length]`; returns the bytes NOT read (so
/// `length` at the end of the file, and also when the host failed: QEMU counts an error as
/// nothing transferred).
const SYS_READ: usize = 0x06;
/// `SYS_EXIT`: on 64-bit targets, parameters `[reason, subcode]`.
const SYS_EXIT: usize = 0x18;
/// Reason "the application exited"; the subcode is its status.
const ADP_STOPPED_APPLICATION_EXIT: usize = 0x2_0026;

/// `SYS_OPEN` modes (the index of an `fopen` mode string).
pub mod mode {
    /// `"rb"`: a host file opened for reading, binary.
    pub const READ_BINARY: usize = 1;
    /// `"w"`: with the name `":tt"`, the host's standard output.
    pub const WRITE: usize = 4;
    /// `"a"`: with the name `":tt"`, the host's standard error; with a file name, the file
    /// opened for appending (created if missing).
    pub const APPEND: usize = 8;
}

#[cfg(target_arch = "aarch64")]
fn call(operation: usize, parameters: *const usize) -> isize {
    let result: isize;
    // SAFETY: QEMU handles the semihosting trap and only reads or writes the parameter
    // block and the buffers it names, which the callers keep alive and valid.
    unsafe {
        core::arch::asm!(
            "hlt #0xf000",
            inlateout("x0") operation as isize => result,
            in("x1") parameters,
            options(nostack)
        )
    };
    result
}

// The trap sequence lives in a function of its own: padding to align it inside the caller
// would be executed, and within `.option norvc` the assembler pads with zeros.
#[cfg(target_arch = "riscv64")]
core::arch::global_asm!(
    ".section .text.hermit_wasm_semihosting_call, \"ax\"",
    ".option push",
    ".option norvc",
    ".balign 16",
    ".globl hermit_wasm_semihosting_call",
    ".type hermit_wasm_semihosting_call, @function",
    "hermit_wasm_semihosting_call:",
    "slli zero, zero, 0x1f",
    "ebreak",
    "srai zero, zero, 7",
    "ret",
    ".size hermit_wasm_semihosting_call, . - hermit_wasm_semihosting_call",
    ".option pop",
);

#[cfg(target_arch = "riscv64")]
fn call(operation: usize, parameters: *const usize) -> isize {
    extern "C" {
        /// `a0` = operation, `a1` = parameter block; returns QEMU's result in `a0`.
        fn hermit_wasm_semihosting_call(operation: usize, parameters: *const usize) -> isize;
    }
    // SAFETY: as on aarch64: QEMU only touches the parameter block and what it names.
    unsafe { hermit_wasm_semihosting_call(operation, parameters) }
}

/// Opens `name` on the host with `mode`; `None` if the host refuses.
pub fn open(name: &str, mode: usize) -> Option<isize> {
    // QEMU reads the name up to its length, but wants a terminating NUL all the same.
    let mut path = Vec::with_capacity(name.len() + 1);
    path.extend_from_slice(name.as_bytes());
    path.push(0);
    let parameters = [path.as_ptr() as usize, mode, name.len()];
    let handle = call(SYS_OPEN, parameters.as_ptr());
    (handle >= 0).then_some(handle)
}

/// Writes `bytes` to `handle`; returns how many bytes the host took.
pub fn write(handle: isize, bytes: &[u8]) -> usize {
    let parameters = [handle as usize, bytes.as_ptr() as usize, bytes.len()];
    let not_written = call(SYS_WRITE, parameters.as_ptr());
    bytes.len() - (not_written.clamp(0, bytes.len() as isize) as usize)
}

/// Reads from `handle` into `buffer`; returns how many bytes the host gave, 0 at the end.
pub fn read(handle: isize, buffer: &mut [u8]) -> usize {
    let parameters = [handle as usize, buffer.as_mut_ptr() as usize, buffer.len()];
    let not_read = call(SYS_READ, parameters.as_ptr());
    buffer.len() - (not_read.clamp(0, buffer.len() as isize) as usize)
}

/// Ends the VM; QEMU exits with `status` (its low 8 bits on a POSIX host). Without
/// semihosting the trap is an exception the kernel does not survive.
pub fn exit(status: i32) {
    let parameters = [ADP_STOPPED_APPLICATION_EXIT, status as usize];
    call(SYS_EXIT, parameters.as_ptr());
}
