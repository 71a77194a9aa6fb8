//! The one outbound HTTP client: every call the product makes to another server goes through it.
//!
//! ```no_run
//! use layers_outbound::{Outbound, OutboundConfig, Url};
//!
//! # async fn run() -> layers_outbound::Result<()> {
//! let client = Outbound::new(OutboundConfig::default())?;
//! let url = Url::parse("https://api.github.com/repos/rust-lang/rust").unwrap();
//! client.check_url(&url)?; // refuse a literal private address at once (a 400 at request time)
//! let repo: serde_json::Value = client.get(url).bearer("ghp_example").fetch_json().await?;
//! # let _ = repo;
//! # Ok(())
//! # }
//! ```
//!
//! What it guarantees, whatever the caller does:
//!
//! - **No private addresses** unless [`OutboundConfig::allow_private_network`]
//!   (`LAYERS_ALLOW_PRIVATE_NETWORK`): loopback, RFC 1918 and unique local, link-local,
//!   unspecified, broadcast, carrier-grade NAT, multicast and cloud metadata addresses are
//!   refused ([`refused_range`]). Names are checked by the resolver itself, after resolution and
//!   before connecting, on the very addresses the connection uses; literal IP hosts (which
//!   reqwest does not resolve) are checked from the URL before sending and before following a
//!   redirect. Proxies from the environment are ignored, since a proxy would resolve the name
//!   itself.
//! - **Credentials stay with their host.** A token is given per request ([`Request::bearer`]);
//!   reqwest drops `Authorization` when a redirect changes the host or the port. `Debug` of a
//!   request never shows it.
//! - **Caps.** A total timeout and a connect timeout per call, at most
//!   [`OutboundConfig::max_redirects`] redirects, and a body cap counted while reading
//!   ([`Response::bytes_limited`]), whatever `Content-Length` says.
//! - **Errors say whether to retry.** [`OutboundError::is_transient`]: timeouts, connection
//!   failures, 5xx, 408 and 429 are worth retrying; refusals, other 4xx and oversized answers
//!   are not.
//!
//! TLS is rustls with the webpki roots: no OpenSSL, no system certificate store.

mod address;
mod client;
mod error;
mod guard;

pub use address::{refused_range, AddressRange};
pub use client::{check_url, Outbound, OutboundConfig, Request, Response, BODY_EXCERPT_BYTES};
pub use error::{OutboundError, Refusal, Result};
pub use reqwest::header;
pub use reqwest::{Method, StatusCode, Url};
