//! `wasmtime_setjmp` / `wasmtime_longjmp` in assembly, per architecture, and instruction
//! cache maintenance for freshly written code.
//!
//! `wasmtime_setjmp(buf, body, payload, callee)` saves the callee-saved registers in its
//! own frame, stores the frame's address in `*buf`, and returns `body(payload, callee)`.
//! `wasmtime_longjmp(frame)` unwinds straight back into that frame and makes the
//! `wasmtime_setjmp` call return `false` (a trap). A Rust function that returns twice would
//! be undefined behaviour, hence assembly.

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".text",
    ".globl wasmtime_setjmp",
    ".type wasmtime_setjmp, @function",
    "wasmtime_setjmp:",
    // rdi = buf, rsi = body, rdx = payload, rcx = callee. On entry rsp = 8 (mod 16).
    "push rbp",
    "mov rbp, rsp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "sub rsp, 8", // rsp = 0 (mod 16) for the call below
    "mov [rdi], rsp",
    "mov rax, rsi",
    "mov rdi, rdx",
    "mov rsi, rcx",
    "call rax",
    ".Lwasmtime_jump_restore:",
    "add rsp, 8",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    ".size wasmtime_setjmp, . - wasmtime_setjmp",
    "",
    ".globl wasmtime_longjmp",
    ".type wasmtime_longjmp, @function",
    "wasmtime_longjmp:",
    "mov rsp, rdi",
    "xor eax, eax",
    "jmp .Lwasmtime_jump_restore",
    ".size wasmtime_longjmp, . - wasmtime_longjmp",
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".text",
    ".globl wasmtime_setjmp",
    ".type wasmtime_setjmp, %function",
    "wasmtime_setjmp:",
    // x0 = buf, x1 = body, x2 = payload, x3 = callee.
    "stp x29, x30, [sp, #-160]!",
    "mov x29, sp",
    "stp x19, x20, [sp, #16]",
    "stp x21, x22, [sp, #32]",
    "stp x23, x24, [sp, #48]",
    "stp x25, x26, [sp, #64]",
    "stp x27, x28, [sp, #80]",
    "stp d8, d9, [sp, #96]",
    "stp d10, d11, [sp, #112]",
    "stp d12, d13, [sp, #128]",
    "stp d14, d15, [sp, #144]",
    "mov x9, sp",
    "str x9, [x0]",
    "mov x9, x1",
    "mov x0, x2",
    "mov x1, x3",
    "blr x9",
    ".Lwasmtime_jump_restore:",
    "ldp x19, x20, [sp, #16]",
    "ldp x21, x22, [sp, #32]",
    "ldp x23, x24, [sp, #48]",
    "ldp x25, x26, [sp, #64]",
    "ldp x27, x28, [sp, #80]",
    "ldp d8, d9, [sp, #96]",
    "ldp d10, d11, [sp, #112]",
    "ldp d12, d13, [sp, #128]",
    "ldp d14, d15, [sp, #144]",
    "ldp x29, x30, [sp], #160",
    "ret",
    ".size wasmtime_setjmp, . - wasmtime_setjmp",
    "",
    ".globl wasmtime_longjmp",
    ".type wasmtime_longjmp, %function",
    "wasmtime_longjmp:",
    "mov sp, x0",
    "mov w0, #0",
    "b .Lwasmtime_jump_restore",
    ".size wasmtime_longjmp, . - wasmtime_longjmp",
);

