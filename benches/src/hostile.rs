//! The hostile set: SealedSecrets as large as the API server stores, crafted to cost an
//! unsealer the most, beside legitimate ones of the largest size a Secret allows.
//!
//! ```text
//!  largest_stored: create/delete objects of growing size ──▶ SizeLimit (JSON bytes)
//!  LargeSet::object(i), by i % 4:
//!    legit    1 MiB Secret value sealed to the cluster's keys      must unseal (Ready=True)
//!    flood    age headers of up to 185,000 empty stanzas            Ready=False
//!    trials   40 values sealed to 62 strangers + the cluster key   Ready=False (trial budget)
//!    garbage  random bytes                                          Ready=False
//! ```

use gitseal::crds::bounds::{MAX_KEY_IDS, MAX_SEALED_BASE64, MAX_SEALED_FILE};
use gitseal::{PlainSecret, Recipients, Scope, SealedSecret, SealedSecretSpec, generate_identity, seal_secret};
use k8s_openapi::ByteString;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use zeroize::Zeroizing;

use super::log;
use crate::Error;

/// Size of the legitimate Secret value: a Secret holds at most 1 MiB, key names included.
pub const LEGIT_VALUE: usize = 1024 * 1024 - 64;
/// Values of a `trials` object: more than the 2,048-trial budget lets through at 63
/// recipient stanzas each (32).
pub const TRIALS_VALUES: usize = 40;

/// What an object of the hostile set is, from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Legit,
    Flood,
    Trials,
    Garbage,
}

impl Kind {
    /// In the order objects are made: object `i` is `ALL[i % 4]`.
    pub const ALL: [Kind; 4] = [Kind::Legit, Kind::Flood, Kind::Trials, Kind::Garbage];

    /// Name prefix of objects of this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Legit => "legit",
            Kind::Flood => "flood",
            Kind::Trials => "trials",
            Kind::Garbage => "garbage",
        }
    }

    /// The kind of the object named `name`, if it is one of the set's.
    pub fn of_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| name.strip_prefix(k.prefix()).is_some_and(|rest| rest.starts_with('-')))
    }

    /// Whether objects of this kind must unseal (`Ready=True`); the others must be refused.
    pub fn unseals(self) -> bool {
        self == Kind::Legit
    }

    /// One line for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Legit => "a 1 MiB value sealed to the cluster's key",
            Kind::Flood => "age headers of up to 185,000 empty stanzas",
            Kind::Trials => "40 values sealed to 62 strangers + the cluster key",
            Kind::Garbage => "random bytes",
        }
    }
}

/// The largest SealedSecret the API server stored, as the JSON size of the request.
#[derive(Clone, Debug)]
pub struct SizeLimit {
    /// The largest size stored.
    pub stored: usize,
    /// The smallest size refused, if any within the search.
    pub refused: Option<usize>,
    /// What the API server said when it refused.
    pub refusal: String,
}

/// Finds, to within `resolution` bytes, the largest SealedSecret (values of base64 text)
/// the API server stores, by creating and deleting objects in `ns` between `lo` bytes
/// (which must be stored) and `hi`.
///
/// # Errors
/// [`Error::Requests`] when even `lo` is refused.
pub async fn largest_stored(
    admin: &Client,
    ns: &str,
    mut lo: usize,
    mut hi: usize,
    resolution: usize,
) -> Result<SizeLimit, Error> {
    let api: Api<SealedSecret> = Api::namespaced(admin.clone(), ns);
    let mut refusal = String::new();
    let mut refused = None;
    let mut attempt = 0usize;
    let mut probe = |size: usize| {
        attempt += 1;
        let mut object = bare(ns, &format!("size-probe-{attempt}"));
        fill(&mut object, size, "v", |chars| "A".repeat(chars));
        (json_len(&object), object)
    };
    let (size, object) = probe(lo);
    if let Err(source) = api.create(&PostParams::default(), &object).await {
        return Err(Error::Requests { what: format!("creating a SealedSecret of {size} bytes"), failed: 1, source });
    }
    let _ = api.delete(&object.metadata.name.clone().unwrap_or_default(), &DeleteParams::default()).await;
    lo = size;
    while hi - lo > resolution {
        let (size, object) = probe(lo + (hi - lo) / 2);
        match api.create(&PostParams::default(), &object).await {
            Ok(_) => {
                lo = size;
                let _ = api.delete(&object.metadata.name.clone().unwrap_or_default(), &DeleteParams::default()).await;
            }
            Err(e) => {
                refusal = match &e {
                    kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, s.message),
                    other => other.to_string(),
                };
                log(&format!("  {size} bytes refused: {refusal}"));
                hi = size;
                refused = Some(size);
            }
        }
    }
    Ok(SizeLimit { stored: lo, refused, refusal })
}

