//! The outbound error: what went wrong, and whether trying again later can help.

use std::error::Error as StdError;
use std::fmt;
use std::net::IpAddr;

use reqwest::StatusCode;

use crate::address::AddressRange;

/// `Result` with [`OutboundError`] as its default error.
pub type Result<T, E = OutboundError> = std::result::Result<T, E>;

/// Why a URL (or the address its host resolved to) is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The host is, or resolved to, an address in a refused range.
    Address {
        /// The address that was refused.
        ip: IpAddr,
        /// The range it belongs to.
        range: AddressRange,
    },
    /// The URL's scheme is not `http` or `https`.
    Scheme(String),
    /// The URL has no host.
    NoHost,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // never the address a name resolved to: that is the operator's network, not the
            // caller's business (a literal address is the host, named by the caller already)
            Refusal::Address { range, .. } => write!(f, "its address is {range}"),
            Refusal::Scheme(scheme) => {
                write!(f, "the scheme `{scheme}` is not allowed: use http or https")
            }
            Refusal::NoHost => f.write_str("the URL has no host"),
        }
    }
}

/// An outbound call that failed. [`OutboundError::is_transient`] tells whether a retry can help.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The URL, its host's addresses, or a redirect's target is not allowed; nothing was sent
    /// to it.
    #[error("refused to call {host}: {reason}")]
    Refused {
        /// The URL's host as written (a name or an IP address).
        host: String,
        /// Why.
        reason: Refusal,
    },
    /// The call (connect, request and body) took longer than its timeout.
    #[error("the call timed out")]
    Timeout,
    /// The response body is larger than the limit (said by `Content-Length` or counted while
    /// reading); reading stopped there.
    #[error("the response is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The server answered with a status that is not a success.
    #[error("the server answered {code}")]
    Status {
        /// The status.
        code: StatusCode,
        /// The start of the answer's body (at most [`crate::BODY_EXCERPT_BYTES`] bytes, lossy
        /// UTF-8), for logs and job errors.
        body_excerpt: String,
    },
    /// The answer's body is not the JSON that was expected.
    #[error("the response is not the expected JSON: {0}")]
    Decode(#[source] serde_json::Error),
    /// Any other failure of the call: DNS, connect, TLS, a broken connection, too many
    /// redirects.
    #[error("the call failed: {0}")]
    Http(#[source] reqwest::Error),
}

impl OutboundError {
    /// Whether trying the same call again later may succeed: timeouts, connection failures,
    /// 5xx, 408 and 429. Refusals, oversized bodies, other 4xx, undecodable answers and
    /// redirect loops are permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            OutboundError::Timeout => true,
            OutboundError::Status { code, .. } => {
                code.is_server_error()
                    || *code == StatusCode::REQUEST_TIMEOUT
                    || *code == StatusCode::TOO_MANY_REQUESTS
            }
            OutboundError::Http(e) => {
                !(e.is_builder() || e.is_redirect() || e.is_decode() || e.is_status())
            }
            OutboundError::Refused { .. }
            | OutboundError::TooLarge { .. }
            | OutboundError::Decode(_) => false,
        }
    }

    /// The status of a [`OutboundError::Status`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            OutboundError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// A refusal raised where reqwest calls us (the resolver, the redirect policy): it travels
/// through reqwest's error as a source and [`from_reqwest`] turns it back into
/// [`OutboundError::Refused`].
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) host: String,
    pub(crate) reason: Refusal,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused to call {}: {}", self.host, self.reason)
    }
}

impl StdError for Refused {}

impl From<Refused> for OutboundError {
    fn from(r: Refused) -> Self {
        OutboundError::Refused {
            host: r.host,
            reason: r.reason,
        }
    }
}

/// Maps a reqwest error, finding a refusal or a timeout anywhere in its source chain.
pub(crate) fn from_reqwest(e: reqwest::Error) -> OutboundError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<Refused>() {
            return OutboundError::Refused {
                host: refused.host.clone(),
                reason: refused.reason.clone(),
            };
        }
        source = err.source();
    }
    if e.is_timeout() {
        return OutboundError::Timeout;
    }
    OutboundError::Http(e)
}
