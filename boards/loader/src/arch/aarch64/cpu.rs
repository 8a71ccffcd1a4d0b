//! What Hermit kernel 0.11 asks of an aarch64 CPU, checked before it is entered (on the
//! direct route and the UEFI route alike): a CPU it cannot run on gets one clear line on the
//! console (`hermit-wasm: cannot boot: ...`, which the launch scripts pass on with exit
//! status 125) instead of the kernel's panic deep in its paging code.
//!
//! The kernel asserts that `ID_AA64MMFR0_EL1.TGran4` reads 0: 4 KiB pages with 48-bit
//! addresses. CPUs with FEAT_LPA2 (52-bit addresses with 4 KiB pages; Armv9.2-era cores,
//! QEMU's `-cpu max`, a KVM host's `-cpu host` on such a core) read 1, and a CPU without
//! 4 KiB pages reads 0xf. An ID register cannot be changed from EL1, where the loader runs,
//! so no way around it is taken here: the fix is a CPU model without the feature.

use core::arch::asm;

/// Why kernel 0.11 cannot run on this CPU, if it cannot.
pub fn unsupported() -> Option<&'static str> {
    let mmfr0: u64;
    // SAFETY: reading an ID register has no side effects.
    unsafe { asm!("mrs {}, id_aa64mmfr0_el1", out(reg) mmfr0, options(nomem, nostack)) };
    match (mmfr0 >> 28) & 0xf {
        0 => None,
        1 => Some(
            "the CPU has 52-bit addresses with 4 KiB pages (FEAT_LPA2, ID_AA64MMFR0_EL1.TGran4 \
             = 1), which Hermit kernel 0.11 refuses; boot a CPU model without it (QEMU: -cpu \
             max,lpa2=off, or neoverse-n1, neoverse-v1, neoverse-n2, cortex-a72)",
        ),
        0xf => Some(
            "the CPU has no 4 KiB pages (ID_AA64MMFR0_EL1.TGran4 = 0xf), the only page size \
             Hermit kernel 0.11 uses; boot another CPU model",
        ),
        _ => Some(
            "the CPU's 4 KiB granule field (ID_AA64MMFR0_EL1.TGran4) reads a value Hermit \
             kernel 0.11 does not know (it asks for 0); boot another CPU model",
        ),
    }
}

/// Stops with the reason on the console when kernel 0.11 cannot run on this CPU, powering
/// the machine off with `halt`.
pub fn check(halt: fn() -> !) {
    if let Some(reason) = unsupported() {
        println!("hermit-wasm: cannot boot: {reason}");
        halt()
    }
}
