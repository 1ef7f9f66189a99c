//! Issue 24, item 3: the CLI writes `gitseal.dev/v1`, reads `v1alpha1` as before, `verify`
//! warns about a `v1alpha1` file and `gitseal convert` rewrites its apiVersion and nothing
//! else; item 2: `gitseal version` says what the binary reads and writes.

use super::*;

const OLD: &str = "gitseal.dev/v1alpha1";

/// A sealed file for prod/`name`, then rewritten by hand to the older apiVersion, as
/// v0.1.0 wrote it, with a comment naming the old version that must survive.
fn old_file(env: &Env, name: &str) -> String {
    let file = format!("{name}.yaml");
    env.ok(&["seal", "-w", &file], Some(secret_yaml("prod", name).as_bytes()));
    let written = env.read(&file);
    assert!(written.contains("apiVersion: gitseal.dev/v1\n"), "seal writes v1:\n{written}");
    let text = format!(
        "# written as apiVersion: {OLD}\n{}",
        written.replace("apiVersion: gitseal.dev/v1\n", &format!("apiVersion: {OLD}\n"))
    );
    env.write(&file, &text);
    text
}

#[test]
fn an_older_api_version_is_read_warned_about_and_converted_one_line_per_object() {
    let env = Env::new();
    let before = old_file(&env, "db");
    let plain = env.ok(&["unseal", "-i", "key.txt", "-f", "db.yaml"], None);
    assert!(plain.contains("name: db"), "v1alpha1 is read as before:\n{plain}");

    let out = env.run(&["verify", "."], None);
    assert!(out.status.success(), "a warning, not a failure: {}", stderr(&out));
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(said.contains("db.yaml") && said.contains(OLD) && said.contains("gitseal convert ./db.yaml"), "{said}");

    assert!(env.fails(1, &["convert", "--check", "."], None).is_empty());
    assert_eq!(env.read("db.yaml"), before, "--check changes nothing");
    let said = env.ok(&["convert", "."], None);
    assert!(said.contains("db.yaml: converted 1 object(s) to gitseal.dev/v1"), "{said}");
    let after = env.read("db.yaml");
    assert_eq!(after, before.replacen(&format!("\napiVersion: {OLD}\n"), "\napiVersion: gitseal.dev/v1\n", 1));
    assert!(after.starts_with(&format!("# written as apiVersion: {OLD}\n")), "the comment is not an apiVersion");
    assert_eq!(env.ok(&["unseal", "-i", "key.txt", "-f", "db.yaml"], None), plain, "the same values");

    let said = env.ok(&["convert", "--check", "."], None);
    assert!(said.contains("nothing to convert"), "{said}");
    let out = env.run(&["verify", "."], None);
    assert!(!format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out)).contains(OLD));
}

#[test]
fn convert_keeps_json_quotes_and_list_items_and_leaves_a_broken_file_alone() {
    let env = Env::new();
    let sealed = env.ok(&["seal", "-o", "json"], Some(secret_yaml("prod", "api").as_bytes()));
    let old_json = sealed.replace("\"gitseal.dev/v1\"", &format!("\"{OLD}\""));
    assert_ne!(old_json, sealed, "the JSON names the API version");
    env.write("api.json", &old_json);
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n- {{apiVersion: '{OLD}', kind: KeyRotation, metadata: {{name: r}}}}\n- {{apiVersion: v1, kind: ConfigMap, metadata: {{name: c}}}}\n"
    );
    env.write("list.yaml", &list);
    env.write("broken.yaml", &format!("apiVersion: {OLD}\nkind: SealedSecret\nspec: [\n"));

    let said = env.ok(&["convert", "api.json", "list.yaml"], None);
    assert!(said.contains("converted 2 object(s) in 2 file(s)"), "{said}");
    assert_eq!(env.read("api.json"), sealed, "JSON quotes kept: the file is what seal writes today");
    assert_eq!(env.read("list.yaml"), list.replace(&format!("'{OLD}'"), "'gitseal.dev/v1'"));

    let said = env.ok(&["convert", "broken.yaml"], None);
    assert!(said.contains("nothing to convert"), "{said}");
    assert!(env.read("broken.yaml").contains(OLD), "a file that does not parse is not touched");
}

#[test]
fn the_version_command_says_what_version_does_and_as_json() {
    let env = Env::new();
    let long = env.ok(&["--version"], None);
    let text = env.ok(&["version"], None);
    assert_eq!(text, long.replacen("gitseal ", "", 1), "version prints what --version does");
    assert!(text.starts_with(&format!("{} (commit ", env!("CARGO_PKG_VERSION"))), "{text}");
    let json: serde_json::Value = serde_json::from_str(&env.ok(&["version", "-o", "json"], None)).unwrap();
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["apiVersion"], "gitseal.dev/v1");
    assert_eq!(json["formatWritten"], "gitseal/v2");
    assert!(text.contains(json["commit"].as_str().unwrap()), "{text}");
}
