//! What the repository says about a file: the recipients to seal it to, and the default
//! scope and namespace. One resolver for every command.
//!
//! ```text
//!  -r / -R, --scope, -n ───────────────────────────────────────▶ flags win
//!  else, from the file's directory up to the repository root, the nearest of:
//!    .gitseal.yaml        rules in order, `path` a glob (or `pathRegex` a regex) on the
//!                         path relative to it;
//!                         first match: recipients (+ recipientsFile), scope, namespace
//!                         (no rule matches: that directory's .gitseal-recipients, if any)
//!    .gitseal-recipients  the recipients
//! ```
//!
//! The repository root is the nearest directory holding `.git` (a directory, or the file a
//! worktree or submodule has): as git does for its own files, nothing above it is read,
//! since a shared parent (a CI workspace, /tmp) may be anyone's. Outside a repository
//! only the file's own directory is read, and a note says so ([`config_dirs`]).
//!
//! `seal -w`, `create -w`, `set`, `unset`, `verify`, `reseal` and `updatekeys` ask for
//! the file they write or check, so a file under `envs/staging/` gets its own settings
//! wherever the command runs (stdin / stdout: the current directory). `keys export` takes
//! flags only: the repository's recipients name the cluster itself, not the administrators
//! a backup is for.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

use age::x25519;
use anyhow::{Context, Result, bail};
use gitseal::{Recipients, Scope};
use serde::Deserialize;

use crate::cli::RecipientArgs;

/// Name of the repository file holding the recipients to seal to.
pub const REPO_RECIPIENTS: &str = ".gitseal-recipients";
/// Name of the repository configuration file.
pub const CONFIG_FILE: &str = ".gitseal.yaml";

/// The directories whose repository files apply to a file in `dir` (canonical), nearest
/// first: `dir` and its parents up to the repository root, the first that holds `.git`.
/// Outside a repository, `dir` alone, with a note on stderr (once per run). `verify`'s
/// `.gitsealignore` and the recipients and rules of every command come from these only.
pub fn config_dirs(dir: &Path) -> Vec<&Path> {
    let mut dirs = Vec::new();
    for at in dir.ancestors() {
        dirs.push(at);
        // A worktree or submodule has a `.git` file; a symlink counts too, as for git.
        if fs::symlink_metadata(at.join(".git")).is_ok() {
            return dirs;
        }
    }
    note_outside_repository(dir);
    vec![dir]
}

/// Says once per run that the directories above were not read.
fn note_outside_repository(dir: &Path) {
    static NOTED: AtomicBool = AtomicBool::new(false);
    if !NOTED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "gitseal: note: {} is not inside a Git repository (no .git in it or above): only its own {CONFIG_FILE}, {REPO_RECIPIENTS} and .gitsealignore are read, none from the directories above",
            dir.display()
        );
    }
}

/// The configuration file's contents.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    rules: Vec<RuleSpec>,
}

/// One rule as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuleSpec {
    /// Glob on the path relative to the configuration file's directory ([`crate::glob`]).
    path: Option<String>,
    /// Or a regex on that path, matched whole.
    path_regex: Option<String>,
    #[serde(default)]
    recipients: Vec<String>,
    /// Relative to the configuration file's directory.
    recipients_file: Option<PathBuf>,
    scope: Option<String>,
    namespace: Option<String>,
    /// What to call this rule's recipients that carry no name of their own ("prod").
    name: Option<String>,
}

/// What the repository says for one file.
#[derive(Debug)]
pub struct Rule {
    /// Where it comes from, for messages: a recipients file, or a configuration rule.
    pub source: String,
    /// The recipients to seal to.
    pub recipients: Vec<x25519::Recipient>,
    /// The names its recipients carry (their comments, else the rule's `name`).
    pub names: Vec<(gitseal::KeyId, String)>,
    /// The default scope.
    pub scope: Option<Scope>,
    /// The default namespace.
    pub namespace: Option<String>,
    /// From a `.gitseal.yaml` rule: values must be sealed to every recipient and to no
    /// other key (`verify`). A plain `.gitseal-recipients` asks only for one of them.
    pub exact: bool,
}

/// Recipients as read with their names, split: the recipients, and each named one's key
/// id and name (`default` naming those without one).
fn split_named(
    named: Vec<(x25519::Recipient, Option<String>)>,
    default: Option<&str>,
) -> (Vec<x25519::Recipient>, Vec<(gitseal::KeyId, String)>) {
    let names = named
        .iter()
        .filter_map(|(r, name)| Some((gitseal::KeyId::of(r), name.as_deref().or(default)?.to_owned())))
        .collect();
    (named.into_iter().map(|(r, _)| r).collect(), names)
}