/// Builds the objects of the hostile set, each at most `target` bytes of JSON.
pub struct LargeSet {
    ns: String,
    target: usize,
    cluster: Recipients,
    /// Plaintext bytes per value of a `trials` object that fill it to `target`.
    trials_value: usize,
}

impl LargeSet {
    /// A set for namespace `ns`, objects of at most `target` bytes, legit ones sealed to
    /// `cluster`. Seals one calibration object.
    ///
    /// # Errors
    /// [`Error::Seal`].
    pub fn new(ns: &str, target: usize, cluster: Recipients) -> Result<LargeSet, Error> {
        let mut set = LargeSet { ns: ns.to_owned(), target, cluster, trials_value: 1 };
        let small = json_len(&set.trials("calibration", 1)?);
        // Each value grows by 4/3 of its plaintext; leave 8 KiB for the random size of
        // age's grease stanza in each header.
        let room = target.saturating_sub(small + 8 * 1024);
        set.trials_value = (room * 3 / 4 / TRIALS_VALUES).clamp(1, (1024 * 1024 - 4096) / TRIALS_VALUES);
        Ok(set)
    }

    /// Object `index` of the set: `Kind::ALL[index % 4]`, named `<kind>-<index>`.
    ///
    /// # Errors
    /// [`Error::Seal`].
    pub fn object(&self, index: usize) -> Result<SealedSecret, Error> {
        let kind = Kind::ALL[index % Kind::ALL.len()];
        let name = format!("{}-{index:03}", kind.prefix());
        let mut rng = Xorshift::new(index as u64 + 1);
        match kind {
            Kind::Legit => {
                let blob = Zeroizing::new(rng.printable(LEGIT_VALUE));
                let plain = self.plain(&name, [("blob".to_owned(), blob)]);
                seal_secret(&plain, Scope::Strict, None, &self.cluster, 1).map_err(Error::Seal)
            }
            Kind::Flood => {
                let mut object = bare(&self.ns, &name);
                fill(&mut object, self.target, "v", stanza_flood);
                Ok(object)
            }
            Kind::Garbage => {
                let mut object = bare(&self.ns, &name);
                fill(&mut object, self.target, "v", |chars| base64(&rng.bytes(decoded_len(chars))));
                Ok(object)
            }
            Kind::Trials => {
                let mut value = self.trials_value;
                loop {
                    let object = self.trials(&name, value)?;
                    if json_len(&object) <= self.target || value < 64 {
                        return Ok(object);
                    }
                    value -= value / 50;
                }
            }
        }
    }

    /// The bytes of JSON each object may take.
    pub fn target(&self) -> usize {
        self.target
    }

    fn plain(&self, name: &str, data: impl IntoIterator<Item = (String, Zeroizing<Vec<u8>>)>) -> PlainSecret {
        PlainSecret {
            name: Some(name.to_owned()),
            namespace: Some(self.ns.clone()),
            data: data.into_iter().collect(),
            ..PlainSecret::default()
        }
    }

