//! `gitseal verify`: the CI check. Walks files, checks every SealedSecret's form and
//! flags every committed plaintext Secret, printing names and keys, never values.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use gitseal::KeyId;
use gitseal::manifest::{Document, display_name, objects, parse_documents};
use gitseal::template_policy::TemplatePolicy;
use gitseal::verify::{Known, Problem, Remedy, check_plain, check_sealed, check_template_policy};
use serde::Serialize;

use crate::cli::Report;
use crate::io;
use crate::repository::{PerFile, Rule};

#[derive(Serialize)]
struct Finding {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<usize>,
    /// 1-based item of a List document.
    #[serde(skip_serializing_if = "Option::is_none")]
    item: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    object: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    message: String,
}

#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    files: usize,
    sealed_secrets: usize,
    problems: Vec<Finding>,
    /// What does not fail the check but will not work in the cluster: templates the
    /// controller's default template policy refuses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<Finding>,
}

/// Returns whether everything checked out.
pub fn verify(paths: &[PathBuf], recipients_files: &[PathBuf], exclude: &[String], report: Report) -> Result<bool> {
    let mut rules = PerFile::new(recipients_files)?;
    let mut files = Vec::new();
    for path in paths {
        let ignore = Ignore::new(exclude, path)?;
        let mut found = Vec::new();
        io::collect_manifests(path, &mut found).with_context(|| format!("cannot read {}", path.display()))?;
        files.extend(found.into_iter().filter(|f| !ignore.skips(f)));
    }
    let mut summary = Summary::default();
    for file in &files {
        summary.files += 1;
        let rule = rules.get(file)?;
        let ids: Vec<KeyId> = rule.map(Rule::ids).unwrap_or_default();
        let known = rule.map(|r| Known { ids: &ids, exact: r.exact, source: &r.source });
        check_file(file, known.as_ref(), &mut summary);
    }
    match report {
        Report::Json => crate::io::outln!("{}", serde_json::to_string_pretty(&summary)?)?,
        Report::Human => {
            let (problem, warning, good) = (crate::io::PROBLEM, crate::io::WARNING, crate::io::GOOD);
            for f in &summary.problems {
                crate::io::outln!("{problem}{}:{problem:#} {}", f.place(), f.message)?;
            }
            for f in &summary.warnings {
                crate::io::outln!("{}: {warning}warning:{warning:#} {}", f.place(), f.message)?;
            }
            let warnings = match summary.warnings.len() {
                0 => String::new(),
                n => format!(", {n} warning(s)"),
            };
            let outcome = if summary.problems.is_empty() { good } else { problem };
            crate::io::outln!(
                "checked {} file(s), {} SealedSecret(s): {outcome}{} problem(s){outcome:#}{warnings}",
                summary.files,
                summary.sealed_secrets,
                summary.problems.len()
            )?;
        }
    }
    Ok(summary.problems.is_empty())
}

impl Finding {
    /// File, document, item, object and key, as far as known.
    fn place(&self) -> String {
        let mut place = self.file.clone();
        if let Some(d) = self.document {
            place.push_str(&format!(": document {d}"));
        }
        if let Some(i) = self.item {
            place.push_str(&format!(", item {i}"));
        }
        if let Some(o) = &self.object {
            place.push_str(&format!(" ({o})"));
        }
        if let Some(k) = &self.key {
            place.push_str(&format!(", key {k:?}"));
        }
        place
    }
}

fn check_file(file: &Path, known: Option<&Known<'_>>, summary: &mut Summary) {
    let label = file.display().to_string();
    let finding =
        |document, item, object, key, message| Finding { file: label.clone(), document, item, object, key, message };
    let text = match io::read_input(&label) {
        Ok(input) => input.text,
        Err(e) => return summary.problems.push(finding(None, None, None, None, format!("{e:#}"))),
    };
    let docs = match parse_documents(&text) {
        Ok(docs) => docs,
        // A template (Helm's `{{ … }}`) is not YAML until rendered: skipped with a note,
        // unless it makes a Secret, which could hold plaintext unseen.
        Err(_) if text.contains("{{") && !text.contains("kind: Secret") => {
            eprintln!("gitseal: note: {label}: a template, not YAML; skipped (check what it renders)");
            return;
        }
        // Other files that do not parse are reported: a Secret hidden in one would
        // otherwise go unseen.
        Err(e) => return summary.problems.push(finding(None, None, None, None, format!("cannot check: {e}"))),
    };
    for problem in kustomize::check(file, &text) {
        summary.problems.push(finding(None, None, None, None, problem));
    }
    // The controller's default template policy: its operator may refuse more, never less.
    let policy = TemplatePolicy::default();
    // Inside Lists too: `kubectl get secret -o yaml` prints several Secrets as one List.
    for located in objects(&docs) {
        let (object, problems) = match located.object {
            Document::Sealed(s) => {
                summary.sealed_secrets += 1;
                let object = display_name(s.metadata.namespace.as_deref(), s.metadata.name.as_deref());
                let (document, item) = (Some(located.document + 1), located.item.map(|i| i + 1));
                for w in check_template_policy(s, &policy) {
                    summary.warnings.push(finding(document, item, object.clone(), w.key, w.message));
                }
                (object, check_sealed(s, known))
            }
            Document::Secret(s) => (s.display_name(), check_plain(s)),
            Document::Incumbent(s) => {
                let meta = |f: &str| s["metadata"][f].as_str();
                let problem = Problem { key: None, message: crate::cmd::migrate::MIGRATE_IT.into(), remedy: None };
                (display_name(meta("namespace"), meta("name")), vec![problem])
            }
            Document::Other { .. } | Document::List { .. } => continue,
        };
        let (document, item) = (Some(located.document + 1), located.item.map(|i| i + 1));
        for p in problems {
            let message = worded(&p);
            summary.problems.push(finding(document, item, object.clone(), p.key, message));
        }
    }
}

