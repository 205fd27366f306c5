//! The business's own Ed25519 key: made once, kept in a file only the business can read, and
//! used to prove possession (DPoP) on every call that carries a grant bound to it.
//!
//! The file is a private JWK (RFC 7517, RFC 8037), so other JOSE tools can read it too:
//!
//! ```json
//! {"kty":"OKP","crv":"Ed25519","x":"<public key>","d":"<32-byte seed>","kid":"<RFC 7638 thumbprint>"}
//! ```
//!
//! `x` and `d` are base64url without padding. On Unix the file is created with mode 0600, and
//! loading refuses a file that group or others may read, as `ssh` does for its keys.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use kluis_core::jose::{self, Jwk};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Key files are a few hundred bytes; a larger one is not ours, and reading it all is pointless.
const MAX_KEY_FILE: u64 = 4 * 1024;

/// A business's signing key. Grants are bound to its public half (`cnf.jkt`), so a token that
/// leaks is useless without this key.
///
/// Not `Clone`, `Serialize` or (revealing) `Debug`: the seed is wiped from memory on drop
/// (ed25519-dalek's `SigningKey` zeroizes itself) and only leaves through [`BusinessKey::save`].
pub struct BusinessKey {
    key: SigningKey,
}

impl BusinessKey {
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Result<Self> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| Error::Random(e.to_string()))?;
        Ok(Self::from_seed(&seed))
    }

    /// The key with this 32-byte seed (RFC 8032's private key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// Loads the key at `path`, or makes a new one and saves it there if there is no file yet.
    pub fn load_or_generate(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        match Self::load(path) {
            Err(Error::KeyFile { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                key.save(path)?;
                Ok(key)
            }
            other => other,
        }
    }

    /// Writes the key to a new file at `path` (mode 0600 on Unix), making the directories that
    /// lead to it if they are missing (mode 0700). Refuses to overwrite an existing file:
    /// replacing a key silently would orphan every grant bound to it.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let public = self.public_jwk();
        let seed = Zeroizing::new(URL_SAFE_NO_PAD.encode(self.key.as_bytes()));
        let text = Zeroizing::new(format!(
            "{{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"{}\",\"d\":\"{}\",\"kid\":\"{}\"}}\n",
            public.x,
            seed.as_str(),
            public.kid.as_deref().unwrap_or_default(),
        ));
        let file_error = |source| Error::KeyFile {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Directories that exist are left as they are; only new ones get 0700.
            let mut dirs = fs::DirBuilder::new();
            dirs.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt as _;
                dirs.mode(0o700);
            }
            dirs.create(parent).map_err(file_error)?;
        }
        // The mode is the file's from its creation on: never readable by others, not even briefly.
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(file_error)?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(file_error)
    }

    /// Reads a key written by [`BusinessKey::save`] (or any private Ed25519 JWK).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file_error = |source| Error::KeyFile {
            path: path.to_owned(),
            source,
        };
        let file = fs::File::open(path).map_err(file_error)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = file.metadata().map_err(file_error)?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(Error::InvalidKeyFile(format!(
                    "{} may be read by others (mode {:o}); run `chmod 600` on it",
                    path.display(),
                    mode & 0o777
                )));
            }
        }
        let mut bytes = Zeroizing::new(Vec::new());
        file.take(MAX_KEY_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(file_error)?;
        if bytes.len() as u64 > MAX_KEY_FILE {
            return Err(Error::InvalidKeyFile(format!(
                "{} is too large to be a key file",
                path.display()
            )));
        }
        Self::from_private_jwk(&bytes)
            .map_err(|why| Error::InvalidKeyFile(format!("{}: {why}", path.display())))
    }

    /// Parses a private Ed25519 JWK; the error says what is wrong without quoting the file.
    fn from_private_jwk(bytes: &[u8]) -> Result<Self, &'static str> {
        #[derive(Deserialize)]
        struct PrivateJwk {
            kty: String,
            crv: String,
            x: String,
            d: Zeroizing<String>,
        }
        let jwk: PrivateJwk =
            serde_json::from_slice(bytes).map_err(|_| "not a JSON Web Key with a private part")?;
        if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
            return Err("not an Ed25519 key");
        }
        let raw = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(jwk.d.as_bytes())
                .map_err(|_| "`d` is not base64url")?,
        );
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            raw.as_slice()
                .try_into()
                .map_err(|_| "`d` is not 32 bytes")?,
        );
        let key = Self::from_seed(&seed);
        if key.public_jwk().x != jwk.x {
            return Err("`x` does not belong to `d`");
        }
        Ok(key)
    }

    /// The public key as a JWK, with `kid` set to its thumbprint: what the vault binds grants to.
    pub fn public_jwk(&self) -> Jwk {
        Jwk::from_verifying_key(&self.key.verifying_key())
    }

    /// The RFC 7638 thumbprint of the public key: a grant's `cnf.jkt` when bound to this key.
    pub fn thumbprint(&self) -> String {
        jose::thumbprint(&self.public_jwk())
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }
}

