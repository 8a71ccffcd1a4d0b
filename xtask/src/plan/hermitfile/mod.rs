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
//! ```
//!
//! (Comments only stand on lines of their own; the trailing ones above are for show.)
//!
//! Keywords are case-insensitive; a line ending in `\` continues on the next one (comment
//! lines in between are skipped, a blank line ends it). `NET` and `LINK` are recognised but
//! refused until they are implemented. Several `MAP`, `ENV` and `ARGS` lines add up.
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

use std::collections::HashMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context};
use hermit_wasm_kernel::limit_spec::{LimitSpec, Limits};
use hermit_wasm_kernel::map_spec::MapSpec;
use serde::{Deserialize, Serialize};

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

/// The directives, as the unknown-directive hint lists them.
const KNOWN_DIRECTIVES: &str =
    "FROM, MAP, ENV, ENV_PWD_IS_HOST_CWD, ENV_EXE_NAME_IS_HOST_EXE_NAME, ARGS, ENTRYPOINT, LIMIT";

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

/// What went wrong, at a byte offset into the text at hand (a line, an entry, a word).
#[derive(Debug)]
struct Problem {
    at: usize,
    message: String,
    hint: Option<String>,
}

impl Problem {
    fn new(at: usize, message: impl Into<String>) -> Problem {
        Problem {
            at,
            message: message.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Problem {
        self.hint = Some(hint.into());
        self
    }

    /// The same problem in a text where the one at hand starts at `offset`.
    fn shift(mut self, offset: usize) -> Problem {
        self.at += offset;
        self
    }
}

/// A line and column, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pos {
    line: usize,
    column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}:{}", self.line, self.column)
    }
}

// ---------------------------------------------------------------------------------------
// Lines

/// A directive's line: physical lines joined at their trailing `\`.
struct Line {
    text: String,
    pieces: Vec<Piece>,
}

/// A physical line within a [`Line`]: it starts at byte `start` of the joined text.
struct Piece {
    start: usize,
    line: usize,
}

impl Line {
    /// Where byte `offset` of the joined text stands in the file.
    fn pos(&self, offset: usize) -> Pos {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let piece = self.pieces.iter().rev().find(|piece| piece.start <= offset);
        let piece = piece.expect("the first piece starts at 0");
        let column = 1 + self.text[piece.start..offset].chars().count();
        Pos {
            line: piece.line,
            column,
        }
    }
}

/// Splits `text` into directive lines, without blank and comment lines.
fn logical_lines(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut current: Option<Line> = None;
    for (index, raw) in text.lines().enumerate() {
        let first = raw.trim_start();
        if first.starts_with('#') || (first.is_empty() && current.is_none()) {
            continue;
        }
        if first.is_empty() {
            lines.extend(current.take());
            continue;
        }
        let (body, continues) = match raw.trim_end().strip_suffix('\\') {
            Some(body) => (body, true),
            None => (raw, false),
        };
        let line = current.get_or_insert_with(|| Line {
            text: String::new(),
            pieces: Vec::new(),
        });
        line.pieces.push(Piece {
            start: line.text.len(),
            line: index + 1,
        });
        line.text.push_str(body);
        if !continues {
            lines.extend(current.take());
        }
    }
    lines.extend(current);
    lines
}

// ---------------------------------------------------------------------------------------
// Directives

/// A directive split into its keyword and the rest, with byte offsets into the line.
struct Directive<'a> {
    /// As written.
    keyword: &'a str,
    /// Upper-cased.
    name: String,
    keyword_at: usize,
    rest: &'a str,
    rest_at: usize,
}

impl<'a> Directive<'a> {
    fn split(text: &'a str) -> Directive<'a> {
        let keyword_at = text.len() - text.trim_start().len();
        let keyword_len = text[keyword_at..].find(char::is_whitespace);
        let rest_at = keyword_len.map_or(text.len(), |len| keyword_at + len);
        Directive {
            keyword: &text[keyword_at..rest_at],
            name: text[keyword_at..rest_at].to_ascii_uppercase(),
            keyword_at,
            rest: &text[rest_at..],
            rest_at,
        }
    }

    fn problem(&self, message: impl Into<String>) -> Problem {
        Problem::new(self.keyword_at, message)
    }

    /// The arguments split into words, at offsets into the line.
    fn words(&self) -> Result<Vec<Word<'a>>, Problem> {
        let mut words = split_words(self.rest).map_err(|problem| problem.shift(self.rest_at))?;
        words.iter_mut().for_each(|word| word.at += self.rest_at);
        Ok(words)
    }

