//! Loading the guest around its payload where QEMU put the ELF file, without copying it.
//!
//! An image's payload (the precompiled module, megabytes, up to tens of them) is the guest
//! ELF's last `PT_LOAD` segment, at the end of the file, and the xtask gives it an address
//! that differs from its file offset by a multiple of [`GUEST_ALIGN`] at least as large as
//! the other segments' extent (`xtask/src/image/payload_segment.rs`). When the file lies in RAM
//! at a `GUEST_ALIGN`ed address, the guest can start that multiple below the file: the
//! payload segment's address is then where its bytes already are, and only the other
//! segments (the kernel and the runner, about 2 MiB) are copied, below the file, where they
//! cannot overwrite what they are copied from. The file's first part, now inside the
//! image between those segments and the payload, is never read again.
//!
//! Only what our guests are made of is handled here: a position-independent ELF64 whose
//! relocations are all relative. Anything else, or a file that does not lie where this
//! works, takes the copying path in `guest.rs`: an x86_64 initrd is only page-aligned, and
//! QEMU puts a riscv64 one half-way into RAM, where a guest right below it would leave the
//! kernel (which takes only the RAM above its image) without the lower half. The launch
//! script has QEMU put the file 8 MiB into RAM (the board profile's `guest-address`): with
//! `guest-loader` on aarch64 and riscv64, with the generic `loader` device on x86_64.

use core::ops::Range;
use core::ptr;

use hermit_entry::boot_info::{LoadInfo, TlsInfo};
use hermit_entry::elf::LoadedKernel;

use crate::guest_align::GUEST_ALIGN;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_TLS: u32 = 7;
const ET_DYN: u16 = 3;
const DT_NULL: u64 = 0;
const DT_RELA: u64 = 7;
const DT_RELASZ: u64 = 8;
const DT_RELAENT: u64 = 9;
const DT_REL: u64 = 17;
const DT_RELR: u64 = 36;
const RELA_LEN: usize = 24;

/// The most RAM a guest left in place may leave unused below itself, against where the
/// copying path puts it. (QEMU puts a riscv64 `-initrd` half-way into RAM: copying wins.)
const MAX_RAM_LEFT_BELOW: u64 = 2 * GUEST_ALIGN;

#[cfg(target_arch = "x86_64")]
const R_RELATIVE: u32 = 8;
#[cfg(target_arch = "aarch64")]
const R_RELATIVE: u32 = 1027;
#[cfg(target_arch = "riscv64")]
const R_RELATIVE: u32 = 3;

/// One program header, the fields used here.
#[derive(Clone, Copy)]
struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

pub(crate) fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

pub(crate) fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

fn segments(elf: &[u8]) -> Option<alloc::vec::Vec<Segment>> {
    let phoff = usize::try_from(u64_at(elf, 32)?).ok()?;
    let phentsize = usize::from(u16_at(elf, 54)?);
    let phnum = usize::from(u16_at(elf, 56)?);
    (0..phnum)
        .map(|index| {
            let at = phoff.checked_add(index.checked_mul(phentsize)?)?;
            Some(Segment {
                kind: u32_at(elf, at)?,
                offset: u64_at(elf, at + 8)?,
                vaddr: u64_at(elf, at + 16)?,
                filesz: u64_at(elf, at + 32)?,
                memsz: u64_at(elf, at + 40)?,
                align: u64_at(elf, at + 48)?,
            })
        })
        .collect()
}

/// The file offset of address `vaddr` of the image, through the load segment holding it.
fn file_offset(loads: &[Segment], vaddr: u64) -> Option<usize> {
    let segment = loads
        .iter()
        .find(|s| s.vaddr <= vaddr && vaddr < s.vaddr + s.filesz)?;
    usize::try_from(segment.offset + (vaddr - segment.vaddr)).ok()
}

/// The relocation table's file range, if every entry is a relative relocation of a word
/// below `front_end`.
fn relative_relocations(
    elf: &[u8],
    segments: &[Segment],
    loads: &[Segment],
    front_end: u64,
) -> Option<Range<usize>> {
    let Some(dynamic) = segments.iter().find(|s| s.kind == PT_DYNAMIC) else {
        return Some(0..0);
    };
    let (mut rela, mut size, mut entry) = (None, 0, RELA_LEN as u64);
    let start = usize::try_from(dynamic.offset).ok()?;
    let end = start.checked_add(usize::try_from(dynamic.filesz).ok()?)?;
    for at in (start..end).step_by(16) {
        match u64_at(elf, at)? {
            DT_NULL => break,
            DT_RELA => rela = Some(u64_at(elf, at + 8)?),
            DT_RELASZ => size = u64_at(elf, at + 8)?,
            DT_RELAENT => entry = u64_at(elf, at + 8)?,
            // Other relocation formats than the one relative `Rela` entries come in.
            DT_REL | DT_RELR => return None,
            _ => {}
        }
    }
    let Some(rela) = rela else {
        return Some(0..0);
    };
    if entry != RELA_LEN as u64 {
        return None;
    }
    let table = file_offset(loads, rela)?;
    let table = table..table.checked_add(usize::try_from(size).ok()?)?;
    let all_relative = elf.get(table.clone())?.chunks_exact(RELA_LEN).all(|rela| {
        u64_at(rela, 8).is_some_and(|info| info as u32 == R_RELATIVE)
            && u64_at(rela, 0)
                .is_some_and(|at| at.checked_add(8).is_some_and(|end| end <= front_end))
    });
    all_relative.then_some(table)
}

