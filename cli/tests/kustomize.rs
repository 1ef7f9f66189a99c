//! `gitseal verify` follows kustomizations to the SealedSecrets they apply: one renamed or
//! re-namespaced against its values' scope can never unseal, and fails the check against
//! the kustomization that does it, with the fix.
//!
//! ```text
//!  repo/ (.git)
//!   ├─ base/        kustomization.yaml  resources: [db.yaml]     db.yaml: strict prod/db
//!   └─ overlays/x/  kustomization.yaml  namePrefix / nameSuffix / namespace, resources: [../../base]
//! ```

#![allow(clippy::unwrap_used)] // tests state their expectations by unwrapping

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const CANARY: &str = "canary-plaintext-41c7";

/// A repository (`.git`) with a committed recipient, its key beside it.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let repo = Repo { dir: tempfile::tempdir().unwrap() };
        fs::create_dir(repo.dir.path().join(".git")).unwrap();
        let out = repo.run(&["keygen", "-w", "key.txt"], "");
        assert!(out.status.success(), "{}", text(&out.stderr));
        repo.write(".gitseal-recipients", &text(&out.stdout));
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, contents: &str) {
        let path = self.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gitseal"))
            .args(args)
            .current_dir(self.path())
            .env("KUBECONFIG", self.path().join("no-kubeconfig"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    }

    /// Seals Secret `namespace/name` with `scope` into `file`.
    fn seal(&self, file: &str, scope: &str, namespace: &str, name: &str) {
        let secret = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {namespace}}}\nstringData: {{password: {CANARY}, user: admin}}\n"
        );
        fs::create_dir_all(self.path().join(file).parent().unwrap()).unwrap();
        let out = self.run(&["seal", "--scope", scope, "-w", file], &secret);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }

    /// `verify` with these arguments: exit code, stdout, stderr; never a value.
    fn verify(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = self.run(&[&["verify"], args].concat(), "");
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(!stdout.contains(CANARY) && !stderr.contains(CANARY), "a value printed: {stdout}{stderr}");
        (out.status.code(), stdout, stderr)
    }

    /// A base holding `db.yaml`, sealed with `scope` for prod/db.
    fn base(&self, scope: &str) {
        self.seal("base/db.yaml", scope, "prod", "db");
        self.write(
            "base/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [db.yaml]\n",
        );
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The problem lines (`file: message`) of a human report.
fn problems(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| !l.starts_with("checked ")).collect()
}

#[test]
fn a_name_prefix_on_a_strict_sealed_secret_fails_naming_the_overlay_the_object_and_the_fix() {
    let repo = Repo::new();
    repo.base("strict");
    repo.write("overlays/prod/kustomization.yaml", "namePrefix: app-\nresources: [../../base]\n");
    let (code, out, err) = repo.verify(&["."]);
    assert_eq!(code, Some(1), "{out}{err}");
    let lines = problems(&out);
    assert_eq!(lines.len(), 1, "once, against the overlay only: {out}");
    let line = lines[0];
    for expected in [
        "overlays/prod/kustomization.yaml: applies SealedSecret prod/db (base/db.yaml, document 1) as prod/app-db (its namePrefix \"app-\")",
        "its strict values (keys \"password\", \"user\") are sealed for prod/db: they will never unseal there",
        "`gitseal seal --scope namespace-wide`",
        "a Secret named app-db in namespace prod (`gitseal create app-db -n prod --from-file KEY=FILE`)",
    ] {
        assert!(line.contains(expected), "{expected:?} in {line}");
    }
    // The base alone applies it as sealed: verifying it passes.
    let (code, out, _) = repo.verify(&["base"]);
    assert_eq!(code, Some(0), "{out}");
    // The JSON report names the overlay as the file.
    let (_, json, _) = repo.verify(&["-o", "json", "overlays"]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["problems"][0]["file"], "overlays/prod/kustomization.yaml", "{report}");
}

#[test]
fn a_name_suffix_from_a_kustomization_file_without_extension_fails_too() {
    let repo = Repo::new();
    repo.base("strict");
    repo.write("overlays/v2/Kustomization", "resources: [../../base]\nnameSuffix: -v2\n");
    let (code, out, _) = repo.verify(&["."]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("overlays/v2/Kustomization: applies SealedSecret prod/db (base/db.yaml, document 1) as prod/db-v2 (its nameSuffix \"-v2\")"),
        "{out}"
    );
    assert!(out.contains("a Secret named db-v2 in namespace prod"), "{out}");
}

