//! The attack corpus's tools: a seeded generator, the tally that counts cases per category and
//! keeps any that got through, and the token surgery every category shares (bit flips,
//! truncation, non-canonical base64, signature malleability, hand-made signatures). Shared with
//! the server's corpus (tests/attack_server.rs), which includes this file by path.

use std::collections::{BTreeMap, HashSet};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer as _, SigningKey};
use hmac::{Hmac, KeyInit, Mac};
use proptest::prelude::RngCore;
use proptest::test_runner::{RngAlgorithm, TestRng};
use serde_json::Value;
use sha2::{Sha256, Sha384, Sha512};

/// A deterministic generator: the same seed gives the same corpus on every run.
pub struct Gen(TestRng);

impl Gen {
    pub fn new(seed: u8) -> Self {
        Gen(TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]))
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }

    /// A number in `lo..hi` (`lo < hi`).
    pub fn span(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.0.next_u64() % (hi - lo) as u64) as i64
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = vec![0; n];
        self.0.fill_bytes(&mut out);
        out
    }

    /// A short random word for ids.
    pub fn word(&mut self) -> String {
        b64(self.bytes(6))
    }
}

/// The cases of one corpus: each counted once under its category, whatever the verifier said,
/// and kept in full when the verifier accepted it.
pub struct Corpus {
    seen: HashSet<String>,
    counts: BTreeMap<&'static str, usize>,
    accepted: Vec<String>,
}

impl Corpus {
    /// A corpus in which `valid` (the genuine tokens its cases are made from) never counts as
    /// a case: a "mutation" that gives one back is skipped.
    pub fn new<'a>(valid: impl IntoIterator<Item = &'a String>) -> Self {
        Corpus {
            seen: valid.into_iter().cloned().collect(),
            counts: BTreeMap::new(),
            accepted: Vec::new(),
        }
    }

    /// Makes cases with `make` until `target` distinct new ones of `category` were judged by
    /// `accepts` (or 20 × `target` tries were made: the category's minimum then fails).
    pub fn fill(
        &mut self,
        category: &'static str,
        target: usize,
        g: &mut Gen,
        accepts: &dyn Fn(&str) -> bool,
        mut make: impl FnMut(&mut Gen) -> Option<String>,
    ) {
        let mut made = 0;
        for _ in 0..target * 20 {
            if made == target {
                break;
            }
            let Some(case) = make(g) else { continue };
            if !self.seen.insert(case.clone()) {
                continue;
            }
            made += 1;
            if accepts(&case) {
                self.accepted.push(format!("{category}: {case:?}"));
            }
        }
        *self.counts.entry(category).or_default() += made;
    }

    /// Prints the count of each category, then asserts that nothing was accepted, that each
    /// category has at least its minimum, and that the corpus has at least `total` cases.
    pub fn assert_all_refused(&self, name: &str, minimums: &[(&str, usize)], total: usize) {
        let sum: usize = self.counts.values().sum();
        eprintln!("{name}: {sum} cases, {} accepted", self.accepted.len());
        for (category, count) in &self.counts {
            eprintln!("  {category:<28} {count:>6}");
        }
        assert!(
            self.accepted.is_empty(),
            "{} attacks were accepted, the first: {:?}",
            self.accepted.len(),
            &self.accepted[..self.accepted.len().min(5)]
        );
        for (category, min) in minimums {
            let count = self.counts.get(category).copied().unwrap_or(0);
            assert!(count >= *min, "{category}: {count} cases, fewer than {min}");
        }
        assert_eq!(
            self.counts.len(),
            minimums.len(),
            "every category has a minimum"
        );
        assert!(sum >= total, "{sum} cases, fewer than {total}");
    }
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("our own base64url")
}

/// The three parts of a compact JWS.
pub fn parts(jws: &str) -> [&str; 3] {
    let mut it = jws.split('.');
    let out = [it.next(), it.next(), it.next()].map(|p| p.expect("three parts"));
    assert!(it.next().is_none());
    out
}

/// A compact JWS assembled from a header exactly as given (its `alg` too), a payload and a
/// signature.
pub fn assemble(header: &Value, payload: &[u8], signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string()),
        b64(payload),
        b64(signature)
    )
}

/// A compact JWS with a real Ed25519 signature by `key` over the header exactly as given.
pub fn ed25519_signed(header: &Value, payload: &[u8], key: &SigningKey) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(payload));
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(signature.to_bytes()))
}

