//! Lines and positions: the Hermitfile's text as directive lines (physical lines joined at
//! a trailing `\`, comment and blank lines left out), where each byte of one stands in the
//! file, and a `Problem` at a byte offset that becomes a line and column there.

use std::fmt;

/// What went wrong, at a byte offset into the text at hand (a line, an entry, a word).
#[derive(Debug)]
pub(super) struct Problem {
    pub(super) at: usize,
    pub(super) message: String,
    pub(super) hint: Option<String>,
}

impl Problem {
    pub(super) fn new(at: usize, message: impl Into<String>) -> Problem {
        Problem {
            at,
            message: message.into(),
            hint: None,
        }
    }

    pub(super) fn hint(mut self, hint: impl Into<String>) -> Problem {
        self.hint = Some(hint.into());
        self
    }

    /// The same problem in a text where the one at hand starts at `offset`.
    pub(super) fn shift(mut self, offset: usize) -> Problem {
        self.at += offset;
        self
    }
}

/// A line and column, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pos {
    pub(super) line: usize,
    pub(super) column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}:{}", self.line, self.column)
    }
}

/// A directive's line: physical lines joined at their trailing `\`.
pub(super) struct Line {
    pub(super) text: String,
    pub(super) pieces: Vec<Piece>,
}

/// A physical line within a [`Line`]: it starts at byte `start` of the joined text.
pub(super) struct Piece {
    pub(super) start: usize,
    pub(super) line: usize,
}

impl Line {
    /// Where byte `offset` of the joined text stands in the file.
    pub(super) fn pos(&self, offset: usize) -> Pos {
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
pub(super) fn logical_lines(text: &str) -> Vec<Line> {
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
