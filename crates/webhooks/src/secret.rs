//! The endpoint signing secret: `whsec_` + standard base64 of 32 random bytes.

use std::fmt;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use ring::rand::SecureRandom;

use crate::{Error, Result};

/// What every secret starts with (Stripe's and Standard Webhooks' convention).
pub const SECRET_PREFIX: &str = "whsec_";

const SECRET_BYTES: usize = 32;

/// An endpoint's signing secret. Shown to the partner once ([`WebhookSecret::as_str`]) and
/// otherwise only kept sealed ([`crate::seal`]); its `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    /// The whole string, `whsec_…`: the key of `X-Layers-Signature`.
    text: String,
    /// The decoded bytes after `whsec_`: the key of `webhook-signature`.
    key: Vec<u8>,
}

impl WebhookSecret {
    /// A new secret from 32 bytes of the CSPRNG.
    pub fn generate(rng: &dyn SecureRandom) -> WebhookSecret {
        let mut bytes = [0u8; SECRET_BYTES];
        rng.fill(&mut bytes).expect("the system CSPRNG failed");
        WebhookSecret {
            text: format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)),
            key: bytes.to_vec(),
        }
    }

    /// Reads a secret in exactly the form [`WebhookSecret::generate`] makes: `whsec_` and the
    /// canonical, padded standard base64 of 32 bytes.
    pub fn parse(s: &str) -> Result<WebhookSecret> {
        let encoded = s
            .strip_prefix(SECRET_PREFIX)
            .ok_or(Error::MalformedSecret)?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| Error::MalformedSecret)?;
        if key.len() != SECRET_BYTES {
            return Err(Error::MalformedSecret);
        }
        Ok(WebhookSecret {
            text: s.to_owned(),
            key,
        })
    }

    /// The secret as the partner sees it, `whsec_…`. Show it once; never log it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The HMAC key of the Standard Webhooks signature: the bytes the part after `whsec_` encodes.
    pub(crate) fn standard_key(&self) -> &[u8] {
        &self.key
    }

    /// A secret of any decodable length, as other senders (and the Standard Webhooks test vector,
    /// 24 bytes) use; ours are always 32 bytes.
    #[cfg(test)]
    pub(crate) fn parse_any_length(s: &str) -> WebhookSecret {
        let encoded = s.strip_prefix(SECRET_PREFIX).unwrap();
        WebhookSecret {
            text: s.to_owned(),
            key: STANDARD.decode(encoded).unwrap(),
        }
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;

    use super::*;

    #[test]
    fn generated_secrets_have_the_contract_form_and_parse_back() {
        let rng = SystemRandom::new();
        let secret = WebhookSecret::generate(&rng);
        let text = secret.as_str();
        assert!(text.starts_with("whsec_"));
        assert_eq!(text.len(), "whsec_".len() + 44);
        assert_eq!(STANDARD.decode(&text[6..]).unwrap().len(), 32);
        assert_eq!(WebhookSecret::parse(text).unwrap(), secret);
        assert_ne!(WebhookSecret::generate(&rng), secret);
    }

    #[test]
    fn parse_refuses_other_forms() {
        let good = WebhookSecret::generate(&SystemRandom::new());
        let body = &good.as_str()[6..];
        for bad in [
            "",
            "whsec_",
            body,                                             // no prefix
            &format!("WHSEC_{body}"),                         // prefix case
            &format!("whsec_{}", &body[..40]),                // too short
            &format!("whsec_{body}AAAA"),                     // too long
            &format!("whsec_{}", body.trim_end_matches('=')), // unpadded
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",         // 24 bytes
            "whsec_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        ] {
            assert_eq!(
                WebhookSecret::parse(bad),
                Err(Error::MalformedSecret),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_is_redacted() {
        let secret = WebhookSecret::generate(&SystemRandom::new());
        let shown = format!("{secret:?} {:?}", vec![secret.clone()]);
        assert!(!shown.contains(&secret.as_str()[6..]), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
