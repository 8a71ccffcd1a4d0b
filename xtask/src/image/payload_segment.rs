//! Attaching an image's payload (manifest + precompiled module) to the guest ELF after the
//! link, so that the guest is linked once per board and each image costs a file write,
//! not a cargo build.
//!
//! The blob is appended to the file, page-aligned ([`payload::MODULE_ALIGN`]: its
//! module's code runs in place), and described by a new readable, executable
//! `PT_LOAD` segment placed above every other segment in memory, at an address that
//! differs from its file offset by a multiple of [`IN_PLACE_ALIGN`] no smaller than the
//! other segments' extent: our loader can then place the guest so that the segment's
//! address is where the file's blob already lies in RAM, and leave it there instead of
//! copying it (`boards/loader/src/guest_in_place.rs`); the other segments land below the
//! file. The gap between them and the blob is never read (a copying loader leaves it alone
//! too). The program-header slot it takes is the linker's `PT_GNU_STACK`, which nothing
//! on the Hermit route reads (the loader and the kernel give every thread its own stack).
//! Loaders take the image's extent from the last `PT_LOAD` entry, so that slot must come
//! after every other load entry. The guest finds the blob through the location record in
//! its `.hermit_wasm` section (`kernel/src/payload.rs`), which holds the distance between
//! the two.

use anyhow::{bail, ensure, Context, Result};
use goblin::elf::program_header::{PF_R, PF_X, PT_GNU_STACK, PT_LOAD};
use goblin::elf::Elf;
use hermit_wasm_kernel::payload::{self, Location, LOCATION_LEN};

/// The smallest alignment of the payload segment, in memory and in the file: the
/// module's, whose code runs where the segment puts it.
const SEGMENT_ALIGN: u64 = payload::MODULE_ALIGN as u64;

/// The alignment of a guest's load address (the loader's `GUEST_ALIGN`: the kernel maps its
/// image with 2 MiB pages). The payload segment's address and file offset differ by a
/// multiple of it.
const IN_PLACE_ALIGN: u64 = 0x20_0000;

/// Returns a copy of the guest ELF `guest` that carries `blob`.
pub fn attach(guest: &[u8], blob: &[u8]) -> Result<Vec<u8>> {
    ensure!(!blob.is_empty(), "the payload is empty");
    let elf = parse(guest)?;
    let record = record_section(&elf, guest)?;
    if Location::decode(&guest[record.offset..][..LOCATION_LEN])?.is_some() {
        bail!("the guest ELF carries a payload already: attach to the bare guest");
    }

    let slot = elf
        .program_headers
        .iter()
        .position(|ph| ph.p_type == PT_GNU_STACK)
        .context(
            "the guest ELF has no PT_GNU_STACK program header to turn into the payload segment \
             (did the guest's link options change?)",
        )?;
    let loads: Vec<_> = elf
        .program_headers
        .iter()
        .enumerate()
        .filter(|(_, ph)| ph.p_type == PT_LOAD)
        .collect();
    ensure!(!loads.is_empty(), "the guest ELF has no PT_LOAD segment");
    if loads.iter().any(|&(index, _)| index > slot) {
        bail!(
            "the guest ELF's PT_GNU_STACK entry comes before one of its PT_LOAD entries; \
             the payload segment must be the last load entry"
        );
    }
    let align = loads
        .iter()
        .map(|(_, ph)| ph.p_align)
        .fold(SEGMENT_ALIGN, u64::max);
    ensure!(
        align.is_power_of_two(),
        "the guest ELF's segment alignment {align:#x}"
    );
    let memory_end = loads
        .iter()
        .map(|(_, ph)| ph.p_vaddr + ph.p_memsz)
        .max()
        .unwrap_or(0);
    let offset = (guest.len() as u64).next_multiple_of(align);
    let vaddr = offset + memory_end.next_multiple_of(IN_PLACE_ALIGN.max(align));
    let len = blob.len() as u64;

    let mut out = Vec::with_capacity((offset + len) as usize);
    out.extend_from_slice(guest);
    out.resize(offset as usize, 0);
    out.extend_from_slice(blob);

    // The program header (ELF64, little endian): type, flags, offset, vaddr, paddr,
    // filesz, memsz, align.
    let at = elf.header.e_phoff as usize + slot * elf.header.e_phentsize as usize;
    let fields: [(usize, &[u8]); 8] = [
        (0, &PT_LOAD.to_le_bytes()),
        (4, &(PF_R | PF_X).to_le_bytes()),
        (8, &offset.to_le_bytes()),
        (16, &vaddr.to_le_bytes()),
        (24, &vaddr.to_le_bytes()),
        (32, &len.to_le_bytes()),
        (40, &len.to_le_bytes()),
        (48, &align.to_le_bytes()),
    ];
    for (field, bytes) in fields {
        out[at + field..][..bytes.len()].copy_from_slice(bytes);
    }

    let location = Location {
        offset: i64::try_from(vaddr)? - i64::try_from(record.vaddr)?,
        len,
    };
    out[record.offset..][..LOCATION_LEN].copy_from_slice(&location.encode());
    Ok(out)
}

