//! The sleep register a disk boot on x86_64 powers off with: one grammar, parsed here (and
//! written by the UEFI loader); `platform/power_off.rs` performs the write and then halts,
//! so that a finished module never runs again.
//!
//! Kernel 0.11's own shutdown falls back to resetting the machine when ACPI's PM1a is
//! missing (hardware-reduced ACPI, as on Azure Gen2); the firmware would then boot the disk
//! again. The UEFI loader reads the sleep register from the ACPI tables and passes it as
//! `HERMIT_WASM_POWER_OFF` (`boards/loader/src/arch/x86_64/uefi/power_off.rs`):
//! `io16:PORT:VALUE` or `io8:PORT:VALUE` (hexadecimal with `0x`, or decimal), or `none`.

/// The kernel environment variable the UEFI loader sets.
pub const VAR: &str = "HERMIT_WASM_POWER_OFF";

/// A write to an I/O port that powers the machine off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Register {
    Io16 { port: u16, value: u16 },
    Io8 { port: u16, value: u8 },
}

/// Parses the loader's setting: `Ok(None)` for `none`.
pub fn parse(spec: &str) -> Result<Option<Register>, String> {
    if spec.trim() == "none" {
        return Ok(None);
    }
    let fields: Vec<&str> = spec.trim().split(':').collect();
    let [kind, port, value] = fields[..] else {
        return Err(format!(
            "{VAR}={spec:?} is not KIND:PORT:VALUE (io16 or io8) or none"
        ));
    };
    let port = number(port)
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| format!("{VAR}: port {port:?} is not a 16-bit number"))?;
    let value = number(value).ok_or_else(|| format!("{VAR}: value {value:?} is not a number"))?;
    match kind {
        "io16" => u16::try_from(value)
            .map(|value| Some(Register::Io16 { port, value }))
            .map_err(|_| format!("{VAR}: value {value:#x} does not fit 16 bits")),
        "io8" => u8::try_from(value)
            .map(|value| Some(Register::Io8 { port, value }))
            .map_err(|_| format!("{VAR}: value {value:#x} does not fit 8 bits")),
        other => Err(format!("{VAR}: register kind {other:?} is not io16 or io8")),
    }
}

fn number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loaders_settings_parse() {
        assert_eq!(
            parse("io16:0x604:0x3400"),
            Ok(Some(Register::Io16 {
                port: 0x604,
                value: 0x3400
            }))
        );
        assert_eq!(
            parse("io8:1028:0x34"),
            Ok(Some(Register::Io8 {
                port: 1028,
                value: 0x34
            }))
        );
        assert_eq!(parse("none"), Ok(None));
        for bad in [
            "",
            "io16:0x604",
            "io32:0x604:1",
            "io16:0x10000:1",
            "io8:0x604:0x100",
            "io16:x:1",
            "io16:1:2:3",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
