//! Cost of sealing and unsealing, and the size of sealed values.
//!
//! ```text
//! cargo bench --bench seal                 # full run
//! cargo bench --bench seal -- --quick      # a quick look
//! bash benches/rsa_baseline.sh             # RSA-4096 OAEP decryption beside unseal/1-key
//! ```
//!
//! Before measuring, it prints to stderr the sealed size (base64 characters) for 1–3
//! recipients and values of 0, 32 and 1024 bytes. age adds one random "grease" stanza
//! to every file, so sizes vary between seals: the table gives min / mean / max, and the
//! exact size without the grease stanza.

#![allow(clippy::unwrap_used)] // a benchmark states its setup by unwrapping

use std::hint::black_box;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, criterion_group, criterion_main};
use gitseal::unseal_value;
use gitseal::{Binding, KeyId, KeyRing, PlainSecret, Recipients, Scope, generate_identity, seal_secret, seal_value};
use zeroize::Zeroizing;

fn db() -> Binding {
    Binding::new(Scope::Strict, Some("prod"), Some("db"), "password").unwrap()
}

/// A ring of `n` fresh keys and the recipients of its last key only.
fn ring(n: usize) -> (KeyRing, Recipients, KeyId) {
    let mut ring = KeyRing::new();
    let ids: Vec<KeyId> = (0..n).map(|_| ring.push(generate_identity())).collect();
    let last = ring.recipients().pop().unwrap();
    (ring, Recipients::new([last]).unwrap(), ids.last().unwrap().clone())
}

fn seal(c: &mut Criterion) {
    let (_, recipients, _) = ring(1);
    let mut group = c.benchmark_group("seal");
    for (label, len) in [("32B", 32), ("4KiB", 4096)] {
        let value = vec![0x5a; len];
        group.bench_function(label, |b| b.iter(|| seal_value(black_box(&value), &db(), &recipients).unwrap()));
    }
    group.finish();
}

fn unseal(c: &mut Criterion) {
    let mut group = c.benchmark_group("unseal");
    let (one, recipients, id) = ring(1);
    let sealed = seal_value(&[0x5a; 32], &db(), &recipients).unwrap().ciphertext;
    let hint = [id];
    group.bench_function("1-key", |b| b.iter(|| unseal_value(black_box(&sealed), &db(), &one, &hint).unwrap()));

    // Ten keys, the right one last: with the recorded key id it is tried first;
    // without, age tries the nine others before it.
    let (ten, recipients, id) = ring(10);
    let sealed = seal_value(&[0x5a; 32], &db(), &recipients).unwrap().ciphertext;
    let hint = [id];
    group
        .bench_function("10-keys-hinted", |b| b.iter(|| unseal_value(black_box(&sealed), &db(), &ten, &hint).unwrap()));
    group
        .bench_function("10-keys-unhinted", |b| b.iter(|| unseal_value(black_box(&sealed), &db(), &ten, &[]).unwrap()));
    group.finish();
}

fn seal_ten_key_secret(c: &mut Criterion) {
    let (_, recipients, _) = ring(1);
    let mut secret = PlainSecret { name: Some("db".into()), namespace: Some("prod".into()), ..PlainSecret::default() };
    for i in 0..10 {
        secret.data.insert(format!("key-{i}"), Zeroizing::new(vec![0x5a; 32]));
    }
    c.bench_function("seal_secret/10-keys", |b| {
        b.iter(|| seal_secret(black_box(&secret), Scope::Strict, None, &recipients, 1).unwrap())
    });
}

/// Base64 length of a sealed value without its grease stanza (which age adds at random).
fn without_grease(ciphertext: &str) -> usize {
    let file = STANDARD.decode(ciphertext).unwrap();
    let mut grease = 0;
    let mut in_grease = false;
    for line in file.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"---") {
            break;
        }
        if line.starts_with(b"-> ") {
            let tag = line[3..].split(|&b| b == b' ' || b == b'\n').next().unwrap_or_default();
            in_grease = tag.ends_with(b"-grease");
            grease += if in_grease { line.len() } else { 0 };
        } else if in_grease {
            grease += line.len();
            // A stanza body ends with its first line shorter than 64 columns.
            in_grease = line.len() == 65;
        }
    }
    (file.len() - grease).div_ceil(3) * 4
}

/// Prints the sealed-size table once, before the measurements.
fn size_table(_: &mut Criterion) {
    const SAMPLES: usize = 200;
    eprintln!("\nsealed size, base64 characters (strict prod/db/password, {SAMPLES} seals each)");
    eprintln!("recipients  value  no-grease   min  mean   max");
    for n in 1..=3 {
        let recipients = Recipients::new((0..n).map(|_| generate_identity().to_public())).unwrap();
        for len in [0, 32, 1024] {
            let sizes: Vec<(usize, usize)> = (0..SAMPLES)
                .map(|_| {
                    let sealed = seal_value(&vec![0x5a; len], &db(), &recipients).unwrap();
                    let file = STANDARD.decode(&sealed.ciphertext).unwrap();
                    assert_eq!(file.windows(10).filter(|w| w == b"\n-> X25519").count(), n);
                    (sealed.ciphertext.len(), without_grease(&sealed.ciphertext))
                })
                .collect();
            let bare = sizes[0].1;
            assert!(sizes.iter().all(|s| s.1 == bare), "size without grease must not vary");
            let min = sizes.iter().map(|s| s.0).min().unwrap();
            let max = sizes.iter().map(|s| s.0).max().unwrap();
            let mean = sizes.iter().map(|s| s.0).sum::<usize>() / SAMPLES;
            eprintln!("{n:>10}  {len:>5}  {bare:>9}  {min:>4}  {mean:>4}  {max:>4}");
        }
    }
    eprintln!();
}

criterion_group!(benches, size_table, seal, unseal, seal_ten_key_secret);
criterion_main!(benches);