/// The payload blob a guest ELF carries, read as the guest finds it (through its location
/// record and the segment that holds that address).
pub fn read(guest: &[u8]) -> Result<&[u8]> {
    let elf = parse(guest)?;
    let record = record_section(&elf, guest)?;
    let location = Location::decode(&guest[record.offset..][..LOCATION_LEN])?
        .context("the guest ELF carries no payload (a bare guest, not an image's)")?;
    let vaddr = record
        .vaddr
        .checked_add_signed(location.offset)
        .context("the payload location points below address 0")?;
    let segment = elf
        .program_headers
        .iter()
        .filter(|ph| ph.p_type == PT_LOAD)
        .find(|ph| ph.p_vaddr <= vaddr && vaddr + location.len <= ph.p_vaddr + ph.p_filesz)
        .context("no segment of the guest ELF holds the payload its location record names")?;
    let start = (segment.p_offset + (vaddr - segment.p_vaddr)) as usize;
    guest
        .get(start..start + location.len as usize)
        .context("the payload segment lies outside the file")
}

fn parse(guest: &[u8]) -> Result<Elf<'_>> {
    let elf = Elf::parse(guest).context("the guest is not an ELF file")?;
    ensure!(
        elf.is_64 && elf.little_endian,
        "the guest ELF is not 64-bit little endian"
    );
    Ok(elf)
}

/// Where the location record lies: its file offset and its address.
struct Record {
    offset: usize,
    vaddr: u64,
}

