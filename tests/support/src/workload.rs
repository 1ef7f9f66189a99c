//! The ordinary workload: SealedSecrets of 3 values × 32 bytes, sealed to the cluster's
//! published keys, created many requests at a time.

use futures::StreamExt;
use gitseal::{PlainSecret, Recipients, Scope, SealedSecret, seal_secret};
use kube::Client;
use kube::api::{Api, PostParams};
use zeroize::Zeroizing;

use crate::Error;

/// Data keys of every ordinary Secret (3 values of 32 bytes).
pub const KEYS: [&str; 3] = ["username", "password", "token"];

/// 32 printable bytes, different for every (index, key); no randomness crate needed.
pub fn value(index: usize, key: usize) -> Vec<u8> {
    let mut x =
        (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (key as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..32)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % ALPHABET.len() as u64) as usize]
        })
        .collect()
}

/// Name of the `index`th ordinary object: `bench-000042`.
pub fn name(index: usize) -> String {
    format!("bench-{index:06}")
}

/// `n` ordinary SealedSecrets for namespace `ns` (strict scope), sealed on every core.
///
/// # Errors
/// [`Error::Seal`], [`Error::SealThreadPanicked`].
pub fn seal_all(ns: &str, n: usize, recipients: &Recipients) -> Result<Vec<SealedSecret>, Error> {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).max(1);
    let chunk = n.div_ceil(threads).max(1);
    let indices: Vec<usize> = (0..n).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = indices
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|&i| {
                            let mut plain = PlainSecret {
                                name: Some(name(i)),
                                namespace: Some(ns.to_owned()),
                                ..PlainSecret::default()
                            };
                            for (k, key) in KEYS.iter().enumerate() {
                                plain.data.insert((*key).to_owned(), Zeroizing::new(value(i, k)));
                            }
                            seal_secret(&plain, Scope::Strict, None, recipients, 1).map_err(Error::Seal)
                        })
                        .collect::<Result<Vec<_>, Error>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(n);
        for h in handles {
            out.extend(h.join().map_err(|_| Error::SealThreadPanicked)??);
        }
        Ok(out)
    })
}

/// Creates `sealed` (each in its own namespace) with `concurrency` requests in flight.
///
/// # Errors
/// [`Error::Requests`] with the first failure, when any create failed.
pub async fn create_sealed(client: Client, sealed: Vec<SealedSecret>, concurrency: usize) -> Result<(), Error> {
    let pp = PostParams::default();
    let results: Vec<Result<(), kube::Error>> = futures::stream::iter(sealed)
        .map(|s| {
            let api: Api<SealedSecret> = Api::namespaced(client.clone(), s.metadata.namespace.as_deref().unwrap_or(""));
            let pp = pp.clone();
            async move { api.create(&pp, &s).await.map(|_| ()) }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    first_error(results, "creating a SealedSecret")
}

/// Ok, or [`Error::Requests`] counting the failures and carrying the first.
///
/// # Errors
/// As said.
pub fn first_error(results: Vec<Result<(), kube::Error>>, what: &str) -> Result<(), Error> {
    let failed = results.iter().filter(|r| r.is_err()).count();
    match results.into_iter().find_map(Result::err) {
        Some(source) => Err(Error::Requests { what: what.into(), failed, source }),
        None => Ok(()),
    }
}

/// The `Ready` condition's status (`"True"`/`"False"`) once it describes the object's
/// current generation.
pub fn ready_status(s: &SealedSecret) -> Option<&str> {
    let status = s.status.as_ref()?;
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
    (status.observed_generation == s.metadata.generation).then_some(ready.status.as_str())
}

/// Whether the SealedSecret says `Ready=True`.
pub fn is_ready(s: &SealedSecret) -> bool {
    s.status.as_ref().is_some_and(|st| st.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}
