//! Following one kustomization to the SealedSecrets it reaches and where it applies them.
//!
//! ```text
//!  Walker::render(kustomization)
//!    resources / bases ──▶ a directory: its kustomization, walked from nothing
//!                      ──▶ a file: its SealedSecrets, where their metadata says
//!    components ────────▶ walked on top of what the parent holds so far
//!    then its own namePrefix, nameSuffix, namespace over all of it
//! ```

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use gitseal::SealedSecret;
use gitseal::manifest::{Document, objects, parse_documents};

use super::{FILE_NAMES, Kustomization, MAX_DEPTH, MAX_VISITS, is_kustomization, parse, read_bounded};

/// A SealedSecret a kustomization reaches, and where it applies it.
pub struct Reached {
    /// The file it is defined in, as shown.
    pub file: String,
    /// 1-based document in that file.
    pub document: usize,
    /// 1-based item of a List document.
    pub item: Option<usize>,
    /// The object as written.
    pub sealed: Rc<SealedSecret>,
    /// The namespace it is applied in, if any.
    pub namespace: Option<String>,
    /// The name it is applied with.
    pub name: Option<String>,
    /// Each transformation that changed its namespace or name, innermost first.
    pub renamed_by: Vec<Rename>,
    /// Whether a kustomization inside the one walked, itself checked by `verify`, already
    /// applies it exactly so (and so reports it).
    pub seen_inside: bool,
}

/// One field of one kustomization that renamed an object.
pub struct Rename {
    /// The kustomization file, as shown.
    pub by: String,
    /// `namePrefix`, `nameSuffix` or `namespace`.
    pub field: &'static str,
    /// What it sets.
    pub value: String,
}

/// Why a walk stopped: the file at fault, as shown, and what is wrong with it.
#[derive(Clone, Debug)]
pub struct Stopped {
    /// The kustomization or resource file.
    pub file: String,
    /// What is wrong, and what to do.
    pub message: String,
}

/// Walks kustomizations, caching what it reads across walks.
pub struct Walker<'a> {
    /// The kustomization files `verify` checks (canonical).
    checked: &'a HashSet<PathBuf>,
    /// The current directory (canonical), to show paths relative to it.
    cwd: PathBuf,
    kustomizations: HashMap<PathBuf, Result<Option<Rc<Kustomization>>, Stopped>>,
    resources: HashMap<PathBuf, Rc<Vec<Defined>>>,
    /// Notes said so far, each said once.
    noted: BTreeSet<String>,
}

/// A SealedSecret as its file defines it.
struct Defined {
    /// 1-based document.
    document: usize,
    /// 1-based item of a List document.
    item: Option<usize>,
    sealed: Rc<SealedSecret>,
}

/// One walk from one kustomization.
struct Walk {
    /// The repository root: nothing above it is followed.
    root: PathBuf,
    stack: Vec<PathBuf>,
    visits: usize,
}

/// What a resource entry names.
enum Target {
    /// A directory's kustomization file.
    Kustomization(PathBuf),
    /// A manifest file.
    File(PathBuf),
}

