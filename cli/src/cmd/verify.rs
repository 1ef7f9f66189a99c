//! `gitseal verify`: the CI check. Walks files, checks every SealedSecret's form and
//! flags every committed plaintext Secret, printing names and keys, never values; then
//! follows each kustomization to the SealedSecrets it renames against their scope.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use gitseal::KeyId;
use gitseal::manifest::{Document, display_name, objects, parse_documents};
use gitseal::template_policy::TemplatePolicy;
use gitseal::value_spans::ValueSpans;
use gitseal::verify::{
    Known, Problem, Remedy, Renamed, check_applied_as, check_plain, check_sealed, check_template_policy,
};
use serde::Serialize;

use crate::cli::Report;
use crate::io;
use crate::kustomize::{self, Reached};
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
pub fn verify(
    paths: &[PathBuf],
    recipients_files: &[PathBuf],
    exclude: &[String],
    allow_empty: bool,
    report: Report,
) -> Result<bool> {
    let mut rules = PerFile::new(recipients_files)?;
    let mut files = Vec::new();
    for path in paths {
        let ignore = Ignore::new(exclude, path)?;
        let mut found = Vec::new();
        io::collect_files(path, &mut found, &kustomize::is_kustomization)
            .with_context(|| format!("cannot read {}", path.display()))?;
        files.extend(found.into_iter().filter(|f| !ignore.skips(f)));
    }
    let files = without_chart_templates(files);
    let mut summary = Summary::default();
    if files.is_empty() && !allow_empty {
        let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        summary.problems.push(Finding::of_file(
            paths.join(", "),
            "no file to check: no .yaml, .yml, .json or kustomization file there, or every one \
             excluded (--exclude, .gitsealignore); pass --allow-empty if that is expected"
                .into(),
        ));
    }
    for file in &files {
        summary.files += 1;
        let rule = rules.get(file)?;
        let ids: Vec<KeyId> = rule.map(Rule::ids).unwrap_or_default();
        let known = rule.map(|r| Known {
            ids: &ids,
            exact: r.exact,
            source: &r.source,
            namespace: r.namespace.as_deref(),
            names: &r.names,
        });
        let sealed_before = summary.sealed_secrets;
        check_file(file, known.as_ref(), &mut summary);
        // Rules that miss a file turn its checking off: a SealedSecret under a
        // configuration none of whose rules matches it is held to nothing.
        if known.is_none()
            && summary.sealed_secrets > sealed_before
            && let Some(config) = rules.config_missing(file)?
        {
            summary.problems.push(Finding::of_file(
                file.display().to_string(),
                format!(
                    "no rule of {config} matches this file, so its values are held to no key; add a rule whose path (a glob, e.g. dir/**) matches it"
                ),
            ));
        }
    }
    // A rule that matches no file is a typo or a pattern for another syntax.
    let walked: Vec<PathBuf> =
        paths.iter().filter(|p| p.is_dir()).filter_map(|p| std::fs::canonicalize(p).ok()).collect();
    for (config, rule) in rules.unused_rules(&walked) {
        summary.problems.push(Finding::of_file(
            config,
            format!("{rule} matches no file checked; a typo, or a regex in path (a glob: `**` any depth, `*` within a directory; pathRegex takes a regex)?"),
        ));
    }
    check_kustomizations(&files, &mut summary);
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
    /// A finding about a file (or a configuration) as a whole, no object or key in it.
    fn of_file(file: String, message: String) -> Finding {
        Finding { file, document: None, item: None, object: None, key: None, message }
    }

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
        Err(e) => return summary.problems.push(Finding::of_file(label.clone(), format!("{e:#}"))),
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
        Err(e) => return summary.problems.push(Finding::of_file(label.clone(), format!("cannot check: {e}"))),
    };
    if kustomize::is_kustomization(file) {
        let (problems, warnings) = kustomize::generator_findings(&text, &io::dir_of(file));
        for problem in problems {
            summary.problems.push(Finding::of_file(label.clone(), problem));
        }
        for warning in warnings {
            summary.warnings.push(Finding::of_file(label.clone(), warning));
        }
    }
    // The controller's default template policy: its operator may refuse more, never less.
    let policy = TemplatePolicy::default();
    // Where each object's apiVersion stands, read only when a SealedSecret needs it.
    let spans = std::cell::OnceCell::new();
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
                let spans = spans.get_or_init(|| ValueSpans::parse(&text));
                let api = spans.as_ref().and_then(|s| s.api_version_text(located.document, located.item));
                if let Some(older) = api.filter(|v| gitseal::crds::OLDER_API_VERSIONS.contains(v)) {
                    let message = format!(
                        "{older} is deprecated (still served and read); `gitseal convert {label}` rewrites it as {}",
                        gitseal::crds::API_VERSION
                    );
                    summary.warnings.push(finding(document, item, object.clone(), None, message));
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

/// Each kustomization checked, followed to the SealedSecrets it reaches: one applied
/// under a name or namespace its values' scope binds otherwise is a problem of the
/// kustomization, reported by the innermost checked kustomization that applies it so.
fn check_kustomizations(files: &[PathBuf], summary: &mut Summary) {
    let kustomizations: Vec<&PathBuf> = files.iter().filter(|f| kustomize::is_kustomization(f)).collect();
    let checked: HashSet<PathBuf> = kustomizations.iter().filter_map(|f| std::fs::canonicalize(f).ok()).collect();
    let mut walker = kustomize::Walker::new(&checked);
    for file in kustomizations {
        let label = file.display().to_string();
        let problem = |message| Finding::of_file(label.clone(), message);
        let here = std::fs::canonicalize(file).map(|f| walker.shown(&f)).unwrap_or_default();
        let reached = match walker.render(file) {
            Ok(reached) => reached,
            Err(stopped) if stopped.file == here => {
                summary.problems.push(problem(stopped.message));
                continue;
            }
            Err(stopped) => {
                summary.problems.push(problem(format!("{}: {}", stopped.file, stopped.message)));
                continue;
            }
        };
        let mut said = HashSet::new();
        for r in reached.iter().filter(|r| !r.renamed_by.is_empty() && !r.seen_inside) {
            let Some(renamed) = check_applied_as(&r.sealed, r.namespace.as_deref(), r.name.as_deref()) else {
                continue;
            };
            let message = worded_rename(r, &renamed, &here);
            if said.insert(message.clone()) {
                summary.problems.push(problem(message));
            }
        }
    }
}

/// A renamed SealedSecret in the command line's words: which object, where it is applied
/// and by what, what its values are bound to, and the two fixes.
fn worded_rename(r: &Reached, renamed: &Renamed, here: &str) -> String {
    let meta = &r.sealed.metadata;
    let object = display_name(meta.namespace.as_deref(), meta.name.as_deref()).unwrap_or_default();
    let at = match r.item {
        Some(item) => format!("document {}, item {item}", r.document),
        None => format!("document {}", r.document),
    };
    let (ns, name) = (r.namespace.as_deref().unwrap_or_default(), r.name.as_deref().unwrap_or_default());
    // Only the renames that matter to the scope: a prefix means nothing to a namespace-wide value.
    let matters = |field: &str| if field == "namespace" { renamed.moved.namespace } else { renamed.moved.name };
    let by: Vec<String> = r
        .renamed_by
        .iter()
        .filter(|x| matters(x.field))
        .map(|x| match x.by == here {
            true => format!("its {} {:?}", x.field, x.value),
            false => format!("{} {:?} in {}", x.field, x.value, x.by),
        })
        .collect();
    let keys: Vec<String> = renamed.keys.iter().map(|k| format!("{k:?}")).collect();
    let keys = format!("{} {}", if keys.len() == 1 { "key" } else { "keys" }, keys.join(", "));
    let fix = if renamed.moved.name {
        let wider = if renamed.moved.namespace {
            "cluster-wide (`gitseal seal --scope cluster-wide`: it binds no namespace or name)"
        } else {
            "namespace-wide (`gitseal seal --scope namespace-wide`: it binds the namespace only, which a namePrefix or nameSuffix leaves alone)"
        };
        format!(
            "seal it {wider}, or seal it under the name it is applied with: a Secret named {name} in namespace {ns} (`gitseal create {name} -n {ns} --from-file KEY=FILE`), in a kustomization that does not rename it"
        )
    } else {
        format!(
            "seal it for namespace {ns} (a Secret in that namespace, `gitseal seal -n {ns}`), or seal it cluster-wide (`gitseal seal --scope cluster-wide`: it binds no namespace)"
        )
    };
    format!(
        "applies SealedSecret {object} ({}, {at}) as {ns}/{name} ({}), but its {} values ({keys}) are sealed for {}: they will never unseal there; fix: {fix}",
        r.file,
        by.join(", "),
        renamed.sealed_for.scope(),
        renamed.sealed_for.place(),
    )
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
            patterns.push((root.clone(), crate::glob::regex(glob).with_context(|| format!("--exclude {glob:?}"))?));
        }
        let dirs = crate::repository::config_dirs(&root);
        if let Some(file) = dirs.iter().map(|d| d.join(IGNORE_FILE)).find(|f| f.is_file()) {
            let dir = io::dir_of(&file);
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                patterns.push((
                    dir.clone(),
                    crate::glob::regex(line).with_context(|| format!("{}: {line:?}", file.display()))?,
                ));
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

/// The files without those in a Helm chart's `templates/` (a directory beside a
/// Chart.yaml): Go templates are not manifests until rendered, and a template that happens
/// to parse would be judged on `{{ … }}` text. Each chart's skipped templates get one note;
/// its values.yaml and other files are checked as any file.
fn without_chart_templates(files: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut skipped: std::collections::BTreeMap<PathBuf, usize> = std::collections::BTreeMap::new();
    let kept = files
        .into_iter()
        .filter(|file| {
            let chart = file.ancestors().skip(1).find(|dir| {
                dir.file_name().is_some_and(|n| n == "templates")
                    && dir.parent().is_some_and(|chart| chart.join("Chart.yaml").is_file())
            });
            match chart {
                Some(templates) => {
                    *skipped.entry(templates.to_path_buf()).or_default() += 1;
                    false
                }
                None => true,
            }
        })
        .collect();
    for (templates, n) in skipped {
        let chart = templates.parent().map(|c| c.display().to_string()).unwrap_or_default();
        eprintln!(
            "gitseal: note: {}: {n} Helm template(s) skipped, not manifests until rendered (check what they render: helm template {chart} > rendered.yaml && gitseal verify rendered.yaml)",
            templates.display()
        );
    }
    kept
}

/// Name of the file listing globs `verify` skips.
const IGNORE_FILE: &str = ".gitsealignore";
