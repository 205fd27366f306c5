//! The key hierarchy: passphrase → Argon2id → key-encryption key → wraps the random data key;
//! the data key derives the field-encryption key and the look-up key. All key material lives in
//! zeroizing types that neither print nor clone.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use serde_json::json;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Result, StoreError};

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// A passphrase typed by the owner. It is wiped from memory when dropped and never printed.
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    pub fn new(text: impl Into<String>) -> Self {
        Self(Zeroizing::new(text.into()))
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Why this passphrase would be too weak for a new key, if it would
    /// ([`kluis_core::passphrase::weakness`]); said at sign-in to vaults made before the rule.
    pub fn weakness(&self) -> Option<String> {
        kluis_core::passphrase::weakness(&self.0)
    }

    /// Refuses a passphrase too weak for a new key, saying why.
    pub fn check_new(&self) -> std::result::Result<(), kluis_core::Error> {
        kluis_core::passphrase::check_new(&self.0)
    }
}

/// Argon2id cost parameters, stored beside the salt so they can be raised later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

impl KdfParams {
    /// OWASP's minimum recommendation for Argon2id (m = 19 MiB, t = 2, p = 1).
    pub const OWASP_MINIMUM: Self = Self {
        m_cost: 19 * 1024,
        t_cost: 2,
        p_cost: 1,
    };

    /// Refuses parameters below the OWASP minimum, so a tampered record cannot weaken the KDF,
    /// and absurdly high ones (over 1 GiB, 20 passes, 16 lanes), so it cannot hang an unlock.
    pub fn check(self) -> Result<Self> {
        let min = Self::OWASP_MINIMUM;
        if self.m_cost < min.m_cost
            || self.t_cost < min.t_cost
            || self.p_cost < min.p_cost
            || self.m_cost > 1024 * 1024
            || self.t_cost > 20
            || self.p_cost > 16
        {
            return Err(StoreError::Tampered(
                "the key record asks for Argon2id parameters outside the allowed range".into(),
            ));
        }
        Ok(self)
    }

    pub(crate) fn to_json(self, salt: &[u8]) -> String {
        json!({
            "alg": "argon2id", "v": 19,
            "m": self.m_cost, "t": self.t_cost, "p": self.p_cost,
            "salt": hex(salt),
        })
        .to_string()
    }

    pub(crate) fn from_json(text: &str) -> Result<(Self, Vec<u8>)> {
        let bad = || StoreError::Tampered("the key record is unreadable".into());
        let value: serde_json::Value = serde_json::from_str(text).map_err(|_| bad())?;
        let num = |k: &str| {
            value[k]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(bad)
        };
        if value["alg"] != "argon2id" || value["v"] != 19 {
            return Err(bad());
        }
        let params = Self {
            m_cost: num("m")?,
            t_cost: num("t")?,
            p_cost: num("p")?,
        }
        .check()?;
        let salt = unhex(value["salt"].as_str().ok_or_else(bad)?).ok_or_else(bad)?;
        if salt.len() < 16 {
            return Err(bad());
        }
        Ok((params, salt))
    }
}

/// 256 bits of key material that wipe themselves.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct Secret32([u8; 32]);

impl Secret32 {
    pub(crate) fn random() -> Result<Self> {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes)?;
        Ok(Self(bytes))
    }

    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Derives the key-encryption key from a passphrase. Slow on purpose; call it off async threads.
