//! The one grammar of a limit on what a module may consume: `NAME=VALUE`, as a Hermitfile's
//! `LIMIT` line, `--limit` of the launch scripts and of `cargo xtask qemu`, and the runner's
//! own `--limit` take it.
//!
//! [`LimitSpec::parse`] is its only parser. The xtask and the runner call it; the launch
//! scripts' bash `parse_limit` (`xtask/templates/launch/limits.sh`) is checked against it case by
//! case ([`CASES`]) in the xtask's tests.
//!
//! | name | value | what it bounds | enforced by |
//! |---|---|---|---|
//! | `memory` | a size | each linear memory and table of the module; the VM's RAM follows | the runner (Wasmtime's resource limiter) |
//! | `cpu` | a duration | the VM's CPU time, as the host counts it | the launcher (`RLIMIT_CPU` on QEMU) |
//! | `wall` | a duration | the run's wall-clock time (what `--timeout` sets) | the launcher (`timeout`) |
//! | `output` | a size | bytes the module writes to stdout and stderr together | the runner |
//! | `files` | a count | the module's open descriptors, stdio and preopens included | the runner |
//! | `threads` | a count | threads a threads module runs at once besides its main one | the runner |
//!
//! - A size is a whole number of bytes, or of KiB, MiB or GiB with a suffix `K`, `M`, `G`
//!   (any case): `65536`, `64K`, `256M`, `1G`.
//! - A duration is a whole number of seconds, or of minutes or hours with `m` or `h`
//!   (`s` may be written): `30`, `30s`, `2m`, `1h`.
//! - A count is a whole number.
//!
//! Every value is at least 1 (`memory` at least one 64 KiB page), and at most [`MAX_VALUE`]
//! in base units (bytes, seconds, or a count), so that the scripts' arithmetic cannot
//! overflow.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a limit bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitName {
    Memory,
    Cpu,
    Wall,
    Output,
    Files,
    Threads,
}

impl LimitName {
    pub const ALL: [LimitName; 6] = [
        LimitName::Memory,
        LimitName::Cpu,
        LimitName::Wall,
        LimitName::Output,
        LimitName::Files,
        LimitName::Threads,
    ];

    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitName::Memory => "memory",
            LimitName::Cpu => "cpu",
            LimitName::Wall => "wall",
            LimitName::Output => "output",
            LimitName::Files => "files",
            LimitName::Threads => "threads",
        }
    }

    fn unit(self) -> Unit {
        match self {
            LimitName::Memory | LimitName::Output => Unit::Size,
            LimitName::Cpu | LimitName::Wall => Unit::Duration,
            LimitName::Files | LimitName::Threads => Unit::Count,
        }
    }
}

impl fmt::Display for LimitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Size,
    Duration,
    Count,
}

/// A parsed `NAME=VALUE`, its value in bytes, seconds or a count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitSpec {
    pub name: LimitName,
    pub value: u64,
}

/// Why a limit was refused: what is wrong, where in the text (a byte offset, for a
/// Hermitfile's column), and how to write it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitSpecError {
    pub problem: String,
    pub at: usize,
    pub hint: &'static str,
}

impl fmt::Display for LimitSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.problem, self.hint)
    }
}

impl std::error::Error for LimitSpecError {}

/// How limits are written, for error messages.
pub const LIMIT_SYNTAX: &str = "write memory=SIZE, output=SIZE, cpu=DURATION, \
     wall=DURATION, files=COUNT or threads=COUNT; a SIZE like 256M (K, M, G), a DURATION like 30s, 2m or 1h";

/// The most digits a value may have.
pub const MAX_DIGITS: usize = 12;

/// The greatest value, in base units (bytes, seconds, or a count): the scripts compute
/// with values up to twice this in 64-bit arithmetic.
pub const MAX_VALUE: u64 = 999_999_999_999;

