//! Placing the guest ELF (the Hermit kernel linked with the application) in memory.
//!
//! The kernel treats all RAM from the end of its image upwards as free, so the guest goes
//! ABOVE everything the loader leaves behind for it (device tree, boot information, stack,
//! page tables), and above the DMA window that the loader keeps right below the guest.

use core::mem::MaybeUninit;
use core::ops::Range;
use core::slice;

use hermit_entry::elf::{KernelObject, LoadedKernel};

use crate::dma_window;
use crate::guest_align::GUEST_ALIGN;

/// Bytes in an ELF64 file header.
pub const ELF64_HEADER_LEN: usize = 64;

/// Parses `elf`, copies its segments to their place in RAM and relocates them.
///
/// `ram` lists the usable RAM regions; `lowest` is the first address above the loader's
/// own memory. An image's guest whose file lies where its payload can stay goes right below
/// the file, around the payload (`guest_in_place.rs`). Otherwise a relocatable guest goes
/// to the first `GUEST_ALIGN`ed address that leaves room for the DMA window between
/// `lowest` and itself, or, if the ELF file lies there, above the ELF file; a
/// fixed-position guest must fit where it wants to be. The window's header is written once
/// the guest is in place.
///
/// Returns the loaded guest and the part of its image the loader wrote, which instruction
/// fetch must be made to see (a payload left in place holds the module's code, which the
/// runner makes visible itself when Wasmtime publishes it).
pub fn load(elf: &'static [u8], ram: &[Range<u64>], lowest: u64) -> (LoadedKernel, Range<u64>) {
    // The parser panics on a file shorter than an ELF header rather than failing: say what
    // is there instead.
    if elf.len() < ELF64_HEADER_LEN || !elf.starts_with(b"\x7fELF") {
        panic!(
            "the guest ELF cannot be booted: {} bytes, not an ELF file",
            elf.len()
        );
    }
    let object = KernelObject::parse(elf)
        .unwrap_or_else(|err| panic!("the guest ELF cannot be booted: {err}"));
    if let Some(version) = object.hermit_version() {
        println!("[LOADER] guest built with Hermit {version}");
    }

    if let Some((loaded, written)) = crate::guest_in_place::load(elf, ram, lowest) {
        let image = &loaded.load_info.kernel_image_addr_range;
        dma_window::announce(image.start, ram, lowest);
        println!(
            "[LOADER] guest loaded at {image:#x?} around its payload, which stays where the \
             file lies; entry point {:#x}",
            loaded.entry_point
        );
        return (loaded, written);
    }

    println!(
        "[LOADER] copying the guest into place: its file does not lie where the payload can \
         stay (a 2 MiB boundary a little above the loader)"
    );
    let size = u64::try_from(object.mem_size()).unwrap();
    let elf_range = elf.as_ptr_range();
    let elf_range = elf_range.start as u64..elf_range.end as u64;
    let fits = |start: u64| {
        let end = start + size;
        start >= lowest + dma_window::SIZE
            && (end <= elf_range.start || elf_range.end <= start)
            && ram
                .iter()
                .any(|region| region.start <= start && end <= region.end)
    };

    let start = match object.start_addr() {
        Some(start) => {
            assert!(
                fits(start),
                "the guest must sit at {:#x?}, which is not free RAM above the loader \
                 ({lowest:#x}) and apart from the ELF file ({elf_range:#x?})",
                start..start + size
            );
            start
        }
        None => [lowest, elf_range.end]
            .map(|start| (start + dma_window::SIZE).next_multiple_of(GUEST_ALIGN))
            .into_iter()
            .find(|&start| fits(start))
            .unwrap_or_else(|| {
                panic!(
                    "no room for the guest ({size:#x} bytes) in RAM above the loader \
                     ({lowest:#x}) apart from the ELF file ({elf_range:#x?}); \
                     give the machine more memory"
                )
            }),
    };

    // SAFETY: the target range is RAM above the loader and apart from the ELF file, so
    // nothing else refers to it.
    let memory = unsafe {
        slice::from_raw_parts_mut(
            start as *mut MaybeUninit<u8>,
            usize::try_from(size).unwrap(),
        )
    };
    let loaded = object.load_kernel(memory, start);
    dma_window::announce(start, ram, lowest);
    println!(
        "[LOADER] guest loaded at {:#x?}, entry point {:#x}",
        loaded.load_info.kernel_image_addr_range, loaded.entry_point
    );
    let written = loaded.load_info.kernel_image_addr_range.clone();
    (loaded, written)
}