impl Rule {
    /// The name the repository gives the key `id` (`prod`, `break-glass`), if any.
    pub fn name_of(&self, id: &str) -> Option<&str> {
        gitseal::key_name(&self.names, id)
    }

    /// The key ids of its recipients.
    pub fn ids(&self) -> Vec<gitseal::KeyId> {
        self.recipients.iter().map(gitseal::KeyId::of).collect()
    }
}

/// Reads an age recipients file (`-R`, `.gitseal-recipients`): one `age1…` per line,
/// `#` comments.
///
/// # Errors
/// When it cannot be read, or a line is not an X25519 recipient (named by number).
pub fn read_file(path: &Path) -> Result<Vec<x25519::Recipient>> {
    Ok(read_named(path)?.into_iter().map(|(r, _)| r).collect())
}

/// As [`read_file`], with each recipient's name (its comment; see
/// [`Recipients::parse_named_file`]).
///
/// # Errors
/// As [`read_file`].
pub fn read_named(path: &Path) -> Result<Vec<(x25519::Recipient, Option<String>)>> {
    let text = fs::read_to_string(path).with_context(|| format!("cannot read recipients file {}", path.display()))?;
    Recipients::parse_named_file(&text).map_err(worded).with_context(|| format!("recipients file {}", path.display()))
}

/// A core error about recipients, in the command line's words: a private key given as a
/// recipient is told how to get its public key.
fn worded(e: gitseal::Error) -> anyhow::Error {
    match e {
        gitseal::Error::PrivateKeyAsRecipient { line } => anyhow::anyhow!(
            "recipient {line}: this is a private key, not a recipient: pass its public key (gitseal keygen -y FILE, or age-keygen -y FILE), and keep the private key out of command lines and shell history"
        ),
        other => other.into(),
    }
}

/// The recipients the flags name (`-r`, then each `-R` file), in order; empty without
/// flags.
///
/// # Errors
/// As [`read_file`], or a `-r` that is not an X25519 recipient.
pub fn from_flags(recipients: &[String], files: &[PathBuf]) -> Result<Vec<x25519::Recipient>> {
    let mut list = Recipients::parse_each(recipients.iter().map(String::as_str)).map_err(worded)?;
    for file in files {
        list.extend(read_file(file)?);
    }
    Ok(list)
}

/// Finds what the repository says for files, reading each configuration and recipients
/// file once however many files it governs (a `verify` of a large tree asks for each).
#[derive(Default)]
pub struct Resolver {
    configs: BTreeMap<PathBuf, Rc<Parsed>>,
    recipient_files: BTreeMap<PathBuf, Vec<(x25519::Recipient, Option<String>)>>,
    /// The rules (configuration file, index) that matched a file asked about.
    hits: BTreeSet<(PathBuf, usize)>,
}

/// A configuration file as read: its rules, each with its pattern compiled (or why it
/// cannot be, reported when a file reaches that rule).
struct Parsed {
    label: String,
    rules: Vec<(RuleSpec, Result<regex::Regex, String>)>,
}

impl RuleSpec {
    /// How messages name the rule's pattern: `path "envs/prod/**"`.
    fn pattern(&self) -> String {
        match (&self.path, &self.path_regex) {
            (Some(glob), _) => format!("path {glob:?}"),
            (None, Some(regex)) => format!("pathRegex {regex:?}"),
            (None, None) => "no path".to_owned(),
        }
    }

    fn compile(&self) -> Result<regex::Regex, String> {
        match (&self.path, &self.path_regex) {
            (Some(glob), None) => {
                crate::glob::regex(glob).map_err(|e| format!("{e}; for a regular expression use pathRegex"))
            }
            (None, Some(regex)) => {
                regex::Regex::new(&format!("^(?:{regex})$")).map_err(|e| format!("not a regular expression: {e}"))
            }
            (Some(_), Some(_)) => Err("has both path and pathRegex; keep one".into()),
            (None, None) => Err("has no path (a glob) or pathRegex".into()),
        }
    }
}

impl Resolver {
    /// What the repository says for `path` (a file, which need not exist yet): see the
    /// module docs. `None` when nothing is found up to the repository root.
    ///
    /// # Errors
    /// A configuration or recipients file that cannot be read or parsed, naming it.
    pub fn rule_for(&mut self, path: &Path) -> Result<Option<Rule>> {
        let dir = crate::io::dir_of(path);
        let Ok(dir) = fs::canonicalize(&dir) else { return Ok(None) };
        let file = dir.join(path.file_name().unwrap_or_default());
        for at in config_dirs(&dir) {
            let config = at.join(CONFIG_FILE);
            if config.is_file()
                && let Some(rule) = self.config_rule(&config, at, &file)?
            {
                return Ok(Some(rule));
            }
            let simple = at.join(REPO_RECIPIENTS);
            if simple.is_file() {
                let (recipients, names) = split_named(self.recipients_file(&simple)?, None);
                let source = simple.display().to_string();
                return Ok(Some(Rule { source, recipients, names, scope: None, namespace: None, exact: false }));
            }
        }
        Ok(None)
    }

