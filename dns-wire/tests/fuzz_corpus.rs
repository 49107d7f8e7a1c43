//! The `fast_question` fuzz target's corpus replayed: every input must keep
//! the property of `dns_wire::differential` (and never panic).

use std::path::Path;

#[test]
fn fast_question_corpus_agrees_with_the_full_parser() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut checked = 0;
    // The seeds, and any crash file kept where cargo-fuzz left it.
    for dir in [fuzz.join("corpus/fast_question"), fuzz.join("artifacts/fast_question")] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.expect("a corpus directory can be listed").path();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if let Err(e) = dns_wire::differential::check(&bytes) {
                panic!("{}: {e}", path.display());
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 10,
        "fuzz/corpus/fast_question should hold the seed corpus, found {checked} files"
    );
}