// Kernel 0.11 starts threads with a stack 8 bytes off 16-byte alignment on riscv64, and
// Wasmtime's stack walker insists on alignment: realign here, keep the caller's sp.
#[cfg(target_arch = "riscv64")]
core::arch::global_asm!(
    ".text",
    ".option push",
    ".option arch, +d",
    ".globl wasmtime_setjmp",
    ".type wasmtime_setjmp, @function",
    "wasmtime_setjmp:",
    // a0 = buf, a1 = body, a2 = payload, a3 = callee.
    "mv t0, sp",
    "andi sp, sp, -16",
    "addi sp, sp, -208",
    "sd ra, 0(sp)",
    "sd t0, 8(sp)",
    "sd s0, 16(sp)",
    "sd s1, 24(sp)",
    "sd s2, 32(sp)",
    "sd s3, 40(sp)",
    "sd s4, 48(sp)",
    "sd s5, 56(sp)",
    "sd s6, 64(sp)",
    "sd s7, 72(sp)",
    "sd s8, 80(sp)",
    "sd s9, 88(sp)",
    "sd s10, 96(sp)",
    "sd s11, 104(sp)",
    "fsd fs0, 112(sp)",
    "fsd fs1, 120(sp)",
    "fsd fs2, 128(sp)",
    "fsd fs3, 136(sp)",
    "fsd fs4, 144(sp)",
    "fsd fs5, 152(sp)",
    "fsd fs6, 160(sp)",
    "fsd fs7, 168(sp)",
    "fsd fs8, 176(sp)",
    "fsd fs9, 184(sp)",
    "fsd fs10, 192(sp)",
    "fsd fs11, 200(sp)",
    "sd sp, 0(a0)",
    "mv t1, a1",
    "mv a0, a2",
    "mv a1, a3",
    "jalr t1",
    ".Lwasmtime_jump_restore:",
    "ld ra, 0(sp)",
    "ld s0, 16(sp)",
    "ld s1, 24(sp)",
    "ld s2, 32(sp)",
    "ld s3, 40(sp)",
    "ld s4, 48(sp)",
    "ld s5, 56(sp)",
    "ld s6, 64(sp)",
    "ld s7, 72(sp)",
    "ld s8, 80(sp)",
    "ld s9, 88(sp)",
    "ld s10, 96(sp)",
    "ld s11, 104(sp)",
    "fld fs0, 112(sp)",
    "fld fs1, 120(sp)",
    "fld fs2, 128(sp)",
    "fld fs3, 136(sp)",
    "fld fs4, 144(sp)",
    "fld fs5, 152(sp)",
    "fld fs6, 160(sp)",
    "fld fs7, 168(sp)",
    "fld fs8, 176(sp)",
    "fld fs9, 184(sp)",
    "fld fs10, 192(sp)",
    "fld fs11, 200(sp)",
    "ld t0, 8(sp)",
    "mv sp, t0",
    "ret",
    ".size wasmtime_setjmp, . - wasmtime_setjmp",
    "",
    ".globl wasmtime_longjmp",
    ".type wasmtime_longjmp, @function",
    "wasmtime_longjmp:",
    "mv sp, a0",
    "li a0, 0",
    "j .Lwasmtime_jump_restore",
    ".size wasmtime_longjmp, . - wasmtime_longjmp",
    ".option pop",
);

/// Makes code just written to `[addr, addr + len)` visible to instruction fetch.
/// Wasmtime's own maintenance does nothing on Hermit; x86 needs none.
#[allow(unused_variables)]
pub fn sync_instruction_cache(addr: *mut u8, len: usize) {
    #[cfg(target_arch = "aarch64")]
    {
        let ctr: u64;
        // SAFETY: reading CTR_EL0 has no side effects.
        unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr) };
        let dline = 4usize << ((ctr >> 16) & 0xf);
        let iline = 4usize << (ctr & 0xf);
        let start = addr as usize;
        let end = start + len;
        let mut line = start & !(dline - 1);
        while line < end {
            // SAFETY: cache maintenance by address on memory we own.
            unsafe { core::arch::asm!("dc cvau, {}", in(reg) line) };
            line += dline;
        }
        // SAFETY: barriers only.
        unsafe { core::arch::asm!("dsb ish") };
        let mut line = start & !(iline - 1);
        while line < end {
            // SAFETY: as above.
            unsafe { core::arch::asm!("ic ivau, {}", in(reg) line) };
            line += iline;
        }
        // SAFETY: barriers only.
        unsafe { core::arch::asm!("dsb ish", "isb") };
    }
    #[cfg(target_arch = "riscv64")]
    // SAFETY: an instruction fence only.
    unsafe {
        core::arch::asm!("fence.i")
    };
}
