//! The entry point: OpenSBI (or U-Boot's `booti`) starts the loader in S-mode at
//! 0x8020_0000 with `a0` = hart id and `a1` = device tree, translation off. This code sets
//! the stack, clears `.bss` and calls `loader_main(hart_id, dtb)`.
//!
//! The loader begins with the RISC-V Linux image header (the kernel's
//! `Documentation/arch/riscv/boot-image-header.rst`, version 0.2), so that its flat binary
//! (`loader.bin` on a disk) is an image U-Boot boots with `booti`, from an extlinux.conf:
//! U-Boot places it at RAM start + `text_offset`, this link address.

use core::arch::global_asm;

global_asm!(
    r#"
    .section .text._image_header, "ax"
    .global _image_header
_image_header:
    /* code0, code1: jump over the header (an uncompressed jump: the fields below are at
       fixed offsets). */
    .option push
    .option norvc
    j _start
    .option pop
    .word 0
    /* text_offset: where in RAM the image runs; image_size: with .bss. */
    .dword 0x200000
    .dword __loader_end - _image_header
    /* flags (little endian), version 0.2, reserved. */
    .dword 0
    .word 2
    .word 0
    .dword 0
    /* magic "RISCV" (deprecated), magic2 "RSC\x05", reserved. */
    .ascii "RISCV\0\0\0"
    .ascii "RSC\x05"
    .word 0

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
