//! What a hostile sealed value costs an unsealer, beside an ordinary one.
//!
//! ```text
//! cargo bench --bench hostile               # full run
//! cargo bench --bench hostile -- --quick    # a quick look
//! ```
//!
//! - `reject/*`: values the shape check refuses before age parses anything (the 40,000
//!   empty stanzas that used to cost minutes, an oversized value, a huge header line).
//! - `accepted/*`: the most expensive shapes the bounds let through, opened with no
//!   matching key, so every key trial runs: 63 X25519 stanzas against rings of 1 and 8
//!   keys, and the longest header age then has to parse.
//! - `object/*`: a whole SealedSecret that runs until the per-object key-trial budget
//!   stops it: the most one object can cost.
//! - `baseline/unseal-1-key`: an ordinary value, for ratios.

#![allow(clippy::unwrap_used)] // a benchmark states its setup by unwrapping

use std::hint::black_box;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, criterion_group, criterion_main};
use gitseal::envelope::Limits;
use gitseal::{
    Binding, Budget, KeyRing, PlainSecret, Recipients, Scope, generate_identity, open_value, seal_secret, seal_value,
    unseal_secret, unseal_value,
};
use zeroize::Zeroizing;

fn ring(n: usize) -> KeyRing {
    let mut ring = KeyRing::new();
    for _ in 0..n {
        ring.push(generate_identity());
    }
    ring
}

/// A well-formed age header of `stanzas` copies of `stanza`, a MAC and a short payload.
fn crafted(stanza: &str, stanzas: usize) -> String {
    let mut file = b"age-encryption.org/v1\n".to_vec();
    file.extend(stanza.repeat(stanzas).as_bytes());
    file.extend(format!("--- {}\n", "A".repeat(43)).as_bytes());
    file.extend([0u8; 64]);
    STANDARD.encode(file)
}

/// A real value sealed to `n` strangers: every stanza is a real X25519 share, so each
/// costs a full key agreement per key tried.
fn sealed_to_strangers(n: usize) -> String {
    let to = Recipients::new((0..n).map(|_| generate_identity().to_public())).unwrap();
    seal_value(b"v", &Binding::ClusterWide, &to).unwrap().ciphertext
}

fn reject(c: &mut Criterion) {
    let keys = ring(1);
    let mut group = c.benchmark_group("reject");
    let flood = crafted("-> a\n\n", 40_000);
    group.bench_function("40k-empty-stanzas", |b| b.iter(|| open_value(black_box(&flood), &keys, &[]).is_err()));
    let huge = "A".repeat(Limits::VALUE.max_base64() + 4);
    group.bench_function("oversized-value", |b| b.iter(|| open_value(black_box(&huge), &keys, &[]).is_err()));
    let long_line = crafted(&format!("-> {}\n\n", "a".repeat(60_000)), 1);
    group.bench_function("60k-stanza-line", |b| b.iter(|| open_value(black_box(&long_line), &keys, &[]).is_err()));
    group.finish();
}

fn accepted(c: &mut Criterion) {
    let stanzas = Limits::VALUE.max_stanzas - 1;
    let value = sealed_to_strangers(stanzas);
    let mut group = c.benchmark_group("accepted");
    for n in [1, 8] {
        let keys = ring(n);
        group.bench_function(format!("{stanzas}-x25519-stanzas-{n}-keys"), |b| {
            b.iter(|| open_value(black_box(&value), &keys, &[]).is_err())
        });
    }
    // The header age re-parses most: as many full body lines as the header bound holds.
    let body = format!("{}\n", "A".repeat(64)).repeat(Limits::VALUE.max_body_lines - 1) + "\n";
    let per = 5 + body.len();
    let longest = crafted(&format!("-> a\n{body}"), (Limits::VALUE.max_header - 100) / per);
    let keys = ring(1);
    group.bench_function("longest-header", |b| b.iter(|| open_value(black_box(&longest), &keys, &[]).is_err()));
    group.finish();
}

fn object(c: &mut Criterion) {
    // Values each sealed to 62 strangers and, last, a key of the ring: each opens only
    // after 63 trials, so the object runs until Budget::PER_OBJECT stops it. (A value no
    // key opens would stop the object at once: unsealing is all or nothing.)
    let keys = ring(4);
    let mut secret = PlainSecret { name: Some("db".into()), namespace: Some("prod".into()), ..PlainSecret::default() };
    let stanzas = Limits::VALUE.max_stanzas - 1;
    let values = Budget::PER_OBJECT / stanzas + 1;
    for i in 0..values {
        secret.data.insert(format!("key-{i}"), Zeroizing::new(vec![0x5a; 8]));
    }
    let strangers = (1..stanzas).map(|_| generate_identity().to_public());
    let to = Recipients::new(strangers.chain([keys.recipients()[3].clone()])).unwrap();
    let sealed = seal_secret(&secret, Scope::Strict, None, &to, 1).unwrap();
    let mut group = c.benchmark_group("object");
    group.sample_size(10);
    group.bench_function(format!("{values}-values-of-{stanzas}-stanzas-at-the-budget"), |b| {
        b.iter(|| unseal_secret(black_box(&sealed), &keys).is_err())
    });
    group.finish();
}

fn baseline(c: &mut Criterion) {
    let keys = ring(1);
    let to = Recipients::new(keys.recipients()).unwrap();
    let b_ = Binding::new(Scope::Strict, Some("prod"), Some("db"), "password").unwrap();
    let value = seal_value(&[0x5a; 32], &b_, &to).unwrap().ciphertext;
    let hint = [keys.ids()[0].clone()];
    let mut group = c.benchmark_group("baseline");
    group.bench_function("unseal-1-key", |b| b.iter(|| unseal_value(black_box(&value), &b_, &keys, &hint).unwrap()));
    group.finish();
}

criterion_group!(benches, baseline, reject, accepted, object);
criterion_main!(benches);