#[test]
fn a_namespace_change_fails_a_namespace_wide_sealed_secret_but_a_name_prefix_does_not() {
    let repo = Repo::new();
    repo.base("namespace-wide");
    // A prefix renames the object, which a namespace-wide value does not bind.
    repo.write("overlays/prod/kustomization.yaml", "namePrefix: app-\nnamespace: prod\nresources: [../../base]\n");
    let (code, out, err) = repo.verify(&["."]);
    assert_eq!(code, Some(0), "{out}{err}");
    // Another namespace it does bind.
    repo.write("overlays/dev/kustomization.yaml", "namePrefix: dev-\nnamespace: dev\nresources: [../../base]\n");
    let (code, out, _) = repo.verify(&["."]);
    assert_eq!(code, Some(1), "{out}");
    let lines = problems(&out);
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].contains("overlays/dev/kustomization.yaml: applies SealedSecret prod/db (base/db.yaml, document 1) as dev/dev-db (its namespace \"dev\")"),
        "only the rename that matters is named: {out}"
    );
    assert!(
        lines[0].contains("its namespace-wide values (keys \"password\", \"user\") are sealed for namespace prod"),
        "{out}"
    );
    assert!(lines[0].contains("seal it for namespace dev") && lines[0].contains("--scope cluster-wide"), "{out}");
}

#[test]
fn renames_compose_and_each_is_reported_once_by_the_innermost_kustomization_that_makes_it() {
    let repo = Repo::new();
    repo.base("strict");
    // An overlay that renames nothing the scope binds: the object's own namespace.
    repo.write("overlays/same/kustomization.yaml", "namespace: prod\nresources: [../../base]\n");
    let (code, out, _) = repo.verify(&["."]);
    assert_eq!(code, Some(0), "{out}");
    // A middle layer renames; the top layer wraps it and renames again: the prefixes
    // compose (inner first), and the outermost namespace wins.
    repo.write("overlays/mid/kustomization.yaml", "namePrefix: mid-\nnamespace: stage\nresources: [../../base]\n");
    repo.write("overlays/top/kustomization.yaml", "namePrefix: top-\nnamespace: prod\nresources: [../mid]\n");
    // Another one on top of mid that changes nothing more: mid reports it, not this one.
    repo.write("overlays/quiet/kustomization.yaml", "resources: [../mid]\n");
    let (code, out, _) = repo.verify(&["."]);
    assert_eq!(code, Some(1), "{out}");
    let lines = problems(&out);
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].contains("overlays/mid/kustomization.yaml: applies SealedSecret prod/db (base/db.yaml, document 1) as stage/mid-db (its namePrefix \"mid-\", its namespace \"stage\")"), "{out}");
    assert!(lines[0].contains("`gitseal seal --scope cluster-wide`"), "name and namespace moved: {out}");
    assert!(
        lines[1].contains("overlays/top/kustomization.yaml: applies SealedSecret prod/db (base/db.yaml, document 1) as prod/top-mid-db (namePrefix \"mid-\" in overlays/mid/kustomization.yaml, its namePrefix \"top-\")"),
        "{out}"
    );
    // Verified alone, the top overlay reports what the middle one does, naming it.
    let (code, out, _) = repo.verify(&["overlays/quiet"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("overlays/quiet/kustomization.yaml: applies SealedSecret prod/db (base/db.yaml, document 1) as stage/mid-db (namePrefix \"mid-\" in overlays/mid/kustomization.yaml"), "{out}");
}

#[test]
fn a_rename_where_the_object_is_defined_is_reported_once_against_that_kustomization() {
    let repo = Repo::new();
    repo.seal("app/db.yaml", "strict", "prod", "db");
    repo.write("app/kustomization.yaml", "resources: [db.yaml]\nnamePrefix: app-\n");
    repo.write("overlays/prod/kustomization.yaml", "resources: [../../app]\n");
    let (code, out, _) = repo.verify(&["."]);
    assert_eq!(code, Some(1), "{out}");
    let lines = problems(&out);
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].starts_with(
            "./app/kustomization.yaml: applies SealedSecret prod/db (app/db.yaml, document 1) as prod/app-db"
        ),
        "{out}"
    );
}

