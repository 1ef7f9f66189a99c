//! docs/SECURITY.md promises that every guarantee names the test that proves it. This
//! holds the document to that: each `path.rs::test` it names must be a test function in
//! that file (`path.rs::tests` a test module there), so a test renamed, moved or deleted
//! fails here rather than leaving a promise with nothing behind it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by unwrapping

use std::path::Path;

/// Each `` `file.rs::name` `` (or `file.rs::tests::name`) the document names.
fn named_tests(doc: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for span in doc.split('`').skip(1).step_by(2) {
        let Some((file, name)) = span.split_once(".rs::") else { continue };
        found.push((format!("{file}.rs"), name.to_owned()));
    }
    found
}

/// Whether `source` defines `name`: a function marked as a test (`#[test]`, or an async
/// runtime's `#[tokio::test]`, among the attributes and comments right above it), or a
/// `tests` module.
fn defines(source: &str, name: &str) -> bool {
    let name = name.strip_prefix("tests::").unwrap_or(name);
    if name == "tests" {
        return source.contains("mod tests");
    }
    let lines: Vec<&str> = source.lines().map(str::trim_start).collect();
    lines.iter().enumerate().any(|(i, line)| {
        let defined = ["fn ", "async fn "]
            .iter()
            .any(|f| [format!("{f}{name}("), format!("{f}{name}<")].iter().any(|d| line.starts_with(d)));
        let marked = lines[..i]
            .iter()
            .rev()
            .take_while(|above| above.starts_with("#[") || above.starts_with("//"))
            .any(|attribute| attribute.starts_with("#[") && attribute.contains("test"));
        defined && marked
    })
}

#[test]
fn every_test_security_md_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/SECURITY.md")).unwrap();
    let named = named_tests(&doc);
    assert!(named.len() >= 30, "found only {} test names in docs/SECURITY.md", named.len());
    let missing: Vec<String> = named
        .iter()
        .filter(|(file, name)| std::fs::read_to_string(root.join(file)).map_or(true, |source| !defines(&source, name)))
        .map(|(file, name)| format!("{file}::{name}"))
        .collect();
    assert!(missing.is_empty(), "docs/SECURITY.md names tests that do not exist: {missing:#?}");
}

#[test]
fn a_name_that_is_no_test_is_caught() {
    let source = "#[test]\nfn real() {}\nfn helper() {}\n#[tokio::test]\n#[ignore]\n/// doc\nasync fn later() {}\n#[cfg(test)]\nmod tests {}\n";
    assert!(defines(source, "real"));
    assert!(defines(source, "later"));
    assert!(defines(source, "tests"));
    assert!(!defines(source, "helper"), "a function not marked as a test");
    assert!(!defines(source, "gone"));
    assert_eq!(
        named_tests("a `x/y.rs::t` and `z.rs::tests::u`, not `plain` nor `a::b`"),
        [("x/y.rs".to_owned(), "t".to_owned()), ("z.rs".to_owned(), "tests::u".to_owned())]
    );
}