pub(crate) fn derive_kek(
    passphrase: &Passphrase,
    salt: &[u8],
    params: KdfParams,
) -> Result<Secret32> {
    let params = Params::new(params.m_cost, params.t_cost, params.p_cost, Some(32))
        .map_err(|_| StoreError::Tampered("invalid Argon2id parameters".into()))?;
    let mut out = Secret32([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.bytes(), salt, &mut out.0)
        .map_err(|_| StoreError::Crypto("key derivation failed"))?;
    Ok(out)
}

/// The unlocked vault's keys. Built once per process by [`crate::Vault::open`], then shared.
#[derive(ZeroizeOnDrop)]
pub struct Keys {
    /// Wipes its own key copy on drop (chacha20poly1305's `zeroize` feature).
    #[zeroize(skip)]
    field: XChaCha20Poly1305,
    lookup: [u8; 32],
    chain: [u8; 32],
    data: [u8; 32],
}

impl Keys {
    pub(crate) fn from_data_key(data_key: &Secret32) -> Self {
        let mut field_key = Zeroizing::new(blake3::derive_key(
            "kluis 2026-11 field encryption v1",
            data_key.bytes(),
        ));
        let field = XChaCha20Poly1305::new_from_slice(field_key.as_ref())
            .expect("a 32-byte key is the right length");
        field_key.zeroize();
        Self {
            field,
            lookup: blake3::derive_key("kluis 2026-11 pointer lookup v1", data_key.bytes()),
            chain: blake3::derive_key("kluis 2026-11 access log chain v1", data_key.bytes()),
            data: *data_key.bytes(),
        }
    }

    /// The keyed hash under which a name (a pointer, a grant id…) is looked up in a table.
    pub fn lookup(&self, domain: &str, name: &str) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new_keyed(&self.lookup);
        hasher.update(domain.as_bytes());
        hasher.update(&[0]);
        hasher.update(name.as_bytes());
        *hasher.finalize().as_bytes()
    }

    /// A keyed MAC over `parts` in `domain`, for facts kept in the clear that must not be
    /// edited unnoticed (a grant's expiry and revocation).
    pub fn tag(&self, domain: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new_keyed(&self.lookup);
        hasher.update(b"tag\0");
        hasher.update(domain.as_bytes());
        hasher.update(&[0]);
        for part in parts {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        *hasher.finalize().as_bytes()
    }

    /// A keyed hash for tamper-evident chains (the access log).
    pub fn chain_mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new_keyed(&self.chain);
        for part in parts {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        *hasher.finalize().as_bytes()
    }

    /// Encrypts `plaintext`, binding it to `place` (the table and row it will be stored in).
    pub fn seal(&self, place: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        seal_with(&self.field, place, plaintext)
    }

    /// Decrypts what [`Keys::seal`] made for the same `place`.
    pub fn open(&self, place: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        open_with(&self.field, place, sealed)
    }

    pub(crate) fn data_key_bytes(&self) -> &[u8; 32] {
        &self.data
    }
}

/// Wraps the data key under a key-encryption key; `binding` is authenticated with it.
pub(crate) fn wrap(kek: &Secret32, binding: &[u8], data_key: &Secret32) -> Result<Vec<u8>> {
    let cipher = XChaCha20Poly1305::new_from_slice(kek.bytes()).expect("32-byte key");
    seal_with(&cipher, binding, data_key.bytes())
}

/// Unwraps the data key; a failure means a wrong passphrase or an altered key record.
pub(crate) fn unwrap(kek: &Secret32, binding: &[u8], wrapped: &[u8]) -> Result<Secret32> {
    let cipher = XChaCha20Poly1305::new_from_slice(kek.bytes()).expect("32-byte key");
    let plain = open_with(&cipher, binding, wrapped).map_err(|_| StoreError::WrongPassphrase)?;
    let bytes: [u8; 32] = plain
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::Tampered("the wrapped data key has the wrong length".into()))?;
    Ok(Secret32(bytes))
}

fn seal_with(cipher: &XChaCha20Poly1305, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let nonce = next_nonce()?;
    let body = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| StoreError::Crypto("encryption failed"))?;
    let mut out = Vec::with_capacity(NONCE_LEN + body.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    Ok(out)
}

fn open_with(cipher: &XChaCha20Poly1305, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(StoreError::Tampered("a stored value is truncated".into()));
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at NONCE_LEN");
    cipher
        .decrypt(&XNonce::from(nonce), Payload { msg: body, aad })
        .map(Zeroizing::new)
        .map_err(|_| {
            StoreError::Tampered(
                "a stored value failed authentication (altered, or moved from another place)"
                    .into(),
            )
        })
}

