//! Runs the module on a 16-byte aligned stack.
//!
//! Kernel 0.11 starts threads on riscv64 with a stack pointer 8 bytes off the 16-byte
//! alignment the psABI requires, and every Rust frame keeps that offset. Code may rely on
//! the alignment, and Wasmtime 36's stack walker asserted it when a trap unwound (our
//! setjmp realigned then; from Wasmtime 38 on there is no setjmp hook). So on riscv64 the runner is
//! called through a frame that realigns `sp` first; elsewhere the stack is aligned already
//! and the closure is called directly.

/// Calls `f` with the stack pointer aligned to 16 bytes and returns its result.
pub fn with_aligned_stack<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "riscv64")]
    {
        aligned::call(f)
    }
    #[cfg(not(target_arch = "riscv64"))]
    {
        f()
    }
}

#[cfg(target_arch = "riscv64")]
mod aligned {
    // `hermit_wasm_call_aligned(func, data)`: keeps the caller's `sp` in the callee-saved
    // `s0` (saved first, with `ra`, in a frame of its own), rounds `sp` down to 16, calls
    // `func(data)` and restores everything on the way back.
    core::arch::global_asm!(
        ".text",
        ".globl hermit_wasm_call_aligned",
        ".type hermit_wasm_call_aligned, @function",
        "hermit_wasm_call_aligned:",
        "addi sp, sp, -16",
        "sd ra, 8(sp)",
        "sd s0, 0(sp)",
        "mv s0, sp",
        "andi sp, sp, -16",
        "mv t1, a0",
        "mv a0, a1",
        "jalr t1",
        "mv sp, s0",
        "ld s0, 0(sp)",
        "ld ra, 8(sp)",
        "addi sp, sp, 16",
        "ret",
        ".size hermit_wasm_call_aligned, . - hermit_wasm_call_aligned",
    );

    unsafe extern "C" {
        /// Calls `func(data)` on a 16-byte aligned stack.
        ///
        /// # Safety
        /// `func` must be safe to call with `data`, and must return normally (the guest
        /// is built with `panic = abort`, so nothing unwinds through this frame).
        fn hermit_wasm_call_aligned(func: extern "C" fn(*mut u8), data: *mut u8);
    }

    /// The closure and the slot for its result, shared with the trampoline.
    struct Call<F, R> {
        func: Option<F>,
        result: Option<R>,
    }

    extern "C" fn trampoline<F: FnOnce() -> R, R>(data: *mut u8) {
        // SAFETY: `call` passes a pointer to its own `Call<F, R>`, alive and not otherwise
        // borrowed until `hermit_wasm_call_aligned` returns.
        let call = unsafe { &mut *data.cast::<Call<F, R>>() };
        if let Some(func) = call.func.take() {
            call.result = Some(func());
        }
    }

    pub fn call<F: FnOnce() -> R, R>(f: F) -> R {
        let mut call = Call {
            func: Some(f),
            result: None,
        };
        // SAFETY: `trampoline::<F, R>` matches the data we pass, and returns normally or
        // aborts (panic = abort).
        unsafe { hermit_wasm_call_aligned(trampoline::<F, R>, (&raw mut call).cast::<u8>()) };
        call.result.expect("the trampoline ran the closure")
    }
}
