//! Secrets at rest: AES-256-GCM under `LAYERS_MASTER_KEY`, bound to their row.

use std::fmt;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use ring::{
    aead::{self, Aad, LessSafeKey, Nonce, UnboundKey},
    rand::{SecureRandom, SystemRandom},
};

use crate::{Error, Result};

/// Bytes of the random nonce in front of every sealed value (96 bits).
pub const NONCE_LEN: usize = aead::NONCE_LEN;
/// Bytes of the authentication tag at the end of every sealed value.
pub const TAG_LEN: usize = 16;

const KEY_LEN: usize = 32;

/// The master key (`LAYERS_MASTER_KEY`, CONTRACT §3): 32 bytes that seal secrets at rest. Its
/// `Debug` is redacted.
pub struct MasterKey(LessSafeKey);

impl MasterKey {
    /// Reads the standard (padded) base64 of exactly 32 bytes.
    pub fn parse(base64: &str) -> Result<MasterKey> {
        let bytes = STANDARD
            .decode(base64.trim())
            .map_err(|_| Error::MalformedMasterKey)?;
        let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|_| Error::MalformedMasterKey)?;
        Ok(MasterKey::from_bytes(bytes))
    }

    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> MasterKey {
        let key = UnboundKey::new(&aead::AES_256_GCM, &bytes).expect("AES-256 takes 32-byte keys");
        MasterKey(LessSafeKey::new(key))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// Encrypts `plaintext` as `nonce ‖ ciphertext ‖ tag`, with a fresh random nonce.
/// `associated_data` (the row's id, say `wh_…`) is authenticated but not stored: [`open`] must be
/// given the same bytes, so a sealed value copied to another row no longer opens.
pub fn seal(key: &MasterKey, plaintext: &[u8], associated_data: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .expect("the system CSPRNG failed");
    let mut sealed = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(plaintext);
    let tag = key
        .0
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(associated_data),
            &mut sealed[NONCE_LEN..],
        )
        .expect("AES-GCM seals any plaintext under 64 GiB");
    sealed.extend_from_slice(tag.as_ref());
    sealed
}

/// Decrypts what [`seal`] produced under the same key and associated data. Any other key, other
/// associated data or a changed byte is [`Error::Open`].
pub fn open(key: &MasterKey, sealed: &[u8], associated_data: &[u8]) -> Result<Vec<u8>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(Error::Open);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::Open)?;
    let mut buffer = ciphertext.to_vec();
    let plaintext = key
        .0
        .open_in_place(nonce, Aad::from(associated_data), &mut buffer)
        .map_err(|_| Error::Open)?;
    Ok(plaintext.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAINTEXT: &[u8] = b"whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=";

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_bytes([byte; 32])
    }

    #[test]
    fn round_trip() {
        let key = key(7);
        let sealed = seal(&key, PLAINTEXT, b"wh_1");
        assert_eq!(sealed.len(), NONCE_LEN + PLAINTEXT.len() + TAG_LEN);
        assert_eq!(open(&key, &sealed, b"wh_1").unwrap(), PLAINTEXT);
        assert_eq!(open(&key, &seal(&key, b"", b""), b"").unwrap(), b"");
    }

    #[test]
    fn a_wrong_key_does_not_open() {
        let sealed = seal(&key(7), PLAINTEXT, b"wh_1");
        assert_eq!(open(&key(8), &sealed, b"wh_1"), Err(Error::Open));
    }

    #[test]
    fn a_sealed_value_moved_to_another_row_does_not_open() {
        let key = key(7);
        let sealed = seal(&key, PLAINTEXT, b"wh_1");
        assert_eq!(open(&key, &sealed, b"wh_2"), Err(Error::Open));
        assert_eq!(open(&key, &sealed, b""), Err(Error::Open));
    }

    #[test]
    fn any_changed_or_missing_byte_is_refused() {
        let key = key(7);
        let sealed = seal(&key, PLAINTEXT, b"wh_1");
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            assert_eq!(open(&key, &tampered, b"wh_1"), Err(Error::Open), "byte {i}");
        }
        for len in 0..sealed.len() {
            assert_eq!(
                open(&key, &sealed[..len], b"wh_1"),
                Err(Error::Open),
                "length {len}"
            );
        }
    }

    #[test]
    fn two_seals_of_the_same_plaintext_differ() {
        let key = key(7);
        let (a, b) = (
            seal(&key, PLAINTEXT, b"wh_1"),
            seal(&key, PLAINTEXT, b"wh_1"),
        );
        assert_ne!(a, b);
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
    }

    #[test]
    fn sealed_bytes_do_not_contain_the_plaintext() {
        let sealed = seal(&key(7), PLAINTEXT, b"wh_1");
        // Not the whole secret, nor any 8-byte piece of it.
        assert!(!PLAINTEXT
            .windows(8)
            .any(|piece| sealed.windows(8).any(|w| w == piece)));
    }

    #[test]
    fn master_key_parses_32_bytes_of_standard_base64_and_is_redacted() {
        let encoded = STANDARD.encode([9u8; 32]);
        let key = MasterKey::parse(&encoded).unwrap();
        assert_eq!(
            open(&key, &seal(&MasterKey::from_bytes([9; 32]), b"x", b""), b"").unwrap(),
            b"x"
        );
        assert_eq!(format!("{key:?}"), "MasterKey(<redacted>)");
        for bad in [
            String::new(),
            STANDARD.encode([9u8; 31]),
            STANDARD.encode([9u8; 33]),
            encoded.trim_end_matches('=').to_owned(),
            "not base64 at all, not base64 at all, not b".to_owned(),
        ] {
            assert_eq!(
                MasterKey::parse(&bad).map(|_| ()),
                Err(Error::MalformedMasterKey),
                "{bad:?}"
            );
        }
    }
}
