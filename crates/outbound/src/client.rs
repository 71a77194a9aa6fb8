//! The client, its requests and its responses: reqwest underneath, with the guards always on.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{from_reqwest, OutboundError, Result};
use crate::guard::{self, GuardedResolver};

/// How much of a failed answer's body [`OutboundError::Status`] keeps.
pub const BODY_EXCERPT_BYTES: usize = 512;

/// What an [`Outbound`] client allows. `Default` is the production setting: private networks
/// refused, 10 s per call, 5 s to connect, 2 MiB per response, 3 redirects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundConfig {
    /// Lets calls reach loopback, private, link-local and metadata addresses
    /// (`LAYERS_ALLOW_PRIVATE_NETWORK`; `cargo xtask dev` and tests set it).
    pub allow_private_network: bool,
    /// The whole call: connect, request, and reading the body.
    pub timeout: Duration,
    /// Connecting (TCP and TLS) to one address.
    pub connect_timeout: Duration,
    /// The largest response body [`Response::bytes`], [`Response::text`] and [`Response::json`]
    /// read.
    pub max_response_bytes: usize,
    /// Redirects followed at most; 0 follows none and hands the 3xx back as the response.
    pub max_redirects: usize,
    /// The `User-Agent` of every call.
    pub user_agent: String,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            allow_private_network: false,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_response_bytes: 2 * 1024 * 1024,
            max_redirects: 3,
            user_agent: concat!("layers/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// What [`Outbound::check_url`] checks, without a client: a scheme other than `http(s)`, no
/// host, `localhost`, or a literal IP host in a refused range (unless private networks are
/// allowed) is refused.
pub fn check_url(url: &Url, allow_private_network: bool) -> Result<()> {
    guard::check_url(url, allow_private_network).map_err(Into::into)
}

/// The outbound HTTP client. Cheap to clone (one connection pool shared by the clones).
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    config: Arc<OutboundConfig>,
}

impl Outbound {
    /// Builds the client: rustls, the guarded resolver, the redirect policy, no proxy (a proxy
    /// would resolve the target itself, past the resolver's check).
    pub fn new(config: OutboundConfig) -> Result<Self> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            // the webpki roots only, whatever features other crates turn on in the same build
            .tls_built_in_native_certs(false)
            .http1_only()
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private_network: config.allow_private_network,
            }))
            .redirect(guard::redirect_policy(
                config.max_redirects,
                config.allow_private_network,
            ))
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(config.user_agent.clone())
            .build()
            .map_err(OutboundError::Http)?;
        Ok(Outbound {
            client,
            config: Arc::new(config),
        })
    }

    /// The settings this client was built with.
    pub fn config(&self) -> &OutboundConfig {
        &self.config
    }

    /// Refuses at once what can be refused without DNS: a scheme other than `http(s)`, no host,
    /// or a literal IP host in a refused range (unless private networks are allowed). A name is
    /// checked again, after resolution, by every call.
    pub fn check_url(&self, url: &Url) -> Result<()> {
        check_url(url, self.config.allow_private_network)
    }

    /// A request of any method.
    pub fn request(&self, method: Method, url: Url) -> Request {
        Request {
            inner: self.client.request(method.clone(), url.clone()),
            method,
            url,
            has_bearer: false,
            outbound: self.clone(),
        }
    }

    /// A GET request.
    pub fn get(&self, url: Url) -> Request {
        self.request(Method::GET, url)
    }

    /// A POST request.
    pub fn post(&self, url: Url) -> Request {
        self.request(Method::POST, url)
    }
}

/// A request being built. Its `Debug` shows the method and URL only: never the token or other
/// headers.
pub struct Request {
    inner: reqwest::RequestBuilder,
    method: Method,
    url: Url,
    has_bearer: bool,
    outbound: Outbound,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("bearer", &self.has_bearer.then_some("<redacted>"))
            .finish_non_exhaustive()
    }
}

impl Request {
    /// Sends `Authorization: Bearer <token>` to this URL's host only: a redirect to another
    /// host or port goes without it.
    pub fn bearer(mut self, token: &str) -> Self {
        // reqwest marks the value sensitive; a token that is no valid header value fails the
        // call as a permanent `Http` error, without sending anything
        self.inner = self.inner.bearer_auth(token);
        self.has_bearer = true;
        self
    }

