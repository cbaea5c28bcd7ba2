//! A test only: reading the repository's files, and the check every generated reference
//! shares. A file in the repository
//! made from a declaration (docs/configuration.md from the config schema,
//! docs/metrics.md from the metrics catalog) must equal what the declaration makes now;
//! `UPDATE_DOCS=1` rewrites it first, for a deliberate change.

use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A file of the repository, by its path from the root.
pub fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Fails unless `rel` holds `want`, naming the first differing line and `source`, the
/// declaration it is generated from; writes `want` to it first under `UPDATE_DOCS`.
pub fn holds(rel: &str, want: &str, source: &str) {
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(Path::new(ROOT).join(rel), want)
            .unwrap_or_else(|e| panic!("writing {rel}: {e}"));
    }
    let have = read(rel);
    assert!(
        have == want,
        "{rel} differs from {source} (first at line {}); run \
         `UPDATE_DOCS=1 cargo test --lib docs` and commit the result",
        have.lines()
            .zip(want.lines())
            .position(|(h, w)| h != w)
            .unwrap_or_else(|| have.lines().count().min(want.lines().count()))
            + 1
    );
}
