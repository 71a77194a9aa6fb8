//! Delivery signatures: `X-Layers-Signature` and the Standard Webhooks headers (CONTRACT §10),
//! and their verification.

use std::fmt::Write as _;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use ring::hmac;

use crate::{Error, EventId, EventType, Result, WebhookSecret};

pub const HEADER_LAYERS_SIGNATURE: &str = "X-Layers-Signature";
pub const HEADER_EVENT_ID: &str = "X-Layers-Event-Id";
pub const HEADER_EVENT_TYPE: &str = "X-Layers-Event-Type";
pub const HEADER_WEBHOOK_ID: &str = "webhook-id";
pub const HEADER_WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// How far a signature's timestamp may be from the verifier's clock, either way (5 minutes, as
/// Stripe and the Standard Webhooks libraries use).
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// Every header a delivery carries, in the order they are sent. `secrets` are the endpoint's valid
/// secrets, newest first: during a rotation each signature header holds one signature per secret.
pub fn delivery_headers(
    event_id: &EventId,
    event_type: EventType,
    timestamp: i64,
    body: &[u8],
    secrets: &[WebhookSecret],
) -> Result<Vec<(&'static str, String)>> {
    if secrets.is_empty() {
        return Err(Error::NoSecret);
    }
    let id = event_id.to_string();
    Ok(vec![
        (
            HEADER_LAYERS_SIGNATURE,
            layers_signature(timestamp, body, secrets),
        ),
        (HEADER_EVENT_ID, id.clone()),
        (HEADER_EVENT_TYPE, event_type.as_str().to_owned()),
        (
            HEADER_WEBHOOK_SIGNATURE,
            standard_signature(&id, timestamp, body, secrets),
        ),
        (HEADER_WEBHOOK_ID, id),
        (HEADER_WEBHOOK_TIMESTAMP, timestamp.to_string()),
    ])
}

/// The `X-Layers-Signature` value: `t=<timestamp>,v1=<hex>[,v1=<hex>…]`, each `v1` the
/// HMAC-SHA256 of `<timestamp>.<body>` keyed with the UTF-8 bytes of the whole secret string.
pub fn layers_signature(timestamp: i64, body: &[u8], secrets: &[WebhookSecret]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        let tag = hmac::sign(&layers_key(secret), &layers_signed_bytes(timestamp, body));
        header.push_str(",v1=");
        for byte in tag.as_ref() {
            let _ = write!(header, "{byte:02x}");
        }
    }
    header
}

/// The `webhook-signature` value: `v1,<base64>[ v1,<base64>…]`, each the HMAC-SHA256 of
/// `<id>.<timestamp>.<body>` keyed with the base64-decoded part of the secret after `whsec_`.
pub fn standard_signature(
    id: &str,
    timestamp: i64,
    body: &[u8],
    secrets: &[WebhookSecret],
) -> String {
    let signed = standard_signed_bytes(id, &timestamp.to_string(), body);
    let entries: Vec<String> = secrets
        .iter()
        .map(|secret| {
            let tag = hmac::sign(&standard_key(secret), &signed);
            format!("v1,{}", STANDARD.encode(tag.as_ref()))
        })
        .collect();
    entries.join(" ")
}

/// Checks an `X-Layers-Signature` header against one secret, as a partner's receiver does:
/// the timestamp must be within `tolerance_secs` of `now` (unix seconds) and at least one `v1`
/// must be the HMAC of `<t>.<body>` (compared in constant time). Other schemes (`v0=` …) are
/// ignored. Returns the signed timestamp.
pub fn verify_layers_signature(
    secret: &WebhookSecret,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: u64,
) -> Result<i64> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or(Error::MalformedSignature("every part must read name=value"))?;
        match name {
            "t" if timestamp.is_some() => {
                return Err(Error::MalformedSignature("t= appears more than once"))
            }
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| Error::MalformedSignature("t= must be unix seconds"))?,
                )
            }
            "v1" => candidates.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(Error::MalformedSignature("t= is missing"))?;
    check_tolerance(timestamp, now, tolerance_secs)?;
    let key = layers_key(secret);
    let signed = layers_signed_bytes(timestamp, body);
    let matches = candidates
        .iter()
        .filter_map(|hex| decode_hex(hex))
        .any(|tag| hmac::verify(&key, &signed, &tag).is_ok());
    if matches {
        Ok(timestamp)
    } else {
        Err(Error::NoMatchingSignature)
    }
}

