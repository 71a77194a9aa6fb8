//! [`UrlSigner`]: the signed, expiring URLs media is served from and uploaded to.

use std::fmt;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use ring::hmac;

/// What the master key signs to make the URL key: the URL key is HMAC-SHA256(master key, label).
pub const SIGNING_LABEL: &[u8] = b"layers media url v1";

const SIG_LEN: usize = 32;

/// Signs and checks media URLs with a key derived from the master key (`LAYERS_MASTER_KEY`). Its
/// `Debug` is redacted.
#[derive(Clone)]
pub struct UrlSigner {
    key: hmac::Key,
}

/// Why a signed URL is refused. Every failure is the caller's 403 (or 404); the variants are for
/// logs and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature is genuine but `exp` has passed.
    #[error("the signed URL has expired")]
    Expired,
    /// The signature does not match the method, path and `exp`.
    #[error("the URL signature does not match")]
    Invalid,
    /// `exp` is not a canonical integer, or `sig` not the base64url (no padding) of 32 bytes.
    #[error("the URL signature is malformed")]
    Malformed,
}

impl UrlSigner {
    /// Derives the URL key from the 32-byte master key; the master key is not kept.
    pub fn new(master_key: &[u8; 32]) -> UrlSigner {
        let master = hmac::Key::new(hmac::HMAC_SHA256, master_key);
        let derived = hmac::sign(&master, SIGNING_LABEL);
        UrlSigner {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    /// The query that signs `method` (`GET` or `PUT`) on `path` until `expires_at_unix`:
    /// `exp=<unix seconds>&sig=<base64url, no padding, of HMAC-SHA256("METHOD\npath\nexp")>`.
    /// `path` is the URL's path exactly as the server will see it, without the query.
    ///
    /// # Panics
    ///
    /// If `method` is not an upper-case ASCII word (`GET`, `PUT`): a caller's bug.
    pub fn sign(&self, method: &str, path: &str, expires_at_unix: i64) -> String {
        assert!(is_method(method), "not an HTTP method: {method:?}");
        let exp = expires_at_unix.to_string();
        let tag = hmac::sign(&self.key, &message(method, path, &exp));
        format!("exp={exp}&sig={}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Checks the `exp` and `sig` query values of a request `method path` at `now_unix`: a
    /// malformed value is [`SignatureError::Malformed`], a signature for anything else (another
    /// method, path or `exp`, another key) [`SignatureError::Invalid`] (compared in constant
    /// time), and a genuine one at or after `exp` [`SignatureError::Expired`].
    pub fn verify(
        &self,
        method: &str,
        path: &str,
        exp: &str,
        sig: &str,
        now_unix: i64,
    ) -> Result<(), SignatureError> {
        if !is_method(method) {
            // Nothing is signed for it.
            return Err(SignatureError::Invalid);
        }
        let expires_at: i64 = exp.parse().map_err(|_| SignatureError::Malformed)?;
        if expires_at.to_string() != exp {
            // `+5`, `05`: one signed message has one spelling.
            return Err(SignatureError::Malformed);
        }
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| SignatureError::Malformed)?;
        if sig.len() != SIG_LEN {
            return Err(SignatureError::Malformed);
        }
        hmac::verify(&self.key, &message(method, path, exp), &sig)
            .map_err(|_| SignatureError::Invalid)?;
        if now_unix >= expires_at {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

impl fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UrlSigner(<redacted>)")
    }
}

/// An upper-case ASCII word, so it holds no newline.
fn is_method(method: &str) -> bool {
    !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase())
}

/// `METHOD \n path \n exp`: neither a method ([`is_method`]) nor `exp` (digits) holds a newline,
/// so no two requests share a message.
fn message(method: &str, path: &str, exp: &str) -> Vec<u8> {
    [method.as_bytes(), path.as_bytes(), exp.as_bytes()].join(&b'\n')
}

/// The URL of the stored object `key` as the gateway serves it (`{public_base_url}/media/{key}`),
/// signed for GET for `lifetime_secs` from now; unsigned when there is no signer (no master key:
/// the gateway then serves nothing, so the URL only names the object).
pub fn media_url(
    signer: Option<&UrlSigner>,
    public_base_url: &str,
    key: &str,
    lifetime_secs: i64,
) -> String {
    let path = format!("/media/{key}");
    match signer {
        Some(signer) => {
            let exp = chrono::Utc::now().timestamp() + lifetime_secs;
            format!("{public_base_url}{path}?{}", signer.sign("GET", &path, exp))
        }
        None => format!("{public_base_url}{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/media/upl_1/0.jpg";
    const EXP: i64 = 1_700_003_600;
    const NOW: i64 = 1_700_000_000;
    /// Computed apart from this code (Python's hmac): HMAC-SHA256 under
    /// HMAC-SHA256([7; 32], "layers media url v1") of "GET\n/media/upl_1/0.jpg\n1700003600".
    const KNOWN_SIG: &str = "CvCiFrdso_mHW4BoTzhLYRbSZN3XenSfIfeOglisTf8";
    /// The same message under the master key itself: what the signer must never produce.
    const UNDER_MASTER_KEY: &str = "BHb45ziVM7KnWC-5TdqOTQe-mU-6nXsifD6J9BatUZ0";

    fn signer() -> UrlSigner {
        UrlSigner::new(&[7; 32])
    }

    /// The `sig` value of a signed query, after checking its `exp`.
    fn sig_of(query: &str, exp: i64) -> String {
        let (exp_part, sig) = query.split_once("&sig=").unwrap();
        assert_eq!(exp_part, format!("exp={exp}"));
        sig.to_owned()
    }

    #[test]
    fn signs_with_the_derived_key_in_the_documented_format() {
        let query = signer().sign("GET", PATH, EXP);
        assert_eq!(query, format!("exp={EXP}&sig={KNOWN_SIG}"));
        assert_ne!(sig_of(&query, EXP), UNDER_MASTER_KEY);
    }

    #[test]
    fn round_trip() {
        let signer = signer();
        for method in ["GET", "PUT"] {
            let sig = sig_of(&signer.sign(method, PATH, EXP), EXP);
            assert_eq!(signer.verify(method, PATH, "1700003600", &sig, NOW), Ok(()));
            assert_eq!(
                signer.verify(method, PATH, "1700003600", &sig, EXP - 1),
                Ok(())
            );
        }
    }

    #[test]
    fn expired_at_and_after_exp() {
        let signer = signer();
        let sig = sig_of(&signer.sign("GET", PATH, EXP), EXP);
        for now in [EXP, EXP + 1, i64::MAX] {
            assert_eq!(
                signer.verify("GET", PATH, "1700003600", &sig, now),
                Err(SignatureError::Expired)
            );
        }
    }

    #[test]
    fn another_method_path_exp_or_key_is_invalid() {
        let signer = signer();
        let sig = sig_of(&signer.sign("GET", PATH, EXP), EXP);
        let invalid = Err(SignatureError::Invalid);
        assert_eq!(signer.verify("PUT", PATH, "1700003600", &sig, NOW), invalid);
        assert_eq!(signer.verify("get", PATH, "1700003600", &sig, NOW), invalid);
        assert_eq!(
            signer.verify("HEAD", PATH, "1700003600", &sig, NOW),
            invalid
        );
        for path in [
            "/media/upl_1/1.jpg",
            "/media/upl_1/0.jpg/",
            "/media/upl_1",
            "",
        ] {
            assert_eq!(signer.verify("GET", path, "1700003600", &sig, NOW), invalid);
        }
        // A later expiry, or an earlier one (which would also be expired), is not signed.
        assert_eq!(signer.verify("GET", PATH, "1700007200", &sig, NOW), invalid);
        assert_eq!(signer.verify("GET", PATH, "1600000000", &sig, NOW), invalid);
        // The fields cannot slide into one another.
        let sig2 = sig_of(&signer.sign("GET", "/a\n1", 2), 2);
        assert_eq!(signer.verify("GET\n/a", "1", "2", &sig2, 0), invalid);
        // Another master key.
        assert_eq!(
            UrlSigner::new(&[8; 32]).verify("GET", PATH, "1700003600", &sig, NOW),
            invalid
        );
        // The master key itself signing the same message.
        assert_eq!(
            signer.verify("GET", PATH, "1700003600", UNDER_MASTER_KEY, NOW),
            invalid
        );
    }

    #[test]
    fn every_changed_signature_byte_is_invalid() {
        let signer = signer();
        let sig = URL_SAFE_NO_PAD
            .decode(sig_of(&signer.sign("GET", PATH, EXP), EXP))
            .unwrap();
        for i in 0..sig.len() {
            let mut tampered = sig.clone();
            tampered[i] ^= 0x01;
            let tampered = URL_SAFE_NO_PAD.encode(&tampered);
            assert_eq!(
                signer.verify("GET", PATH, "1700003600", &tampered, NOW),
                Err(SignatureError::Invalid),
                "byte {i}"
            );
        }
    }

    #[test]
    fn malformed_values() {
        let signer = signer();
        let sig = sig_of(&signer.sign("GET", PATH, EXP), EXP);
        let malformed = Err(SignatureError::Malformed);
        for exp in [
            "",
            "abc",
            "+1700003600",
            "01700003600",
            " 1700003600",
            "1700003600.0",
            "99999999999999999999",
        ] {
            assert_eq!(
                signer.verify("GET", PATH, exp, &sig, NOW),
                malformed,
                "{exp:?}"
            );
        }
        let padded = format!("{sig}=");
        let standard = sig.replace('_', "/").replace('-', "+");
        assert_ne!(
            standard, sig,
            "the known signature has a base64url character"
        );
        for bad in [
            "",
            "not base64!",
            &sig[..42],
            &sig[..40],
            &format!("{sig}AA"),
            &padded,
            &standard,
        ] {
            assert_eq!(
                signer.verify("GET", PATH, "1700003600", bad, NOW),
                malformed,
                "{bad:?}"
            );
        }
        // Malformed wins over expired: nothing is judged from a value that does not parse.
        assert_eq!(
            signer.verify("GET", PATH, "1700003600", "", i64::MAX),
            malformed
        );
    }

    #[test]
    #[should_panic(expected = "not an HTTP method")]
    fn signing_for_a_method_with_a_newline_panics() {
        signer().sign("GET\n/a", "1", 2);
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", signer()), "UrlSigner(<redacted>)");
    }
}