    /// The one word a directive takes.
    fn one_word(&self, what: &str, hint: &str) -> Result<Word<'a>, Problem> {
        match self.words()?.as_slice() {
            [] => Err(self
                .problem(format!("{} needs {what}", self.name))
                .hint(hint)),
            [word] => Ok(*word),
            [_, extra, ..] => {
                let message = format!("{} takes one word: unexpected {:?}", self.name, extra.text);
                let hint = "quote a word holding spaces as a JSON string: \"my word\"";
                Err(Problem::new(extra.at, message).hint(hint))
            }
        }
    }

    /// The arguments as a JSON array of strings, each with its offset into the line.
    fn string_array(&self, example: &str) -> Result<Vec<(usize, String)>, Problem> {
        if self.rest.trim().is_empty() {
            let message = format!("{} needs a JSON array of strings", self.name);
            return Err(self.problem(message).hint(format!("for example {example}")));
        }
        let entries = parse_string_array(self.rest).map_err(|problem| {
            problem
                .shift(self.rest_at)
                .hint(format!("for example {example}"))
        })?;
        Ok(entries
            .into_iter()
            .map(|(at, entry)| (at + self.rest_at, entry))
            .collect())
    }

    /// Refuses arguments to a flag.
    fn no_arguments(&self) -> Result<(), Problem> {
        match self.words()?.first() {
            Some(word) => Err(Problem::new(
                word.at,
                format!("{} takes no arguments", self.name),
            )),
            None => Ok(()),
        }
    }
}

/// Builds a [`Hermitfile`] directive by directive, remembering where things were granted.
struct Parser {
    file: Hermitfile,
    base: PathBuf,
    from_at: Option<Pos>,
    entrypoint_at: Option<Pos>,
    pwd_flag_at: Option<Pos>,
    exe_name_flag_at: Option<Pos>,
    guests_at: HashMap<String, Pos>,
    env_keys_at: HashMap<String, Pos>,
    limits_at: HashMap<&'static str, Pos>,
}

impl Parser {
    fn new(path: &Path) -> Parser {
        let file = Hermitfile {
            path: path.to_path_buf(),
            from: PathBuf::new(),
            maps: Vec::new(),
            env: Vec::new(),
            env_pwd_is_host_cwd: false,
            env_exe_name_is_host_exe_name: false,
            args: Vec::new(),
            entrypoint: None,
            limits: Limits::default(),
        };
        let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
        Parser {
            file,
            base,
            from_at: None,
            entrypoint_at: None,
            pwd_flag_at: None,
            exe_name_flag_at: None,
            guests_at: HashMap::new(),
            env_keys_at: HashMap::new(),
            limits_at: HashMap::new(),
        }
    }

    fn error(&self, line: &Line, problem: Problem) -> ParseError {
        let pos = line.pos(problem.at);
        self.error_at(pos, problem.message, problem.hint)
    }

    fn error_at(&self, pos: Pos, message: String, hint: Option<String>) -> ParseError {
        let file = self.file.path.clone();
        ParseError {
            file,
            line: pos.line,
            column: pos.column,
            message,
            hint,
        }
    }

    fn directive(&mut self, line: &Line) -> Result<(), Problem> {
        let directive = Directive::split(&line.text);
        match directive.name.as_str() {
            "FROM" => self.from(line, &directive),
            "MAP" => self.map(line, &directive),
            "ENV" => self.env(line, &directive),
            "ENV_PWD_IS_HOST_CWD" => self.pwd_flag(line, &directive),
            "ENV_EXE_NAME_IS_HOST_EXE_NAME" => self.exe_name_flag(line, &directive),
            "ARGS" => self.args(&directive),
            "ENTRYPOINT" => self.entrypoint(line, &directive),
            "LIMIT" => self.limit(line, &directive),
            "NET" | "LINK" => Err(not_implemented(&directive)),
            _ => Err(unknown_directive(&directive)),
        }
    }

