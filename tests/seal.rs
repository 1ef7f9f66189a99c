//! Sealing and unsealing through the public API: round trips and every way a sealed
//! value must be refused.

#![allow(clippy::unwrap_used)] // tests state their expectations by unwrapping

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gitseal::manifest::{Document, parse_documents};
use gitseal::{
    Binding, Error, KeyId, KeyRing, PlainSecret, Recipients, Scope, UnsealError, generate_identity, seal_secret,
    seal_value, unseal_secret, unseal_value,
};
use proptest::prelude::*;
use zeroize::Zeroizing;

fn ring_and_recipients() -> (KeyRing, Recipients) {
    let mut ring = KeyRing::new();
    ring.push(generate_identity());
    let recipients = Recipients::new(ring.recipients()).unwrap();
    (ring, recipients)
}

fn strict(ns: &str, name: &str, key: &str) -> Binding {
    Binding::new(Scope::Strict, Some(ns), Some(name), key).unwrap()
}

fn secret(yaml: &str) -> PlainSecret {
    match parse_documents(yaml).unwrap().pop().unwrap() {
        Document::Secret(s) => s,
        other => panic!("not a Secret: {other:?}"),
    }
}

const DB: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\n  labels: {app: db}\ntype: Opaque\nstringData:\n  user: admin\n  password: hunter2\ndata:\n  blob: AAEC/w==\n";

proptest! {
    #[test]
    fn unseal_inverts_seal(value in proptest::collection::vec(any::<u8>(), 0..2048), key in "[a-zA-Z0-9._-]{1,40}") {
        prop_assume!(key != "." && key != "..");
        let (ring, recipients) = ring_and_recipients();
        let binding = strict("ns", "name", &key);
        let sealed = seal_value(&value, &binding, &recipients).unwrap();
        let opened = unseal_value(&sealed.ciphertext, &binding, &ring, &sealed.key_ids).unwrap();
        prop_assert_eq!(&opened[..], &value[..]);
    }
}

#[test]
fn whole_secret_round_trips_with_template() {
    let (ring, recipients) = ring_and_recipients();
    let plain = secret(DB);
    let sealed = seal_secret(&plain, Scope::Strict, None, &recipients, 1).unwrap();
    assert_eq!(sealed.metadata.namespace.as_deref(), Some("prod"));
    assert_eq!(sealed.spec.key_ids["password"], vec![KeyId::of(&ring.recipients()[0]).to_string()]);
    let back = unseal_secret(&sealed, &ring).unwrap();
    assert_eq!(&back.data["password"][..], b"hunter2");
    assert_eq!(&back.data["blob"][..], &[0, 1, 2, 255]);
    assert_eq!(back.labels["app"], "db");
    assert_eq!(back.type_.as_deref(), Some("Opaque"));
}

#[test]
fn several_recipients_each_open_the_value() {
    let (ring_a, _) = ring_and_recipients();
    let (ring_b, _) = ring_and_recipients();
    let both = Recipients::new(ring_a.recipients().into_iter().chain(ring_b.recipients())).unwrap();
    let binding = Binding::new(Scope::ClusterWide, None, None, "k").unwrap();
    let sealed = seal_value(b"shared", &binding, &both).unwrap();
    assert_eq!(sealed.key_ids.len(), 2);
    for ring in [&ring_a, &ring_b] {
        assert_eq!(&unseal_value(&sealed.ciphertext, &binding, ring, &[]).unwrap()[..], b"shared");
    }
}

#[test]
fn wrong_identity_is_no_matching_key() {
    let (_, recipients) = ring_and_recipients();
    let (other_ring, _) = ring_and_recipients();
    let b = strict("ns", "n", "k");
    let sealed = seal_value(b"v", &b, &recipients).unwrap();
    let hint = KeyId::hints(&["0123456789abcdef".into()]);
    let err = unseal_value(&sealed.ciphertext, &b, &other_ring, &hint).unwrap_err();
    assert_eq!(err, UnsealError::NoMatchingKey("0123456789abcdef".into()));
}

