//! Shrinking a script that shows a difference to one that still does, as short as this
//! finds (delta debugging over its lines: drop a chunk, keep the rest if it still differs,
//! with finer chunks until no single line can go).

use anyhow::Result;

/// The shortest sublist of `lines` (in order) for which `differs` still holds that this
/// search finds; `differs(lines)` must hold to begin with.
pub fn minimize(
    mut lines: Vec<String>,
    mut differs: impl FnMut(&[String]) -> Result<bool>,
) -> Result<Vec<String>> {
    let mut chunks = 2usize;
    while lines.len() >= 2 {
        let size = lines.len().div_ceil(chunks);
        let mut shrunk = false;
        for start in (0..lines.len()).step_by(size) {
            let rest: Vec<String> = lines[..start]
                .iter()
                .chain(&lines[(start + size).min(lines.len())..])
                .cloned()
                .collect();
            if !rest.is_empty() && differs(&rest)? {
                lines = rest;
                chunks = (chunks - 1).max(2);
                shrunk = true;
                break;
            }
        }
        if !shrunk {
            if chunks >= lines.len() {
                break;
            }
            chunks = (chunks * 2).min(lines.len());
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lines_that_matter_are_kept_in_order() {
        let lines: Vec<String> = (0..40).map(|n| format!("line {n}")).collect();
        let mut tries = 0;
        let kept = minimize(lines, |lines| {
            tries += 1;
            Ok(lines.iter().any(|l| l == "line 7") && lines.iter().any(|l| l == "line 31"))
        })
        .unwrap();
        assert_eq!(kept, ["line 7", "line 31"]);
        assert!(tries < 100, "{tries} tries");
    }
}
