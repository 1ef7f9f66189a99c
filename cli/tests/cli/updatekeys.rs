//! Issue 23, item 9: `gitseal updatekeys` re-seals files offline to the recipients their
//! repository rule now lists, with a key that opens the values.

use super::*;

fn id(recipient: &str) -> String {
    gitseal::KeyId::of(&gitseal::Recipients::parse_each([recipient.trim()]).unwrap()[0]).to_string()
}

/// A repository whose rule for envs/prod/ lists `recipients`; key.txt is the "prod" key.
fn rule(env: &Env, recipients: &[&str]) {
    let list = recipients.iter().map(|r| r.trim()).collect::<Vec<_>>().join(", ");
    env.write(
        ".gitseal.yaml",
        &format!("rules:\n  - path: envs/prod/**\n    recipients: [{list}]\n    namespace: prod\n"),
    );
}

/// A commented prod file, sealed to the rule as it is now.
fn seal_commented(env: &Env, name: &str) -> String {
    env.ok(&["seal", "-w", &format!("envs/prod/{name}.yaml")], Some(secret_yaml("prod", name).as_bytes()));
    let text = format!("# {name}: owned by team-a\n{}", env.read(&format!("envs/prod/{name}.yaml")));
    env.write(&format!("envs/prod/{name}.yaml"), &text);
    text
}

fn verify(env: &Env) -> (Option<i32>, String) {
    let out = env.run(&["verify", "."], None);
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_rule_that_gains_a_recipient_gets_it_on_every_value_and_current_files_stay_byte_for_byte() {
    let env = Env::new();
    fs::create_dir_all(env.path("envs/prod")).unwrap();
    let glass = env.ok(&["keygen", "-w", "glass.txt"], None);
    rule(&env, &[&env.recipient]);
    let db = seal_commented(&env, "db");
    rule(&env, &[&env.recipient, &glass]);
    let current = seal_commented(&env, "current");
    let (code, report) = verify(&env);
    assert_eq!(code, Some(1), "verify fails before: {report}");
    assert!(report.contains("db.yaml") && report.contains(&format!("not sealed to {}", id(&glass))), "{report}");

    // A dry run says what would change and writes nothing.
    let out = env.run(&["updatekeys", "-i", "key.txt", "--dry-run", "envs"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("envs/prod/db.yaml: would re-seal blob, password, username to "), "{said}");
    assert!(said.contains("would re-seal 3 value(s) in 1 file(s)") && said.contains("1 file(s) already current"));
    assert!(said.contains("nothing written") && !said.contains(CANARY), "{said}");
    assert_eq!((env.read("envs/prod/db.yaml"), env.read("envs/prod/current.yaml")), (db.clone(), current.clone()));

    let out = env.run(&["updatekeys", "-i", "key.txt", "envs"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("re-sealed 3 value(s) in 1 file(s)"), "{}", stderr(&out));
    assert!(!stderr(&out).contains(CANARY) && !String::from_utf8_lossy(&out.stdout).contains(CANARY));
    assert_eq!(env.read("envs/prod/current.yaml"), current, "a file already current is not rewritten");
    let after = env.read("envs/prod/db.yaml");
    assert!(after.starts_with("# db: owned by team-a\n") && after.contains(&id(&glass)), "{after}");
    let by_glass = env.ok(&["unseal", "-i", "glass.txt", "-f", "envs/prod/db.yaml", "-o", "json"], None);
    let secret: serde_json::Value = serde_json::from_str(&by_glass).unwrap();
    assert_eq!(secret["data"]["password"], b64(CANARY), "the new key opens the values");
    assert_eq!(opened(&env, "envs/prod/db.yaml")["username"], b64("admin"), "and the old one still does");
    let (code, report) = verify(&env);
    assert_eq!(code, Some(0), "verify passes after: {report}");
    // Run again: nothing left to do, nothing rewritten.
    let out = env.run(&["updatekeys", "-i", "key.txt", "envs"], None);
    assert!(out.status.success() && stderr(&out).contains("re-sealed 0 value(s) in 0 file(s)"), "{}", stderr(&out));
    assert_eq!(env.read("envs/prod/db.yaml"), after);
}

#[test]
fn a_rule_that_loses_a_recipient_is_no_longer_opened_by_it() {
    let env = Env::new();
    fs::create_dir_all(env.path("envs/prod")).unwrap();
    let glass = env.ok(&["keygen", "-w", "glass.txt"], None);
    rule(&env, &[&env.recipient, &glass]);
    seal_commented(&env, "db");
    env.ok(&["unseal", "-i", "glass.txt", "-f", "envs/prod/db.yaml"], None);
    rule(&env, &[&env.recipient]);
    assert_eq!(verify(&env).0, Some(1), "also sealed to a key the rule no longer lists");
    // The key that opens them need not be the one that stays: glass opens, prod remains.
    env.ok(&["updatekeys", "-i", "glass.txt", "envs/prod/db.yaml"], None);
    let err = env.fails(1, &["unseal", "-i", "glass.txt", "-f", "envs/prod/db.yaml"], None);
    assert!(err.contains("db.yaml"), "{err}");
    assert_eq!(opened(&env, "envs/prod/db.yaml")["password"], b64(CANARY));
    let after = env.read("envs/prod/db.yaml");
    assert!(!after.contains(&id(&glass)) && after.starts_with("# db: owned by team-a\n"), "{after}");
    let (code, report) = verify(&env);
    assert_eq!(code, Some(0), "{report}");
}

#[test]
fn a_file_the_key_cannot_open_or_whose_scope_moved_is_named_and_left_alone_while_the_others_proceed() {
    let env = Env::new();
    fs::create_dir_all(env.path("envs/prod")).unwrap();
    let glass = env.ok(&["keygen", "-w", "glass.txt"], None);
    let other = env.ok(&["keygen", "-w", "other.txt"], None);
    rule(&env, &[&env.recipient]);
    let db = seal_commented(&env, "db");
    // Sealed to a key the administrator does not hold.
    env.ok(
        &["seal", "-r", other.trim(), "-w", "envs/prod/foreign.yaml"],
        Some(secret_yaml("prod", "foreign").as_bytes()),
    );
    let foreign = env.read("envs/prod/foreign.yaml");
    // A scope widened by a merged change: never re-sealed as cluster-wide.
    seal_commented(&env, "wide");
    let wide = env.read("envs/prod/wide.yaml").replace("scope: strict", "scope: cluster-wide");
    env.write("envs/prod/wide.yaml", &wide);
    rule(&env, &[&env.recipient, &glass]);
    let err = env.fails(1, &["updatekeys", "-i", "key.txt", "envs"], None);
    assert!(err.contains("envs/prod/foreign.yaml: key \"blob\"") && err.contains("file left unchanged"), "{err}");
    assert!(err.contains("envs/prod/wide.yaml: key \"blob\"") && err.contains("now says cluster-wide scope"), "{err}");
    assert!(err.contains("re-sealed 3 value(s) in 1 file(s)") && err.contains("2 file(s) failed"), "{err}");
    assert_eq!(env.read("envs/prod/foreign.yaml"), foreign, "untouched");
    assert_eq!(env.read("envs/prod/wide.yaml"), wide, "untouched");
    assert_ne!(env.read("envs/prod/db.yaml"), db, "the other file proceeded");
    env.ok(&["unseal", "-i", "glass.txt", "-f", "envs/prod/db.yaml"], None);
}
