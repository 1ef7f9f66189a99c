//! The incumbent's values, sealed by the real `kubeseal` (bitnami sealed-secrets v0.40.0,
//! built from its Go module by dev/tools/incumbent/build), opened by gitseal: byte-identical,
//! for every scope, binary values, a ring of two keys, PKCS#1 and PKCS#8 keys; and the
//! wrong place, the wrong key and a changed byte refused.

#![allow(clippy::unwrap_used)] // tests state their expectations by unwrapping

use std::path::{Path, PathBuf};
use std::process::Command;

use gitseal::Scope;
use gitseal::incumbent::{IncumbentError, IncumbentKeys, label, open};
use gitseal_test_support::incumbent::incumbent_bin;

/// A fresh RSA key pair and certificate, as the incumbent's controller makes them.
fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (key, cert) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.crt")));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=sealed-secret", "-days", "2"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (key, cert)
}

/// `kubeseal --raw`: one value sealed with the real incumbent.
fn kubeseal(bin: &Path, cert: &Path, value: &Path, scope: &str, ns: &str, name: &str) -> String {
    let out = Command::new(bin.join("kubeseal"))
        .args(["--raw", "--scope", scope])
        .arg("--cert")
        .arg(cert)
        .arg("--from-file")
        .arg(value)
        .args(if ns.is_empty() { vec![] } else { vec!["--namespace", ns] })
        .args(if name.is_empty() { vec![] } else { vec!["--name", name] })
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn values_sealed_by_the_real_kubeseal_open_byte_for_byte() {
    let Some(bin) = incumbent_bin() else {
        return eprintln!("note: Go not installed; the incumbent was not built, interoperability not checked");
    };
    let dir = tempfile::tempdir().unwrap();
    let (old_key, old_cert) = key_pair(dir.path(), "old");
    let (new_key, new_cert) = key_pair(dir.path(), "new");
    // The incumbent stores PKCS#1; openssl writes PKCS#8: read both, as one ring.
    let pkcs1 = Command::new("openssl").args(["rsa", "-traditional", "-in"]).arg(&old_key).output().unwrap();
    let pkcs1 = String::from_utf8(pkcs1.stdout).unwrap();
    assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{pkcs1}");
    let ring = IncumbentKeys::from_pem(&(pkcs1 + &std::fs::read_to_string(&new_key).unwrap())).unwrap();
    assert_eq!(ring.len(), 2);

    let binary: Vec<u8> = (0..=255u8).chain(b"\0\n\r\n".iter().copied()).collect();
    let value = dir.path().join("value");
    std::fs::write(&value, &binary).unwrap();
    for (scope, flag, ns, name) in [
        (Scope::Strict, "strict", "prod", "db"),
        (Scope::NamespaceWide, "namespace-wide", "prod", ""),
        (Scope::ClusterWide, "cluster-wide", "", ""),
    ] {
        for cert in [&old_cert, &new_cert] {
            let sealed = kubeseal(&bin, cert, &value, flag, ns, name);
            let opened = open(&sealed, &label(scope, ns, name), &ring).unwrap();
            assert_eq!(&opened[..], &binary[..], "{flag}");
        }
    }

    // Sealed strict for prod/db: not as prod/web, not namespace-wide, not with a stranger's key.
    let sealed = kubeseal(&bin, &old_cert, &value, "strict", "prod", "db");
    assert_eq!(open(&sealed, "prod/web", &ring).err(), Some(IncumbentError::NoMatchingKey));
    assert_eq!(open(&sealed, "prod", &ring).err(), Some(IncumbentError::NoMatchingKey));
    let (stranger, _) = key_pair(dir.path(), "stranger");
    let stranger = IncumbentKeys::from_pem(&std::fs::read_to_string(stranger).unwrap()).unwrap();
    assert_eq!(open(&sealed, "prod/db", &stranger).err(), Some(IncumbentError::NoMatchingKey));
    // A changed byte of the AES part, and a truncated value.
    use base64::Engine as _;
    let mut bytes = base64::engine::general_purpose::STANDARD.decode(sealed.trim()).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    let tampered = base64::engine::general_purpose::STANDARD.encode(&bytes);
    assert_eq!(open(&tampered, "prod/db", &ring).err(), Some(IncumbentError::Tampered));
    assert_eq!(open("AQ==", "prod/db", &ring).err(), Some(IncumbentError::Malformed));
    assert_eq!(open("not base64!", "prod/db", &ring).err(), Some(IncumbentError::Malformed));
}
