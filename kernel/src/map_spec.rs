//! The one grammar of a host directory given to a module: `HOST[:GUEST][:ro|:rw]`.
//!
//! [`MapSpec::parse`] is its only parser. The xtask (Hermitfile `MAP`, `--map` of `cargo
//! xtask qemu`) and the runner (`--map`) call it; the launch scripts' bash `parse_map`
//! (`xtask/templates/launch/map.sh`) is checked against it case by case in the xtask's tests.
//!
//! - A last part `ro` or `rw` (any case) is the access mode; `rw` is the default.
//! - Of what remains, HOST runs to the first `:`, and GUEST is the rest, verbatim: absolute
//!   (`/data`) or relative (`data`, `.`), as `wasmtime run --dir HOST::GUEST` takes it. It
//!   is the preopen's name, the string modules compare (`fd_prestat_dir_name`).
//! - Neither part may be empty or hold a NUL byte; paths holding a `:` cannot be written.
//!
//! Without GUEST the caller decides the name: the runner and the launch scripts use HOST as
//! written (as `wasmtime run --dir HOST` does), a Hermitfile its absolute host path.

use std::fmt;

/// A parsed `HOST[:GUEST][:ro|:rw]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapSpec {
    /// As written (relative paths are the caller's to resolve).
    pub host: String,
    /// Verbatim, when given.
    pub guest: Option<String>,
    pub read_only: bool,
}

/// Why a map specification was refused: what is wrong, and how to write it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapSpecError {
    pub problem: String,
    pub hint: &'static str,
}

impl fmt::Display for MapSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.problem, self.hint)
    }
}

impl std::error::Error for MapSpecError {}

/// How a map is written, for error messages.
pub const MAP_SYNTAX: &str = "write HOST, HOST:GUEST or HOST:GUEST:ro; GUEST is the name \
     the module sees, absolute or relative (\".\" too); paths can't hold ':'";

impl MapSpec {
    /// Parses `spec` (see the module documentation).
    pub fn parse(spec: &str) -> Result<MapSpec, MapSpecError> {
        let error = |problem: String| MapSpecError {
            problem,
            hint: MAP_SYNTAX,
        };
        if spec.contains('\0') {
            return Err(error(format!("{spec:?} holds a NUL byte")));
        }
        let (rest, read_only) = match spec.rsplit_once(':') {
            Some((rest, mode)) if mode.eq_ignore_ascii_case("ro") => (rest, true),
            Some((rest, mode)) if mode.eq_ignore_ascii_case("rw") => (rest, false),
            _ => (spec, false),
        };
        let (host, guest) = match rest.split_once(':') {
            Some((host, guest)) => (host, Some(guest)),
            None => (rest, None),
        };
        if host.is_empty() {
            return Err(error(format!("no host directory in {spec:?}")));
        }
        match guest {
            Some("") => Err(error(format!("empty guest name in {spec:?}"))),
            Some(guest) if guest.contains(':') => Err(error(format!("too many ':' in {spec:?}"))),
            _ => Ok(MapSpec {
                host: host.to_string(),
                guest: guest.map(str::to_string),
                read_only,
            }),
        }
    }
}

/// What a specification means in [`CASES`]: host, guest name if given, read-only.
pub type Meaning = (&'static str, Option<&'static str>, bool);

/// Specifications and what they mean, `None` where refused: the table both this parser and
/// the launch scripts' bash parser are tested against.
pub const CASES: &[(&str, Option<Meaning>)] = &[
    ("data", Some(("data", None, false))),
    ("/srv/data", Some(("/srv/data", None, false))),
    ("data:/data", Some(("data", Some("/data"), false))),
    ("data:.", Some(("data", Some("."), false))),
    ("data:data", Some(("data", Some("data"), false))),
    ("data:./x/../y/", Some(("data", Some("./x/../y/"), false))),
    ("data:/data:ro", Some(("data", Some("/data"), true))),
    ("data:/data:rw", Some(("data", Some("/data"), false))),
    ("data:.:ro", Some(("data", Some("."), true))),
    ("data:ro", Some(("data", None, true))),
    ("data:RO", Some(("data", None, true))),
    ("data:Rw", Some(("data", None, false))),
    ("data:/d:RO", Some(("data", Some("/d"), true))),
    ("data:ro:rw", Some(("data", Some("ro"), false))),
    ("ro", Some(("ro", None, false))),
    ("it's here:/it's", Some(("it's here", Some("/it's"), false))),
    ("a b:c d", Some(("a b", Some("c d"), false))),
    ("data:rox", Some(("data", Some("rox"), false))),
    ("", None),
    (":/data", None),
    (":ro", None),
    ("data:", None),
    ("data::ro", None),
    ("a:b:c", None),
    ("a:b:c:ro", None),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_of_the_table_parses_as_it_says() {
        for (spec, want) in CASES {
            let got = MapSpec::parse(spec)
                .ok()
                .map(|map| (map.host, map.guest, map.read_only));
            let want =
                want.map(|(host, guest, ro)| (host.to_string(), guest.map(str::to_string), ro));
            assert_eq!(got, want, "{spec:?}");
        }
    }

    #[test]
    fn errors_say_what_is_wrong_and_how_to_write_a_map() {
        let err = MapSpec::parse("a:b:c").unwrap_err().to_string();
        assert!(
            err.contains("too many ':'") && err.contains("HOST:GUEST:ro"),
            "{err}"
        );
        let err = MapSpec::parse("data:").unwrap_err().to_string();
        assert!(err.contains("empty guest name"), "{err}");
        assert!(MapSpec::parse("a\0b").is_err());
    }
}