#[test]
fn a_component_renames_what_its_parent_holds() {
    let repo = Repo::new();
    repo.base("strict");
    repo.write(
        "components/prefix/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nnamePrefix: c-\n",
    );
    repo.write("overlays/prod/kustomization.yaml", "resources: [../../base]\ncomponents: [../../components/prefix]\n");
    let (code, out, _) = repo.verify(&["overlays"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("as prod/c-db (namePrefix \"c-\" in components/prefix/kustomization.yaml)"), "{out}");
}

#[test]
fn loops_deep_nesting_and_paths_above_the_repository_are_stopped_with_a_clear_message() {
    let repo = Repo::new();
    repo.base("strict");
    // Includes itself, by its directory or by its own file name.
    repo.write("loop/kustomization.yaml", "namePrefix: x-\nresources: [../base, .]\n");
    repo.write("self/kustomization.yaml", "resources: [kustomization.yaml]\n");
    let (code, out, err) = repo.verify(&["loop", "self"]);
    assert_eq!(code, Some(1), "a failure, not a panic: {out}{err}");
    assert!(out.contains("loop/kustomization.yaml: includes itself (loop/kustomization.yaml → loop/kustomization.yaml); kustomize refuses it too"), "{out}");
    assert!(out.contains("self/kustomization.yaml: includes itself"), "{out}");
    // Nested without end: stopped at a bound, naming where.
    for i in 0..40 {
        repo.write(&format!("deep/{i}/kustomization.yaml"), &format!("resources: [../{}]\n", i + 1));
    }
    let (code, out, _) = repo.verify(&["deep/0"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(
            "deep/0/kustomization.yaml: deep/32/kustomization.yaml: kustomizations nested deeper than 32; not followed"
        ),
        "{out}"
    );
    // A base above the repository root (a shared parent) is not read: a note says so.
    let inner = Repo { dir: tempfile::tempdir_in(repo.path()).unwrap() };
    fs::create_dir(inner.path().join(".git")).unwrap();
    inner.write("overlay/kustomization.yaml", "namePrefix: app-\nresources: [../../base]\n");
    let (code, out, err) = inner.verify(&["overlay"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        err.contains(
            "overlay/kustomization.yaml: resource ../../base lies above the repository root (.); not followed"
        ),
        "{err}"
    );
}

#[test]
fn a_kustomization_that_is_not_one_fails_without_quoting_it() {
    let repo = Repo::new();
    repo.write("bad/kustomization.yaml", &format!("resources: {{password: {CANARY}}}\n"));
    let (code, out, _) = repo.verify(&["bad"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("bad/kustomization.yaml: cannot read it as a kustomization (line 1"), "{out}");
    // Lists left empty (null) are read as kustomize reads them.
    repo.write("empty/kustomization.yaml", "resources:\ncomponents: ~\nnamespace:\n");
    let (code, out, _) = repo.verify(&["empty"]);
    assert_eq!(code, Some(0), "{out}");
    // A Flux Kustomization object of that file name is not kustomize's: nothing to follow.
    repo.write("flux/kustomization.yaml", "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps}\nspec: {path: ./apps, prune: true}\n");
    let (code, out, _) = repo.verify(&["flux"]);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn remote_resources_are_skipped_with_a_note_and_local_ones_still_checked() {
    let repo = Repo::new();
    repo.base("strict");
    repo.write(
        "overlays/prod/kustomization.yaml",
        "namePrefix: app-\nresources:\n- https://github.com/example/apps//db?ref=v1.2.0\n- github.com/example/apps/cache?ref=v1\n- ../../base\n",
    );
    let (code, out, err) = repo.verify(&["overlays"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("as prod/app-db"), "the local base is still followed: {out}");
    for remote in ["https://github.com/example/apps//db?ref=v1.2.0", "github.com/example/apps/cache?ref=v1"] {
        let note = format!(
            "gitseal: note: overlays/prod/kustomization.yaml: resource {remote} is remote; not followed (verify reads local files only)"
        );
        assert_eq!(err.matches(&note).count(), 1, "{err}");
    }
}
