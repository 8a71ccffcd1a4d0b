//! Reads back what the xtask produced: every ELF is parsed with goblin (class, machine,
//! entry, loadable segments, notes, size) and refused when its machine is not the board's.

use std::path::Path;

use anyhow::{bail, Context, Result};
use goblin::elf::{header, program_header, Elf};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub vaddr: u64,
    pub paddr: u64,
    pub file_size: u64,
    pub mem_size: u64,
    /// `R`, `W`, `X` as set.
    pub flags: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Note {
    pub name: String,
    pub kind: u32,
    pub size: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ElfInfo {
    /// `ELF32` or `ELF64`.
    pub class: String,
    pub machine: String,
    #[serde(skip)]
    pub machine_id: u16,
    pub entry: u64,
    pub segments: Vec<Segment>,
    pub notes: Vec<Note>,
    pub size: u64,
}

/// Parses an ELF image held in `bytes`.
pub fn parse(bytes: &[u8]) -> Result<ElfInfo> {
    let elf = Elf::parse(bytes).context("not an ELF file")?;
    let segments = elf
        .program_headers
        .iter()
        .filter(|ph| ph.p_type == program_header::PT_LOAD)
        .map(|ph| Segment {
            vaddr: ph.p_vaddr,
            paddr: ph.p_paddr,
            file_size: ph.p_filesz,
            mem_size: ph.p_memsz,
            flags: flags(ph.p_flags),
        })
        .collect();
    let mut notes = Vec::new();
    if let Some(iter) = elf.iter_note_headers(bytes) {
        for note in iter {
            let note = note.context("reading an ELF note")?;
            notes.push(Note {
                name: note.name.to_string(),
                kind: note.n_type,
                size: note.desc.len(),
            });
        }
    }
    Ok(ElfInfo {
        class: if elf.is_64 { "ELF64" } else { "ELF32" }.to_string(),
        machine: header::machine_to_str(elf.header.e_machine)
            .trim_start_matches("EM_")
            .to_string(),
        machine_id: elf.header.e_machine,
        entry: elf.header.e_entry,
        segments,
        notes,
        size: bytes.len() as u64,
    })
}

fn flags(p_flags: u32) -> String {
    let mut out = String::new();
    for (bit, letter) in [
        (program_header::PF_R, 'R'),
        (program_header::PF_W, 'W'),
        (program_header::PF_X, 'X'),
    ] {
        if p_flags & bit != 0 {
            out.push(letter);
        }
    }
    out
}

/// Reads and parses `path`, refusing it unless its machine is `machine` (an `EM_*` value).
pub fn read_checked(path: &Path, machine: u16) -> Result<ElfInfo> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let info = parse(&bytes).with_context(|| format!("{} is not an ELF file", path.display()))?;
    check_machine(&info, machine).with_context(|| format!("refusing {}", path.display()))?;
    Ok(info)
}

pub fn check_machine(info: &ElfInfo, machine: u16) -> Result<()> {
    if info.machine_id != machine {
        bail!(
            "it is built for {} but the board needs {}",
            info.machine,
            header::machine_to_str(machine).trim_start_matches("EM_")
        );
    }
    if info.class != "ELF64" {
        bail!("it is {} but every board is 64-bit", info.class);
    }
    Ok(())
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A minimal ELF64 executable: header, one PT_LOAD and one PT_NOTE ("Xen", type 18).
    pub fn fixture(machine: u16) -> Vec<u8> {
        let mut elf = vec![0u8; 64 + 2 * 56];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2; // 64-bit
        elf[5] = 1; // little endian
        elf[6] = 1; // version
        elf[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        elf[18..20].copy_from_slice(&machine.to_le_bytes());
        elf[20..24].copy_from_slice(&1u32.to_le_bytes());
        elf[24..32].copy_from_slice(&0x20_1000u64.to_le_bytes()); // entry
        elf[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
        elf[52..54].copy_from_slice(&64u16.to_le_bytes()); // ehsize
        elf[54..56].copy_from_slice(&56u16.to_le_bytes()); // phentsize
        elf[56..58].copy_from_slice(&2u16.to_le_bytes()); // phnum
        let note_offset = elf.len() as u64;
        // The note: namesz 4 ("Xen\0"), descsz 4, type 18, then name and desc.
        let mut note = Vec::new();
        note.extend_from_slice(&4u32.to_le_bytes());
        note.extend_from_slice(&4u32.to_le_bytes());
        note.extend_from_slice(&18u32.to_le_bytes());
        note.extend_from_slice(b"Xen\0");
        note.extend_from_slice(&0x10_0000u32.to_le_bytes());
        let mut ph = |index: usize,
                      p_type: u32,
                      flags: u32,
                      offset: u64,
                      vaddr: u64,
                      filesz: u64,
                      memsz: u64| {
            let at = 64 + index * 56;
            elf[at..at + 4].copy_from_slice(&p_type.to_le_bytes());
            elf[at + 4..at + 8].copy_from_slice(&flags.to_le_bytes());
            elf[at + 8..at + 16].copy_from_slice(&offset.to_le_bytes());
            elf[at + 16..at + 24].copy_from_slice(&vaddr.to_le_bytes());
            elf[at + 24..at + 32].copy_from_slice(&vaddr.to_le_bytes());
            elf[at + 32..at + 40].copy_from_slice(&filesz.to_le_bytes());
            elf[at + 40..at + 48].copy_from_slice(&memsz.to_le_bytes());
            elf[at + 48..at + 56].copy_from_slice(&4u64.to_le_bytes());
        };
        ph(
            0,
            program_header::PT_LOAD,
            program_header::PF_R | program_header::PF_X,
            0,
            0x20_0000,
            0x100,
            0x2000,
        );
        ph(
            1,
            program_header::PT_NOTE,
            program_header::PF_R,
            note_offset,
            0,
            note.len() as u64,
            note.len() as u64,
        );
        elf.extend_from_slice(&note);
        elf
    }

    #[test]
    fn a_fixture_reads_back_field_by_field() {
        let info = parse(&fixture(header::EM_X86_64)).unwrap();
        assert_eq!(info.class, "ELF64");
        assert_eq!(info.machine, "X86_64");
        assert_eq!(info.entry, 0x20_1000);
        assert_eq!(
            info.segments,
            vec![Segment {
                vaddr: 0x20_0000,
                paddr: 0x20_0000,
                file_size: 0x100,
                mem_size: 0x2000,
                flags: "RX".into()
            }]
        );
        assert_eq!(
            info.notes,
            vec![Note {
                name: "Xen".into(),
                kind: 18,
                size: 4
            }]
        );
    }

    #[test]
    fn the_wrong_machine_is_refused() {
        let info = parse(&fixture(header::EM_AARCH64)).unwrap();
        let err = check_machine(&info, header::EM_X86_64)
            .unwrap_err()
            .to_string();
        assert!(err.contains("AARCH64") && err.contains("X86_64"), "{err}");
        check_machine(&info, header::EM_AARCH64).unwrap();
    }

    #[test]
    fn not_an_elf_is_refused() {
        assert!(parse(b"#!/bin/sh\necho hi\n").is_err());
    }
}