impl fmt::Debug for BusinessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusinessKey")
            .field("thumbprint", &self.thumbprint())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("business.jwk");
        let key = BusinessKey::generate().unwrap();
        key.save(&path).unwrap();
        let loaded = BusinessKey::load(&path).unwrap();
        assert_eq!(loaded.thumbprint(), key.thumbprint());
        assert_eq!(loaded.public_jwk(), key.public_jwk());

        let text: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(text["kty"], "OKP");
        assert_eq!(text["kid"], key.thumbprint());
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(text["d"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn makes_missing_directories_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("kluis").join("business.jwk");
        let key = BusinessKey::load_or_generate(&path).unwrap();
        assert_eq!(
            BusinessKey::load(&path).unwrap().thumbprint(),
            key.thumbprint()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
            assert_eq!(mode(&dir.path().join("data")), 0o700);
            // An existing directory keeps its mode.
            let open = dir.path().join("open");
            fs::create_dir(&open).unwrap();
            fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).unwrap();
            BusinessKey::generate()
                .unwrap()
                .save(open.join("k.jwk"))
                .unwrap();
            assert_eq!(mode(&open), 0o755);
            assert_eq!(mode(&open.join("k.jwk")), 0o600);
        }
    }

    #[test]
    fn never_overwrites_and_load_or_generate_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("business.jwk");
        let first = BusinessKey::load_or_generate(&path).unwrap();
        let again = BusinessKey::load_or_generate(&path).unwrap();
        assert_eq!(first.thumbprint(), again.thumbprint());
        let other = BusinessKey::generate().unwrap();
        assert!(matches!(other.save(&path), Err(Error::KeyFile { .. })));
        assert_eq!(
            BusinessKey::load(&path).unwrap().thumbprint(),
            first.thumbprint()
        );
    }

    #[test]
    fn refuses_broken_or_mismatched_files() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(0o600);
            }
            options
                .open(&path)
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            path
        };
        let a = BusinessKey::from_seed(&[1; 32]);
        let b = BusinessKey::from_seed(&[2; 32]);
        let d = URL_SAFE_NO_PAD.encode([1u8; 32]);
        let cases = [
            ("junk", "not json".to_owned()),
            (
                "public-only",
                serde_json::to_string(&a.public_jwk()).unwrap(),
            ),
            (
                "mismatch",
                format!(
                    r#"{{"kty":"OKP","crv":"Ed25519","x":"{}","d":"{d}"}}"#,
                    b.public_jwk().x
                ),
            ),
            (
                "short",
                format!(
                    r#"{{"kty":"OKP","crv":"Ed25519","x":"{}","d":"AAAA"}}"#,
                    a.public_jwk().x
                ),
            ),
            (
                "x25519",
                format!(
                    r#"{{"kty":"OKP","crv":"X25519","x":"{}","d":"{d}"}}"#,
                    a.public_jwk().x
                ),
            ),
        ];
        for (name, text) in cases {
            let err = BusinessKey::load(write(name, &text)).unwrap_err();
            assert!(matches!(err, Error::InvalidKeyFile(_)), "{name}: {err}");
            assert!(!err.to_string().contains(&d), "never echoes the seed");
        }
        let good = write(
            "good",
            &format!(
                r#"{{"kty":"OKP","crv":"Ed25519","x":"{}","d":"{d}"}}"#,
                a.public_jwk().x
            ),
        );
        assert_eq!(
            BusinessKey::load(good).unwrap().thumbprint(),
            a.thumbprint()
        );
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_file_others_can_read() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("business.jwk");
        BusinessKey::generate().unwrap().save(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = BusinessKey::load(&path).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn debug_shows_the_thumbprint_only() {
        let key = BusinessKey::from_seed(&[9; 32]);
        let shown = format!("{key:?}");
        assert!(shown.contains(&key.thumbprint()));
        assert!(!shown.contains(&URL_SAFE_NO_PAD.encode([9u8; 32])));
    }
}