    fn from(&mut self, line: &Line, directive: &Directive) -> Result<(), Problem> {
        if let Some(first) = self.from_at {
            return Err(directive
                .problem(format!("a second FROM (the first is at {first})"))
                .hint("a Hermitfile describes one module"));
        }
        let word = directive.one_word(
            "a module path",
            "FROM module.wasm (relative to this file's folder)",
        )?;
        let path = word_value(word.text).map_err(|problem| problem.shift(word.at))?;
        if path.is_empty() {
            return Err(Problem::new(
                word.at,
                "FROM needs a module path, not an empty one",
            ));
        }
        self.file.from = resolve(&self.base, &path);
        self.from_at = Some(line.pos(directive.keyword_at));
        Ok(())
    }

    fn map(&mut self, line: &Line, directive: &Directive) -> Result<(), Problem> {
        let entries = directive.string_array(r#"MAP ["data", "in:/in:ro", "out:/out"]"#)?;
        for (at, entry) in entries {
            let map = parse_map_entry(&entry, &self.base).map_err(|problem| problem.shift(at))?;
            if let Some(first) = self.guests_at.get(&map.guest) {
                let message = format!(
                    "the guest path {} is mapped twice (first at {first})",
                    map.guest
                );
                return Err(Problem::new(at, message));
            }
            self.guests_at.insert(map.guest.clone(), line.pos(at));
            self.file.maps.push(map);
        }
        Ok(())
    }

    fn env(&mut self, line: &Line, directive: &Directive) -> Result<(), Problem> {
        let words = directive.words()?;
        if words.is_empty() {
            return Err(directive
                .problem("ENV needs KEY=VALUE")
                .hint(r#"ENV GREETING="hello world" X=1"#));
        }
        for word in &words {
            let (key, value) = env_pair(word.text).map_err(|problem| problem.shift(word.at))?;
            if let Some(first) = self.env_keys_at.get(&key) {
                return Err(Problem::new(
                    word.at,
                    format!("{key} is set twice (first at {first})"),
                ));
            }
            self.check_flag_conflicts(&key)
                .map_err(|problem| problem.shift(word.at))?;
            self.env_keys_at.insert(key.clone(), line.pos(word.at));
            self.file.env.push((key, value));
        }
        Ok(())
    }

    /// Refuses an `ENV` of a variable that a flag sets at launch.
    fn check_flag_conflicts(&self, key: &str) -> Result<(), Problem> {
        let flag = match key {
            "PWD" => self.pwd_flag_at.map(|at| ("ENV_PWD_IS_HOST_CWD", at)),
            "EXE_NAME" => self
                .exe_name_flag_at
                .map(|at| ("ENV_EXE_NAME_IS_HOST_EXE_NAME", at)),
            _ => None,
        };
        match flag {
            Some((flag, at)) => Err(Problem::new(
                0,
                format!("{key} is also set by {flag} (at {at})"),
            )),
            None => Ok(()),
        }
    }

    fn pwd_flag(&mut self, line: &Line, directive: &Directive) -> Result<(), Problem> {
        let pos = self.flag(line, directive, self.pwd_flag_at, "PWD")?;
        self.pwd_flag_at = Some(pos);
        self.file.env_pwd_is_host_cwd = true;
        Ok(())
    }

    fn exe_name_flag(&mut self, line: &Line, directive: &Directive) -> Result<(), Problem> {
        let pos = self.flag(line, directive, self.exe_name_flag_at, "EXE_NAME")?;
        self.exe_name_flag_at = Some(pos);
        self.file.env_exe_name_is_host_exe_name = true;
        Ok(())
    }

    /// Checks a flag that sets `key` at launch: no arguments, once, no `ENV` of `key`.
    fn flag(
        &self,
        line: &Line,
        directive: &Directive,
        seen: Option<Pos>,
        key: &str,
    ) -> Result<Pos, Problem> {
        directive.no_arguments()?;
        if let Some(first) = seen {
            return Err(directive.problem(format!(
                "a second {} (the first is at {first})",
                directive.name
            )));
        }
        if let Some(at) = self.env_keys_at.get(key) {
            let message = format!(
                "{} sets {key}, which ENV already sets (at {at})",
                directive.name
            );
            return Err(directive.problem(message));
        }
        Ok(line.pos(directive.keyword_at))
    }

    fn args(&mut self, directive: &Directive) -> Result<(), Problem> {
        for (at, arg) in directive.string_array(r#"ARGS ["--verbose", "input.txt"]"#)? {
            check_no_nul(&arg, "an argument").map_err(|problem| problem.shift(at))?;
            self.file.args.push(arg);
        }
        Ok(())
    }

    fn entrypoint(&mut self, line: &Line, directive: &Directive) -> Result<(), Problem> {
        if let Some(first) = self.entrypoint_at {
            return Err(directive.problem(format!("a second ENTRYPOINT (the first is at {first})")));
        }
        let word = directive.one_word("the name of an export", "ENTRYPOINT main")?;
        if word.text.starts_with('[') {
            return Err(Problem::new(
                word.at,
                "ENTRYPOINT takes the name of an export, not a JSON array",
            )
            .hint("ENTRYPOINT main; arguments go in ARGS [...]"));
        }
        let name = word_value(word.text).map_err(|problem| problem.shift(word.at))?;
        if name.is_empty() {
            return Err(Problem::new(
                word.at,
                "ENTRYPOINT needs the name of an export, not an empty one",
            ));
        }
        self.file.entrypoint = Some(name);
        self.entrypoint_at = Some(line.pos(directive.keyword_at));
        Ok(())
    }

    fn limit(&mut self, line: &Line, directive: &Directive) -> Result<(), Problem> {
        let words = directive.words()?;
        if words.is_empty() {
            return Err(directive
                .problem("LIMIT needs NAME=VALUE")
                .hint("LIMIT memory=256M cpu=10s wall=30s output=10M files=64"));
        }
        for word in &words {
            let limit = LimitSpec::parse(word.text)
                .map_err(|err| Problem::new(word.at + err.at, err.problem).hint(err.hint))?;
            let name = limit.name.as_str();
            if let Some(first) = self.limits_at.get(name) {
                return Err(Problem::new(
                    word.at,
                    format!("{name} is limited twice (first at {first})"),
                ));
            }
            self.limits_at.insert(name, line.pos(word.at));
            self.file.limits.set(limit);
        }
        Ok(())
    }

    fn finish(self) -> Result<Hermitfile, ParseError> {
        if self.from_at.is_none() {
            let message = "no FROM: a Hermitfile names its module".to_string();
            let hint = Some("add FROM module.wasm (relative to this file's folder)".to_string());
            return Err(self.error_at(Pos { line: 1, column: 1 }, message, hint));
        }
        Ok(self.file)
    }
}

fn not_implemented(directive: &Directive) -> Problem {
    let keyword = &directive.name;
    let hint = match directive.name.as_str() {
        "NET" => "remove the line: the module gets no network access",
        _ => "remove the line: modules can't be linked together yet",
    };
    directive
        .problem(format!("{keyword} is recognised but not implemented yet"))
        .hint(hint)
}

fn unknown_directive(directive: &Directive) -> Problem {
    let specific = match directive.name.as_str() {
        "CMD" => "arguments go in ARGS [...]; ",
        "VOLUME" | "MOUNT" | "COPY" | "ADD" | "WORKDIR" => {
            "directories are granted with MAP [...]; "
        }
        _ => "",
    };
    let hint = format!("{specific}the known directives are {KNOWN_DIRECTIVES}");
    directive
        .problem(format!("unknown directive {:?}", directive.keyword))
        .hint(hint)
}

// ---------------------------------------------------------------------------------------
// Values

/// A whitespace-separated word (JSON strings within it may hold spaces).
#[derive(Clone, Copy, Debug)]
struct Word<'a> {
    text: &'a str,
    at: usize,
}

/// Splits `text` at whitespace outside double quotes.
fn split_words(text: &str) -> Result<Vec<Word<'_>>, Problem> {
    let mut words = Vec::new();
    let mut chars = text.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut end = text.len();
        let (mut quote, mut escaped) = (None, false);
        while let Some(&(index, c)) = chars.peek() {
            match (quote, c) {
                (Some(_), _) if escaped => escaped = false,
                (Some(_), '\\') => escaped = true,
                (Some(_), '"') => quote = None,
                (None, '"') => quote = Some(index),
                (None, c) if c.is_whitespace() => {
                    end = index;
                    break;
                }
                _ => {}
            }
            chars.next();
        }
        if let Some(at) = quote {
            return Err(Problem::new(at, "unterminated string: no closing \""));
        }
        words.push(Word {
            text: &text[start..end],
            at: start,
        });
    }
    Ok(words)
}