/// The smallest memory limit: one WebAssembly page.
pub const MIN_MEMORY: u64 = 64 << 10;

impl LimitSpec {
    /// Parses `spec` (see the module documentation).
    pub fn parse(spec: &str) -> Result<LimitSpec, LimitSpecError> {
        let error = |problem: String, at: usize| LimitSpecError {
            problem,
            at,
            hint: LIMIT_SYNTAX,
        };
        let Some((name, value)) = spec.split_once('=') else {
            return Err(error(format!("{spec:?} is not NAME=VALUE"), 0));
        };
        let name = LimitName::ALL
            .into_iter()
            .find(|known| known.as_str() == name)
            .ok_or_else(|| error(format!("unknown limit {name:?}"), 0))?;
        let at = name.as_str().len() + 1;
        let digits = value.bytes().take_while(u8::is_ascii_digit).count();
        let (number, suffix) = value.split_at(digits);
        if digits == 0 {
            return Err(error(
                format!("{name}: {value:?} does not start with a number"),
                at,
            ));
        }
        if digits > MAX_DIGITS {
            return Err(error(
                format!("{name}: {value:?} has more than {MAX_DIGITS} digits"),
                at,
            ));
        }
        let number: u64 = number.parse().expect("at most 12 ASCII digits");
        let scale = match (name.unit(), suffix.to_ascii_lowercase().as_str()) {
            (Unit::Size, "") | (Unit::Duration, "" | "s") | (Unit::Count, "") => 1,
            (Unit::Size, "k") => 1 << 10,
            (Unit::Size, "m") => 1 << 20,
            (Unit::Size, "g") => 1 << 30,
            (Unit::Duration, "m") => 60,
            (Unit::Duration, "h") => 3600,
            _ => {
                return Err(error(
                    format!("{name}: unknown unit {suffix:?} in {value:?}"),
                    at + digits,
                ))
            }
        };
        let Some(value) = number
            .checked_mul(scale)
            .filter(|&value| value <= MAX_VALUE)
        else {
            return Err(error(
                format!("{name}: {value:?} is above the greatest limit, {MAX_VALUE}"),
                at,
            ));
        };
        let least = if name == LimitName::Memory {
            MIN_MEMORY
        } else {
            1
        };
        if value < least {
            return Err(error(
                format!("{name}: {value} is below the least limit, {least}"),
                at,
            ));
        }
        Ok(LimitSpec { name, value })
    }
}

/// The limits a run is under; `None` is no limit of that kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u64>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall: Option<u64>,
    /// Bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<u64>,
    /// Descriptors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
    /// Threads besides the main one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u64>,
}

impl Limits {
    /// The limit of kind `name`.
    pub fn get(&self, name: LimitName) -> Option<u64> {
        *self.slot(name)
    }

    /// Sets (or replaces) one limit.
    pub fn set(&mut self, spec: LimitSpec) {
        *self.slot_mut(spec.name) = Some(spec.value);
    }

    fn slot(&self, name: LimitName) -> &Option<u64> {
        match name {
            LimitName::Memory => &self.memory,
            LimitName::Cpu => &self.cpu,
            LimitName::Wall => &self.wall,
            LimitName::Output => &self.output,
            LimitName::Files => &self.files,
            LimitName::Threads => &self.threads,
        }
    }

    fn slot_mut(&mut self, name: LimitName) -> &mut Option<u64> {
        match name {
            LimitName::Memory => &mut self.memory,
            LimitName::Cpu => &mut self.cpu,
            LimitName::Wall => &mut self.wall,
            LimitName::Output => &mut self.output,
            LimitName::Files => &mut self.files,
            LimitName::Threads => &mut self.threads,
        }
    }

    /// The limits set, as `NAME=VALUE` words in the grammar's base units.
    pub fn specs(&self) -> Vec<String> {
        LimitName::ALL
            .into_iter()
            .filter_map(|name| self.get(name).map(|value| format!("{name}={value}")))
            .collect()
    }
}

