//! API keys of the Layers Partner API (CONTRACT §1).
//!
//! A key reads `lp_<env>_<keyId>_<secret>`: `env` is `live` or `test`, `keyId` is 16 characters
//! `[A-Z0-9]`, `secret` is 40 characters `[A-Za-z0-9]` drawn from a CSPRNG. This crate is the only
//! place that reads the prefix: [`ApiKey::parse`] turns it into an [`EnvKind`](layers_core::EnvKind)
//! and everything downstream receives that value.
//!
//! Only an HMAC-SHA256 of the secret is stored, and verification compares in constant time.
//! Keys carry [`Scopes`] and a rate-limit [`Tier`], and can be revoked (401 for ever) or killed
//! (503 until unkilled).

pub mod cache;
mod key;
mod scope;
pub mod store;

pub use cache::KeyCache;
pub use key::{ApiKey, KeyId, ParseError, Secret, SecretHash};
pub use scope::{Access, Area, Scope, ScopeError, Scopes, Tier, TierError};
pub use store::{Denied, KeyRecord, KeyState, MintedKey, ResolvedKey};

/// A database id of a key row (`apiKeyId`), a UUID as the contract asks.
pub type ApiKeyId = uuid::Uuid;