#[test]
fn tampered_and_truncated_values_are_refused() {
    let (ring, recipients) = ring_and_recipients();
    let b = strict("ns", "n", "k");
    let sealed = seal_value(b"a value long enough to matter", &b, &recipients).unwrap();
    let bytes = STANDARD.decode(&sealed.ciphertext).unwrap();

    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_eq!(unseal_value(&STANDARD.encode(&flipped), &b, &ring, &[]), Err(UnsealError::Tampered));

    let truncated = &bytes[..bytes.len() - 5];
    assert_eq!(unseal_value(&STANDARD.encode(truncated), &b, &ring, &[]), Err(UnsealError::Tampered));

    let header_only = &bytes[..40];
    assert!(matches!(unseal_value(&STANDARD.encode(header_only), &b, &ring, &[]), Err(UnsealError::Malformed(_))));
    assert_eq!(unseal_value("not base64!", &b, &ring, &[]), Err(UnsealError::Base64));
    assert!(matches!(unseal_value(&STANDARD.encode(b"plain text"), &b, &ring, &[]), Err(UnsealError::Malformed(_))));
}

#[test]
fn value_moved_to_another_key_name_or_namespace_is_refused() {
    let (ring, recipients) = ring_and_recipients();
    let sealed = seal_value(b"v", &strict("prod", "db", "password"), &recipients).unwrap();
    for elsewhere in [strict("prod", "db", "user"), strict("prod", "web", "password"), strict("dev", "db", "password")]
    {
        let err = unseal_value(&sealed.ciphertext, &elsewhere, &ring, &[]).unwrap_err();
        assert!(matches!(err, UnsealError::ScopeMismatch { .. }), "{elsewhere}: {err}");
    }
    let ns_wide =
        seal_value(b"v", &Binding::new(Scope::NamespaceWide, Some("prod"), None, "k").unwrap(), &recipients).unwrap();
    let in_prod = Binding::new(Scope::NamespaceWide, Some("prod"), Some("any"), "other").unwrap();
    assert!(unseal_value(&ns_wide.ciphertext, &in_prod, &ring, &[]).is_ok());
    let in_dev = Binding::new(Scope::NamespaceWide, Some("dev"), Some("any"), "k").unwrap();
    assert!(matches!(unseal_value(&ns_wide.ciphertext, &in_dev, &ring, &[]), Err(UnsealError::ScopeMismatch { .. })));
    // The scope an object claims must agree with the one bound inside: a strict value
    // does not open when the object claims cluster-wide.
    let claimed = Binding::new(Scope::ClusterWide, None, None, "password").unwrap();
    assert!(matches!(unseal_value(&sealed.ciphertext, &claimed, &ring, &[]), Err(UnsealError::ScopeMismatch { .. })));
}

#[test]
fn sealed_secret_copied_to_another_namespace_fails_naming_the_key() {
    let (ring, recipients) = ring_and_recipients();
    let mut sealed = seal_secret(&secret(DB), Scope::Strict, None, &recipients, 1).unwrap();
    sealed.metadata.namespace = Some("dev".into());
    let err = unseal_secret(&sealed, &ring).unwrap_err();
    assert!(
        matches!(&err, Error::Unseal { key, reason: UnsealError::ScopeMismatch { .. }, .. } if key == "blob"),
        "{err}"
    );
    assert!(!err.to_string().contains("hunter2"));
}

#[test]
fn seal_refuses_what_kubernetes_would() {
    let (_, r) = ring_and_recipients();
    let no_ns = secret("apiVersion: v1\nkind: Secret\nmetadata: {name: a}\nstringData: {k: v}\n");
    let err = seal_secret(&no_ns, Scope::Strict, None, &r, 3).unwrap_err().to_string();
    assert!(err.contains("document 3") && err.contains("namespace"), "{err}");
    assert!(seal_secret(&no_ns, Scope::ClusterWide, None, &r, 1).is_ok());

    let no_name = secret("apiVersion: v1\nkind: Secret\nmetadata: {namespace: a}\nstringData: {k: v}\n");
    assert!(seal_secret(&no_name, Scope::ClusterWide, None, &r, 1).unwrap_err().to_string().contains("metadata.name"));

    let bad_key =
        secret("apiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: b}\nstringData: {\"bad key\": v}\n");
    let err = seal_secret(&bad_key, Scope::Strict, None, &r, 1).unwrap_err();
    assert!(matches!(&err, Error::Key { key, .. } if key == "bad key"), "{err}");

    let mut big = secret("apiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: b}\n");
    big.data.insert("k".into(), Zeroizing::new(vec![0; gitseal::MAX_SECRET_SIZE]));
    assert!(seal_secret(&big, Scope::Strict, None, &r, 1).unwrap_err().to_string().contains("limit"));

    let err = seal_secret(&secret(DB), Scope::Strict, Some("dev"), &r, 1).unwrap_err().to_string();
    assert!(err.contains("says namespace \"prod\" but the namespace given is \"dev\"") && !err.contains("--"), "{err}");

    // What the controller would refuse, seal refuses first: gitseal's own metadata.
    for meta in ["labels: {gitseal.dev/key: \"true\"}", "annotations: {gitseal.dev/adopt: \"true\"}"] {
        let reserved = secret(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: a, namespace: b, {meta}}}\nstringData: {{k: v}}\n"
        ));
        let err = seal_secret(&reserved, Scope::Strict, None, &r, 2).unwrap_err().to_string();
        assert!(err.contains("document 2") && err.contains("reserved for gitseal"), "{err}");
    }
}

