//! Architecture-specific boot code: the entry point, serial console, memory discovery,
//! page tables and the jump into the kernel.

#[cfg(all(target_arch = "aarch64", not(target_os = "uefi")))]
mod aarch64;
#[cfg(all(target_arch = "aarch64", target_os = "uefi"))]
#[path = "aarch64/uefi/mod.rs"]
mod aarch64_uefi;
#[cfg(target_arch = "riscv64")]
mod riscv64;
#[cfg(all(target_arch = "x86_64", not(target_os = "uefi")))]
mod x86_64;
#[cfg(all(target_arch = "x86_64", target_os = "uefi"))]
#[path = "x86_64/uefi/mod.rs"]
mod x86_64_uefi;

#[cfg(all(target_arch = "aarch64", not(target_os = "uefi")))]
pub use self::aarch64::*;
#[cfg(all(target_arch = "aarch64", target_os = "uefi"))]
pub use self::aarch64_uefi::*;
#[cfg(target_arch = "riscv64")]
pub use self::riscv64::*;
#[cfg(all(target_arch = "x86_64", not(target_os = "uefi")))]
pub use self::x86_64::*;
#[cfg(all(target_arch = "x86_64", target_os = "uefi"))]
pub use self::x86_64_uefi::*;
