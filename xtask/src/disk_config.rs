//! A disk's run configuration: the kernel command line
//! (`env=HERMIT_WASM_PLATFORM=serial -- [RUNNER OPTIONS] -- [ARGS]`) in the file the boot
//! route reads, as plain text a user edits with mtools. One writer and one reader per
//! route, used by `disk`, `inspect` and the tests; `run-disk.sh` edits the same line
//! (`line_glob`).
//! - `uefi`: `hermit-wasm/cmdline.txt`, the command line alone (our loader reads it);
//! - `u-boot-extlinux`: `extlinux/extlinux.conf` (`templates/extlinux.conf`), the command
//!   line as the `append` line (U-Boot passes it on as `/chosen/bootargs`).

use anyhow::{Context, Result};

use crate::launch_script::{self, Fill};
use crate::profile::DiskRoute;

const EXTLINUX_TEMPLATE: &str = include_str!("../templates/extlinux.conf");
const APPEND: &str = "append ";

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
        DiskRoute::UBootExtlinux => {
            launch_script::fill(EXTLINUX_TEMPLATE, &[("CMDLINE", Fill::Code(cmdline))])
        }
    }
}

/// The command line in the file's `text`.
pub fn cmdline(route: DiskRoute, text: &str) -> Result<String> {
    let mut lines = text.lines().map(|line| line.trim_end_matches('\r'));
    match route {
        DiskRoute::Uefi => Ok(lines.next().unwrap_or("").trim().to_string()),
        DiskRoute::UBootExtlinux => lines
            .map(str::trim_start)
            .find_map(|line| line.strip_prefix(APPEND))
            .map(|cmdline| cmdline.trim().to_string())
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
