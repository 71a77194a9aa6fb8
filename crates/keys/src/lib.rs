//! API keys of the Layers Partner API (CONTRACT §1).
//!
//! ```
//! use layers_keys::{Access, ApiKey, Area, EnvKind, Scope, Scopes, SystemRandom};
//!
//! let key = ApiKey::parse("lp_test_AB23CD45EF67GH89_abcdefghijABCDEFGHIJ0123456789abcdefghij")?;
//! assert_eq!(key.env(), EnvKind::Sandbox);
//! assert_eq!(key.key_id().as_str(), "AB23CD45EF67GH89");
//!
//! let minted = ApiKey::mint(EnvKind::Live, &SystemRandom::new());
//! assert!(minted.expose().starts_with("lp_live_"));
//! let stored = minted.secret().hash(); // what is kept instead of the secret
//! assert!(minted.secret().verify(&stored));
//! assert!(!key.secret().verify(&stored));
//!
//! let scopes = Scopes::parse("projects:write")?;
//! assert!(scopes.allows(Scope::new(Area::Projects, Access::Read)));
//! assert!(!scopes.allows(Scope::new(Area::Content, Access::Read)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A key reads `lp_<env>_<keyId>_<secret>`: `env` is `live` or `test`, `keyId` is 16 characters
//! `[A-Z0-9]`, `secret` is 40 characters `[A-Za-z0-9]` drawn from a CSPRNG. This crate is the only
//! place that reads the prefix: [`ApiKey::parse`] turns it into an [`EnvKind`] and everything
//! downstream receives that value.
//!
//! Only an HMAC-SHA256 of the secret is stored, and verification compares in constant time.
//! Keys carry [`Scopes`] and a rate-limit [`Tier`], and can be revoked (401 for ever) or killed
//! (503 until unkilled).
//!
//! The `api_keys` table (`store`) and the key cache (`KeyCache`) are the default `store`
//! feature. With `default-features = false` this crate is parsing, minting, hashing, scopes and
//! tiers, and pulls in no database driver and no async runtime; [`EnvKind`] and the random
//! source ([`SystemRandom`]) are re-exported so that callers need neither `layers-core` nor
//! `ring`.

#[cfg(feature = "store")]
pub mod cache;
#[cfg(feature = "store")]
mod cache_store;
mod key;
mod scope;
#[cfg(feature = "store")]
pub mod store;

#[cfg(feature = "store")]
pub use cache::KeyCache;
pub use key::{ApiKey, KeyId, ParseError, Secret, SecretHash};
pub use layers_core::EnvKind;
pub use ring::rand::{SecureRandom, SystemRandom};
pub use scope::{Access, Area, Scope, ScopeError, Scopes, Tier, TierError};
#[cfg(feature = "store")]
pub use store::{Denied, KeyRecord, KeyState, MintedKey, ResolvedKey};

/// A database id of a key row (`apiKeyId`), a UUID as the contract asks.
pub type ApiKeyId = uuid::Uuid;
