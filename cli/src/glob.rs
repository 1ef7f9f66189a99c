//! The one path-pattern syntax of gitseal's files (`.gitseal.yaml` rules' `path`,
//! `.gitsealignore`, `verify --exclude`), read as .gitignore reads its patterns.

use anyhow::{Result, bail};

/// A glob as an anchored regex: `**` any path, `*` and `?` within one path segment; a
/// glob with no `/` but a trailing one (`vendor/`, `*.yaml`) matches a name in any
/// directory, one with a `/` before its end is relative to its base; a match on a
/// directory covers everything below it.
///
/// # Errors
/// When the glob reads as a regular expression (`envs/prod/.*`, `^…$`, `(a|b)`): written
/// for the other syntax, it would match nothing, silently.
pub fn regex(glob: &str) -> Result<regex::Regex> {
    if glob.contains(".*") || glob.contains(['^', '$', '\\', '(', ')', '|', '+', '{', '}']) {
        bail!(
            "{glob:?} reads as a regular expression, but this is a glob (`**` any depth, `*` within a directory, e.g. envs/prod/**)"
        );
    }
    let glob = glob.strip_suffix('/').unwrap_or(glob);
    let mut out = String::from(if glob.contains('/') { "^" } else { "^(?:.*/)?" });
    let mut chars = glob.trim_start_matches('/').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(".*");
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push_str("(?:/.*)?$");
    Ok(regex::Regex::new(&out)?)
}

#[cfg(test)]
mod tests {
    use super::regex;

    #[test]
    fn globs_match_as_gitignore_patterns_do() {
        let cases = [
            ("envs/prod/**", "envs/prod/db.yaml", true),
            ("envs/prod/**", "envs/prod/a/b.yaml", true),
            ("envs/prod/**", "envs/production/db.yaml", false),
            ("envs/prod/", "envs/prod/db.yaml", true),
            ("envs/prod/*", "envs/prod/db.yaml", true),
            ("envs/prod", "envs/prod/db.yaml", true),
            ("vendor/", "third/vendor/x/y.yaml", true),
            ("*.yaml", "a/b/c.yaml", true),
            ("*.yaml", "a/b/c.json", false),
            ("/top.yaml", "top.yaml", true),
            ("/top.yaml", "a/top.yaml", false),
        ];
        for (glob, path, matched) in cases {
            assert_eq!(regex(glob).unwrap().is_match(path), matched, "{glob} on {path}");
        }
        for written_as_regex in ["envs/prod/.*", "^envs/", "(a|b)/x", "a+"] {
            assert!(regex(written_as_regex).is_err(), "{written_as_regex}");
        }
    }
}
