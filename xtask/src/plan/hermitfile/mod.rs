//! The Hermitfile: a Dockerfile-like file that says what a WASI module may touch.
//! Nothing is granted unless a line grants it.
//!
//! ```text
//! # A comment (a `#` as the first non-blank character of a line).
//! FROM hello.wasm                      # the module, relative to the Hermitfile's folder (required, once)
//! MAP ["data", "in:/in:ro", "out:/out:rw"]  # host directories the guest may open
//! ENV GREETING="hello world" X=1       # environment, in the order given
//! ENV_PWD_IS_HOST_CWD                  # at launch, PWD = the host's current directory
//! ENV_EXE_NAME_IS_HOST_EXE_NAME        # at launch, EXE_NAME = the launch script's path
//! ARGS ["--verbose"]                   # arguments before those given at launch
//! ENTRYPOINT main                      # call this export instead of `_start` (at most once)
//! LIMIT memory=256M cpu=10s files=64   # what the module may consume (each kind once)
//! LINK calc=lib/calc.wasm              # preload a core module for imports from `calc`
//! ```
//!
//! (Comments only stand on lines of their own; the trailing ones above are for show.)
//!
//! Keywords are case-insensitive; a line ending in `\` continues on the next one (comment
//! lines in between are skipped, a blank line ends it). `NET` is recognised but refused
//! until it is implemented. Several `MAP`, `ENV`, `ARGS` and `LINK` lines add up.
//!
//! `LINK NAME=PATH` preloads the core module at `PATH` (relative to the Hermitfile's
//! folder) under the import module name `NAME`, as `wasmtime run --preload NAME=PATH`
//! does; links are instantiated in the order given (`image/link.rs` checks them).
//!
//! A `MAP` entry is `HOST`, `HOST:GUEST` or `HOST:GUEST:ro|rw` (also `HOST:ro`), parsed by
//! the one parser of that grammar (`hermit_wasm_kernel::map_spec`). Host paths are relative
//! to the Hermitfile's folder; the guest name is taken verbatim, absolute or relative (`.`
//! too), as `wasmtime run --dir HOST::GUEST` takes it. `HOST` alone maps the
//! host directory to the same absolute path in the guest, so that host paths (and a `PWD`
//! from `ENV_PWD_IS_HOST_CWD`) mean the same on both sides. A path holding a `:` can't be
//! mapped.
//!
//! A `LIMIT` word is `NAME=VALUE` in the one grammar of limits
//! (`hermit_wasm_kernel::limit_spec`: `memory`, `cpu`, `wall`, `output`, `files`); the
//! launch options `--limit` replace them for one run.
//!
//! `ENV` values are bare words or JSON strings (`KEY="two words\n"`); `FROM` and
//! `ENTRYPOINT` take one such word. Every error names the file, line and column of the
//! offending token ([`ParseError`]).
//!
//! Pure: only [`Hermitfile::load`] and [`Hermitfile::check_maps`] touch the file system.
//!
//! This file holds what a Hermitfile is and the paths of its `FROM` and `MAP`; the parser
//! is `directives.rs`, over the lines of `lines.rs` and the values of `values.rs`.

mod directives;
mod lines;
mod values;

use std::fmt;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context};
use hermit_wasm_kernel::limit_spec::Limits;
use hermit_wasm_kernel::map_spec::MapSpec;
use serde::{Deserialize, Serialize};

use directives::Parser;
use lines::{logical_lines, Problem};
use values::{check_env_key, check_no_nul};

/// A parsed Hermitfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hermitfile {
    /// The Hermitfile itself.
    pub path: PathBuf,
    /// The module, resolved against the Hermitfile's folder.
    pub from: PathBuf,
    pub maps: Vec<Map>,
    /// In the order given.
    pub env: Vec<(String, String)>,
    pub env_pwd_is_host_cwd: bool,
    pub env_exe_name_is_host_exe_name: bool,
    /// Baked in before the arguments given at launch.
    pub args: Vec<String>,
    /// The export to call instead of `_start`.
    pub entrypoint: Option<String>,
    /// What the module may consume (`LIMIT`).
    pub limits: Limits,
    /// Core modules preloaded for the module's imports (`LINK`), in the order given.
    pub links: Vec<Link>,
}

/// A module preloaded under an import module name (`LINK NAME=PATH`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    /// Resolved against the Hermitfile's folder.
    pub path: PathBuf,
}

