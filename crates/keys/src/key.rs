//! Parsing, minting and hashing of the key string itself.

use std::fmt;

use layers_core::EnvKind;
use ring::{hmac, rand::SecureRandom};
use thiserror::Error;

const KEY_ID_LEN: usize = 16;
const SECRET_LEN: usize = 40;
const KEY_ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Why a string is not a well-formed key. Messages name the malformed part and never echo the
/// secret.
#[derive(Debug, Error, PartialEq, Eq, Clone, Copy)]
pub enum ParseError {
    #[error("API key must start with lp_live_ or lp_test_")]
    Prefix,
    #[error("API key environment must be live or test")]
    Environment,
    #[error("API key id must be 16 characters A-Z or 0-9")]
    KeyId,
    #[error("API key secret must be 40 characters A-Z, a-z or 0-9")]
    Secret,
}

/// The public 16-character id of a key (`AB23CD45EF67GH89`); safe to log.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    pub fn parse(s: &str) -> Result<KeyId, ParseError> {
        if s.len() == KEY_ID_LEN && s.bytes().all(|b| KEY_ID_ALPHABET.contains(&b)) {
            Ok(KeyId(s.to_owned()))
        } else {
            Err(ParseError::KeyId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The secret part of a key. Its `Debug` is redacted; it is never logged or stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    fn parse(s: &str) -> Result<Secret, ParseError> {
        if s.len() == SECRET_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Secret(s.to_owned()))
        } else {
            Err(ParseError::Secret)
        }
    }

    /// The keyed hash that is stored instead of the secret.
    pub fn hash(&self) -> SecretHash {
        SecretHash(hmac::sign(&hash_key(), self.0.as_bytes()).as_ref().to_vec())
    }

    /// Checks the secret against a stored hash in constant time.
    pub fn verify(&self, stored: &SecretHash) -> bool {
        hmac::verify(&hash_key(), self.0.as_bytes(), &stored.0).is_ok()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

fn hash_key() -> hmac::Key {
    // A fixed, public domain-separation key: the secret's 238 bits of entropy make a slow hash
    // unnecessary, and HMAC gives ring's constant-time comparison in `verify`.
    hmac::Key::new(hmac::HMAC_SHA256, b"layers-partner-api/key-secret/v1")
}

/// The stored form of a secret: HMAC-SHA256 under a fixed domain key. Deliberately without
/// `PartialEq`: the only comparison is ring's constant-time verification, and a `==` that
/// would leak timing does not compile (a test holds this).
#[derive(Clone)]
pub struct SecretHash(Vec<u8>);

impl SecretHash {
    pub fn from_bytes(bytes: Vec<u8>) -> SecretHash {
        SecretHash(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

/// A whole key as a partner sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    env: EnvKind,
    key_id: KeyId,
    secret: Secret,
}

impl ApiKey {
    /// Parses `lp_<env>_<keyId>_<secret>`.
    pub fn parse(s: &str) -> Result<ApiKey, ParseError> {
        let rest = s.strip_prefix("lp_").ok_or(ParseError::Prefix)?;
        let (env, rest) = rest.split_once('_').ok_or(ParseError::Prefix)?;
        let env = match env {
            "live" => EnvKind::Live,
            "test" => EnvKind::Sandbox,
            _ => return Err(ParseError::Environment),
        };
        let (key_id, secret) = rest.split_once('_').ok_or(ParseError::KeyId)?;
        Ok(ApiKey {
            env,
            key_id: KeyId::parse(key_id)?,
            secret: Secret::parse(secret)?,
        })
    }

    /// Mints a new key from the system CSPRNG.
    pub fn mint(env: EnvKind, rng: &dyn SecureRandom) -> ApiKey {
        ApiKey {
            env,
            key_id: KeyId(random_string(rng, KEY_ID_ALPHABET, KEY_ID_LEN)),
            secret: Secret(random_string(rng, SECRET_ALPHABET, SECRET_LEN)),
        }
    }

    pub fn env(&self) -> EnvKind {
        self.env
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// The full key, secret included. Shown to its owner exactly once, at minting.
    pub fn expose(&self) -> String {
        format!(
            "lp_{}_{}_{}",
            self.env.key_segment(),
            self.key_id.0,
            self.secret.0
        )
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ApiKey(lp_{}_{}_<redacted>)",
            self.env.key_segment(),
            self.key_id.0
        )
    }
}

/// Uniform characters from `alphabet`, by rejection sampling so that no character is favoured.
fn random_string(rng: &dyn SecureRandom, alphabet: &[u8], len: usize) -> String {
    let n = alphabet.len();
    let ceiling = 256 - (256 % n); // bytes at or above this would bias the modulo
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        rng.fill(&mut buf).expect("the system CSPRNG failed");
        for &b in buf.iter().filter(|&&b| usize::from(b) < ceiling) {
            if out.len() == len {
                break;
            }
            out.push(char::from(alphabet[usize::from(b) % n]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ring::rand::SystemRandom;

    const GOOD: &str = "lp_test_AB23CD45EF67GH89_abcdefghijABCDEFGHIJ0123456789abcdefghij";

    /// Says whether `T` implements `PartialEq`, at compile time: the inherent constant applies
    /// only when the bound holds, the trait's default otherwise.
    struct Probe<T>(std::marker::PhantomData<T>);
    trait NotComparable {
        const COMPARABLE: bool = false;
    }
    impl<T> NotComparable for Probe<T> {}
    impl<T: PartialEq> Probe<T> {
        #[allow(dead_code)]
        const COMPARABLE: bool = true;
    }

    #[test]
    fn a_secret_hash_cannot_be_compared_with_eq() {
        // checked while compiling: the test does not even build once `PartialEq` is derived
        const { assert!(Probe::<Vec<u8>>::COMPARABLE, "the probe itself works") };
        const {
            assert!(
                !Probe::<SecretHash>::COMPARABLE,
                "SecretHash must not implement PartialEq: compare with verify, in constant time"
            )
        };
    }

    #[test]
    fn parses_a_well_formed_key() {
        let key = ApiKey::parse(GOOD).unwrap();
        assert_eq!(key.env(), EnvKind::Sandbox);
        assert_eq!(key.key_id().as_str(), "AB23CD45EF67GH89");
        assert_eq!(key.expose(), GOOD);
        let live = ApiKey::parse(&GOOD.replace("_test_", "_live_")).unwrap();
        assert_eq!(live.env(), EnvKind::Live);
    }

    #[test]
    fn names_the_malformed_part() {
        assert_eq!(ApiKey::parse("sk_test_x"), Err(ParseError::Prefix));
        assert_eq!(ApiKey::parse("lp_"), Err(ParseError::Prefix));
        assert_eq!(
            ApiKey::parse(&GOOD.replace("_test_", "_prod_")),
            Err(ParseError::Environment)
        );
        assert_eq!(
            ApiKey::parse(&GOOD.replace("AB23", "ab23")),
            Err(ParseError::KeyId)
        );
        assert_eq!(
            ApiKey::parse(&GOOD.replace("abcdefgh", "abcdefg")),
            Err(ParseError::Secret)
        );
        assert_eq!(ApiKey::parse(&format!("{GOOD}_")), Err(ParseError::Secret));
        assert_eq!(ApiKey::parse(&format!(" {GOOD}")), Err(ParseError::Prefix));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = ApiKey::parse(GOOD).unwrap();
        let shown = format!("{key:?} {:?} {:?}", key.secret(), key.secret().hash());
        assert!(!shown.contains("abcdefghij"), "{shown}");
    }

    #[test]
    fn minted_keys_parse_and_differ() {
        let rng = SystemRandom::new();
        let a = ApiKey::mint(EnvKind::Live, &rng);
        let b = ApiKey::mint(EnvKind::Live, &rng);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(ApiKey::parse(&a.expose()).unwrap(), a);
        assert!(a.expose().starts_with("lp_live_"));
    }

    #[test]
    fn hash_verifies_only_its_own_secret() {
        let rng = SystemRandom::new();
        let a = ApiKey::mint(EnvKind::Sandbox, &rng);
        let b = ApiKey::mint(EnvKind::Sandbox, &rng);
        let stored = a.secret().hash();
        assert!(a.secret().verify(&stored));
        assert!(!b.secret().verify(&stored));
        assert!(!a.secret().verify(&SecretHash::from_bytes(vec![0; 32])));
        assert!(!a.secret().verify(&SecretHash::from_bytes(vec![])));
    }

    proptest! {
        #[test]
        fn every_well_formed_key_round_trips(
            env in prop_oneof![Just("live"), Just("test")],
            key_id in "[A-Z0-9]{16}",
            secret in "[A-Za-z0-9]{40}",
        ) {
            let text = format!("lp_{env}_{key_id}_{secret}");
            let key = ApiKey::parse(&text).unwrap();
            prop_assert_eq!(key.expose(), text);
            prop_assert_eq!(key.key_id().as_str(), key_id.as_str());
        }

        #[test]
        fn arbitrary_input_never_panics_and_never_leaks(s in "\\PC{0,80}") {
            if let Err(e) = ApiKey::parse(&s) {
                let msg = e.to_string();
                // the message is one of four fixed sentences, whatever the input
                prop_assert!(msg.starts_with("API key "));
            }
        }

        #[test]
        fn a_wrong_length_secret_is_rejected(
            key_id in "[A-Z0-9]{16}",
            secret in "[A-Za-z0-9]{0,39}|[A-Za-z0-9]{41,60}",
        ) {
            let parsed = ApiKey::parse(&format!("lp_live_{key_id}_{secret}"));
            prop_assert_eq!(parsed, Err(ParseError::Secret));
        }

        #[test]
        fn a_bad_key_id_is_rejected(
            key_id in "[a-z0-9]{16}|[A-Z0-9]{1,15}|[A-Z0-9]{17,20}",
            secret in "[A-Za-z0-9]{40}",
        ) {
            prop_assume!(!key_id.bytes().all(|b| KEY_ID_ALPHABET.contains(&b)) || key_id.len() != 16);
            let parsed = ApiKey::parse(&format!("lp_test_{key_id}_{secret}"));
            prop_assert_eq!(parsed, Err(ParseError::KeyId));
        }
    }
}
