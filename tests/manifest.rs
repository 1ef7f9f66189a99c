//! Parsing manifests: what is accepted, and that each refusal names document and key
//! without echoing a value.

#![allow(clippy::unwrap_used)] // tests state their expectations by unwrapping

use gitseal::manifest::{Document, parse_documents};

fn err(yaml: &str) -> String {
    let e = parse_documents(yaml).unwrap_err();
    let text = e.to_string();
    assert!(!text.contains("hunter2"), "a value leaked into the message: {text}");
    text
}

#[test]
fn multi_document_streams_keep_kinds_apart() {
    let docs = parse_documents(
        "# comment\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata: {k: aGk=}\n---\n- a list\n",
    )
    .unwrap();
    assert!(matches!(&docs[0], Document::Other { kind: Some(k), .. } if k == "Deployment"));
    assert!(matches!(&docs[1], Document::Secret(s) if &s.data["k"][..] == b"hi"));
    assert!(matches!(&docs[2], Document::Other { kind: None, .. }));
}

#[test]
fn json_input_is_accepted() {
    let docs = parse_documents(r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"},"stringData":{"k":"v"}}"#)
        .unwrap();
    assert!(matches!(&docs[0], Document::Secret(s) if &s.data["k"][..] == b"v"));
}

#[test]
fn malformed_yaml_names_the_document() {
    let e = err("apiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: a\n");
    assert!(e.starts_with("document 2:"), "{e}");
}

#[test]
fn duplicate_keys_are_refused() {
    let e = err("apiVersion: v1\nkind: Secret\nmetadata: {name: a}\nstringData:\n  k: hunter2\n  k: hunter2\n");
    assert!(e.contains("duplicate") && e.contains("line 6"), "{e}");
    let e = err("apiVersion: v1\nkind: Secret\nmetadata: {name: a}\nstringData: {k: hunter2}\ndata: {k: aGk=}\n");
    assert!(e.contains("\"k\"") && e.contains("both data and stringData"), "{e}");
}

#[test]
fn bad_values_name_the_key_and_hide_the_value() {
    let e = err("apiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: ns}\ndata: {pw: hunter2!}\n");
    assert!(e.contains("ns/a") && e.contains("\"pw\"") && e.contains("base64"), "{e}");
    let e = err("apiVersion: v1\nkind: Secret\nmetadata: {name: a}\nstringData: {port: 5432}\n");
    assert!(e.contains("\"port\"") && !e.contains("5432"), "{e}");
    let e = err("apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata: [hunter2]\n");
    assert!(e.contains("mapping"), "{e}");
}

#[test]
fn incumbent_objects_are_told_apart_for_migrate() {
    let docs = parse_documents(
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: a}\nspec: {encryptedData: {k: AgB}}\n---\napiVersion: bitnami.com/v1alpha1\nkind: Other\n",
    )
    .unwrap();
    let Document::Incumbent(object) = &docs[0] else { panic!("{docs:?}") };
    assert!(gitseal::incumbent::is_sealed_secret(object));
    assert_eq!(object["spec"]["encryptedData"]["k"], "AgB");
    assert_eq!(object["metadata"]["name"], "a");
    assert!(matches!(&docs[1], Document::Other { kind: Some(k), .. } if k == "Other"));
}

#[test]
fn malformed_sealed_secret_is_refused() {
    let e = parse_documents("apiVersion: gitseal.dev/v1alpha1\nkind: SealedSecret\nmetadata: {name: a}\nspec: {scope: everywhere, encryptedData: {}}\n").unwrap_err();
    assert!(e.to_string().contains("document 1") && e.to_string().contains("everywhere"), "{e}");
}

#[test]
fn wipe_zeroizes_every_value() {
    let mut plain = gitseal::PlainSecret::default();
    plain.data.insert("k".to_owned(), zeroize::Zeroizing::new(b"hunter2".to_vec()));
    let mut secret = plain.to_k8s();
    secret.string_data = Some([("s".to_owned(), "plain".to_owned())].into_iter().collect());
    gitseal::manifest::wipe(&mut secret);
    assert!(secret.data.as_ref().unwrap()["k"].0.is_empty(), "zeroized and cleared");
    assert!(secret.string_data.as_ref().unwrap()["s"].is_empty());
    let guarded = gitseal::manifest::WipeOnDrop(plain.to_k8s());
    assert_eq!(guarded.data.as_ref().unwrap()["k"].0, b"hunter2", "readable until dropped");
}

#[test]
fn a_name_or_namespace_yaml_reads_as_another_type_is_named_as_such() {
    let e = err("apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: n}\nstringData: {a: hunter2}\n");
    assert!(e.contains("metadata.namespace is not a string (YAML reads false as a boolean); quote it"), "{e}");
    let e = err("apiVersion: v1\nkind: Secret\nmetadata: {name: 123, namespace: prod}\nstringData: {a: hunter2}\n");
    assert!(e.contains("metadata.name is not a string (YAML reads 123 as a number)"), "{e}");
}

#[test]
fn lists_hold_documents_and_objects_flattens_them() {
    let text = "apiVersion: v1\nkind: SecretList\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: a}\n  data: {k: aGk=}\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: web}\n- apiVersion: v1\n  kind: List\n  items: []\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
    let docs = parse_documents(text).unwrap();
    assert!(matches!(&docs[0], Document::List { kind, items } if kind == "SecretList" && items.len() == 3));
    let all = gitseal::manifest::objects(&docs);
    let places: Vec<String> = all.iter().map(|o| o.place()).collect();
    assert_eq!(places, ["document 1, item 1", "document 1, item 2", "document 1, item 3", "document 2"]);
    assert!(matches!(all[0].object, Document::Secret(s) if &s.data["k"][..] == b"hi"));
    assert!(matches!(all[2].object, Document::Other { kind: Some(k), .. } if k == "List"), "no Lists in Lists");
    let e = err(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: a}\n  data: {k: 'not base64 hunter2'}\n",
    );
    assert!(e.contains("document 1"), "{e}");
}

#[test]
fn a_bound_of_the_parser_is_named_in_words_with_what_to_do() {
    let many: Vec<String> =
        (0..1100).map(|i| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n")).collect();
    let e = err(&many.join("---\n"));
    assert!(e.contains("more than 1024 documents") && e.contains("split it"), "{e}");
    assert!(!e.contains("Documents {") && !e.contains("budget"), "no parser internals: {e}");
}