    /// The first rule of the configuration file `config` (in `dir`) matching `file`.
    fn config_rule(&mut self, config: &Path, dir: &Path, file: &Path) -> Result<Option<Rule>> {
        let parsed = self.config(config)?;
        let relative = file.strip_prefix(dir).unwrap_or(file).to_string_lossy().replace('\\', "/");
        for (i, (spec, pattern)) in parsed.rules.iter().enumerate() {
            let at = format!("{}, rule {} ({})", parsed.label, i + 1, spec.pattern());
            let pattern = pattern.as_ref().map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
            if !pattern.is_match(&relative) {
                continue;
            }
            self.hits.insert((config.to_path_buf(), i));
            let inline = Recipients::parse_each(spec.recipients.iter().map(String::as_str))
                .map_err(worded)
                .context(at.clone())?;
            let mut named: Vec<(x25519::Recipient, Option<String>)> = inline.into_iter().map(|r| (r, None)).collect();
            if let Some(extra) = &spec.recipients_file {
                named.extend(self.recipients_file(&dir.join(extra)).context(at.clone())?);
            }
            let (recipients, names) = split_named(named, spec.name.as_deref());
            let scope =
                match spec.scope.as_deref() {
                    None => None,
                    Some(name) => Some(Scope::from_name(name).with_context(|| {
                        format!("{at}: scope {name:?} is not strict, namespace-wide or cluster-wide")
                    })?),
                };
            if let Some(ns) = &spec.namespace {
                gitseal::validate::namespace(ns).map_err(|m| anyhow::anyhow!("{at}: namespace: {m}"))?;
            }
            return Ok(Some(Rule {
                source: at,
                recipients,
                names,
                scope,
                namespace: spec.namespace.clone(),
                exact: true,
            }));
        }
        Ok(None)
    }

    /// The nearest configuration file with rules that governs `path` when none of them
    /// matches it: what a file falling through its rules is missing (its label).
    ///
    /// # Errors
    /// As [`Resolver::rule_for`].
    pub fn config_missing(&mut self, path: &Path) -> Result<Option<String>> {
        let Ok(dir) = fs::canonicalize(crate::io::dir_of(path)) else { return Ok(None) };
        for at in config_dirs(&dir) {
            let config = at.join(CONFIG_FILE);
            if config.is_file() {
                let parsed = self.config(&config)?;
                if !parsed.rules.is_empty() {
                    let patterns: Vec<String> = parsed.rules.iter().map(|(spec, _)| spec.pattern()).collect();
                    return Ok(Some(format!("{} (rules: {})", parsed.label, patterns.join(", "))));
                }
            }
        }
        Ok(None)
    }

    /// The rules that matched no file asked about, of the configuration files in the
    /// directories `within` (canonical) or below them: there every file a rule could
    /// match was asked about. Each as (configuration file, `rule N (path …)`).
    pub fn unused_rules(&self, within: &[PathBuf]) -> Vec<(String, String)> {
        let mut unused = Vec::new();
        for (config, parsed) in &self.configs {
            let dir = crate::io::dir_of(config);
            if !within.iter().any(|w| dir.starts_with(w)) {
                continue;
            }
            for (i, (spec, _)) in parsed.rules.iter().enumerate() {
                if !self.hits.contains(&(config.clone(), i)) {
                    unused.push((parsed.label.clone(), format!("rule {} ({})", i + 1, spec.pattern())));
                }
            }
        }
        unused
    }

    /// The configuration file `path`, read and parsed once.
    fn config(&mut self, path: &Path) -> Result<Rc<Parsed>> {
        if let Some(parsed) = self.configs.get(path) {
            return Ok(Rc::clone(parsed));
        }
        let label = path.display().to_string();
        let text = fs::read_to_string(path).with_context(|| format!("cannot read {label}"))?;
        let config: Config = serde_saphyr::from_str(&text).map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
        let rules = config
            .rules
            .into_iter()
            .map(|spec| {
                let pattern = spec.compile();
                (spec, pattern)
            })
            .collect();
        let parsed = Rc::new(Parsed { label, rules });
        self.configs.insert(path.to_path_buf(), Rc::clone(&parsed));
        Ok(parsed)
    }

    /// A recipients file, read once.
    fn recipients_file(&mut self, path: &Path) -> Result<Vec<(x25519::Recipient, Option<String>)>> {
        if let Some(list) = self.recipient_files.get(path) {
            return Ok(list.clone());
        }
        let list = read_named(path)?;
        self.recipient_files.insert(path.to_path_buf(), list.clone());
        Ok(list)
    }
}

