//! A disk's run configuration: the kernel command line
//! (`env=HERMIT_WASM_PLATFORM=serial -- [RUNNER OPTIONS] -- [ARGS]`) in the file the boot
//! route reads, as plain text a user edits with mtools. One writer and one reader per
//! route, used by `disk`, `inspect` and the tests; `run-disk.sh` edits the same line
//! (`line_glob`).
//! - `uefi`: `hermit-wasm/cmdline.txt`, the command line alone (our loader reads it);
//! - `u-boot-extlinux`: `extlinux/extlinux.conf` (`templates/disk/extlinux.conf`), the command
//!   line as the `append` line. U-Boot passes that line on as `/chosen/bootargs` after its
//!   own macro processing, which takes `\` as an escape, `'` as quotes and expands `$`
//!   variables; so every `\`, `'` and `$` of the command line is written escaped with a
//!   `\` (`uboot_escape`), and the kernel then gets the shell-quoted line unchanged.

use anyhow::{Context, Result};

use crate::image::launch_script::{self, Fill};
use crate::plan::profile::DiskRoute;

const EXTLINUX_TEMPLATE: &str = include_str!("../../templates/disk/extlinux.conf");
const APPEND: &str = "append ";
/// `run-disk.sh`'s copy of `uboot_escape`, in bash.
const UBOOT_ESCAPE: &str = include_str!("../../templates/disk/cmdline-escape-u-boot.sh");

/// The command line a disk starts with: the runner on the serial platform, no launch
/// options, no module arguments beyond the image's own.
pub const DEFAULT_CMDLINE: &str = "env=HERMIT_WASM_PLATFORM=serial --";

/// Where the route's run configuration lies on the EFI system partition.
pub fn file(route: DiskRoute) -> &'static str {
    match route {
        DiskRoute::Uefi => "hermit-wasm/cmdline.txt",
        DiskRoute::UBootExtlinux => "extlinux/extlinux.conf",
    }
}

/// The file's text for `cmdline` (one line, no newline).
pub fn render(route: DiskRoute, cmdline: &str) -> String {
    assert!(!cmdline.contains('\n'), "a command line is one line");
    match route {
        DiskRoute::Uefi => format!("{cmdline}\n"),
        DiskRoute::UBootExtlinux => launch_script::fill(
            EXTLINUX_TEMPLATE,
            &[("CMDLINE", Fill::Code(&uboot_escape(cmdline)))],
        ),
    }
}

/// `text` as it must stand in the `append` line for U-Boot's macro processing to give it
/// back unchanged: that processing drops the first backslash of each run of them (and takes
/// the character after a backslash literally), and takes an unescaped `'` as a quote and
/// `$` as a variable. So each run of backslashes gets one more, and `'` and `$` one before.
fn uboot_escape(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut escaped = String::with_capacity(text.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                let run = chars[i..].iter().take_while(|&&c| c == '\\').count();
                escaped.extend(std::iter::repeat_n('\\', run + 1));
                i += run;
                if let Some(&next) = chars.get(i) {
                    escaped.push(next);
                    i += 1;
                }
            }
            c @ ('\'' | '$') => {
                escaped.push('\\');
                escaped.push(c);
                i += 1;
            }
            c => {
                escaped.push(c);
                i += 1;
            }
        }
    }
    escaped
}

/// What U-Boot's macro processing (`cli_simple_process_macros`) makes of `text`, but for
/// the expansion of `$` variables, which an escaped line does not contain.
fn uboot_unescape(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    let (mut prev, mut quoted) = ('\0', false);
    while let Some(mut c) = chars.next() {
        if !quoted && c == '\\' && prev != '\\' {
            let Some(next) = chars.next() else { break };
            prev = c;
            c = next;
        }
        if quoted {
            if c == '\'' {
                quoted = false;
            } else {
                plain.push(c);
            }
        } else if c == '\'' && prev != '\\' {
            quoted = true;
        } else {
            plain.push(c);
        }
        prev = c;
    }
    plain
}

/// The bash code `run-disk.sh` runs on `extra`, the module arguments as shell words, before
/// it adds them to the command line's line: the same escaping as `render`.
pub fn bash_escape(route: DiskRoute) -> &'static str {
    match route {
        DiskRoute::Uefi => ":",
        DiskRoute::UBootExtlinux => UBOOT_ESCAPE,
    }
}

/// The command line in the file's `text`.
pub fn cmdline(route: DiskRoute, text: &str) -> Result<String> {
    let lines = text.lines().map(|line| line.trim_end_matches('\r'));
    match route {
        // The loader takes the whole file, trimmed.
        DiskRoute::Uefi => Ok(text.trim().to_string()),
        DiskRoute::UBootExtlinux => lines
            .map(str::trim_start)
            .find_map(|line| line.strip_prefix(APPEND))
            .map(|cmdline| uboot_unescape(cmdline.trim()))
            .with_context(|| format!("{} has no `append` line", file(route))),
    }
}

/// A bash `case` pattern for the file's line(s) that hold the command line, to which
/// `run-disk.sh` adds module arguments.
pub fn line_glob(route: DiskRoute) -> &'static str {
    match route {
        DiskRoute::Uefi => "?*",
        DiskRoute::UBootExtlinux => "*append\\ *",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words with quotes, dollars and runs of backslashes, shell-quoted as run-disk.sh
    /// quotes module arguments.
    const AWKWARD: [&str; 6] = [
        r"env=X=1 -- -- 'it'\''s' '$HOME \ x'",
        r"a\\\b\",
        r"'\'\$'$",
        r"\\'",
        "plain words",
        "",
    ];

    #[test]
    fn u_boot_gives_back_what_was_escaped_for_it() {
        for text in AWKWARD {
            let escaped = uboot_escape(text);
            assert_eq!(uboot_unescape(&escaped), text, "{escaped}");
            let rendered = render(DiskRoute::UBootExtlinux, text);
            let read = super::cmdline(DiskRoute::UBootExtlinux, &rendered).unwrap();
            assert_eq!(read, text.trim());
        }
        // As read in U-Boot's source: the first backslash of a run escapes the second.
        assert_eq!(uboot_unescape(r"\\\'"), r"\\'");
        assert_eq!(uboot_unescape(r"'a b'\'"), "a b'");
    }

    #[test]
    fn the_bash_escape_agrees_with_the_rust_one() {
        for text in AWKWARD {
            let script = format!(
                "extra={}\n{UBOOT_ESCAPE}\nprintf '%s' \"$extra\"",
                crate::image::launch_script::bash_quote(text)
            );
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                String::from_utf8(out.stdout).unwrap(),
                uboot_escape(text),
                "{text}"
            );
        }
    }

    #[test]
    fn each_route_reads_back_what_it_writes() {
        for route in [DiskRoute::Uefi, DiskRoute::UBootExtlinux] {
            let cmdline = "env=HERMIT_WASM_PLATFORM=serial -- --env A=1 -- 'two words'";
            let text = render(route, cmdline);
            assert_eq!(super::cmdline(route, &text).unwrap(), cmdline, "{route:?}");
            assert!(!text.contains('@'), "{text}");
        }
        let extlinux = render(DiskRoute::UBootExtlinux, DEFAULT_CMDLINE);
        assert!(
            extlinux.contains("\n  kernel /hermit-wasm/loader.bin\n"),
            "{extlinux}"
        );
        assert!(super::cmdline(DiskRoute::UBootExtlinux, "label x\n").is_err());
        assert_eq!(
            super::cmdline(DiskRoute::Uefi, "env=X -- -- a\r\n").unwrap(),
            "env=X -- -- a"
        );
    }
}
