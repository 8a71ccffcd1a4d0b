//! The PVH entry point: from 32-bit protected mode to 64-bit Rust.
//!
//! QEMU finds the entry in the `XEN_ELFNOTE_PHYS32_ENTRY` note and starts the boot CPU there
//! in 32-bit protected mode with paging off, flat segments, and `ebx` holding the physical
//! address of the `hvm_start_info` structure. This code clears `.bss`, identity-maps the
//! first 4 GiB with 2 MiB pages, enters long mode and calls `loader_main(start_info)`.

use core::arch::global_asm;

global_asm!(
    r#"
    /* The PVH entry note. QEMU reads the descriptor at offset 16 (name padded to the
       segment's alignment, hence 4) as a 64-bit value. */
    .section .note.Xen, "a", @note
    .p2align 2
    .long 4                 /* name size: "Xen\0" */
    .long 8                 /* descriptor size */
    .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .p2align 2
    .quad pvh_start32

    .section .text.pvh_start, "ax"
    .code32
    .global pvh_start32
pvh_start32:
    cli
    cld

    /* Clear .bss: stacks, page tables and the heap live there. */
    mov edi, offset __bss_start
    mov ecx, offset __bss_end
    sub ecx, edi
    shr ecx, 2
    xor eax, eax
    rep stosd

    mov esp, offset boot_stack_top

    /* PML4[0] -> PDPT, PDPT[0..4] -> four page directories. */
    mov eax, offset boot_pdpt
    or eax, 0x3
    mov dword ptr [boot_pml4], eax
    mov eax, offset boot_pd
    or eax, 0x3
    xor ecx, ecx
.Lfill_pdpt:
    mov dword ptr [boot_pdpt + ecx * 8], eax
    add eax, 0x1000
    inc ecx
    cmp ecx, 4
    jb .Lfill_pdpt

    /* 2048 present, writable 2 MiB pages: 0..4 GiB. */
    mov eax, 0x83
    xor ecx, ecx
.Lfill_pd:
    mov dword ptr [boot_pd + ecx * 8], eax
    add eax, 0x200000
    inc ecx
    cmp ecx, 2048
    jb .Lfill_pd

    /* CR4.PAE, CR3, EFER.LME, then CR0.PG enters long mode. */
    mov eax, cr4
    or eax, 1 << 5
    mov cr4, eax
    mov eax, offset boot_pml4
    mov cr3, eax
    mov ecx, 0xc0000080
    rdmsr
    or eax, 1 << 8
    wrmsr
    mov eax, cr0
    or eax, 0x80000001
    mov cr0, eax

    lgdt [boot_gdt_pointer]
    mov eax, offset pvh_start64
    push 0x08
    push eax
    retf

    .code64
pvh_start64:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    mov esp, offset boot_stack_top
    mov edi, ebx
    call loader_main
    ud2

    .section .rodata.boot_gdt, "a"
    .p2align 3
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff    /* 0x10: data */
boot_gdt_pointer:
    .word boot_gdt_pointer - boot_gdt - 1
    .long boot_gdt

    .section .bss.boot, "aw", @nobits
    .p2align 12
boot_pml4:
    .skip 0x1000
boot_pdpt:
    .skip 0x1000
boot_pd:
    .skip 0x4000
boot_stack:
    .skip 0x10000
boot_stack_top:
"#
);