/// What sealing `path` takes (`None`: stdout, read from the current directory): the
/// recipients (flags, else the repository's), and the repository's default scope and
/// namespace, which the command's own flags override.
pub struct ForSealing {
    pub recipients: Recipients,
    pub scope: Option<Scope>,
    /// The rule's namespace, and the rule.
    pub namespace: Option<crate::cluster::Chosen>,
}

/// See [`ForSealing`].
///
/// # Errors
/// When there are no recipients, saying how to give some; as [`from_flags`] and
/// [`Resolver::rule_for`].
pub fn for_sealing(args: &RecipientArgs, path: Option<&Path>) -> Result<ForSealing> {
    let flags = from_flags(&args.recipients, &args.recipients_files)?;
    Resolver::default().for_sealing(flags, path)
}

impl Resolver {
    /// [`for_sealing`] with the flags' recipients already read (`flags`), for a command
    /// that asks about many files.
    ///
    /// # Errors
    /// As [`for_sealing`].
    pub fn for_sealing(&mut self, flags: Vec<x25519::Recipient>, path: Option<&Path>) -> Result<ForSealing> {
        let rule = self.rule_for(path.unwrap_or(Path::new("./-")))?;
        let (scope, namespace) = rule.as_ref().map_or((None, None), |r| {
            let chosen =
                r.namespace.clone().map(|namespace| crate::cluster::Chosen { namespace, source: r.source.clone() });
            (r.scope, chosen)
        });
        let list = match (flags.is_empty(), rule) {
            (false, _) => flags,
            (true, Some(rule)) if !rule.recipients.is_empty() => rule.recipients,
            (true, Some(rule)) => bail!("{} gives no recipients; add some, or pass -r age1… or -R FILE", rule.source),
            (true, None) => {
                let what = path.map_or_else(|| "the current directory".to_owned(), |p| p.display().to_string());
                if let Some(config) = self.config_missing(path.unwrap_or(Path::new("./-")))? {
                    bail!(
                        "no recipients for {what}: no rule of {config} matches it; add a rule whose path (a glob, e.g. dir/**) matches it, or pass -r age1… or -R FILE"
                    )
                }
                bail!(
                    "no recipients for {what}: pass -r age1… or -R FILE, or commit a {REPO_RECIPIENTS} file (gitseal fetch-key -w {REPO_RECIPIENTS}) or a {CONFIG_FILE} (gitseal init) beside it or above it in its repository"
                )
            }
        };
        Ok(ForSealing { recipients: Recipients::new(list)?, scope, namespace })
    }
}

/// The recipients each checked file is held to: the `-R` files for all of them, else
/// each file's own rule (configuration files read once per file asked about).
pub struct PerFile {
    flags: Option<Rule>,
    resolver: Resolver,
    found: BTreeMap<PathBuf, Option<Rule>>,
}

impl PerFile {
    /// From `-R` files (empty: look up each file's own).
    ///
    /// # Errors
    /// As [`read_file`].
    pub fn new(files: &[PathBuf]) -> Result<PerFile> {
        let flags = (!files.is_empty()).then(|| -> Result<Rule> {
            let source = files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ");
            let named: Vec<_> = files.iter().map(|f| read_named(f)).collect::<Result<Vec<_>>>()?.concat();
            let (recipients, names) = split_named(named, None);
            Ok(Rule { source, recipients, names, scope: None, namespace: None, exact: false })
        });
        Ok(PerFile { flags: flags.transpose()?, resolver: Resolver::default(), found: BTreeMap::new() })
    }

    /// For a file with no rule: the configuration file whose rules all missed it (none
    /// when `-R` files decide for every file).
    ///
    /// # Errors
    /// As [`Resolver::rule_for`].
    pub fn config_missing(&mut self, path: &Path) -> Result<Option<String>> {
        if self.flags.is_some() {
            return Ok(None);
        }
        self.resolver.config_missing(path)
    }

    /// See [`Resolver::unused_rules`] (none when `-R` files decide).
    pub fn unused_rules(&self, within: &[PathBuf]) -> Vec<(String, String)> {
        if self.flags.is_some() { Vec::new() } else { self.resolver.unused_rules(within) }
    }

    /// The rule for `path`, if any.
    ///
    /// # Errors
    /// As [`Resolver::rule_for`].
    pub fn get(&mut self, path: &Path) -> Result<Option<&Rule>> {
        if self.flags.is_some() {
            return Ok(self.flags.as_ref());
        }
        if !self.found.contains_key(path) {
            let rule = self.resolver.rule_for(path)?;
            self.found.insert(path.to_path_buf(), rule);
        }
        Ok(self.found.get(path).and_then(Option::as_ref))
    }
}
