//! The outbound client against local servers (wiremock, and a raw socket for bodies wiremock
//! cannot send): statuses, caps, timeouts, redirects, tokens and refused addresses.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use layers_outbound::{
    AddressRange, Outbound, OutboundConfig, OutboundError, Refusal, StatusCode, Url,
};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghp_s3cret-token";

fn client_with(allow_private_network: bool, change: impl FnOnce(&mut OutboundConfig)) -> Outbound {
    let mut config = OutboundConfig {
        allow_private_network,
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        max_response_bytes: 1024,
        max_redirects: 3,
        ..OutboundConfig::default()
    };
    change(&mut config);
    Outbound::new(config).unwrap()
}

fn client(allow_private_network: bool) -> Outbound {
    client_with(allow_private_network, |_| {})
}

fn url(base: &str, path: &str) -> Url {
    Url::parse(&format!("{base}{path}")).unwrap()
}

/// The server's URI with `localhost` as its host instead of `127.0.0.1`.
fn localhost_uri(server: &MockServer) -> String {
    format!("http://localhost:{}", server.address().port())
}

#[tokio::test]
async fn get_json_with_a_bearer_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"name": "app", "stars": 3})))
        .expect(1)
        .mount(&server)
        .await;

    let repo: Value = client(true)
        .get(url(&server.uri(), "/repos/acme/app"))
        .bearer(TOKEN)
        .fetch_json()
        .await
        .unwrap();
    assert_eq!(repo, json!({"name": "app", "stars": 3}));
    let requests = server.received_requests().await.unwrap();
    let agent = requests[0].headers.get("user-agent").unwrap();
    assert!(agent.to_str().unwrap().starts_with("layers/"), "{agent:?}");
}

#[tokio::test]
async fn a_server_error_is_transient_and_keeps_an_excerpt() {
    let server = MockServer::start().await;
    let long_body = format!("upstream down {}", "x".repeat(2000));
    Mock::given(path("/busy"))
        .respond_with(ResponseTemplate::new(503).set_body_string(long_body))
        .mount(&server)
        .await;

    let err = client(true)
        .get(url(&server.uri(), "/busy"))
        .fetch_json::<Value>()
        .await
        .unwrap_err();
    let OutboundError::Status { code, body_excerpt } = &err else {
        panic!("expected a status error, got {err:?}");
    };
    assert_eq!(*code, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body_excerpt.starts_with("upstream down"), "{body_excerpt}");
    assert_eq!(body_excerpt.len(), layers_outbound::BODY_EXCERPT_BYTES);
    assert!(err.is_transient());
}

