//! Scopes (`projects:read`, `*`) and rate-limit tiers.

use std::fmt;

use layers_core::EnvKind;
use thiserror::Error;

macro_rules! areas {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// An area of the API that scopes grant access to.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Area { $($variant),+ }

        impl Area {
            pub const ALL: &'static [Area] = &[$(Area::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Area::$variant => $name),+ }
            }

            fn parse(s: &str) -> Option<Area> {
                match s { $($name => Some(Area::$variant),)+ _ => None }
            }
        }
    };
}

areas! {
    Projects => "projects",
    Content => "content",
    Social => "social",
    Publishing => "publishing",
    Metrics => "metrics",
    Ingest => "ingest",
    Jobs => "jobs",
    Webhooks => "webhooks",
    Ads => "ads",
    Credits => "credits",
}

/// Read or write access to an area.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    Read,
    Write,
}

/// One scope, such as `projects:write`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub area: Area,
    pub access: Access,
}

impl Scope {
    pub const fn new(area: Area, access: Access) -> Scope {
        Scope { area, access }
    }

    pub fn parse(s: &str) -> Result<Scope, ScopeError> {
        let bad = || ScopeError(s.to_owned());
        let (area, access) = s.split_once(':').ok_or_else(bad)?;
        let area = Area::parse(area).ok_or_else(bad)?;
        let access = match access {
            "read" => Access::Read,
            "write" => Access::Write,
            _ => return Err(bad()),
        };
        Ok(Scope { area, access })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let access = match self.access {
            Access::Read => "read",
            Access::Write => "write",
        };
        write!(f, "{}:{}", self.area.as_str(), access)
    }
}

/// A string that is neither `*` nor `<area>:read|write` for a known area.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("unknown scope {0:?}: use * or <area>:read / <area>:write with area one of projects, content, social, publishing, metrics, ingest, jobs, webhooks, ads, credits")]
pub struct ScopeError(pub String);

/// The scopes a key holds: everything (`*`) or a set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scopes {
    All,
    Some(Vec<Scope>),
}

impl Scopes {
    /// Parses `*` or a comma-separated list such as `projects:read,content:write`.
    pub fn parse(s: &str) -> Result<Scopes, ScopeError> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        Self::from_strings(parts)
    }

    /// Reads the stored list (`["*"]` or `["projects:read", …]`).
    pub fn from_strings<S: AsRef<str>>(
        parts: impl IntoIterator<Item = S>,
    ) -> Result<Scopes, ScopeError> {
        let mut scopes = Vec::new();
        for part in parts {
            match part.as_ref() {
                "*" => return Ok(Scopes::All),
                other => scopes.push(Scope::parse(other)?),
            }
        }
        if scopes.is_empty() {
            return Err(ScopeError(String::new()));
        }
        scopes.sort();
        scopes.dedup();
        Ok(Scopes::Some(scopes))
    }

    /// `true` when these scopes grant `needed`. `<area>:write` also grants `<area>:read`.
    pub fn allows(&self, needed: Scope) -> bool {
        match self {
            Scopes::All => true,
            Scopes::Some(list) => list.iter().any(|s| {
                s.area == needed.area && (s.access == needed.access || s.access == Access::Write)
            }),
        }
    }

    /// The stored and displayed form.
    pub fn to_strings(&self) -> Vec<String> {
        match self {
            Scopes::All => vec!["*".to_owned()],
            Scopes::Some(list) => list.iter().map(Scope::to_string).collect(),
        }
    }
}

/// A rate-limit tier. `pilot` allows ten times `standard`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    Standard,
    Pilot,
}

/// A string that is neither `standard` nor `pilot`.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("tier must be standard or pilot")]
pub struct TierError;

impl Tier {
    pub fn parse(s: &str) -> Result<Tier, TierError> {
        match s {
            "standard" => Ok(Tier::Standard),
            "pilot" => Ok(Tier::Pilot),
            _ => Err(TierError),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Standard => "standard",
            Tier::Pilot => "pilot",
        }
    }

    /// The tier a request is limited by: test keys are always `pilot`, live keys use their own.
    pub fn effective(self, env: EnvKind) -> Tier {
        match env {
            EnvKind::Sandbox => Tier::Pilot,
            EnvKind::Live => self,
        }
    }

    /// How many times the standard rate this tier allows.
    pub fn multiplier(self) -> u32 {
        match self {
            Tier::Standard => 1,
            Tier::Pilot => 10,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROJECTS_READ: Scope = Scope::new(Area::Projects, Access::Read);
    const PROJECTS_WRITE: Scope = Scope::new(Area::Projects, Access::Write);

    #[test]
    fn star_grants_everything() {
        let all = Scopes::parse("*").unwrap();
        for &area in Area::ALL {
            assert!(all.allows(Scope::new(area, Access::Write)));
        }
        assert_eq!(all.to_strings(), vec!["*"]);
    }

    #[test]
    fn a_list_grants_only_what_it_names() {
        let scopes = Scopes::parse("projects:read, content:write").unwrap();
        assert!(scopes.allows(PROJECTS_READ));
        assert!(!scopes.allows(PROJECTS_WRITE));
        assert!(scopes.allows(Scope::new(Area::Content, Access::Read)));
        assert!(!scopes.allows(Scope::new(Area::Social, Access::Read)));
        assert_eq!(scopes.to_strings(), vec!["projects:read", "content:write"]);
    }

    #[test]
    fn rejects_unknown_scopes() {
        assert!(Scopes::parse("projects:admin").is_err());
        assert!(Scopes::parse("billing:read").is_err());
        assert!(Scopes::parse("").is_err());
        assert!(Scopes::parse("projects").is_err());
    }

    #[test]
    fn test_keys_are_always_pilot() {
        assert_eq!(Tier::Standard.effective(EnvKind::Sandbox), Tier::Pilot);
        assert_eq!(Tier::Standard.effective(EnvKind::Live), Tier::Standard);
        assert_eq!(Tier::Pilot.multiplier(), 10);
    }
}
