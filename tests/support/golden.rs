//! Golden files under `tests/golden/`: a test's output is compared with the stored one; run the tests with
//! `UPDATE_GOLDEN=1` to (re)write them after an intended change, then review the diff.

use std::path::PathBuf;

pub fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)
}

/// Compares `actual` with `tests/golden/<name>`, or writes it there when `UPDATE_GOLDEN` is set.
pub fn check(name: &str, actual: &str) {
    let file = path(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&file, actual).unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));
        return;
    }
    let expected = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1 to create it)", file.display()));
    if expected == actual {
        return;
    }
    let (line, (want, got)) = expected
        .lines()
        .chain(std::iter::repeat(""))
        .zip(actual.lines().chain(std::iter::repeat("")))
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .unwrap_or((0, ("", "")));
    panic!(
        "{} differs from the output at line {}:\n  golden: {want:?}\n  actual: {got:?}\n(run with UPDATE_GOLDEN=1 to accept the new output)\n--- actual output ---\n{actual}",
        file.display(),
        line + 1
    );
}

/// Every line of a text report fits in 100 columns, but for a word too long to wrap.
pub fn assert_fits_100_columns(text: &str) {
    for l in text.lines().filter(|l| l.chars().count() > 100) {
        assert!(l.split_whitespace().any(|w| w.chars().count() > 50), "line longer than 100 columns: {l:?}");
    }
}
