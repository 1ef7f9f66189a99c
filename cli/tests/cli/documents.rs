//! Issue 23, item 10: adding or removing a key edits the file in place (comments and line
//! ends kept, the diff only the lines of that key), and `set`, `unset` and `edit` pick
//! the object with `--name` in a file holding several SealedSecrets.

use super::*;

/// A sealed db.yaml with comments at the top, on `spec:`, inside `encryptedData` and
/// after a value, and CRLF line ends.
fn commented(env: &Env) -> String {
    env.ok(&["seal", "-w", "db.yaml"], Some(secret_yaml("prod", "db").as_bytes()));
    let text = env
        .read("db.yaml")
        .replace("spec:\n", "spec: # owned by team-a\n")
        .replace("  encryptedData:\n", "  encryptedData:\n    # rotated yearly\n");
    let password = text.lines().find(|l| l.starts_with("    password: ")).unwrap();
    let text = text.replace(password, &format!("{password}  # since 2024"));
    let text = format!("# header comment\n{text}").replace('\n', "\r\n");
    env.write("db.yaml", &text);
    text
}

/// `after` is `before` with `lines` inserted (each with its CRLF), nothing else changed.
fn only_added(before: &str, after: &str) -> Vec<String> {
    let (a, b): (Vec<&str>, Vec<&str>) =
        (before.split_inclusive("\r\n").collect(), after.split_inclusive("\r\n").collect());
    let mut added = Vec::new();
    let mut i = 0;
    for line in &b {
        if a.get(i) == Some(line) {
            i += 1;
        } else {
            added.push((*line).to_owned());
        }
    }
    assert_eq!(i, a.len(), "every line as it was, in order:\n{after}");
    assert!(added.iter().all(|l| l.ends_with("\r\n")), "{added:?}");
    added
}

#[test]
fn adding_or_removing_a_key_keeps_comments_and_crlf_and_changes_only_that_keys_lines() {
    let env = Env::new();
    let before = commented(&env);
    let out = env.run(&["set", "db.yaml", "extra"], Some(b"v"));
    assert!(out.status.success() && !stderr(&out).contains("not kept"), "{}", stderr(&out));
    let after = env.read("db.yaml");
    let added = only_added(&before, &after);
    let id = before.lines().find(|l| l.trim_start().starts_with("- ")).unwrap().trim_end();
    assert_eq!(added.len(), 3, "{added:?}");
    assert!(added[0].starts_with("    extra: YWdl"), "{added:?}");
    assert_eq!(added[1..], ["    extra:\r\n".to_owned(), format!("{id}\r\n")], "its key ids, as the others");
    assert_eq!(opened(&env, "db.yaml")["extra"], b64("v"));

    // Removing a key: its value's line and its key ids go, every other line stays.
    env.ok(&["unset", "db.yaml", "password"], None);
    let removed = only_added(&env.read("db.yaml"), &after);
    assert_eq!(removed.len(), 3, "{removed:?}");
    assert!(removed[0].starts_with("    password: YWdl") && removed[0].ends_with("  # since 2024\r\n"));
    assert_eq!(removed[1..], ["    password:\r\n".to_owned(), format!("{id}\r\n")]);
    let data = opened(&env, "db.yaml");
    assert!(data.get("password").is_none() && data["extra"] == b64("v"), "{data}");

    // edit removes one key and adds another the same way.
    let before = env.read("db.yaml");
    let editor = counting_editor(&env, &["sed -i -e '/^blob:/d' \"$1\"\necho 'token: t0k3n' >> \"$1\""]);
    let out = edit_with(&env, &editor, &["edit", "db.yaml"]);
    assert!(out.status.success() && !stderr(&out).contains("not kept"), "{}", stderr(&out));
    let after = env.read("db.yaml");
    let blob = before.split_inclusive("\r\n").find(|l| l.starts_with("    blob: ")).unwrap();
    let without_blob = before.replacen(blob, "", 1).replacen(&format!("    blob:\r\n{id}\r\n"), "", 1);
    let added = only_added(&without_blob, &after);
    assert!(added.len() == 3 && added[0].starts_with("    token: YWdl") && added[1] == "    token:\r\n", "{added:?}");
    assert!(after.starts_with("# header comment\r\n") && after.contains("    # rotated yearly\r\n"), "{after}");
    let data = opened(&env, "db.yaml");
    assert!(data.get("blob").is_none() && data["token"] == b64("t0k3n"), "{data}");
}

