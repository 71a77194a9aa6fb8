//! Prefixed ids (`proj_…`, `inf_…`): one macro makes every id type, backed by a time-ordered UUID.

use thiserror::Error;

/// Why a string is not an id of the expected type.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("expected an id of the form {prefix}_ followed by 32 lowercase hex characters")]
pub struct IdError {
    pub prefix: &'static str,
}

/// Declares a prefixed id type: `prefixed_id!(ProjectId, "proj");` gives `ProjectId` with
/// `new()` (UUIDv7, so ids sort by creation time), `parse`, `Display` as `proj_<32 hex>` and
/// conversions to and from the underlying UUID.
#[macro_export]
macro_rules! prefixed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name($crate::uuid::Uuid);

        impl $name {
            /// The prefix before the underscore.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id; ids made later sort after ids made earlier.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self($crate::uuid::Uuid::now_v7())
            }

            /// Wraps a UUID read from the database.
            pub fn from_uuid(uuid: $crate::uuid::Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID stored in the database.
            pub fn as_uuid(&self) -> $crate::uuid::Uuid {
                self.0
            }

            /// Parses `<prefix>_<32 lowercase hex>`.
            pub fn parse(s: &str) -> Result<Self, $crate::IdError> {
                let err = $crate::IdError { prefix: $prefix };
                let hex = s
                    .strip_prefix($prefix)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .ok_or_else(|| err.clone())?;
                if hex.len() != 32 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return Err(err);
                }
                $crate::uuid::Uuid::try_parse(hex).map(Self).map_err(|_| err)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}_{}", $prefix, self.0.simple())
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(self, f)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

#[cfg(test)]
#[allow(dead_code)]
mod tests {
    prefixed_id!(
        /// An id used only by these tests.
        WidgetId,
        "wid"
    );

    #[test]
    fn round_trips_through_display() {
        let id = WidgetId::new();
        let text = id.to_string();
        assert!(text.starts_with("wid_"));
        assert_eq!(text.len(), 4 + 32);
        assert_eq!(WidgetId::parse(&text).unwrap(), id);
    }

    #[test]
    fn rejects_other_prefixes_and_bad_hex() {
        let id = WidgetId::new().to_string();
        assert!(WidgetId::parse(&id.replacen("wid_", "proj_", 1)).is_err());
        assert!(WidgetId::parse(&id.to_uppercase()).is_err());
        assert!(WidgetId::parse("wid_").is_err());
        assert!(WidgetId::parse(&format!("{id}0")).is_err());
        assert!(WidgetId::parse(&id.replace('_', "")).is_err());
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let a = WidgetId::new();
        let b = WidgetId::new();
        assert!(a < b);
    }
}