/// Checks the Standard Webhooks headers against one secret, as the Standard Webhooks libraries
/// do: the timestamp must be within `tolerance_secs` of `now` (unix seconds) and at least one
/// space-separated `v1,<base64>` entry must be the HMAC of `<id>.<timestamp>.<body>` (compared
/// in constant time). Entries of other versions are ignored.
pub fn verify_standard_signature(
    secret: &WebhookSecret,
    webhook_id: &str,
    webhook_timestamp: &str,
    webhook_signature: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: u64,
) -> Result<()> {
    let timestamp = webhook_timestamp
        .parse::<i64>()
        .map_err(|_| Error::MalformedSignature("webhook-timestamp must be unix seconds"))?;
    check_tolerance(timestamp, now, tolerance_secs)?;
    let key = standard_key(secret);
    let signed = standard_signed_bytes(webhook_id, webhook_timestamp, body);
    let matches = webhook_signature
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .any(|tag| hmac::verify(&key, &signed, &tag).is_ok());
    if matches {
        Ok(())
    } else {
        Err(Error::NoMatchingSignature)
    }
}

fn layers_key(secret: &WebhookSecret) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, secret.as_str().as_bytes())
}

fn standard_key(secret: &WebhookSecret) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, secret.standard_key())
}

fn layers_signed_bytes(timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    signed
}

fn standard_signed_bytes(id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    signed
}