#[test]
fn a_shape_not_edited_in_place_is_written_anew_and_says_so() {
    let env = Env::new();
    let text = commented(&env);
    // keyIds as one flow mapping: gitseal renders the object anew, and says what is lost.
    let lines: Vec<&str> = text.split_inclusive("\r\n").collect();
    let at = lines.iter().position(|l| *l == "  keyIds:\r\n").unwrap();
    let end = at + 1 + lines[at + 1..].iter().take_while(|l| l.starts_with("    ")).count();
    let id = lines[at + 2].trim_start().trim_start_matches("- ").trim_end();
    let flow = format!("  keyIds: {{blob: [{id}], password: [{id}], username: [{id}]}}\r\n");
    let text = format!("{}{flow}{}", lines[..at].concat(), lines[end..].concat());
    env.write("db.yaml", &text);
    let out = env.run(&["set", "db.yaml", "extra"], Some(b"v"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("comments inside them and CRLF line ends there are not kept"), "{}", stderr(&out));
    assert_eq!(opened(&env, "db.yaml")["extra"], b64("v"));
}

/// A ConfigMap and two SealedSecrets, prod/db and prod/cache, in one file.
fn three_documents(env: &Env) -> [String; 3] {
    let config = "# settings\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}  # inline\ndata: {a: 'b'}\n";
    let db = env.ok(&["seal"], Some(secret_yaml("prod", "db").as_bytes()));
    let cache = env.ok(&["seal"], Some(secret_yaml("prod", "cache").as_bytes()));
    env.write("app.yaml", &format!("{config}---\n{db}---\n{cache}"));
    [config.to_owned(), db, cache]
}

#[test]
fn set_unset_and_edit_change_only_the_object_name_picks_in_a_file_of_several() {
    let env = Env::new();
    let [config, db, cache] = three_documents(&env);
    let out = env.run(&["set", "--name", "cache", "app.yaml", "extra"], Some(b"v"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out).trim_end(), "app.yaml (prod/cache): added extra");
    let after = env.read("app.yaml");
    assert!(after.starts_with(&format!("{config}---\n{db}---\n")), "the other documents byte for byte:\n{after}");
    let unsealed = env.ok(&["unseal", "-i", "key.txt", "-f", "app.yaml", "-o", "json"], None);
    let list: serde_json::Value = serde_json::from_str(&unsealed).unwrap();
    assert!(list["items"][0]["data"].get("extra").is_none(), "db untouched");
    assert_eq!(list["items"][1]["data"]["extra"], b64("v"));

    // NAMESPACE/NAME picks too; unset on db leaves the ConfigMap and cache as they were.
    let cache_now = after[format!("{config}---\n{db}---\n").len()..].to_owned();
    env.ok(&["unset", "--name", "prod/db", "app.yaml", "username"], None);
    let after = env.read("app.yaml");
    assert!(after.starts_with(&format!("{config}---\n")) && after.ends_with(&format!("---\n{cache_now}")), "{after}");
    assert!(!after[..after.len() - cache_now.len()].contains("username:"), "{after}");

    // edit --name: the editor shows that object's keys, and only it changes.
    let editor = counting_editor(&env, &["sed -i -e 's/^password: .*/password: rotated/' \"$1\""]);
    let out = edit_with(&env, &editor, &["edit", "--name", "cache", "app.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(env.read("shown-1.txt").contains("gitseal edit prod/cache"), "{}", env.read("shown-1.txt"));
    let edited = env.read("app.yaml");
    assert_eq!(edited[..after.len() - cache_now.len()], after[..after.len() - cache_now.len()], "db kept");
    let unsealed = env.ok(&["unseal", "-i", "key.txt", "-f", "app.yaml", "-o", "json"], None);
    let list: serde_json::Value = serde_json::from_str(&unsealed).unwrap();
    assert_eq!(list["items"][1]["data"]["password"], b64("rotated"));
    assert_eq!(list["items"][0]["data"]["password"], b64(CANARY));
    let _ = cache;
}

#[test]
fn without_a_name_or_with_one_that_picks_no_single_object_nothing_is_written_and_the_names_are_listed() {
    let env = Env::new();
    three_documents(&env);
    let before = env.read("app.yaml");
    let editor = counting_editor(&env, &["sed -i -e 's/^password: .*/password: rotated/' \"$1\""]);
    for args in [&["set", "app.yaml", "extra"][..], &["unset", "app.yaml", "password"], &["edit", "app.yaml"]] {
        let out = edit_with(&env, &editor, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains("app.yaml holds 2 SealedSecrets (prod/db, prod/cache)") && err.contains("--name"),
            "{err}"
        );
        assert_eq!(env.read("app.yaml"), before, "{args:?}: nothing written");
    }
    assert!(!env.path("runs").exists(), "the editor never opened");
    let err = env.fails(1, &["set", "--name", "web", "app.yaml", "extra"], Some(b"v"));
    assert!(err.contains("no SealedSecret named \"web\" here; it holds prod/db, prod/cache"), "{err}");
    // The same name in two namespaces: NAMESPACE/NAME says which.
    let staging = env.ok(&["seal"], Some(secret_yaml("staging", "db").as_bytes()));
    env.write("app.yaml", &format!("{before}---\n{staging}"));
    let err = env.fails(1, &["unset", "--name", "db", "app.yaml", "password"], None);
    assert!(err.contains("several SealedSecrets are named \"db\"") && err.contains("NAMESPACE/NAME"), "{err}");
    env.ok(&["unset", "--name", "staging/db", "app.yaml", "password"], None);
    assert!(env.read("app.yaml").starts_with(&before), "the first three documents byte for byte");
    // One SealedSecret needs no --name, as before; a --name that is not its name is refused.
    env.ok(&["seal", "-w", "db.yaml"], Some(secret_yaml("prod", "db").as_bytes()));
    env.ok(&["set", "db.yaml", "extra"], Some(b"v"));
    let err = env.fails(1, &["set", "--name", "cache", "db.yaml", "extra"], Some(b"v"));
    assert!(err.contains("no SealedSecret named \"cache\" here; it holds prod/db"), "{err}");
}