/// A problem's message with its remedy in the command line's words.
fn worded(problem: &Problem) -> String {
    let message = &problem.message;
    match problem.remedy {
        Some(Remedy::Reseal) => format!("{message}; re-seal it (gitseal reseal, or seal again)"),
        Some(Remedy::SealAndRotate) => {
            format!("{message}: seal it with `gitseal seal`, delete the plaintext and rotate those values")
        }
        _ => message.clone(),
    }
}

/// The files `verify` leaves out: `--exclude` globs, and those of the nearest
/// `.gitsealignore` beside or above the path walked, up to the repository root (relative
/// to its directory): one above the repository could hide a committed Secret.
struct Ignore {
    patterns: Vec<(PathBuf, regex::Regex)>,
}

impl Ignore {
    fn new(exclude: &[String], walked: &Path) -> Result<Ignore> {
        let dir = if walked.is_dir() { walked.to_path_buf() } else { io::dir_of(walked) };
        let root = std::fs::canonicalize(&dir).with_context(|| format!("cannot read {}", walked.display()))?;
        let mut patterns = Vec::new();
        for glob in exclude {
            patterns.push((root.clone(), glob_regex(glob).with_context(|| format!("--exclude {glob:?}"))?));
        }
        let dirs = crate::repository::config_dirs(&root);
        if let Some(file) = dirs.iter().map(|d| d.join(IGNORE_FILE)).find(|f| f.is_file()) {
            let dir = io::dir_of(&file);
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                patterns
                    .push((dir.clone(), glob_regex(line).with_context(|| format!("{}: {line:?}", file.display()))?));
            }
        }
        Ok(Ignore { patterns })
    }

    fn skips(&self, file: &Path) -> bool {
        let Ok(file) = std::fs::canonicalize(file) else { return false };
        self.patterns.iter().any(|(base, pattern)| {
            file.strip_prefix(base).is_ok_and(|rel| pattern.is_match(&rel.to_string_lossy().replace('\\', "/")))
        })
    }
}

/// Name of the file listing globs `verify` skips.
const IGNORE_FILE: &str = ".gitsealignore";

/// A glob as an anchored regex: `**` any path, `*` and `?` within one path segment; a
/// glob without `/` matches a file name in any directory.
fn glob_regex(glob: &str) -> Result<regex::Regex> {
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

/// kustomize's `secretGenerator` makes Secrets from plaintext in the repository:
/// `literals` in the kustomization itself, `envs` and `files` beside it.
mod kustomize {
    use std::path::Path;

    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Kustomization {
        #[serde(default)]
        secret_generator: Vec<Generator>,
    }

    #[derive(Deserialize)]
    struct Generator {
        #[serde(default)]
        name: String,
        #[serde(default)]
        literals: Vec<serde::de::IgnoredAny>,
        #[serde(default)]
        envs: Vec<String>,
        #[serde(default)]
        files: Vec<String>,
    }

    /// Problems of a kustomization file (`kustomization.yaml`, `.yml`, `Kustomization`);
    /// none for other files. Names keys and files, never values.
    pub fn check(file: &Path, text: &str) -> Vec<String> {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !matches!(name, "kustomization.yaml" | "kustomization.yml" | "Kustomization") {
            return Vec::new();
        }
        let Ok(k) = serde_saphyr::from_str::<Kustomization>(text) else { return Vec::new() };
        let mut out = Vec::new();
        for g in &k.secret_generator {
            if !g.literals.is_empty() {
                out.push(format!(
                    "kustomize secretGenerator {:?} holds {} plaintext literal(s) in this file: seal them with gitseal create and commit the SealedSecret instead",
                    g.name,
                    g.literals.len()
                ));
            }
            for source in g.envs.iter().chain(&g.files) {
                let path = source.rsplit_once('=').map_or(source.as_str(), |(_, p)| p);
                out.push(format!(
                    "kustomize secretGenerator {:?} reads plaintext from {path}, committed beside it: seal it with gitseal seal or create and remove the file",
                    g.name
                ));
            }
        }
        out
    }
}