/// A host directory the guest may open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Map {
    /// Resolved against the Hermitfile's folder (or, from `--map`, left relative to the
    /// current directory).
    pub host: PathBuf,
    /// The preopen's name, verbatim (`/data`, `data`, `.`); the host's absolute path when
    /// the entry names none.
    pub guest: String,
    pub read_only: bool,
}

/// An error in a Hermitfile, at a 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (file, line, column) = (self.file.display(), self.line, self.column);
        write!(f, "{file}:{line}:{column}: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

impl Hermitfile {
    /// Parses `text`; `path` is the Hermitfile's own path, for messages and as the base of
    /// relative paths.
    pub fn parse(path: &Path, text: &str) -> anyhow::Result<Hermitfile> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut parser = Parser::new(path);
        for line in logical_lines(text) {
            parser
                .directive(&line)
                .map_err(|problem| parser.error(&line, problem))?;
        }
        Ok(parser.finish()?)
    }

    /// Reads and parses the Hermitfile at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Hermitfile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the Hermitfile {}", path.display()))?;
        Hermitfile::parse(path, &text)
    }

    /// Checks that every mapped host directory exists and is a directory; lists every one
    /// that isn't.
    pub fn check_maps(&self) -> anyhow::Result<()> {
        let problems: Vec<String> = self.maps.iter().filter_map(map_problem).collect();
        if problems.is_empty() {
            return Ok(());
        }
        bail!("{}: {}", self.path.display(), problems.join("\n  "))
    }
}

/// Why `map`'s host directory can't be mapped, if it can't.
fn map_problem(map: &Map) -> Option<String> {
    let what = format!("MAP {} (guest {})", map.host.display(), map.guest);
    match std::fs::metadata(&map.host) {
        Ok(meta) if meta.is_dir() => None,
        Ok(_) => Some(format!("{what}: the host path is not a directory")),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            Some(format!("{what}: the host directory does not exist"))
        }
        Err(err) => Some(format!("{what}: the host directory can't be read: {err}")),
    }
}

/// Parses a launch-time `--env KEY=VALUE` (the value verbatim: the shell did the quoting).
pub fn parse_env_arg(arg: &str) -> anyhow::Result<(String, String)> {
    let parse = || {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(Problem::new(0, "expected KEY=VALUE"));
        };
        check_env_key(key)?;
        check_no_nul(value, "an environment value")?;
        Ok((key.to_string(), value.to_string()))
    };
    parse().map_err(|problem| arg_error("--env", arg, problem))
}

fn arg_error(flag: &str, arg: &str, problem: Problem) -> anyhow::Error {
    let hint = problem
        .hint
        .map(|hint| format!(" ({hint})"))
        .unwrap_or_default();
    anyhow::anyhow!("{flag} {arg:?}: {}{hint}", problem.message)
}

/// `path` if absolute, else `base/path`.
fn resolve(base: &Path, path: &str) -> PathBuf {
    match Path::new(path).is_absolute() {
        true => PathBuf::from(path),
        false => base.join(path),
    }
}

/// One `MAP` entry, in the grammar of [`MapSpec`] (the one parser, shared with the runner);
/// problems are reported at offset 0. The guest name is kept verbatim; without one it is the
/// host directory's absolute path.
fn parse_map_entry(entry: &str, base: &Path) -> Result<Map, Problem> {
    let spec = MapSpec::parse(entry).map_err(|err| Problem::new(0, err.problem).hint(err.hint))?;
    let host = resolve(base, &spec.host);
    let guest = match spec.guest {
        Some(guest) => guest,
        None => guest_from_host(&host)?,
    };
    Ok(Map {
        host,
        guest,
        read_only: spec.read_only,
    })
}

/// The guest path of a `MAP` entry without one: the host directory's absolute path.
fn guest_from_host(host: &Path) -> Result<String, Problem> {
    let absolute = std::path::absolute(host)
        .map_err(|err| Problem::new(0, format!("can't make {} absolute: {err}", host.display())))?;
    let mut parts: Vec<&str> = Vec::new();
    for component in absolute.components() {
        match component {
            Component::Normal(part) => match part.to_str() {
                Some(part) => parts.push(part),
                None => {
                    return Err(Problem::new(
                        0,
                        format!("the host path {} is not UTF-8", host.display()),
                    )
                    .hint("give a guest path: HOST:/GUEST"))
                }
            },
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir => {}
            Component::Prefix(_) => {
                return Err(
                    Problem::new(0, format!("{} has no guest equivalent", host.display()))
                        .hint("give a guest path: HOST:/GUEST"),
                )
            }
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests;