/// A compact JWS with a correctly computed HMAC (`HS256`, `HS384` or `HS512`, as `header`'s
/// `alg` says) keyed with `secret`: the classic key-confusion forgery, with a public key as
/// the HMAC secret.
pub fn hmac_signed(header: &Value, payload: &[u8], secret: &[u8]) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(payload));
    let tag = match header["alg"].as_str() {
        Some("HS384") => mac::<Hmac<Sha384>>(secret, &input),
        Some("HS512") => mac::<Hmac<Sha512>>(secret, &input),
        _ => mac::<Hmac<Sha256>>(secret, &input),
    };
    format!("{input}.{}", b64(tag))
}

pub fn mac<M: Mac + KeyInit>(secret: &[u8], input: &str) -> Vec<u8> {
    let mut mac = <M as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(input.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// `jws` with one to three of its bits flipped (bits 0–6 of a character, so it stays ASCII).
pub fn bit_flip(g: &mut Gen, jws: &str) -> String {
    let mut bytes = jws.as_bytes().to_vec();
    let flips = 1 + usize::from(g.chance(20)) + usize::from(g.chance(10));
    for _ in 0..flips {
        let at = g.below(bytes.len());
        bytes[at] ^= 1 << g.below(7);
    }
    String::from_utf8(bytes).expect("ASCII with bits 0-6 flipped is ASCII")
}

/// `jws` cut short at the end, or at the start.
pub fn truncate(g: &mut Gen, jws: &str) -> String {
    let cut = g.below(jws.len());
    if g.chance(70) {
        jws[..cut].to_owned()
    } else {
        jws[cut + 1..].to_owned()
    }
}

/// `jws` with one or two of its parts re-spelled in a base64 that decodes to the same bytes
/// in a lenient decoder: `=` padding, the `+/` alphabet, set trailing bits in the last
/// character, whitespace, a percent-encoded `=`, or standard base64 altogether. `None` when
/// the chosen spelling does not apply to the chosen part (no `-` or `_` to swap, say).
pub fn non_canonical(g: &mut Gen, jws: &str) -> Option<String> {
    let original = parts(jws);
    let mut parts: Vec<String> = original.iter().map(|p| (*p).to_owned()).collect();
    let rounds = 1 + usize::from(g.chance(25));
    for _ in 0..rounds {
        let i = g.below(3);
        let part = &parts[i];
        let changed = match g.below(7) {
            0 => {
                let pad = match part.len() % 4 {
                    0 => g.below(2) + 1,
                    r => 4 - r,
                };
                format!("{part}{}", "=".repeat(pad))
            }
            1 => format!("{part}{}", "=".repeat(g.below(3) + 1)),
            2 if part.contains(['-', '_']) => part.replace('-', "+").replace('_', "/"),
            3 => set_trailing_bits(g, part)?,
            4 => {
                let at = g.below(part.len() + 1);
                let ws = *g.pick(&[" ", "\n", "\t", "\r\n", "\u{a0}"]);
                format!("{}{ws}{}", &part[..at], &part[at..])
            }
            5 if !part.len().is_multiple_of(4) => format!("{part}%3D"),
            6 => STANDARD.encode(unb64(original[i])),
            _ => return None,
        };
        parts[i] = changed;
    }
    Some(parts.join("."))
}

/// The part with the unused low bits of its last character set: the same bytes to a decoder
/// that ignores them. `None` when the length leaves no unused bits.
fn set_trailing_bits(g: &mut Gen, part: &str) -> Option<String> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let unused_mask: u8 = match part.len() % 4 {
        2 => 0b1111,
        3 => 0b11,
        _ => return None,
    };
    let last = *part.as_bytes().last()?;
    let value = ALPHABET.iter().position(|&c| c == last)? as u8;
    let noise = (g.below(usize::from(unused_mask)) + 1) as u8;
    let spelled = ALPHABET[usize::from((value & !unused_mask) | noise)] as char;
    Some(format!("{}{spelled}", &part[..part.len() - 1]))
}

/// The group order of Ed25519, little-endian.
const ED25519_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// `jws` with its Ed25519 signature's `S` replaced by `S + L`: the same signature to a
/// verifier that reduces `S` (signature malleability), refused by a strict one.
pub fn malleate(jws: &str) -> String {
    let [header, payload, signature] = parts(jws);
    let mut sig = unb64(signature);
    let mut carry = 0u16;
    for (byte, l) in sig[32..].iter_mut().zip(ED25519_L) {
        let sum = u16::from(*byte) + u16::from(l) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "S + L fits in 256 bits");
    format!("{header}.{payload}.{}", b64(sig))
}

/// `count` attackers' keys, made once (deriving a key costs a scalar multiplication).
pub fn attacker_keys(count: u8) -> Vec<SigningKey> {
    (0..count)
        .map(|i| SigningKey::from_bytes(&[200u8.wrapping_add(i); 32]))
        .collect()
}