    /// Adds a header. For a credential use [`Request::bearer`], or mark the value sensitive.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.inner = self.inner.header(name, value);
        self
    }

    /// Adds headers.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.inner = self.inner.headers(headers);
        self
    }

    /// Appends query parameters.
    pub fn query<T: Serialize + ?Sized>(mut self, query: &T) -> Self {
        self.inner = self.inner.query(query);
        self
    }

    /// Sends `body` as JSON.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        self.inner = self.inner.json(body);
        self
    }

    /// Sends `body` as an `application/x-www-form-urlencoded` form (OAuth token endpoints).
    pub fn form<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        self.inner = self.inner.form(body);
        self
    }

    /// Sends raw bytes.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.inner = self.inner.body(body.into());
        self
    }

    /// Replaces the client's total timeout for this call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.inner = self.inner.timeout(timeout);
        self
    }

    /// Sends the request and returns the response, whatever its status. The URL is checked
    /// first (a refused literal address is never contacted); a name is checked after it is
    /// resolved, before connecting.
    pub async fn send(self) -> Result<Response> {
        self.outbound.check_url(&self.url)?;
        let inner = self.inner.send().await.map_err(from_reqwest)?;
        Ok(Response {
            inner,
            max_bytes: self.outbound.config.max_response_bytes,
        })
    }

    /// Sends the request, refuses a status that is not a success
    /// ([`OutboundError::Status`]), and decodes the body as JSON within the size limit.
    pub async fn fetch_json<T: DeserializeOwned>(self) -> Result<T> {
        self.send().await?.error_for_status().await?.json().await
    }

    /// Sends the request, refuses a status that is not a success, and reads the body within
    /// the size limit.
    pub async fn fetch_bytes(self) -> Result<Vec<u8>> {
        self.send().await?.error_for_status().await?.bytes().await
    }
}

/// A response whose body has not been read yet. Every way of reading it is capped.
#[derive(Debug)]
pub struct Response {
    inner: reqwest::Response,
    max_bytes: usize,
}

impl Response {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The URL that answered (after redirects).
    pub fn url(&self) -> &Url {
        self.inner.url()
    }

    /// Turns a status that is not a success into [`OutboundError::Status`], with the start of
    /// the body (at most [`BODY_EXCERPT_BYTES`], read no further).
    pub async fn error_for_status(self) -> Result<Self> {
        let code = self.status();
        if code.is_success() {
            return Ok(self);
        }
        let excerpt = self.excerpt(BODY_EXCERPT_BYTES).await;
        Err(OutboundError::Status {
            code,
            body_excerpt: String::from_utf8_lossy(&excerpt).into_owned(),
        })
    }

    /// At most the first `max` bytes of the body, reading no further; a body that breaks off
    /// gives what arrived.
    pub async fn excerpt(self, max: usize) -> Vec<u8> {
        let mut inner = self.inner;
        let mut excerpt = Vec::new();
        while excerpt.len() < max {
            match inner.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        excerpt.truncate(max);
        excerpt
    }

    /// The body as a stream of chunks, for a caller that passes it on without holding it whole
    /// (the caller counts and caps what it takes).
    pub fn into_chunks(
        self,
    ) -> impl futures_util::Stream<Item = Result<bytes::Bytes>> + Send + 'static {
        futures_util::stream::unfold(Some(self.inner), |inner| async move {
            let mut inner = inner?;
            match inner.chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some(inner))),
                Ok(None) => None,
                Err(e) => Some((Err(from_reqwest(e)), None)),
            }
        })
    }

    /// The body, up to the client's `max_response_bytes`.
    pub async fn bytes(self) -> Result<Vec<u8>> {
        let max = self.max_bytes;
        self.bytes_limited(max).await
    }

    /// The body, refused with [`OutboundError::TooLarge`] as soon as it is known to be larger
    /// than `max` bytes: from `Content-Length` before reading, or while reading when there is
    /// none (or it is wrong).
    pub async fn bytes_limited(self, max: usize) -> Result<Vec<u8>> {
        let too_large = OutboundError::TooLarge { limit: max };
        if self
            .inner
            .content_length()
            .is_some_and(|len| len > max as u64)
        {
            return Err(too_large);
        }
        let mut inner = self.inner;
        let mut body = Vec::new();
        while let Some(chunk) = inner.chunk().await.map_err(from_reqwest)? {
            if body.len() + chunk.len() > max {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The body as text (invalid UTF-8 replaced), up to the client's `max_response_bytes`.
    pub async fn text(self) -> Result<String> {
        let bytes = self.bytes().await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The body decoded as JSON, up to the client's `max_response_bytes`.
    pub async fn json<T: DeserializeOwned>(self) -> Result<T> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(OutboundError::Decode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_are_url_encoded() {
        let client = Outbound::new(OutboundConfig::default()).unwrap();
        let url = Url::parse("https://example.com/token").unwrap();
        let request = client
            .post(url)
            .form(&[("grant_type", "authorization_code"), ("code", "a b&c=d")])
            .inner
            .build()
            .unwrap();
        assert_eq!(
            request.headers()[reqwest::header::CONTENT_TYPE],
            "application/x-www-form-urlencoded"
        );
        let body = request.body().and_then(|b| b.as_bytes()).unwrap();
        assert_eq!(body, b"grant_type=authorization_code&code=a+b%26c%3Dd");
    }
}
