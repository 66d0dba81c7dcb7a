//! The layers `src/lib.rs` draws, checked against the code by `test_support::layers` (its
//! header says what counts). The file is the same in every chapter from 02 on; only the table in
//! `lib.rs` changes.

use std::path::Path;

#[test]
fn every_use_of_the_crate_follows_the_layer_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let report = test_support::layers::check_crate(root);
    assert!(
        report.problems.is_empty(),
        "{} layering problem(s) in {}:\n  {}\n",
        report.problems.len(),
        env!("CARGO_PKG_NAME"),
        report.problems.join("\n  ")
    );
    // A parser that found nothing would pass any crate; this one has uses to check.
    assert!(report.checked > 0, "found no use of `crate::` in {}", root.join("src").display());
}
