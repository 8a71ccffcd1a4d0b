//! Where a guest may start, on every route that loads one (QEMU's direct boot, in place or
//! copied, and UEFI): the kernel maps its image with 2 MiB pages, so the image starts on
//! such a boundary. One definition for `guest.rs`, `guest_in_place.rs` and the UEFI
//! loaders. The xtask lays out the payload segment on the same alignment; a test there
//! reads this file to hold the two together.

/// Alignment of the guest image: the kernel maps its image with 2 MiB pages.
pub const GUEST_ALIGN: u64 = 0x20_0000;
