//! Directives: a line split into its keyword and arguments (`Directive`), and the parser
//! that builds a [`Hermitfile`] directive by directive, remembering where each grant was
//! made so that a second one can say where the first is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hermit_wasm_kernel::limit_spec::{LimitSpec, Limits};

use super::lines::{Line, Pos, Problem};
use super::values::{
    check_no_nul, env_pair, parse_link, parse_string_array, split_words, word_value, Word,
};
use super::{parse_map_entry, resolve, Hermitfile, Link, ParseError};

/// The directives, as the unknown-directive hint lists them.
pub(super) const KNOWN_DIRECTIVES: &str =
    "FROM, MAP, ENV, ENV_PWD_IS_HOST_CWD, ENV_EXE_NAME_IS_HOST_EXE_NAME, ARGS, ENTRYPOINT, LIMIT, LINK";

/// A directive split into its keyword and the rest, with byte offsets into the line.
pub(super) struct Directive<'a> {
    /// As written.
    pub(super) keyword: &'a str,
    /// Upper-cased.
    pub(super) name: String,
    pub(super) keyword_at: usize,
    pub(super) rest: &'a str,
    pub(super) rest_at: usize,
}

impl<'a> Directive<'a> {
    pub(super) fn split(text: &'a str) -> Directive<'a> {
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

    pub(super) fn problem(&self, message: impl Into<String>) -> Problem {
        Problem::new(self.keyword_at, message)
    }

    /// The arguments split into words, at offsets into the line.
    pub(super) fn words(&self) -> Result<Vec<Word<'a>>, Problem> {
        let mut words = split_words(self.rest).map_err(|problem| problem.shift(self.rest_at))?;
        words.iter_mut().for_each(|word| word.at += self.rest_at);
        Ok(words)
    }

    /// The one word a directive takes.
    pub(super) fn one_word(&self, what: &str, hint: &str) -> Result<Word<'a>, Problem> {
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
    pub(super) fn string_array(&self, example: &str) -> Result<Vec<(usize, String)>, Problem> {
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
    pub(super) fn no_arguments(&self) -> Result<(), Problem> {
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
pub(super) struct Parser {
    file: Hermitfile,
    base: PathBuf,
    from_at: Option<Pos>,
    entrypoint_at: Option<Pos>,
    pwd_flag_at: Option<Pos>,
    exe_name_flag_at: Option<Pos>,
    guests_at: HashMap<String, Pos>,
    env_keys_at: HashMap<String, Pos>,
    limits_at: HashMap<&'static str, Pos>,
    links_at: HashMap<String, Pos>,
}

impl Parser {
    pub(super) fn new(path: &Path) -> Parser {
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
            links: Vec::new(),
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
            links_at: HashMap::new(),
        }
    }

    pub(super) fn error(&self, line: &Line, problem: Problem) -> ParseError {
        let pos = line.pos(problem.at);
        self.error_at(pos, problem.message, problem.hint)
    }

    pub(super) fn error_at(&self, pos: Pos, message: String, hint: Option<String>) -> ParseError {
        let file = self.file.path.clone();
        ParseError {
            file,
            line: pos.line,
            column: pos.column,
            message,
            hint,
        }
    }

    pub(super) fn directive(&mut self, line: &Line) -> Result<(), Problem> {
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
            "LINK" => self.link(line, &directive),
            "NET" => Err(not_implemented(&directive)),
            _ => Err(unknown_directive(&directive)),
        }
    }

    pub(super) fn from(&mut self, line: &Line, directive: &Directive) -> Result<(), Problem> {
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

    pub(super) fn map(&mut self, line: &Line, directive: &Directive) -> Result<(), Problem> {
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

    pub(super) fn env(&mut self, line: &Line, directive: &Directive) -> Result<(), Problem> {
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
    pub(super) fn check_flag_conflicts(&self, key: &str) -> Result<(), Problem> {
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

    pub(super) fn pwd_flag(&mut self, line: &Line, directive: &Directive) -> Result<(), Problem> {
        let pos = self.flag(line, directive, self.pwd_flag_at, "PWD")?;
        self.pwd_flag_at = Some(pos);
        self.file.env_pwd_is_host_cwd = true;
        Ok(())
    }

    pub(super) fn exe_name_flag(
        &mut self,
        line: &Line,
        directive: &Directive,
    ) -> Result<(), Problem> {
        let pos = self.flag(line, directive, self.exe_name_flag_at, "EXE_NAME")?;
        self.exe_name_flag_at = Some(pos);
        self.file.env_exe_name_is_host_exe_name = true;
        Ok(())
    }

    /// Checks a flag that sets `key` at launch: no arguments, once, no `ENV` of `key`.
    pub(super) fn flag(
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

    pub(super) fn args(&mut self, directive: &Directive) -> Result<(), Problem> {
        for (at, arg) in directive.string_array(r#"ARGS ["--verbose", "input.txt"]"#)? {
            check_no_nul(&arg, "an argument").map_err(|problem| problem.shift(at))?;
            self.file.args.push(arg);
        }
        Ok(())
    }

    pub(super) fn entrypoint(&mut self, line: &Line, directive: &Directive) -> Result<(), Problem> {
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

    pub(super) fn link(&mut self, line: &Line, directive: &Directive) -> Result<(), Problem> {
        let hint = "LINK NAME=PATH.wasm: the module's imports from NAME come from PATH";
        let word = directive.one_word("NAME=PATH", hint)?;
        let text = word_value(word.text).map_err(|problem| problem.shift(word.at))?;
        let (name, path) = parse_link(&text).map_err(|problem| problem.shift(word.at))?;
        if let Some(first) = self.links_at.get(&name) {
            return Err(Problem::new(
                word.at,
                format!("{name} is linked twice (first at {first})"),
            ));
        }
        self.links_at
            .insert(name.clone(), line.pos(directive.keyword_at));
        self.file.links.push(Link {
            name,
            path: resolve(&self.base, &path),
        });
        Ok(())
    }

    pub(super) fn limit(&mut self, line: &Line, directive: &Directive) -> Result<(), Problem> {
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

    pub(super) fn finish(self) -> Result<Hermitfile, ParseError> {
        if self.from_at.is_none() {
            let message = "no FROM: a Hermitfile names its module".to_string();
            let hint = Some("add FROM module.wasm (relative to this file's folder)".to_string());
            return Err(self.error_at(Pos { line: 1, column: 1 }, message, hint));
        }
        Ok(self.file)
    }
}

pub(super) fn not_implemented(directive: &Directive) -> Problem {
    let keyword = &directive.name;
    directive
        .problem(format!("{keyword} is recognised but not implemented yet"))
        .hint("remove the line: the module gets no network access")
}

pub(super) fn unknown_directive(directive: &Directive) -> Problem {
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
