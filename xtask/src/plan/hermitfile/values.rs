//! Values: a directive's arguments split into words (JSON strings may hold spaces), a
//! word's value, `KEY=VALUE` environment pairs, and JSON arrays of strings, each with the
//! offset of what a problem points at.

use super::lines::Problem;

/// A whitespace-separated word (JSON strings within it may hold spaces).
#[derive(Clone, Copy, Debug)]
pub(super) struct Word<'a> {
    pub(super) text: &'a str,
    pub(super) at: usize,
}

/// Splits `text` at whitespace outside double quotes.
pub(super) fn split_words(text: &str) -> Result<Vec<Word<'_>>, Problem> {
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
pub(super) fn word_value(word: &str) -> Result<String, Problem> {
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
pub(super) fn env_pair(word: &str) -> Result<(String, String), Problem> {
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

/// `NAME=PATH` from a `LINK` word: an import module name and a module's path. The names
/// the guest provides itself (WASI's, and `wasi` of wasi-threads) can't be taken.
pub(super) fn parse_link(word: &str) -> Result<(String, String), Problem> {
    let hint = "LINK NAME=PATH.wasm: the module's imports from NAME come from PATH";
    let Some(equals) = word.find('=') else {
        return Err(Problem::new(0, format!("expected NAME=PATH, found {word:?}")).hint(hint));
    };
    let (name, path) = (&word[..equals], &word[equals + 1..]);
    if name.is_empty() {
        return Err(Problem::new(0, "LINK needs a name before the =").hint(hint));
    }
    if path.is_empty() {
        return Err(Problem::new(equals + 1, "LINK needs a module path after the =").hint(hint));
    }
    if matches!(name, "wasi_snapshot_preview1" | "wasi") {
        return Err(Problem::new(
            0,
            format!("{name} is the guest's own WASI and can't be linked"),
        )
        .hint("link the module under the name its users import it from"));
    }
    check_no_nul(name, "a link name")?;
    Ok((name.to_string(), path.to_string()))
}

/// Refuses a key that isn't `[A-Za-z_][A-Za-z0-9_]*`.
pub(super) fn check_env_key(key: &str) -> Result<(), Problem> {
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
pub(super) fn check_no_nul(value: &str, what: &str) -> Result<(), Problem> {
    match value.contains('\0') {
        true => Err(Problem::new(
            0,
            format!("{what} can't hold a NUL character"),
        )),
        false => Ok(()),
    }
}

/// A JSON array of strings, each with the offset of its opening quote.
pub(super) fn parse_string_array(text: &str) -> Result<Vec<(usize, String)>, Problem> {
    let start = text.len() - text.trim_start().len();
    if !text[start..].starts_with('[') {
        return Err(Problem::new(start, "expected a JSON array of strings"));
    }
    let entries: Vec<String> = serde_json::from_str(text)
        .map_err(|err| json_problem(&err, text, "malformed JSON array"))?;
    Ok(string_starts(text).into_iter().zip(entries).collect())
}

/// Where the strings of a well-formed JSON array of strings start.
pub(super) fn string_starts(json: &str) -> Vec<usize> {
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
pub(super) fn json_problem(err: &serde_json::Error, text: &str, what: &str) -> Problem {
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
