//! The entry point: QEMU starts the loader ELF at EL1 with the MMU off.
//!
//! This code sets the stack, enables FP/SIMD (the kernel and the application rely on it),
//! clears `.bss`, and turns the MMU on with a boot identity map of the first 4 GiB
//! (1 GiB blocks: devices below 1 GiB, normal memory above), because Rust code may make
//! unaligned accesses, which fault on the device memory the MMU-off state implies.
//! Then it calls `loader_main(x0)`.

use core::arch::global_asm;

global_asm!(
    r#"
    .section .text._start, "ax"
    .global _start
_start:
    mov x19, x0

    adrp x1, boot_stack_top
    add x1, x1, :lo12:boot_stack_top
    mov sp, x1

    /* CPACR_EL1.FPEN = 0b11: no FP/SIMD traps at EL1 and EL0. */
    mov x1, #(3 << 20)
    msr cpacr_el1, x1
    isb

    adrp x1, __bss_start
    add x1, x1, :lo12:__bss_start
    adrp x2, __bss_end
    add x2, x2, :lo12:__bss_end
.Lclear_bss:
    cmp x1, x2
    b.hs .Lbss_clear
    str xzr, [x1], #8
    b .Lclear_bss
.Lbss_clear:

    /* L0[0] -> L1; L1[0] = device block 0..1 GiB; L1[1..4] = normal blocks 1..4 GiB. */
    adrp x1, boot_l0
    adrp x2, boot_l1
    orr x3, x2, #0x3
    str x3, [x1]
    mov x3, #0x401
    str x3, [x2]
    mov x4, #1
    mov x5, #0x711
.Lfill_l1:
    lsl x3, x4, #30
    orr x3, x3, x5
    str x3, [x2, x4, lsl #3]
    add x4, x4, #1
    cmp x4, #4
    b.lo .Lfill_l1

    /* MAIR: the attribute indices kernel 0.11 uses (0 device nGnRnE, 1 nGnRE, 2 GRE,
       3 normal non-cacheable, 4 normal write-back). */
    ldr x3, =0x000000ff440c0400
    msr mair_el1, x3
    /* TCR: T0SZ = 16 (48-bit VA), 4 KiB granule, write-back inner-shareable walks,
       TTBR1 walks disabled, IPS = the CPU's physical address size (at most 48 bits). */
    mrs x3, id_aa64mmfr0_el1
    and x3, x3, #0xf
    cmp x3, #5
    mov x4, #5
    csel x3, x3, x4, ls
    lsl x3, x3, #32
    ldr x4, =0x803510
    orr x3, x3, x4
    msr tcr_el1, x3
    msr ttbr0_el1, x1
    isb
    tlbi vmalle1
    dsb nsh
    isb
    /* SCTLR: MMU, data and instruction caches on, alignment checks off. */
    mrs x3, sctlr_el1
    mov x4, #0x1005
    orr x3, x3, x4
    bic x3, x3, #0x2
    msr sctlr_el1, x3
    isb

    mov x0, x19
    bl loader_main
.Lhang:
    wfe
    b .Lhang

    .section .bss.boot, "aw", @nobits
    .p2align 12
boot_l0:
    .skip 0x1000
boot_l1:
    .skip 0x1000
boot_stack:
    .skip 0x10000
boot_stack_top:
"#
);
