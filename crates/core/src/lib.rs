//! Shared vocabulary of the Layers Partner API: the two environments, prefixed ids and
//! pagination limits. Every other crate may depend on this one; it depends on no layers crate.

pub mod env;
pub mod id;
pub mod page;

pub use env::{EnvKind, Environment};
pub use id::IdError;
pub use page::{Limit, Page};

#[doc(hidden)]
pub use uuid;