impl<'a> Walker<'a> {
    /// A walker for the kustomization files `checked` (canonical paths).
    pub fn new(checked: &'a HashSet<PathBuf>) -> Walker<'a> {
        let cwd = std::env::current_dir().and_then(fs::canonicalize).unwrap_or_default();
        Walker { checked, cwd, kustomizations: HashMap::new(), resources: HashMap::new(), noted: BTreeSet::new() }
    }

    /// Every SealedSecret `file` (a kustomization) reaches, where it applies it.
    ///
    /// # Errors
    /// [`Stopped`] naming the file: unreadable, too large, not a kustomization, a loop, or
    /// the walk too deep or too long.
    pub fn render(&mut self, file: &Path) -> Result<Vec<Reached>, Stopped> {
        let file = fs::canonicalize(file).map_err(|e| self.stop(file, format!("cannot read it: {e}")))?;
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let root = crate::repository::config_dirs(&dir).last().map_or(dir.clone(), |r| r.to_path_buf());
        let mut walk = Walk { root, stack: Vec::new(), visits: 0 };
        let mut reached = Vec::new();
        self.accumulate(&file, &mut reached, &mut walk)?;
        Ok(reached)
    }

    /// Adds what kustomization `file` holds to `acc`, then applies its transformations to
    /// all of `acc`: a kustomization starts from nothing, a component from its parent's.
    fn accumulate(&mut self, file: &Path, acc: &mut Vec<Reached>, walk: &mut Walk) -> Result<(), Stopped> {
        if let Some(at) = walk.stack.iter().position(|f| f == file) {
            let chain: Vec<String> =
                walk.stack[at..].iter().chain([&file.to_path_buf()]).map(|f| self.shown(f)).collect();
            let message = format!("includes itself ({}); kustomize refuses it too: break the loop", chain.join(" → "));
            return Err(self.stop(file, message));
        }
        if walk.stack.len() >= MAX_DEPTH {
            let message = format!("kustomizations nested deeper than {MAX_DEPTH}; not followed further");
            return Err(self.stop(file, message));
        }
        walk.visits += 1;
        if walk.visits > MAX_VISITS {
            let message = format!("reached after more than {MAX_VISITS} kustomizations; not followed further");
            return Err(self.stop(file, message));
        }
        let Some(k) = self.kustomization(file)? else { return Ok(()) };
        walk.stack.push(file.to_path_buf());
        let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
        for entry in k.resources.iter().chain(&k.bases) {
            match self.locate(file, &dir, entry, walk)? {
                Some(Target::Kustomization(inner)) => {
                    let mut sub = Vec::new();
                    self.accumulate(&inner, &mut sub, walk)?;
                    let checked = self.checked.contains(&inner);
                    acc.extend(sub.into_iter().map(|r| Reached { seen_inside: r.seen_inside || checked, ..r }));
                }
                Some(Target::File(resource)) => acc.extend(self.sealed_in(&resource)?),
                None => {}
            }
        }
        for entry in &k.components {
            match self.locate(file, &dir, entry, walk)? {
                Some(Target::Kustomization(component)) => self.accumulate(&component, acc, walk)?,
                Some(Target::File(_)) => self.note(format!(
                    "{}: component {entry} is a file; kustomize reads components from directories: not followed",
                    self.shown(file)
                )),
                None => {}
            }
        }
        let by = self.shown(file);
        for r in acc.iter_mut() {
            transform(r, &k, &by);
        }
        walk.stack.pop();
        Ok(())
    }

    /// The kustomization in `file`, read once; `None` when it is something else.
    fn kustomization(&mut self, file: &Path) -> Result<Option<Rc<Kustomization>>, Stopped> {
        let shown = self.shown(file);
        let read = || {
            let parsed = read_bounded(file).and_then(|text| parse(&text));
            parsed.map(|k| k.map(Rc::new)).map_err(|message| Stopped { file: shown, message })
        };
        self.kustomizations.entry(file.to_path_buf()).or_insert_with(read).clone()
    }

    /// Where a `resources`/`bases`/`components` entry of `file` leads, or `None` (noted)
    /// for what is not followed: remote, missing, above the repository root, or a
    /// directory without a kustomization.
    fn locate(&mut self, file: &Path, dir: &Path, entry: &str, walk: &Walk) -> Result<Option<Target>, Stopped> {
        let shown = self.shown(file);
        if is_remote(entry) {
            self.note(format!("{shown}: resource {entry} is remote; not followed (verify reads local files only)"));
            return Ok(None);
        }
        let path = match fs::canonicalize(dir.join(entry)) {
            Ok(path) => path,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.note(format!("{shown}: resource {entry} does not exist; not followed"));
                return Ok(None);
            }
            Err(e) => return Err(Stopped { file: shown, message: format!("cannot read resource {entry}: {e}") }),
        };
        if !path.starts_with(&walk.root) {
            let root = self.shown(&walk.root);
            self.note(format!("{shown}: resource {entry} lies above the repository root ({root}); not followed"));
            return Ok(None);
        }
        // A kustomization file named as a resource is taken for its directory, so that a
        // kustomization naming itself is a loop like any other.
        if is_kustomization(&path) {
            return Ok(Some(Target::Kustomization(path)));
        }
        if !path.is_dir() {
            return Ok(Some(Target::File(path)));
        }
        match FILE_NAMES.iter().map(|n| path.join(n)).find(|f| f.is_file()) {
            Some(inner) => Ok(Some(Target::Kustomization(inner))),
            None => {
                self.note(format!(
                    "{shown}: resource {entry} is a directory without a kustomization file; not followed"
                ));
                Ok(None)
            }
        }
    }

