//! Symbol post-processing of the kernel archive, so that a Rust application can link it like
//! a C library without clashing with its own copies of core, alloc and friends: keep only
//! the kernel's system calls and entry symbols global, rename every other defined global,
//! and mark every member's ELF header as standalone (EI_OSABI = 0xFF).

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use goblin::archive::Archive;

/// Symbols the kernel exports beyond its `sys_*` calls.
pub const KERNEL_ENTRY_SYMBOLS: [&str; 4] = ["_start", "__bss_start", "mcount", "runtime_entry"];

/// The defined global symbols of an archive, per member (from the archive's symbol index).
pub fn index(archive: &[u8]) -> Result<Vec<(String, Vec<String>)>> {
    let archive = Archive::parse(archive).context("parsing the archive's symbol index")?;
    Ok(archive
        .summarize()
        .into_iter()
        .map(|(member, _, symbols)| {
            (
                member.to_string(),
                symbols.into_iter().map(str::to_string).collect(),
            )
        })
        .collect())
}

/// What the kernel archive keeps global: the `sys_*` symbols its own (`hermit-*`) members
/// define, plus its entry symbols.
pub fn kernel_exports(index: &[(String, Vec<String>)]) -> BTreeSet<String> {
    let mut keep: BTreeSet<String> = KERNEL_ENTRY_SYMBOLS.iter().map(|s| s.to_string()).collect();
    for (member, symbols) in index {
        if member.starts_with("hermit-") {
            keep.extend(symbols.iter().filter(|s| s.starts_with("sys_")).cloned());
        }
    }
    keep
}

/// An `llvm-objcopy --redefine-syms` file: every defined global not in `keep` gets `prefix`,
/// inside the Rust mangling for `_ZN` names (`_ZN4core...` -> `_ZN6hermit4core...`).
pub fn rename_map(
    index: &[(String, Vec<String>)],
    keep: &BTreeSet<String>,
    prefix: &str,
) -> String {
    let defined: BTreeSet<&str> = index
        .iter()
        .flat_map(|(_, symbols)| symbols.iter().map(String::as_str))
        .collect();
    let mut map = String::new();
    for symbol in defined {
        if keep.contains(symbol) {
            continue;
        }
        let renamed = match symbol.strip_prefix("_ZN") {
            Some(rest) => format!("_ZN{}{prefix}{rest}", prefix.len()),
            None => format!("{prefix}_{symbol}"),
        };
        map.push_str(symbol);
        map.push(' ');
        map.push_str(&renamed);
        map.push('\n');
    }
    map
}

/// Sets EI_OSABI of every ELF member to ELFOSABI_STANDALONE (0xFF), in place.
pub fn set_standalone_osabi(archive: &mut [u8]) -> Result<usize> {
    let offsets: Vec<usize> = {
        let parsed = Archive::parse(archive).context("parsing the archive")?;
        (0..parsed.len())
            .filter_map(|i| parsed.get_at(i))
            .map(|member| member.offset as usize)
            .collect()
    };
    let mut changed = 0;
    for offset in offsets {
        if archive.get(offset..offset + 4) == Some(b"\x7fELF".as_slice()) {
            archive[offset + goblin::elf::header::EI_OSABI] =
                goblin::elf::header::ELFOSABI_STANDALONE;
            changed += 1;
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<(String, Vec<String>)> {
        vec![
            (
                "hermit-1234.hermit.abc-cgu.0.rcgu.o".into(),
                vec![
                    "sys_write".into(),
                    "_start".into(),
                    "_ZN6hermit3foo17h0E".into(),
                ],
            ),
            (
                "core-99.core.x-cgu.0.rcgu.o".into(),
                vec![
                    "sys_fake_from_core".into(),
                    "_ZN4core3fmt5write17h1E".into(),
                    "memcpy".into(),
                ],
            ),
        ]
    }

    #[test]
    fn only_the_kernels_own_system_calls_stay_exported() {
        let keep = kernel_exports(&sample());
        assert!(keep.contains("sys_write"));
        assert!(keep.contains("_start"));
        assert!(keep.contains("runtime_entry"));
        assert!(
            !keep.contains("sys_fake_from_core"),
            "sys_ of a foreign member must be renamed"
        );
    }

    #[test]
    fn everything_else_is_renamed_inside_the_mangling() {
        let keep = kernel_exports(&sample());
        let map = rename_map(&sample(), &keep, "hermit");
        let lines: Vec<&str> = map.lines().collect();
        assert!(
            lines.contains(&"_ZN4core3fmt5write17h1E _ZN6hermit4core3fmt5write17h1E"),
            "{map}"
        );
        assert!(lines.contains(&"memcpy hermit_memcpy"), "{map}");
        assert!(
            lines.contains(&"sys_fake_from_core hermit_sys_fake_from_core"),
            "{map}"
        );
        assert!(!map.contains("sys_write "), "{map}");
        assert!(!map.lines().any(|l| l.starts_with("_start ")), "{map}");
    }

    #[test]
    fn osabi_is_set_on_elf_members_only() {
        // A minimal `ar` archive with one ELF member and one text member.
        let mut ar = b"!<arch>\n".to_vec();
        let mut member = |name: &str, data: &[u8]| {
            let header = format!(
                "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                name,
                0,
                0,
                0,
                644,
                data.len()
            );
            ar.extend_from_slice(header.as_bytes());
            ar.extend_from_slice(data);
            if data.len() % 2 == 1 {
                ar.push(b'\n');
            }
        };
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        member("a.o/", &elf);
        member("notes.txt/", b"plain text");
        let changed = set_standalone_osabi(&mut ar).unwrap();
        assert_eq!(changed, 1);
        let at = ar.windows(4).position(|w| w == b"\x7fELF").unwrap();
        assert_eq!(ar[at + 7], 0xff);
    }
}
