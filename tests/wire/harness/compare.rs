//! Comparing dig responses: sections as sets, and failure text that shows both sides.

use std::collections::BTreeSet;

use super::Record;

/// Records present on one side only, as sets (order within a section is free).
pub fn compare_set(section: &str, expected: &[Record], got: &[Record], problems: &mut Vec<String>) {
    let e: BTreeSet<&Record> = expected.iter().collect();
    let g: BTreeSet<&Record> = got.iter().collect();
    for r in e.difference(&g) {
        problems.push(format!("{section}: missing from ours: {r}"));
    }
    for r in g.difference(&e) {
        problems.push(format!("{section}: only in ours: {r}"));
    }
    if got.len() != g.len() {
        problems.push(format!(
            "{section}: ours repeats a record ({} records, {} distinct)",
            got.len(),
            g.len()
        ));
    }
}

/// Lines of dig output shown per server in a failure message.
const SHOWN_LINES: usize = 24;

/// dig's output, indented, without blank lines, cut after [`SHOWN_LINES`].
pub fn indent(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut shown: Vec<String> = lines.iter().take(SHOWN_LINES).map(|l| format!("    | {l}")).collect();
    if lines.len() > SHOWN_LINES {
        shown.push(format!("    | ... {} more lines", lines.len() - SHOWN_LINES));
    }
    shown.join("\n")
}
