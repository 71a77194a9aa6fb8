//! The client secret Apple Search Ads takes for its OAuth client-credentials grant: a JWT
//! signed ES256 with the partner's P-256 private key (PKCS#8 PEM), valid for an hour.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::json;

use super::AppleCredentials;

/// The audience Apple wants in the client secret, whatever the auth base URL.
pub(crate) const AUDIENCE: &str = "https://appleid.apple.com";

/// How long a client secret is valid, in seconds.
const LIFETIME: i64 = 3600;

const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const END: &str = "-----END PRIVATE KEY-----";

/// The DER inside a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
fn der(pem: &str) -> Result<Vec<u8>, String> {
    let pem = pem.trim();
    if !pem.starts_with(BEGIN) || !pem.ends_with(END) {
        return Err(if pem.contains("BEGIN EC PRIVATE KEY") {
            "the private key is a SEC1 key (BEGIN EC PRIVATE KEY): convert it to PKCS#8 with \
             `openssl pkcs8 -topk8 -nocrypt`"
                .to_owned()
        } else {
            format!("the private key is not a PEM starting with {BEGIN}")
        });
    }
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("-----"))
        .collect();
    STANDARD
        .decode(body)
        .map_err(|e| format!("the private key's PEM is not valid base64: {e}"))
}

/// The signing key of a PKCS#8 PEM, or why it is not a P-256 private key.
pub(crate) fn key_pair(pem: &str) -> Result<EcdsaKeyPair, String> {
    let der = der(pem)?;
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &SystemRandom::new())
        .map_err(|e| format!("the private key is not a PKCS#8 P-256 (ES256) key: {e}"))
}

/// The client secret for `credentials`, issued at `iat` (seconds since the epoch).
pub(crate) fn client_secret(credentials: &AppleCredentials, iat: i64) -> Result<String, String> {
    let key = key_pair(&credentials.private_key_pem)?;
    let header = json!({"alg": "ES256", "kid": credentials.key_id});
    let claims = json!({
        "sub": credentials.client_id,
        "aud": AUDIENCE,
        "iat": iat,
        "exp": iat + LIFETIME,
        "iss": credentials.team_id,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key
        .sign(&SystemRandom::new(), signing_input.as_bytes())
        .map_err(|_| "the client secret could not be signed".to_owned())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
    use serde_json::Value;

    /// A fresh P-256 key as PKCS#8 PEM, and its public key.
    fn generated() -> (String, Vec<u8>) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let encoded = STANDARD.encode(pkcs8.as_ref());
        let lines: Vec<&str> = encoded
            .as_bytes()
            .chunks(64)
            .map(|chunk| std::str::from_utf8(chunk).unwrap())
            .collect();
        let pem = format!("{BEGIN}\n{}\n{END}\n", lines.join("\n"));
        (pem, pair.public_key().as_ref().to_vec())
    }

    fn credentials(pem: &str) -> AppleCredentials {
        AppleCredentials {
            client_id: "SEARCHADS.client-1".into(),
            team_id: "SEARCHADS.team-1".into(),
            key_id: "key-1".into(),
            private_key_pem: pem.into(),
        }
    }

    fn part(segment: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
    }

    #[test]
    fn client_secret_is_a_verifiable_es256_jwt() {
        let (pem, public) = generated();
        let jwt = client_secret(&credentials(&pem), 1_700_000_000).unwrap();
        let segments: Vec<&str> = jwt.split('.').collect();
        assert_eq!(segments.len(), 3);
        assert_eq!(part(segments[0]), json!({"alg": "ES256", "kid": "key-1"}));
        assert_eq!(
            part(segments[1]),
            json!({
                "sub": "SEARCHADS.client-1",
                "aud": "https://appleid.apple.com",
                "iat": 1_700_000_000,
                "exp": 1_700_003_600,
                "iss": "SEARCHADS.team-1",
            })
        );
        let signature = URL_SAFE_NO_PAD.decode(segments[2]).unwrap();
        assert_eq!(signature.len(), 64);
        let signed = format!("{}.{}", segments[0], segments[1]);
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &public)
            .verify(signed.as_bytes(), &signature)
            .expect("the signature verifies with the key's public half");
    }

    #[test]
    fn bad_keys_are_refused_with_a_reason() {
        let (pem, _) = generated();
        assert!(credentials(&pem).check().is_ok());
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----";
        assert!(credentials(sec1).check().unwrap_err().contains("PKCS#8"));
        let garbage = format!("{BEGIN}\nnot base64!\n{END}");
        assert!(credentials(&garbage)
            .check()
            .unwrap_err()
            .contains("base64"));
        let not_a_key = format!("{BEGIN}\n{}\n{END}", STANDARD.encode(b"hello"));
        assert!(credentials(&not_a_key)
            .check()
            .unwrap_err()
            .contains("P-256"));
        let mut blank = credentials(&pem);
        blank.key_id = " ".into();
        assert_eq!(blank.check().unwrap_err(), "key_id is empty");
    }
}