/// A word's value: a JSON string, or the word as it stands (no quotes in it).
fn word_value(word: &str) -> Result<String, Problem> {
    if word.starts_with('"') {
        return serde_json::from_str(word)
            .map_err(|err| json_problem(&err, word, "malformed string"));
    }
    match word.find('"') {
        Some(at) => Err(Problem::new(at, "a quote in the middle of a word")
            .hint(r#"quote the whole value as a JSON string: KEY="a \"quoted\" word""#)),
        None => Ok(word.to_string()),
    }
}

/// `KEY=VALUE` from an `ENV` word.
fn env_pair(word: &str) -> Result<(String, String), Problem> {
    let Some(equals) = word.find('=') else {
        return Err(
            Problem::new(0, format!("expected KEY=VALUE, found {word:?}"))
                .hint("write ENV KEY=VALUE (not the Dockerfile form ENV KEY VALUE)"),
        );
    };
    let key = &word[..equals];
    check_env_key(key)?;
    let value = word_value(&word[equals + 1..]).map_err(|problem| problem.shift(equals + 1))?;
    check_no_nul(&value, "an environment value").map_err(|problem| problem.shift(equals + 1))?;
    Ok((key.to_string(), value))
}

/// Refuses a key that isn't `[A-Za-z_][A-Za-z0-9_]*`.
fn check_env_key(key: &str) -> Result<(), Problem> {
    let mut chars = key.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Ok(());
    }
    Err(Problem::new(
        0,
        format!("{key:?} is not a valid environment variable name"),
    )
    .hint("names are letters, digits and _, and don't start with a digit"))
}

/// WASI passes arguments and the environment as NUL-terminated strings.
fn check_no_nul(value: &str, what: &str) -> Result<(), Problem> {
    match value.contains('\0') {
        true => Err(Problem::new(
            0,
            format!("{what} can't hold a NUL character"),
        )),
        false => Ok(()),
    }
}

/// A JSON array of strings, each with the offset of its opening quote.
fn parse_string_array(text: &str) -> Result<Vec<(usize, String)>, Problem> {
    let start = text.len() - text.trim_start().len();
    if !text[start..].starts_with('[') {
        return Err(Problem::new(start, "expected a JSON array of strings"));
    }
    let entries: Vec<String> = serde_json::from_str(text)
        .map_err(|err| json_problem(&err, text, "malformed JSON array"))?;
    Ok(string_starts(text).into_iter().zip(entries).collect())
}

/// Where the strings of a well-formed JSON array of strings start.
fn string_starts(json: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let (mut in_string, mut escaped) = (false, false);
    for (index, byte) in json.bytes().enumerate() {
        match (in_string, byte) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') => in_string = false,
            (false, b'"') => {
                in_string = true;
                starts.push(index);
            }
            _ => {}
        }
    }
    starts
}

/// A serde_json error in `text` (one line) as a [`Problem`] at its offset.
fn json_problem(err: &serde_json::Error, text: &str, what: &str) -> Problem {
    // serde_json counts columns in bytes; at the end of the input it points past it, and
    // otherwise at the byte it stopped on.
    let at = match err.is_eof() {
        true => text.len(),
        false => err.column().saturating_sub(1),
    };
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full);
    match err.classify() {
        serde_json::error::Category::Data => Problem::new(at, message),
        _ => Problem::new(at, format!("{what}: {message}")),
    }
}

// ---------------------------------------------------------------------------------------
// Paths

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
