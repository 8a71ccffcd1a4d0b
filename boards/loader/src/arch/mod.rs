//! Architecture-specific boot code: the entry point, serial console, memory discovery,
//! page tables and the jump into the kernel.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "riscv64")]
mod riscv64;
#[cfg(all(target_arch = "x86_64", not(target_os = "uefi")))]
mod x86_64;
#[cfg(all(target_arch = "x86_64", target_os = "uefi"))]
#[path = "x86_64/uefi/mod.rs"]
mod x86_64_uefi;

#[cfg(target_arch = "aarch64")]
pub use self::aarch64::*;
#[cfg(target_arch = "riscv64")]
pub use self::riscv64::*;
#[cfg(all(target_arch = "x86_64", not(target_os = "uefi")))]
pub use self::x86_64::*;
#[cfg(all(target_arch = "x86_64", target_os = "uefi"))]
pub use self::x86_64_uefi::*;
