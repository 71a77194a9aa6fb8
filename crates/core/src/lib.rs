//! Shared vocabulary of the Layers Partner API: the two environments, prefixed ids and
//! pagination limits. Every other crate may depend on this one; it depends on no layers crate.
//!
//! ```
//! use layers_core::{EnvKind, Limit, Page};
//!
//! layers_core::prefixed_id!(
//!     /// A widget (`wdg_…`).
//!     WidgetId,
//!     "wdg"
//! );
//! let id = WidgetId::new();
//! assert_eq!(WidgetId::parse(&id.to_string())?, id);
//! assert!(WidgetId::parse("org_0123").is_err());
//!
//! assert_eq!(EnvKind::Sandbox.key_segment(), "test");
//!
//! // Fetch `limit + 1` rows, newest first: the extra one only says that another page follows.
//! let page = Page::from_overfetch(vec![30, 20, 10], Limit::new(2)?, |n| *n);
//! assert_eq!((page.items, page.next), (vec![30, 20], Some(20)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod env;
pub mod id;
pub mod page;

pub use env::{EnvKind, Environment};
pub use id::IdError;
pub use page::{Limit, Page};

#[doc(hidden)]
pub use uuid;
