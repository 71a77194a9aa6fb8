//! The Layers Partner API gateway: the only crate that knows HTTP and JSON.
//!
//! It parses requests into domain commands, runs them through the domain crates with the
//! environment (live or sandbox) that the request's key selects, and turns the results into
//! responses. [`Application`] is the server; `main.rs` adds the operator CLI.

pub mod app;
pub mod auth;
pub mod auth_failures;
pub mod cli;
pub mod config;
pub mod env;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod ranged;
pub mod routes;
pub mod telemetry;
pub mod tx;
pub mod wire;

pub use app::{AppState, Application};
pub use config::Settings;
pub use error::ApiError;