fn record_section(elf: &Elf, guest: &[u8]) -> Result<Record> {
    let section = elf
        .section_headers
        .iter()
        .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(payload::SECTION))
        .with_context(|| {
            format!(
                "the guest ELF has no {} section: not a Hermit-WASM guest",
                payload::SECTION
            )
        })?;
    ensure!(
        section.sh_size as usize >= LOCATION_LEN
            && (section.sh_offset + section.sh_size) as usize <= guest.len(),
        "the guest's {} section is too small or lies outside the file",
        payload::SECTION
    );
    Ok(Record {
        offset: section.sh_offset as usize,
        vaddr: section.sh_addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hermit_wasm_kernel::payload::EMPTY_LOCATION;

    /// A small guest-like ELF64: two PT_LOADs (the second with .bss beyond its file
    /// bytes), a PT_GNU_STACK after them, and sections null, `.hermit_wasm`, `.shstrtab`.
    fn guest(stack_slot_last: bool) -> Vec<u8> {
        let mut elf = vec![0u8; 0x3000];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        elf[6] = 1;
        let put = |elf: &mut Vec<u8>, at: usize, bytes: &[u8]| {
            elf[at..at + bytes.len()].copy_from_slice(bytes)
        };
        put(&mut elf, 16, &3u16.to_le_bytes()); // ET_DYN
        put(&mut elf, 18, &62u16.to_le_bytes()); // x86_64
        put(&mut elf, 20, &1u32.to_le_bytes());
        put(&mut elf, 32, &64u64.to_le_bytes()); // e_phoff
        put(&mut elf, 40, &0x2000u64.to_le_bytes()); // e_shoff
        put(&mut elf, 52, &64u16.to_le_bytes());
        put(&mut elf, 54, &56u16.to_le_bytes());
        put(&mut elf, 56, &3u16.to_le_bytes());
        put(&mut elf, 58, &64u16.to_le_bytes());
        put(&mut elf, 60, &3u16.to_le_bytes());
        put(&mut elf, 62, &2u16.to_le_bytes()); // .shstrtab
        let phdr = |elf: &mut Vec<u8>,
                    index: usize,
                    p_type: u32,
                    offset: u64,
                    vaddr: u64,
                    filesz: u64,
                    memsz: u64| {
            let at = 64 + index * 56;
            elf[at..at + 4].copy_from_slice(&p_type.to_le_bytes());
            elf[at + 4..at + 8].copy_from_slice(&4u32.to_le_bytes());
            for (field, value) in [
                (8, offset),
                (16, vaddr),
                (24, vaddr),
                (32, filesz),
                (40, memsz),
                (48, 0x1000),
            ] {
                elf[at + field..at + field + 8].copy_from_slice(&value.to_le_bytes());
            }
        };
        let (load2, stack) = if stack_slot_last { (1, 2) } else { (2, 1) };
        phdr(&mut elf, 0, PT_LOAD, 0, 0, 0x1000, 0x1000);
        phdr(&mut elf, load2, PT_LOAD, 0x1000, 0x5000, 0x800, 0x2345);
        phdr(&mut elf, stack, PT_GNU_STACK, 0, 0, 0, 0);
        // The location record at file offset 0x200, address 0x200, in the first load.
        put(&mut elf, 0x200, &EMPTY_LOCATION);
        put(&mut elf, 0x1800, b"\0.hermit_wasm\0.shstrtab\0");
        let shdr = |elf: &mut Vec<u8>,
                    index: usize,
                    name: u32,
                    sh_type: u32,
                    addr: u64,
                    offset: u64,
                    size: u64| {
            let at = 0x2000 + index * 64;
            elf[at..at + 4].copy_from_slice(&name.to_le_bytes());
            elf[at + 4..at + 8].copy_from_slice(&sh_type.to_le_bytes());
            for (field, value) in [(16, addr), (24, offset), (32, size)] {
                elf[at + field..at + field + 8].copy_from_slice(&value.to_le_bytes());
            }
        };
        shdr(&mut elf, 1, 1, 1, 0x200, 0x200, LOCATION_LEN as u64);
        shdr(&mut elf, 2, 14, 3, 0, 0x1800, 24);
        elf
    }

    #[test]
    fn the_payload_goes_in_a_new_last_segment_above_everything() {
        let bare = guest(true);
        let blob: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let image = attach(&bare, &blob).unwrap();

        assert_eq!(read(&image).unwrap(), blob.as_slice());
        // The rest of the file is unchanged but for the record and the one header.
        assert_eq!(image[0x1000..0x3000], bare[0x1000..0x3000]);
        let elf = Elf::parse(&image).unwrap();
        let last = elf
            .program_headers
            .iter()
            .rev()
            .find(|ph| ph.p_type == PT_LOAD)
            .unwrap();
        assert_eq!(elf.program_headers.len(), 3);
        assert_eq!(
            last.p_vaddr,
            0x3000 + IN_PLACE_ALIGN,
            "its file offset plus the other segments' extent (up to 0x7345) rounded up to \
             the in-place alignment"
        );
        assert_eq!(last.p_offset, 0x3000);
        assert_eq!(last.p_align, SEGMENT_ALIGN);
        assert_eq!((last.p_filesz, last.p_memsz), (5000, 5000));
        assert_eq!(last.p_flags, PF_R | PF_X);
        let record = Location::decode(&image[0x200..0x220]).unwrap().unwrap();
        assert_eq!(
            record,
            Location {
                offset: 0x3000 + IN_PLACE_ALIGN as i64 - 0x200,
                len: 5000
            }
        );
    }

    #[test]
    fn the_in_place_alignment_is_the_loaders() {
        let loader = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../boards/loader/src/guest_align.rs"),
        )
        .unwrap();
        let value = loader
            .lines()
            .find_map(|line| line.strip_prefix("pub const GUEST_ALIGN: u64 = "))
            .expect("the loader's GUEST_ALIGN")
            .trim_end_matches(';')
            .replace('_', "");
        let value = u64::from_str_radix(value.trim_start_matches("0x"), 16).unwrap();
        assert_eq!(value, IN_PLACE_ALIGN);
    }

    #[test]
    fn a_guest_is_refused_twice_and_a_bare_guest_has_no_payload() {
        let bare = guest(true);
        let err = read(&bare).unwrap_err().to_string();
        assert!(err.contains("carries no payload"), "{err}");
        let image = attach(&bare, b"payload").unwrap();
        let err = attach(&image, b"again").unwrap_err().to_string();
        assert!(err.contains("already"), "{err}");
    }

    #[test]
    fn the_stack_slot_must_follow_every_load_entry() {
        let err = attach(&guest(false), b"payload").unwrap_err().to_string();
        assert!(err.contains("last load entry"), "{err}");
    }

    #[test]
    fn a_file_without_the_record_section_is_not_a_guest() {
        let mut other = guest(true);
        other[0x1800..0x180d].copy_from_slice(b"\0.other_name\0");
        let err = attach(&other, b"payload").unwrap_err().to_string();
        assert!(err.contains("not a Hermit-WASM guest"), "{err}");
    }
}
