//! What kustomize makes of the SealedSecrets in a repository, read from its kustomization
//! files without running kustomize: the namespace and name each SealedSecret is applied
//! with, and the plaintext a `secretGenerator` keeps beside it.
//!
//! ```text
//!  overlays/prod/kustomization.yaml   namePrefix: app-   namespace: prod
//!   └─ resources: ../../base ──▶ base/kustomization.yaml   nameSuffix: -v1
//!                                  └─ resources: db.yaml   SealedSecret db
//!  applied as prod/app-db-v1: inner transformations first, each outer one wraps them;
//!  components apply to everything their parent holds so far; the outermost namespace wins
//! ```
//!
//! Reading the files rather than running kustomize: `verify` runs offline on a bare CI
//! image without a kustomize binary, and the three fields that rename every object
//! (`namePrefix`, `nameSuffix`, `namespace`) compose simply. Patches and replacements that
//! rename one object are not followed. Local files and directories are followed up to
//! the repository root (as for `.gitseal.yaml`, [`crate::repository::config_dirs`]);
//! remote resources and what lies above the root are skipped with a note. Loops, nesting
//! deeper than [`MAX_DEPTH`], more than [`MAX_VISITS`] kustomizations and files over
//! [`MAX_FILE`] stop the walk with an error naming the file.

mod render;

use std::fs;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use zeroize::Zeroizing;

pub use render::{Reached, Walker};

/// The names kustomize reads a directory's kustomization from.
const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];
/// Kustomizations nested deeper than this stop the walk.
pub const MAX_DEPTH: usize = 32;
/// Kustomizations one walk may enter (a repeated one counts again).
pub const MAX_VISITS: usize = 1000;
/// Largest kustomization or resource file read.
pub const MAX_FILE: u64 = 8 << 20;

/// Whether `path` is named as a kustomization file.
pub fn is_kustomization(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| FILE_NAMES.contains(&n))
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Kustomization {
    api_version: Option<String>,
    #[serde(default, deserialize_with = "list")]
    resources: Vec<String>,
    /// Deprecated for `resources`, still read by kustomize.
    #[serde(default, deserialize_with = "list")]
    bases: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    components: Vec<String>,
    name_prefix: Option<String>,
    name_suffix: Option<String>,
    namespace: Option<String>,
    #[serde(default, deserialize_with = "list")]
    secret_generator: Vec<Generator>,
}

#[derive(Default, Deserialize)]
struct Generator {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "list")]
    literals: Vec<serde::de::IgnoredAny>,
    #[serde(default, deserialize_with = "list")]
    envs: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    files: Vec<String>,
}

/// A list, which kustomize lets be null (`resources:` with nothing after it).
fn list<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Parses a kustomization; `None` for a file of that name that is something else (a Flux
/// `Kustomization` object). Errors give a line, never the text: a type error would quote
/// the value, and a `secretGenerator` literal is plaintext.
fn parse(text: &str) -> Result<Option<Kustomization>, String> {
    let options = serde_saphyr::options! { with_snippet: false };
    let k: Kustomization = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let at = e.location().map(|l| format!(" (line {})", l.line())).unwrap_or_default();
        format!("cannot read it as a kustomization{at}: a field holds what kustomize does not expect there, or the YAML is malformed")
    })?;
    let foreign = k.api_version.as_deref().is_some_and(|v| !v.starts_with("kustomize.config.k8s.io/"));
    Ok((!foreign).then_some(k))
}

/// What a kustomization file's `secretGenerator`s say about plaintext, names of keys and
/// files only, never values: problems (literals in it, env and data files beside it in
/// `dir`) and warnings (files it reads that are not there, so not in the repository:
/// they come from elsewhere, where verify cannot look).
pub fn generator_findings(text: &str, dir: &Path) -> (Vec<String>, Vec<String>) {
    let Ok(Some(k)) = parse(text) else { return (Vec::new(), Vec::new()) };
    let (mut problems, mut warnings) = (Vec::new(), Vec::new());
    for g in &k.secret_generator {
        let name = g.name.as_deref().unwrap_or_default();
        if !g.literals.is_empty() {
            problems.push(format!(
                "kustomize secretGenerator {:?} holds {} plaintext literal(s) in this file: seal them with gitseal create and commit the SealedSecret instead",
                name,
                g.literals.len()
            ));
        }
        for source in g.envs.iter().chain(&g.files) {
            let path = source.rsplit_once('=').map_or(source.as_str(), |(_, p)| p);
            if dir.join(path).exists() {
                problems.push(format!(
                    "kustomize secretGenerator {name:?} reads plaintext from {path}, which is in the repository beside it: seal it with gitseal seal or create and remove the file"
                ));
            } else {
                warnings.push(format!(
                    "kustomize secretGenerator {name:?} reads plaintext from {path}, which is not here: supplied from outside the repository, it makes a plaintext Secret verify cannot see (seal it with gitseal create instead)"
                ));
            }
        }
    }
    (problems, warnings)
}

/// A file's text, refused beyond [`MAX_FILE`] bytes; zeroized after use, since a resource
/// file may hold a plaintext Secret.
fn read_bounded(file: &Path) -> Result<Zeroizing<String>, String> {
    let f = fs::File::open(file).map_err(|e| format!("cannot read it: {e}"))?;
    let mut bytes = Zeroizing::new(Vec::new());
    f.take(MAX_FILE + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(format!("larger than {} MiB, more than verify reads from one file", MAX_FILE >> 20));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    Ok(Zeroizing::new(text.to_owned()))
}