/// Specifications and what they mean (name, value in base units), `None` where refused:
/// the table both this parser and the launch scripts' bash parser are tested against.
pub const CASES: &[(&str, Option<(&str, u64)>)] = &[
    ("memory=65536", Some(("memory", 65536))),
    ("memory=64K", Some(("memory", 65536))),
    ("memory=64k", Some(("memory", 65536))),
    ("memory=256M", Some(("memory", 256 << 20))),
    ("memory=1G", Some(("memory", 1 << 30))),
    ("memory=999999999999", Some(("memory", 999_999_999_999))),
    ("output=1", Some(("output", 1))),
    ("output=10M", Some(("output", 10 << 20))),
    ("cpu=10", Some(("cpu", 10))),
    ("cpu=10s", Some(("cpu", 10))),
    ("cpu=10S", Some(("cpu", 10))),
    ("cpu=2m", Some(("cpu", 120))),
    ("wall=1h", Some(("wall", 3600))),
    ("wall=30s", Some(("wall", 30))),
    ("files=64", Some(("files", 64))),
    ("files=1", Some(("files", 1))),
    ("threads=8", Some(("threads", 8))),
    ("threads=1", Some(("threads", 1))),
    ("memory=65535", None),
    ("memory=0", None),
    ("memory=1000000000000", None),
    ("memory=931G", Some(("memory", 931 << 30))),
    ("memory=932G", None),
    ("wall=999999999999h", None),
    ("output=0000001", Some(("output", 1))),
    ("memory=", None),
    ("memory=M", None),
    ("memory=1.5G", None),
    ("memory=256MB", None),
    ("memory=-1", None),
    ("memory= 1M", None),
    ("memory=10s", None),
    ("cpu=0", None),
    ("cpu=1G", None),
    ("cpu=1ms", None),
    ("wall=1d", None),
    ("files=0", None),
    ("files=1K", None),
    ("files=3s", None),
    ("threads=0", None),
    ("threads=4K", None),
    ("output=0", None),
    ("Memory=1M", None),
    ("fuel=100", None),
    ("memory", None),
    ("=1", None),
    ("", None),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_of_the_table_parses_as_it_says() {
        for (spec, want) in CASES {
            let got = LimitSpec::parse(spec)
                .ok()
                .map(|limit| (limit.name.as_str(), limit.value));
            assert_eq!(got, *want, "{spec:?}");
        }
    }

    #[test]
    fn errors_say_what_and_where() {
        let err = LimitSpec::parse("memory=12X").unwrap_err();
        assert_eq!(err.at, "memory=12".len());
        assert!(err.to_string().contains("unknown unit \"X\""), "{err}");
        assert!(err.to_string().contains("memory=SIZE"), "{err}");
        let err = LimitSpec::parse("fuel=100").unwrap_err();
        assert_eq!(err.at, 0);
        assert!(err.problem.contains("unknown limit \"fuel\""), "{err}");
        let err = LimitSpec::parse("cpu=x").unwrap_err();
        assert_eq!(err.at, "cpu=".len());
    }

    #[test]
    fn limits_keep_the_last_value_of_each_kind_and_list_themselves() {
        let mut limits = Limits::default();
        for spec in ["memory=1M", "files=9", "memory=2M"] {
            limits.set(LimitSpec::parse(spec).unwrap());
        }
        assert_eq!(limits.get(LimitName::Memory), Some(2 << 20));
        assert_eq!(limits.specs(), ["memory=2097152", "files=9"]);
        let json = serde_json::to_string(&limits).unwrap();
        assert_eq!(json, r#"{"memory":2097152,"files":9}"#);
        assert_eq!(serde_json::from_str::<Limits>(&json).unwrap(), limits);
        assert_eq!(
            serde_json::from_str::<Limits>("{}").unwrap(),
            Limits::default()
        );
    }
}
