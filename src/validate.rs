//! Kubernetes naming rules for the coordinates gitseal binds and writes, and the metadata
//! gitseal reserves for itself.

use std::collections::BTreeMap;

/// Label and annotation prefix gitseal reserves for itself (`gitseal.dev/key` marks a key
/// of the ring, `gitseal.dev/adopt` lets the controller take over a Secret): a template
/// may not set it.
pub const RESERVED_PREFIX: &str = "gitseal.dev/";
/// The label by which the controller finds the Secrets it wrote; a template may not set it.
pub const MANAGED_LABEL: &str = "app.kubernetes.io/managed-by";

/// Checks the labels and annotations a SealedSecret's template puts on its Secret: none
/// may be gitseal's own. The same rule for `seal`, `verify` and the controller.
///
/// # Errors
/// A message naming the first reserved label or annotation.
pub fn template_metadata(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Result<(), String> {
    if let Some(label) = labels.keys().find(|l| l.starts_with(RESERVED_PREFIX) || *l == MANAGED_LABEL) {
        return Err(format!("template label {label:?} is reserved for gitseal itself; remove it"));
    }
    if let Some(annotation) = annotations.keys().find(|a| a.starts_with(RESERVED_PREFIX)) {
        return Err(format!("template annotation {annotation:?} is reserved for gitseal itself; remove it"));
    }
    Ok(())
}

/// Checks a data key: `[-._a-zA-Z0-9]+`, at most 253 characters, not `.` or `..`.
///
/// # Errors
/// A message saying which rule the key breaks (the key itself is not secret).
pub fn data_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > 253 {
        return Err("a data key must be 1 to 253 characters long".into());
    }
    if key == "." || key == ".." {
        return Err("a data key may not be '.' or '..'".into());
    }
    if !key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        return Err("a data key may contain only letters, digits, '-', '_' and '.'".into());
    }
    Ok(())
}

/// Checks a namespace: an RFC 1123 DNS label (lower-case alphanumerics and '-', 1–63).
///
/// # Errors
/// A message saying which rule the namespace breaks.
pub fn namespace(ns: &str) -> Result<(), String> {
    if ns.is_empty() || ns.len() > 63 || !dns_label(ns) {
        return Err(format!("{ns:?} is not a valid namespace (lower-case letters, digits and '-', at most 63)"));
    }
    Ok(())
}

/// Checks an object name: an RFC 1123 DNS subdomain (labels joined by '.', at most 253).
///
/// # Errors
/// A message saying which rule the name breaks.
pub fn object_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 253 || !name.split('.').all(dns_label) {
        return Err(format!(
            "{name:?} is not a valid object name (lower-case letters, digits, '-' and '.', at most 253)"
        ));
    }
    Ok(())
}

fn dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_keys() {
        for ok in ["a", "tls.crt", "A_b-c.9", ".dotfile", &"k".repeat(253)] {
            assert!(data_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a b", "a/b", "ä", &"k".repeat(254), "a\nb"] {
            assert!(data_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn templates_may_not_set_gitseal_metadata() {
        let map = |k: &str| BTreeMap::from([(k.to_owned(), "true".to_owned())]);
        let none = BTreeMap::new();
        assert!(template_metadata(&map("app"), &map("team.example.com/owner")).is_ok());
        for (labels, annotations, named) in [
            (map("gitseal.dev/key"), none.clone(), "label \"gitseal.dev/key\""),
            (map(MANAGED_LABEL), none.clone(), "label \"app.kubernetes.io/managed-by\""),
            (none.clone(), map("gitseal.dev/adopt"), "annotation \"gitseal.dev/adopt\""),
            (none.clone(), map("gitseal.dev/anything"), "annotation \"gitseal.dev/anything\""),
        ] {
            let err = template_metadata(&labels, &annotations).unwrap_err();
            assert!(err.contains(named) && err.contains("reserved"), "{err}");
        }
    }

    #[test]
    fn names_and_namespaces() {
        assert!(namespace("kube-system").is_ok());
        assert!(object_name("db.creds-1").is_ok());
        for bad in ["", "-a", "a-", "A", "a_b", "a b", &"n".repeat(64)] {
            assert!(namespace(bad).is_err(), "{bad:?}");
        }
        for bad in ["", "a..b", ".a", "A", "a b"] {
            assert!(object_name(bad).is_err(), "{bad:?}");
        }
        assert!(namespace("a.b").is_err() && object_name("a.b").is_ok());
    }
}