/// A fresh random nonce. Nonces are not secret, so they come from a per-thread buffer filled by
/// the OS generator 170 at a time: one system call per batch of writes, not one per value.
fn next_nonce() -> Result<[u8; NONCE_LEN]> {
    const BUFFERED: usize = 170 * NONCE_LEN;
    thread_local! {
        static POOL: std::cell::RefCell<(Vec<u8>, usize)> =
            const { std::cell::RefCell::new((Vec::new(), BUFFERED)) };
    }
    POOL.with(|pool| {
        let (bytes, used) = &mut *pool.borrow_mut();
        if *used + NONCE_LEN > bytes.len() {
            bytes.resize(BUFFERED, 0);
            fill_random(bytes)?;
            *used = 0;
        }
        let nonce: [u8; NONCE_LEN] = bytes[*used..*used + NONCE_LEN]
            .try_into()
            .expect("NONCE_LEN bytes");
        *used += NONCE_LEN;
        Ok(nonce)
    })
}

pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|_| StoreError::Crypto("the system random generator failed"))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys() -> Keys {
        Keys::from_data_key(&Secret32::random().unwrap())
    }

    #[test]
    fn sealed_values_are_bound_to_their_place() {
        let keys = keys();
        let sealed = keys.seal(b"fields/a", b"hello").unwrap();
        assert_eq!(&*keys.open(b"fields/a", &sealed).unwrap(), b"hello");
        assert!(matches!(
            keys.open(b"fields/b", &sealed),
            Err(StoreError::Tampered(_))
        ));
    }

    #[test]
    fn nonces_do_not_repeat_across_refills() {
        let nonces: std::collections::HashSet<_> =
            (0..1000).map(|_| next_nonce().unwrap()).collect();
        assert_eq!(nonces.len(), 1000);
    }

    #[test]
    fn another_data_key_cannot_open() {
        let sealed = keys().seal(b"p", b"secret").unwrap();
        assert!(keys().open(b"p", &sealed).is_err());
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let keys = keys();
        for len in 0..40 {
            assert!(keys.open(b"p", &vec![0u8; len]).is_err());
        }
    }

    #[test]
    fn wrong_passphrase_does_not_unwrap() {
        let params = KdfParams::OWASP_MINIMUM;
        let salt = [7u8; 16];
        let data = Secret32::random().unwrap();
        let kek = derive_kek(&Passphrase::new("correct horse"), &salt, params).unwrap();
        let wrapped = wrap(&kek, b"bind", &data).unwrap();
        let back = unwrap(&kek, b"bind", &wrapped).unwrap();
        assert_eq!(back.bytes(), data.bytes());
        let other = derive_kek(&Passphrase::new("correct horsf"), &salt, params).unwrap();
        assert!(matches!(
            unwrap(&other, b"bind", &wrapped),
            Err(StoreError::WrongPassphrase)
        ));
        assert!(unwrap(&kek, b"other binding", &wrapped).is_err());
    }

    #[test]
    fn weak_kdf_parameters_are_refused() {
        let weak = KdfParams {
            m_cost: 1024,
            ..KdfParams::OWASP_MINIMUM
        };
        let text = weak.to_json(&[1u8; 16]);
        assert!(KdfParams::from_json(&text).is_err());
        let ok = KdfParams::OWASP_MINIMUM.to_json(&[1u8; 16]);
        assert_eq!(
            KdfParams::from_json(&ok).unwrap(),
            (KdfParams::OWASP_MINIMUM, vec![1u8; 16])
        );
    }

    #[test]
    fn lookup_hashes_separate_domains() {
        let keys = keys();
        assert_ne!(keys.lookup("field", "/a"), keys.lookup("grant", "/a"));
        assert_eq!(keys.lookup("field", "/a"), keys.lookup("field", "/a"));
    }

    proptest! {
        #[test]
        fn seal_open_round_trips(place in proptest::collection::vec(any::<u8>(), 0..64),
                                 plain in proptest::collection::vec(any::<u8>(), 0..512)) {
            let keys = keys();
            let sealed = keys.seal(&place, &plain).unwrap();
            prop_assert_eq!(&*keys.open(&place, &sealed).unwrap(), &plain);
        }

        #[test]
        fn any_flipped_bit_is_detected(plain in proptest::collection::vec(any::<u8>(), 1..64),
                                       at in any::<usize>(), bit in 0u8..8) {
            let keys = keys();
            let mut sealed = keys.seal(b"p", &plain).unwrap();
            let i = at % sealed.len();
            sealed[i] ^= 1 << bit;
            prop_assert!(keys.open(b"p", &sealed).is_err());
        }
    }
}