#[test]
fn seal_value_refuses_a_binding_built_by_hand_with_a_bad_coordinate() {
    let (_, r) = ring_and_recipients();
    let crafted = Binding::Strict { namespace: "prod".into(), name: "web token\n".into(), key: "k".into() };
    let err = seal_value(b"v", &crafted, &r).unwrap_err();
    assert!(matches!(err, Error::Binding(_)), "{err}");
}

#[test]
fn verify_flags_a_template_with_gitseal_metadata() {
    let (_, r) = ring_and_recipients();
    let mut sealed = seal_secret(&secret(DB), Scope::Strict, None, &r, 1).unwrap();
    assert!(gitseal::verify::check_sealed(&sealed, None).is_empty());
    let template = sealed.spec.template.get_or_insert_with(Default::default);
    template
        .metadata
        .get_or_insert_with(Default::default)
        .annotations
        .insert("gitseal.dev/adopt".into(), "true".into());
    let problems = gitseal::verify::check_sealed(&sealed, None);
    assert!(problems.iter().any(|p| p.message.contains("\"gitseal.dev/adopt\" is reserved")), "{problems:?}");
}

#[test]
fn sealed_size_is_age_plus_one_header_line() {
    let (_, r) = ring_and_recipients();
    let value = b"hunter2";
    let sealed = seal_value(value, &strict("production", "database-credentials", "password"), &r).unwrap();
    let file = STANDARD.decode(&sealed.ciphertext).unwrap();
    // age adds one random "-grease" stanza to every file; leave it out of the count.
    let text = String::from_utf8_lossy(&file);
    let grease: usize = text
        .split_inclusive('\n')
        .skip_while(|l| !l.contains("-grease"))
        .take_while(|l| !l.starts_with("---"))
        .enumerate()
        .take_while(|(i, l)| *i == 0 || !l.starts_with("-> "))
        .map(|(_, l)| l.len())
        .sum();
    let scope_stanza = "-> gitseal-scope strict production database-credentials password\n\n".len();
    let age_header =
        "age-encryption.org/v1\n".len() + "-> X25519 ".len() + 43 + 1 + 43 + 1 + scope_stanza + "--- ".len() + 43 + 1;
    let payload =
        format!("gitseal/v2 strict production database-credentials password to={}\n", r.iter().next().unwrap().1).len()
            + value.len();
    let (nonce, tag) = (16, 16);
    assert_eq!(file.len() - grease, age_header + nonce + payload + tag);
    // Without grease: 398 bytes → 532 base64 characters; the incumbent's 530 bytes are 708.
    assert_eq!((file.len() - grease).div_ceil(3) * 4, 532);
}

#[test]
fn no_matching_key_message_keeps_only_well_formed_ids() {
    let (_, recipients) = ring_and_recipients();
    let (other_ring, _) = ring_and_recipients();
    let b = strict("ns", "n", "k");
    let sealed = seal_value(b"v", &b, &recipients).unwrap();
    let hostile = vec!["line\nbreak".to_owned(), "0123456789abcdef".to_owned(), "x".repeat(5000)];
    let err = unseal_value(&sealed.ciphertext, &b, &other_ring, &KeyId::hints(&hostile)).unwrap_err();
    assert_eq!(err, UnsealError::NoMatchingKey("0123456789abcdef".into()));
}