/// Loads the guest ELF `elf` so that its payload segment stays where it lies, if the file
/// allows it and the image then fits in `ram` above `lowest` (see the module's doc); gives
/// the loaded guest and the range the loader wrote (the copied segments). `None`
/// otherwise, with nothing written.
pub fn load(
    elf: &'static [u8],
    ram: &[Range<u64>],
    lowest: u64,
) -> Option<(LoadedKernel, Range<u64>)> {
    if u16_at(elf, 16)? != ET_DYN {
        return None;
    }
    let entry = u64_at(elf, 24)?;
    let segments = segments(elf)?;
    let loads: alloc::vec::Vec<Segment> = segments
        .iter()
        .copied()
        .filter(|s| s.kind == PT_LOAD)
        .collect();
    let (payload, front) = loads.split_last()?;
    if front.is_empty() || front[0].vaddr != 0 || payload.filesz != payload.memsz {
        return None;
    }
    let file = elf.as_ptr() as u64;
    let payload_end = payload.offset.checked_add(payload.filesz)?;
    if payload_end > elf.len() as u64 {
        return None;
    }
    // The guest's start: the payload's address lands on its bytes in the file.
    let start = file
        .checked_add(payload.offset)?
        .checked_sub(payload.vaddr)?;
    let size = payload.vaddr.checked_add(payload.memsz)?;
    let image_end = start.checked_add(size)?;
    let front_end = front
        .iter()
        .map(|s| s.vaddr.checked_add(s.memsz))
        .collect::<Option<alloc::vec::Vec<u64>>>()?
        .into_iter()
        .max()?;
    // Where the copying path would put the guest: the kernel takes only the RAM above its
    // image, so a start far above it would lose what lies between.
    let lowest_start = (lowest + crate::dma_window::SIZE).next_multiple_of(GUEST_ALIGN);
    let placed = start.is_multiple_of(GUEST_ALIGN)
        && payload.vaddr.is_multiple_of(payload.align.max(1))
        && front_end <= payload.vaddr
        // The copied segments end below the file they are copied from.
        && start + front_end <= file
        && start >= lowest_start
        && start - lowest_start <= MAX_RAM_LEFT_BELOW
        && ram
            .iter()
            .any(|region| region.start <= start && image_end <= region.end);
    if !placed {
        return None;
    }
    let relocations = relative_relocations(elf, &segments, front, front_end)?;
    // Every copied segment's bytes lie in the file.
    if front
        .iter()
        .any(|s| s.filesz > s.memsz || s.offset.saturating_add(s.filesz) > payload.offset)
    {
        return None;
    }

    for segment in front {
        let to = (start + segment.vaddr) as *mut u8;
        let (filesz, memsz) = (segment.filesz as usize, segment.memsz as usize);
        // SAFETY: the target lies in free RAM below the file (checked above), apart from
        // the loader and everything it keeps; the source is the segment's bytes in the file.
        unsafe {
            ptr::copy_nonoverlapping(elf.as_ptr().add(segment.offset as usize), to, filesz);
            ptr::write_bytes(to.add(filesz), 0, memsz - filesz);
        }
    }
    for rela in elf[relocations].chunks_exact(RELA_LEN) {
        let word = |at| u64::from_le_bytes(rela[at..at + 8].try_into().unwrap());
        let (offset, addend) = (word(0), word(16));
        // SAFETY: the relocated word lies in the copied segments (`relative_relocations`
        // checked it); ELF relocation targets need not be aligned.
        unsafe { ((start + offset) as *mut u64).write_unaligned(start.wrapping_add(addend)) };
    }

    let tls_info = segments
        .iter()
        .find(|s| s.kind == PT_TLS)
        .map(|tls| TlsInfo {
            start: start + tls.vaddr,
            filesz: tls.filesz,
            memsz: tls.memsz,
            align: tls.align,
        });
    let loaded = LoadedKernel {
        load_info: LoadInfo {
            kernel_image_addr_range: start..image_end,
            tls_info,
        },
        entry_point: start + entry,
    };
    Some((loaded, start..start + front_end))
}