fn check_tolerance(timestamp: i64, now: i64, tolerance_secs: u64) -> Result<()> {
    if now.abs_diff(timestamp) > tolerance_secs {
        Err(Error::TimestampOutOfTolerance { tolerance_secs })
    } else {
        Ok(())
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let pairs = hex.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    pairs
        .map(|pair| {
            let nibble = |c: u8| char::from(c).to_digit(16);
            u8::try_from(nibble(pair[0])? << 4 | nibble(pair[1])?).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;

    use super::*;

    // The Standard Webhooks reference vector, as published by the specification's own libraries
    // (standard-webhooks/standard-webhooks, libraries/python/tests/test_webhooks.py,
    // `test_sign_function`). Its secret decodes to 24 bytes, so it is read without our 32-byte
    // check.
    const REF_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const REF_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const REF_TIMESTAMP: i64 = 1614265330;
    const REF_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const REF_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn secret() -> WebhookSecret {
        WebhookSecret::generate(&SystemRandom::new())
    }

    fn header<'a>(headers: &'a [(&'static str, String)], name: &str) -> &'a str {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap()
    }

    #[test]
    fn standard_signature_reproduces_the_reference_vector() {
        let secret = WebhookSecret::parse_any_length(REF_SECRET);
        assert_eq!(
            standard_signature(
                REF_ID,
                REF_TIMESTAMP,
                REF_BODY,
                std::slice::from_ref(&secret)
            ),
            REF_SIGNATURE
        );
        verify_standard_signature(
            &secret,
            REF_ID,
            "1614265330",
            REF_SIGNATURE,
            REF_BODY,
            REF_TIMESTAMP + 10,
            DEFAULT_TOLERANCE_SECS,
        )
        .unwrap();
    }

    #[test]
    fn layers_signature_is_the_hmac_of_t_dot_body_keyed_with_the_secret_string() {
        // Computed independently: the HMAC of "1614265330.{"test": 2432232314}" keyed with the
        // ASCII bytes of REF_SECRET (`printf %s '1614265330.{"test": 2432232314}' |
        // openssl dgst -sha256 -hmac whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`).
        let secret = WebhookSecret::parse_any_length(REF_SECRET);
        let header = layers_signature(REF_TIMESTAMP, REF_BODY, &[secret]);
        assert_eq!(header, format!("t=1614265330,v1={}", LAYERS_REF_HEX));
    }

    const LAYERS_REF_HEX: &str = "2e37df5d4a028c51a7f3133d64ae1e300d2c2c900f1b1d49d4369ad2530f8964";

    #[test]
    fn delivery_headers_carry_both_schemes_and_the_event() {
        let secret = secret();
        let id = EventId::generate(&SystemRandom::new());
        let body = br#"{"id":"x"}"#;
        let headers = delivery_headers(
            &id,
            EventType::JobSucceeded,
            1_700_000_000,
            body,
            std::slice::from_ref(&secret),
        )
        .unwrap();
        let names: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "X-Layers-Signature",
                "X-Layers-Event-Id",
                "X-Layers-Event-Type",
                "webhook-signature",
                "webhook-id",
                "webhook-timestamp"
            ]
        );
        assert_eq!(header(&headers, "X-Layers-Event-Id"), id.to_string());
        assert_eq!(header(&headers, "webhook-id"), id.to_string());
        assert_eq!(header(&headers, "X-Layers-Event-Type"), "job.succeeded");
        assert_eq!(header(&headers, "webhook-timestamp"), "1700000000");
        let layers = header(&headers, "X-Layers-Signature");
        assert!(layers.starts_with("t=1700000000,v1="));
        assert_eq!(layers.len(), "t=1700000000,v1=".len() + 64);
        assert_eq!(
            verify_layers_signature(&secret, layers, body, 1_700_000_000, 0),
            Ok(1_700_000_000)
        );
        verify_standard_signature(
            &secret,
            header(&headers, "webhook-id"),
            header(&headers, "webhook-timestamp"),
            header(&headers, "webhook-signature"),
            body,
            1_700_000_000,
            0,
        )
        .unwrap();
        assert_eq!(
            delivery_headers(&id, EventType::TestPing, 1, body, &[]),
            Err(Error::NoSecret)
        );
    }

    #[test]
    fn during_a_rotation_each_header_carries_one_signature_per_secret_newest_first() {
        let (new, old, other) = (secret(), secret(), secret());
        let body = b"{}";
        let t = 1_700_000_000;
        let both = [new.clone(), old.clone()];

        let layers = layers_signature(t, body, &both);
        let single_new = layers_signature(t, body, std::slice::from_ref(&new));
        let single_old = layers_signature(t, body, std::slice::from_ref(&old));
        assert_eq!(
            layers,
            format!(
                "{single_new},v1={}",
                &single_old["t=1700000000,v1=".len()..]
            )
        );

        let standard = standard_signature("evt_1", t, body, &both);
        assert_eq!(
            standard,
            format!(
                "{} {}",
                standard_signature("evt_1", t, body, std::slice::from_ref(&new)),
                standard_signature("evt_1", t, body, std::slice::from_ref(&old))
            )
        );

        for secret in [&new, &old] {
            assert_eq!(verify_layers_signature(secret, &layers, body, t, 0), Ok(t));
            verify_standard_signature(secret, "evt_1", "1700000000", &standard, body, t, 0)
                .unwrap();
        }
        assert_eq!(
            verify_layers_signature(&other, &layers, body, t, 0),
            Err(Error::NoMatchingSignature)
        );
        assert_eq!(
            verify_standard_signature(&other, "evt_1", "1700000000", &standard, body, t, 0),
            Err(Error::NoMatchingSignature)
        );
    }

    #[test]
    fn verification_refuses_a_changed_body_id_timestamp_or_signature() {
        let secret = secret();
        let (t, body) = (1_700_000_000, br#"{"a":1}"#);
        let layers = layers_signature(t, body, std::slice::from_ref(&secret));
        let standard = standard_signature("evt_1", t, body, std::slice::from_ref(&secret));

        assert_eq!(
            verify_layers_signature(&secret, &layers, br#"{"a":2}"#, t, 300),
            Err(Error::NoMatchingSignature)
        );
        let moved_t = layers.replacen("t=1700000000", "t=1700000001", 1);
        assert_eq!(
            verify_layers_signature(&secret, &moved_t, body, t, 300),
            Err(Error::NoMatchingSignature)
        );
        let flipped = format!(
            "{}{}",
            &layers[..layers.len() - 1],
            if layers.ends_with('0') { '1' } else { '0' }
        );
        assert_eq!(
            verify_layers_signature(&secret, &flipped, body, t, 300),
            Err(Error::NoMatchingSignature)
        );

        let verify = |id: &str, ts: &str, sig: &str, body: &[u8]| {
            verify_standard_signature(&secret, id, ts, sig, body, t, 300)
        };
        assert_eq!(
            verify("evt_1", "1700000000", &standard, br#"{"a":2}"#),
            Err(Error::NoMatchingSignature)
        );
        assert_eq!(
            verify("evt_2", "1700000000", &standard, body),
            Err(Error::NoMatchingSignature)
        );
        assert_eq!(
            verify("evt_1", "1700000001", &standard, body),
            Err(Error::NoMatchingSignature)
        );
        assert_eq!(
            verify("evt_1", "1700000000", &standard.replace("v1,", "v2,"), body),
            Err(Error::NoMatchingSignature)
        );
        assert_eq!(
            verify("evt_1", "1700000000", "", body),
            Err(Error::NoMatchingSignature)
        );
        assert_eq!(verify("evt_1", "1700000000", &standard, body), Ok(()));
    }

    #[test]
    fn verification_enforces_the_tolerance_window_both_ways() {
        let secret = secret();
        let (t, body) = (1_700_000_000, b"{}");
        let layers = layers_signature(t, body, std::slice::from_ref(&secret));
        let standard = standard_signature("evt_1", t, body, std::slice::from_ref(&secret));
        for (now, ok) in [
            (t + 300, true),
            (t - 300, true),
            (t + 301, false),
            (t - 301, false),
        ] {
            let expected_err = Error::TimestampOutOfTolerance {
                tolerance_secs: 300,
            };
            let l = verify_layers_signature(&secret, &layers, body, now, 300);
            let s = verify_standard_signature(
                &secret,
                "evt_1",
                "1700000000",
                &standard,
                body,
                now,
                300,
            );
            if ok {
                assert_eq!((l, s), (Ok(t), Ok(())));
            } else {
                assert_eq!((l, s), (Err(expected_err.clone()), Err(expected_err)));
            }
        }
    }

    #[test]
    fn malformed_headers_are_refused_without_panicking() {
        let secret = secret();
        let body = b"{}";
        for header in [
            "",
            "t",
            "v1=00",
            "t=abc,v1=00",
            "t=1,t=1,v1=00",
            "t=1,garbage",
        ] {
            assert!(
                matches!(
                    verify_layers_signature(&secret, header, body, 1, 300),
                    Err(Error::MalformedSignature(_))
                ),
                "{header:?}"
            );
        }
        for header in [
            "t=1,v1=zz",
            "t=1,v1=abc",
            "t=1,v1=ééé",
            "t=1,v1=",
            "t=1,v1=+f",
        ] {
            assert_eq!(
                verify_layers_signature(&secret, header, body, 1, 300),
                Err(Error::NoMatchingSignature),
                "{header:?}"
            );
        }
        for ts in ["", "abc", "1.5", "99999999999999999999"] {
            assert!(matches!(
                verify_standard_signature(&secret, "evt_1", ts, "v1,AAAA", body, 1, 300),
                Err(Error::MalformedSignature(_))
            ));
        }
        assert_eq!(
            verify_standard_signature(
                &secret,
                "evt_1",
                "1",
                "v1,not base64!! v1, v1",
                body,
                1,
                300
            ),
            Err(Error::NoMatchingSignature)
        );
        // Far-apart clocks overflow nothing.
        assert!(verify_layers_signature(
            &secret,
            &format!("t={},v1=00", i64::MIN),
            body,
            i64::MAX,
            300
        )
        .is_err());
    }
}
