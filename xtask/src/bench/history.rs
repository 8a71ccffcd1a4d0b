//! The figures of a `cargo xtask bench` run kept for the next run (`docs/benchmarks.json`),
//! and the section of `docs/benchmarks.md` that sets the last run beside the one before, so
//! that a regression shows. Every figure kept is one where less is better (times, memory,
//! sizes, instruction counts, ratios to a floor).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// How much worse than the previous run a figure must be to be flagged: the emulator's
/// run-to-run spread on a shared machine is a few percent.
const FLAG_ABOVE: f64 = 1.10;

/// A run's figures: `"BOARD: FIGURE (UNIT)"` to its value.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub figures: BTreeMap<String, f64>,
}

impl Figures {
    /// Keeps `value` as `figure` (its name says its unit) of `board`.
    pub fn record(&mut self, board: &str, figure: &str, value: f64) {
        self.figures.insert(format!("{board}: {figure}"), value);
    }

    /// The figures of the previous run, if it left any at `path`.
    pub fn load(path: &Path) -> Result<Option<Figures>> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .with_context(|| format!("reading {} (delete it to start over)", path.display())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes these figures to `path`, keeping those of `previous` this run did not measure
    /// (a run of some boards leaves the others' figures).
    pub fn save(&self, previous: Option<&Figures>, path: &Path) -> Result<()> {
        let mut kept = previous.map(|p| p.figures.clone()).unwrap_or_default();
        kept.extend(
            self.figures
                .iter()
                .map(|(name, value)| (name.clone(), *value)),
        );
        let text = serde_json::to_string_pretty(&Figures { figures: kept })? + "\n";
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }
}

/// The "against the previous run" section: each figure of `last` beside `previous`'s,
/// their ratio, and a flag where the last run is worse by more than 10%.
pub fn section(previous: Option<&Figures>, last: &Figures) -> String {
    let mut text = String::from(
        "\n## Against the previous run\n\nEvery figure above that is kept from run to run \
         (`docs/benchmarks.json`), beside the run before this one; less is better for all of \
         them, and a figure more than 10% worse is flagged **worse**.\n\n",
    );
    let Some(previous) = previous else {
        text.push_str("No previous run: this one is the first with kept figures.\n");
        return text;
    };
    text.push_str("| figure | previous | last | last / previous |\n|---|---|---|---|\n");
    for (name, &value) in &last.figures {
        let (before, ratio) = match previous.figures.get(name) {
            Some(&before) if before > 0.0 => {
                let ratio = value / before;
                let flag = if ratio > FLAG_ABOVE { " **worse**" } else { "" };
                (number(before), format!("{ratio:.2}x{flag}"))
            }
            Some(&before) => (number(before), "-".to_string()),
            None => ("-".to_string(), "new".to_string()),
        };
        text.push_str(&format!(
            "| {name} | {before} | {} | {ratio} |\n",
            number(value)
        ));
    }
    for (name, &before) in &previous.figures {
        if !last.figures.contains_key(name) {
            text.push_str(&format!(
                "| {name} | {} | not measured | - |\n",
                number(before)
            ));
        }
    }
    text
}

/// A figure as the tables print it: whole numbers without decimals.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(pairs: &[(&str, f64)]) -> Figures {
        let mut figures = Figures::default();
        for (name, value) in pairs {
            figures.record("b", name, *value);
        }
        figures
    }

    #[test]
    fn a_figure_worse_by_more_than_ten_percent_is_flagged() {
        let previous = figures(&[("boot (ms)", 500.0), ("memory (MiB)", 72.0)]);
        let last = figures(&[
            ("boot (ms)", 560.0),
            ("memory (MiB)", 75.0),
            ("new (ms)", 1.5),
        ]);
        let text = section(Some(&previous), &last);
        assert!(
            text.contains("| b: boot (ms) | 500 | 560 | 1.12x **worse** |"),
            "{text}"
        );
        assert!(
            text.contains("| b: memory (MiB) | 72 | 75 | 1.04x |"),
            "{text}"
        );
        assert!(text.contains("| b: new (ms) | - | 1.50 | new |"), "{text}");
        let mut other = figures(&[]);
        other.record("c", "boot (ms)", 300.0);
        let text = section(Some(&other), &last);
        assert!(
            text.contains("| c: boot (ms) | 300 | not measured | - |"),
            "{text}"
        );
    }

    #[test]
    fn the_first_run_says_so_and_figures_survive_a_round_trip() {
        let last = figures(&[("boot (ms)", 500.0)]);
        assert!(section(None, &last).contains("the first"));
        let dir = std::env::temp_dir().join(format!("bench-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("benchmarks.json");
        assert_eq!(Figures::load(&path).unwrap(), None);
        last.save(None, &path).unwrap();
        assert_eq!(Figures::load(&path).unwrap(), Some(last));
        // A run of one board keeps the other boards' figures.
        let mut other = Figures::default();
        other.record("c", "boot (ms)", 300.0);
        let previous = Figures::load(&path).unwrap();
        other.save(previous.as_ref(), &path).unwrap();
        let kept = Figures::load(&path).unwrap().unwrap();
        assert_eq!(kept.figures.len(), 2);
        assert_eq!(kept.figures["b: boot (ms)"], 500.0);
        std::fs::write(&path, "not json").unwrap();
        let err = format!("{:#}", Figures::load(&path).unwrap_err());
        assert!(err.contains("delete it to start over"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