#[tokio::test]
async fn not_found_is_permanent() {
    let server = MockServer::start().await;
    Mock::given(path("/missing"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no such app"))
        .mount(&server)
        .await;

    let err = client(true)
        .get(url(&server.uri(), "/missing"))
        .fetch_bytes()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
    assert!(
        matches!(&err, OutboundError::Status { body_excerpt, .. } if body_excerpt == "no such app")
    );
    assert!(!err.is_transient());
}

#[tokio::test]
async fn too_many_requests_is_transient() {
    let server = MockServer::start().await;
    Mock::given(path("/limited"))
        .respond_with(ResponseTemplate::new(429))
        .mount(&server)
        .await;
    let err = client(true)
        .get(url(&server.uri(), "/limited"))
        .fetch_bytes()
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused_from_its_content_length() {
    let server = MockServer::start().await;
    Mock::given(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'a'; 2048]))
        .mount(&server)
        .await;
    let client = client(true);

    let err = client
        .get(url(&server.uri(), "/big"))
        .fetch_bytes()
        .await
        .unwrap_err();
    assert!(
        matches!(err, OutboundError::TooLarge { limit: 1024 }),
        "{err:?}"
    );
    assert!(!err.is_transient());

    // the same body under a larger explicit cap
    let body = client
        .get(url(&server.uri(), "/big"))
        .send()
        .await
        .unwrap()
        .bytes_limited(4096)
        .await
        .unwrap();
    assert_eq!(body.len(), 2048);
}

/// Serves one connection with `head` then `body` (written in pieces), and closes it.
fn raw_server(head: &'static str, body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request);
        let _ = socket.write_all(head.as_bytes());
        for piece in body.chunks(256) {
            if socket.write_all(piece).is_err() {
                return;
            }
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn chunked(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in data.chunks(256) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused_while_reading_without_content_length() {
    // chunked: no Content-Length at all
    let base = raw_server(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        chunked(&[b'a'; 8192]),
    );
    let err = client(true)
        .get(url(&base, "/"))
        .fetch_bytes()
        .await
        .unwrap_err();
    assert!(
        matches!(err, OutboundError::TooLarge { limit: 1024 }),
        "{err:?}"
    );

    // delimited by the connection closing
    let base = raw_server(
        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
        vec![b'a'; 8192],
    );
    let err = client(true)
        .get(url(&base, "/"))
        .fetch_bytes()
        .await
        .unwrap_err();
    assert!(
        matches!(err, OutboundError::TooLarge { limit: 1024 }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_content_length_that_lies_low_cannot_overrun_the_cap() {
    let base = raw_server(
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n",
        vec![b'a'; 8192],
    );
    let body = client(true)
        .get(url(&base, "/"))
        .fetch_bytes()
        .await
        .unwrap();
    assert_eq!(body.len(), 10, "only the declared bytes are read");
}

#[tokio::test]
async fn a_slow_server_times_out_and_that_is_transient() {
    let server = MockServer::start().await;
    Mock::given(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;

    let slow_client = client_with(true, |c| c.timeout = Duration::from_millis(200));
    let err = slow_client
        .get(url(&server.uri(), "/slow"))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, OutboundError::Timeout), "{err:?}");
    assert!(err.is_transient());

    // a per-request timeout replaces the client's
    let err = client(true)
        .get(url(&server.uri(), "/slow"))
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, OutboundError::Timeout), "{err:?}");
}

#[tokio::test]
async fn a_redirect_to_another_host_drops_the_bearer_token() {
    let first = MockServer::start().await;
    let second = MockServer::start().await;
    // `localhost` redirects to `127.0.0.1`: another host
    Mock::given(path("/start"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/landing", second.uri()).as_str()),
        )
        .mount(&first)
        .await;
    Mock::given(path("/landing"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&second)
        .await;

    let answer: Value = client(true)
        .get(url(&localhost_uri(&first), "/start"))
        .bearer(TOKEN)
        .fetch_json()
        .await
        .unwrap();
    assert_eq!(answer, json!({"ok": true}));

    let to_first = first.received_requests().await.unwrap();
    assert_eq!(to_first.len(), 1);
    assert!(to_first[0].headers.contains_key("authorization"));
    let to_second = second.received_requests().await.unwrap();
    assert_eq!(to_second.len(), 1);
    assert!(
        !to_second[0].headers.contains_key("authorization"),
        "the token followed the redirect to another host: {:?}",
        to_second[0].headers
    );
}

#[tokio::test]
async fn a_redirect_on_the_same_host_keeps_the_bearer_token() {
    let server = MockServer::start().await;
    Mock::given(path("/old"))
        .respond_with(ResponseTemplate::new(301).insert_header("location", "/new"))
        .mount(&server)
        .await;
    Mock::given(path("/new"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_string("moved"))
        .expect(1)
        .mount(&server)
        .await;

    let response = client(true)
        .get(url(&server.uri(), "/old"))
        .bearer(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.url().path(), "/new");
    assert_eq!(response.text().await.unwrap(), "moved");
}

#[tokio::test]
async fn redirects_are_limited() {
    let server = MockServer::start().await;
    Mock::given(path("/loop"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/loop"))
        .mount(&server)
        .await;

    let err = client(true)
        .get(url(&server.uri(), "/loop"))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, OutboundError::Http(_)), "{err:?}");
    assert!(!err.is_transient());
    // the first request and three redirects
    assert_eq!(server.received_requests().await.unwrap().len(), 4);

    // none followed: the 3xx is the answer (webhook deliveries count it as a failure)
    let response = client_with(true, |c| c.max_redirects = 0)
        .get(url(&server.uri(), "/loop"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn private_addresses_are_refused_before_any_request() {
    let server = MockServer::start().await;
    Mock::given(path("/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let client = client(false);

    // a literal address: refused from the URL, before sending
    let literal = url(&server.uri(), "/");
    assert!(client.check_url(&literal).is_err());
    let err = client.get(literal).bearer(TOKEN).send().await.unwrap_err();
    let OutboundError::Refused { host, reason } = &err else {
        panic!("expected a refusal, got {err:?}");
    };
    assert_eq!(host, "127.0.0.1");
    assert_eq!(
        *reason,
        Refusal::Address {
            ip: "127.0.0.1".parse().unwrap(),
            range: AddressRange::Loopback
        }
    );
    assert!(!err.is_transient());

    // `localhost`: refused by the URL check already, before any resolution or connection
    let named = url(&localhost_uri(&server), "/");
    assert!(client.check_url(&named).is_err());
    let err = client.get(named).bearer(TOKEN).send().await.unwrap_err();
    let OutboundError::Refused { host, reason } = &err else {
        panic!("expected a refusal, got {err:?}");
    };
    assert_eq!(host, "localhost");
    assert!(
        matches!(
            reason,
            Refusal::Address {
                range: AddressRange::Loopback,
                ..
            }
        ),
        "{reason:?}"
    );
    assert!(!err.is_transient());
    assert_eq!(
        err.to_string(),
        "refused to call localhost: its address is a loopback address",
    );
    // the address a name resolves to is the operator's network: never said
    assert!(!err.to_string().contains("127.0.0.1"), "{err}");

    // IPv4-mapped IPv6 and the metadata address, as literals
    for refused in [
        "http://[::ffff:127.0.0.1]:1/",
        "http://169.254.169.254/latest/meta-data/",
    ] {
        let err = client.get(Url::parse(refused).unwrap()).send().await;
        assert!(
            matches!(err, Err(OutboundError::Refused { .. })),
            "{refused}: {err:?}"
        );
    }

    assert_eq!(server.received_requests().await.unwrap().len(), 0);
}

#[tokio::test]
async fn only_http_and_https() {
    let err = client(true)
        .get(Url::parse("file:///etc/passwd").unwrap())
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OutboundError::Refused { reason: Refusal::Scheme(s), .. } if s == "file"),
        "{err:?}"
    );
}

#[test]
fn debug_never_shows_the_token() {
    let client = client(false);
    let request = client
        .post(Url::parse("https://example.com/hook").unwrap())
        .bearer(TOKEN)
        .json(&json!({"a": 1}));
    let shown = format!("{request:?} {client:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
}