    /// `TRIALS_VALUES` values of `value` bytes, each sealed to fresh strangers and, last,
    /// the cluster's keys: every value opens, after a key agreement per stanza, until the
    /// object's trial budget runs out.
    fn trials(&self, name: &str, value: usize) -> Result<SealedSecret, Error> {
        let strangers = MAX_KEY_IDS.saturating_sub(self.cluster.iter().count());
        let to = (0..strangers).map(|_| generate_identity().to_public());
        let to = Recipients::new(to.chain(self.cluster.iter().map(|(_, r)| r.clone()))).map_err(Error::Seal)?;
        let data = (0..TRIALS_VALUES).map(|i| (format!("k{i:02}"), Zeroizing::new(vec![b'x'; value])));
        seal_secret(&self.plain(name, data), Scope::Strict, None, &to, 1).map_err(Error::Seal)
    }
}

/// A SealedSecret with no values.
fn bare(ns: &str, name: &str) -> SealedSecret {
    let mut object = SealedSecret::new(name, SealedSecretSpec::default());
    object.metadata.namespace = Some(ns.to_owned());
    object
}

/// Adds values `<key>0`, `<key>1`… of at most the schema's longest value, each from
/// `make(chars)` (at most `chars` characters), until the object's JSON is within 1 KiB
/// of `target` bytes.
fn fill(object: &mut SealedSecret, target: usize, key: &str, mut make: impl FnMut(usize) -> String) {
    for i in 0.. {
        let key = format!("{key}{i}");
        // `,"key":"…"`
        let overhead = key.len() + 6;
        let room = target.saturating_sub(json_len(object) + overhead);
        if room < 1024 {
            return;
        }
        let chars = (room / 4 * 4).min(MAX_SEALED_BASE64 / 4 * 4);
        object.spec.encrypted_data.insert(key, make(chars));
    }
}

fn json_len(object: &SealedSecret) -> usize {
    serde_json::to_vec(object).map_or(usize::MAX, |v| v.len())
}

/// A well-formed age header of as many empty stanzas as fit in `chars` base64
/// characters, a MAC line and a short payload.
fn stanza_flood(chars: usize) -> String {
    const VERSION: &[u8] = b"age-encryption.org/v1\n";
    let bytes = decoded_len(chars);
    let fixed = VERSION.len() + 48 + 64;
    let stanzas = bytes.saturating_sub(fixed) / 6;
    let mut file = VERSION.to_vec();
    file.extend(b"-> a\n\n".repeat(stanzas));
    file.extend(format!("--- {}\n", "A".repeat(43)).as_bytes());
    file.extend([0u8; 64]);
    base64(&file)
}

/// Bytes whose base64 takes at most `chars` characters, and no more than the largest
/// age file an unsealer accepts: hostile values pass the size check and meet the parser.
fn decoded_len(chars: usize) -> usize {
    (chars / 4 * 3).min(MAX_SEALED_FILE)
}

/// Standard base64, by way of k8s-openapi's `ByteString` (no base64 crate here).
fn base64(bytes: &[u8]) -> String {
    match serde_json::to_value(ByteString(bytes.to_vec())) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Cheap, reproducible pseudo-random bytes: garbage needs no real randomness.
struct Xorshift(u64);

impl Xorshift {
    fn new(seed: u64) -> Xorshift {
        Xorshift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() >> 24) as u8).collect()
    }

    fn printable(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| b'!' + (self.next() % 94) as u8).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_names() {
        for (i, kind) in Kind::ALL.iter().enumerate() {
            assert_eq!(Kind::of_name(&format!("{}-{i:03}", kind.prefix())), Some(*kind));
        }
        assert_eq!(Kind::of_name("bench-000001"), None);
        assert_eq!(Kind::of_name("legitimate"), None);
    }

    #[test]
    fn filled_objects_stay_under_the_target() {
        for target in [10_000, 1_500_000, 1_600_000] {
            let mut object = bare("ns", "x");
            fill(&mut object, target, "v", stanza_flood);
            let len = json_len(&object);
            assert!(len <= target && len + 1024 + 16 > target, "{len} for {target}");
            assert!(object.spec.encrypted_data.values().all(|v| v.len() <= MAX_SEALED_BASE64));
        }
        assert_eq!(base64(b"any carnal pleas"), "YW55IGNhcm5hbCBwbGVhcw==");
    }
}