#[test]
fn reseal_moves_to_the_published_key_and_keeps_only_earlier_recipients() {
    let (old_ring, old) = ring_and_recipients();
    let (break_glass_ring, break_glass) = ring_and_recipients();
    let (_, stranger) = ring_and_recipients();
    let (new_ring, new) = ring_and_recipients();
    let both = Recipients::new(old_ring.recipients().into_iter().chain(break_glass_ring.recipients())).unwrap();
    let b = strict("prod", "db", "password");
    let sealed = seal_value(b"v", &b, &both).unwrap();

    // The cluster holds the old and the new key; the caller offers the break-glass key
    // and a stranger's key.
    let mut cluster = old_ring.clone();
    cluster.extend(new_ring.clone());
    let published = new.iter().next().unwrap().1.clone();
    let offered = [break_glass.iter().next().unwrap().1.clone(), stranger.iter().next().unwrap().1.clone()];
    let result = gitseal::reseal_value(
        &sealed.ciphertext,
        &cluster,
        &[],
        &published,
        &offered,
        &[],
        &mut gitseal::Budget::default(),
    )
    .unwrap();
    assert!(result.dropped.is_empty() && result.retired.is_empty());
    let resealed = result.value;
    assert_eq!(resealed.key_ids, [new.ids(), break_glass.ids()].concat(), "published key + break-glass, no stranger");
    for ring in [&new_ring, &break_glass_ring] {
        assert_eq!(&unseal_value(&resealed.ciphertext, &b, ring, &[]).unwrap()[..], b"v");
    }
    assert!(unseal_value(&resealed.ciphertext, &b, &old_ring, &[]).is_err(), "the old key is gone");
    let opened = gitseal::open_value(&resealed.ciphertext, &new_ring, &[]).unwrap();
    assert_eq!(opened.binding, b, "binding comes from the payload");

    // Without the break-glass public key on offer it is dropped, and said so.
    let result =
        gitseal::reseal_value(&sealed.ciphertext, &cluster, &[], &published, &[], &[], &mut gitseal::Budget::default())
            .unwrap();
    assert_eq!(result.dropped, break_glass.ids());
    // A retired key is never sealed to again, even when offered; it is named apart.
    let result = gitseal::reseal_value(
        &sealed.ciphertext,
        &cluster,
        &[],
        &published,
        &offered,
        &offered[..1],
        &mut gitseal::Budget::default(),
    )
    .unwrap();
    assert_eq!((result.retired, result.value.key_ids), (break_glass.ids(), new.ids()));
    // A value the cluster cannot open is not resealed.
    let foreign = seal_value(b"v", &b, &stranger).unwrap();
    assert!(matches!(
        gitseal::reseal_value(
            &foreign.ciphertext,
            &cluster,
            &[],
            &published,
            &offered,
            &[],
            &mut gitseal::Budget::default()
        ),
        Err(UnsealError::NoMatchingKey(_))
    ));
    let _ = old;
}

/// Seals `value` as format 1 did: a `gitseal/v1` header whose `to=` lists 64-bit ids.
fn seal_v1(value: &[u8], header: &str, to: &Recipients) -> String {
    use std::io::Write as _;
    let encryptor = age::Encryptor::with_recipients(to.iter().map(|(_, r)| r as &dyn age::Recipient)).unwrap();
    let mut out = Vec::new();
    let mut writer = encryptor.wrap_output(&mut out).unwrap();
    writer.write_all(format!("{header}\n").as_bytes()).unwrap();
    writer.write_all(value).unwrap();
    writer.finish().unwrap();
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, out)
}

#[test]
fn a_64_bit_id_never_decides_whom_a_reseal_keeps() {
    let (cluster, old) = ring_and_recipients();
    let (_, glass) = ring_and_recipients();
    let (_, new) = ring_and_recipients();
    let both = Recipients::new(old.iter().chain(glass.iter()).map(|(_, r)| r.clone())).unwrap();
    let legacy: Vec<String> = both.ids().iter().map(|id| id.as_str()[..16].to_owned()).collect();
    let v1 = seal_v1(b"v", &format!("gitseal/v1 strict prod db password to={}", legacy.join(",")), &both);
    let b = strict("prod", "db", "password");
    let hint = KeyId::hints(&legacy);
    assert_eq!(&unseal_value(&v1, &b, &cluster, &hint).unwrap()[..], b"v", "format 1 still opens, legacy hint");
    let published = new.iter().next().unwrap().1.clone();
    let offered = [glass.iter().next().unwrap().1.clone()];
    let result =
        gitseal::reseal_value(&v1, &cluster, &hint, &published, &offered, &[], &mut gitseal::Budget::default())
            .unwrap();
    assert_eq!(result.value.key_ids, new.ids(), "the break-glass key is known only by a forgeable 64-bit id");
    assert_eq!(result.dropped.iter().map(|id| id.as_str()).collect::<Vec<_>>(), [legacy[1].as_str()]);
    let opened = gitseal::open_value(&result.value.ciphertext, &cluster, &[]);
    assert!(opened.is_err(), "re-sealed to the published key only");
}
