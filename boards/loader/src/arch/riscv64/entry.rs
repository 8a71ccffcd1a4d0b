//! The entry point: OpenSBI starts the loader in S-mode at 0x8020_0000 with `a0` = hart id
//! and `a1` = device tree, translation off. This code sets the stack, clears `.bss` and
//! calls `loader_main(hart_id, dtb)`.

use core::arch::global_asm;

global_asm!(
    r#"
    .section .text._start, "ax"
    .global _start
_start:
    la sp, boot_stack_top

    la t0, __bss_start
    la t1, __bss_end
.Lclear_bss:
    bgeu t0, t1, .Lbss_clear
    sd zero, (t0)
    addi t0, t0, 8
    j .Lclear_bss
.Lbss_clear:

    call loader_main
.Lhang:
    wfi
    j .Lhang

    .section .bss.boot, "aw", @nobits
    .p2align 12
boot_stack:
    .skip 0x10000
boot_stack_top:
"#
);
