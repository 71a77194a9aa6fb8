//! The two worlds a request can live in, and the trait every per-environment implementation shares.

use std::fmt;

/// Which world a request lives in: `Live` talks to real platforms and the credit ledger,
/// `Sandbox` runs deterministic fakes.
///
/// The value is derived from the API key prefix exactly once, in `layers-keys`; everything else
/// receives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EnvKind {
    Live,
    Sandbox,
}

impl EnvKind {
    /// `true` for rows and events that must carry `is_sandbox = true`.
    pub fn is_sandbox(self) -> bool {
        matches!(self, EnvKind::Sandbox)
    }

    /// The environment of a row by its `is_sandbox` column.
    pub fn from_sandbox(is_sandbox: bool) -> EnvKind {
        if is_sandbox {
            EnvKind::Sandbox
        } else {
            EnvKind::Live
        }
    }

    /// The other environment.
    pub fn other(self) -> EnvKind {
        match self {
            EnvKind::Live => EnvKind::Sandbox,
            EnvKind::Sandbox => EnvKind::Live,
        }
    }

    /// The key-prefix segment of this environment (`live` or `test`).
    pub fn key_segment(self) -> &'static str {
        match self {
            EnvKind::Live => "live",
            EnvKind::Sandbox => "test",
        }
    }
}

impl fmt::Display for EnvKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EnvKind::Live => "live",
            EnvKind::Sandbox => "sandbox",
        })
    }
}

/// Implemented by every domain type that exists once per environment (a `Live…` and a
/// `Sandbox…` value). The gateway builds one set of such values per environment at start-up and
/// hands a request the set that matches its key; code that holds one never asks the key again.
pub trait Environment: Send + Sync + 'static {
    /// The world this implementation serves.
    fn kind(&self) -> EnvKind;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sandbox_is_sandbox() {
        assert!(EnvKind::Sandbox.is_sandbox());
        assert!(!EnvKind::Live.is_sandbox());
        assert_eq!(EnvKind::Sandbox.key_segment(), "test");
        assert_eq!(EnvKind::Live.key_segment(), "live");
    }
}