    /// The SealedSecrets of a manifest file, where they say they belong; read once.
    fn sealed_in(&mut self, file: &Path) -> Result<Vec<Reached>, Stopped> {
        let shown = self.shown(file);
        let found = match self.resources.get(file) {
            Some(found) => Rc::clone(found),
            None => {
                let text = read_bounded(file).map_err(|message| Stopped { file: shown.clone(), message })?;
                let found = match parse_documents(&text) {
                    Ok(docs) => objects(&docs)
                        .into_iter()
                        .filter_map(|l| match l.object {
                            Document::Sealed(s) => Some(Defined {
                                document: l.document + 1,
                                item: l.item.map(|i| i + 1),
                                sealed: Rc::new((**s).clone()),
                            }),
                            _ => None,
                        })
                        .collect(),
                    Err(e) => {
                        self.note(format!("{shown}: not YAML kustomize can read ({e}); its objects not followed"));
                        Vec::new()
                    }
                };
                let found = Rc::new(found);
                self.resources.insert(file.to_path_buf(), Rc::clone(&found));
                found
            }
        };
        Ok(found
            .iter()
            .map(|d| Reached {
                file: shown.clone(),
                document: d.document,
                item: d.item,
                namespace: d.sealed.metadata.namespace.clone(),
                name: d.sealed.metadata.name.clone(),
                sealed: Rc::clone(&d.sealed),
                renamed_by: Vec::new(),
                seen_inside: false,
            })
            .collect())
    }

    fn stop(&self, file: &Path, message: String) -> Stopped {
        Stopped { file: self.shown(file), message }
    }

    /// Says a note on stderr, once per run.
    fn note(&mut self, note: String) {
        if self.noted.insert(note.clone()) {
            eprintln!("gitseal: note: {note}");
        }
    }

    /// A path as messages show it: relative to the current directory where it lies below it.
    pub fn shown(&self, path: &Path) -> String {
        match path.strip_prefix(&self.cwd) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".to_owned(),
            Ok(rel) => rel.display().to_string(),
            Err(_) => path.display().to_string(),
        }
    }
}

/// Applies one kustomization's `namePrefix`, `nameSuffix` and `namespace` to `r`.
fn transform(r: &mut Reached, k: &Kustomization, by: &str) {
    let before = r.renamed_by.len();
    if let Some(name) = r.name.as_mut() {
        if let Some(prefix) = set(&k.name_prefix) {
            name.insert_str(0, prefix);
            r.renamed_by.push(Rename { by: by.to_owned(), field: "namePrefix", value: prefix.to_owned() });
        }
        if let Some(suffix) = set(&k.name_suffix) {
            name.push_str(suffix);
            r.renamed_by.push(Rename { by: by.to_owned(), field: "nameSuffix", value: suffix.to_owned() });
        }
    }
    if let Some(namespace) = set(&k.namespace)
        && r.namespace.as_deref() != Some(namespace)
    {
        r.namespace = Some(namespace.to_owned());
        r.renamed_by.push(Rename { by: by.to_owned(), field: "namespace", value: namespace.to_owned() });
    }
    if r.renamed_by.len() > before {
        // Applied elsewhere than any inner kustomization applies it: this one reports it.
        r.seen_inside = false;
    }
}

/// A field's value, unless unset or empty (which kustomize ignores).
fn set(field: &Option<String>) -> Option<&str> {
    field.as_deref().filter(|v| !v.is_empty())
}

/// Whether a resource entry is a URL or a remote Git reference rather than a local path.
fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("git@")
        || entry.starts_with("git::")
        || entry.contains("?ref=")
        || ["github.com/", "gitlab.com/", "bitbucket.org/"].iter().any(|host| entry.starts_with(host))
}
