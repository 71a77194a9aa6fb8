//! `cargo xtask listen --key lp_test_… [--forward-to URL] [--api URL] [--events a,b]`: webhook
//! deliveries on this machine, as `stripe listen` shows them. It receives on 127.0.0.1 (a free
//! port), registers a webhook endpoint for that address with the key (so it gets that key's
//! environment's events), prints one line per delivery with both signatures checked, can forward
//! each delivery unchanged to a local `http://` URL, and deletes the endpoint on Ctrl-C.
//!
//! Everything is std networking: a thread per connection on the receiving side, and a small
//! HTTP/1.1 client (`Connection: close`, `Content-Length`, read to the end) for the API and the
//! forwarding.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use ring::hmac;
use serde_json::{json, Value};

use crate::util::{interrupted, Result};

const USAGE: &str = "usage: cargo xtask listen --key lp_test_… [--forward-to URL] [--api URL] \
                     [--events a,b]\n\n  \
                     --key         the API key whose environment's events to receive (default: \
                     $LAYERS_API_KEY)\n  \
                     --forward-to  re-POST every delivery, body and headers unchanged, to this \
                     http:// URL\n  \
                     --api         the API base (default: what cargo xtask dev serves, \
                     http://$LAYERS_BIND or http://127.0.0.1:8080)\n  \
                     --events      event types to subscribe to, comma-separated (default: *)";

/// How far a signature's timestamp may be from this clock, as the Standard Webhooks libraries
/// allow.
const TOLERANCE_SECS: u64 = 300;
/// The largest request or response head (request line and headers) read.
const MAX_HEAD: usize = 64 * 1024;
/// The largest body read.
const MAX_BODY: usize = 16 * 1024 * 1024;
const SECRET_PREFIX: &str = "whsec_";
/// Headers the client writes itself or that describe one hop only: never forwarded as given.
const HOP_HEADERS: &[&str] = &[
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

#[derive(Debug)]
struct Options {
    key: String,
    api: String,
    forward_to: Option<HttpUrl>,
    events: Vec<String>,
}

/// The options, or `None` for `--help`.
fn parse_args(args: &[String]) -> Result<Option<Options>> {
    let (mut key, mut api, mut forward_to, mut events) = (None, None, None, None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if matches!(arg.as_str(), "-h" | "--help" | "help") {
            return Ok(None);
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        let slot = match name {
            "--key" => &mut key,
            "--api" => &mut api,
            "--forward-to" => &mut forward_to,
            "--events" => &mut events,
            _ => return Err(format!("unknown argument {arg:?}\n\n{USAGE}")),
        };
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"))?,
        };
        *slot = Some(value);
    }
    let key = key
        .or_else(|| std::env::var("LAYERS_API_KEY").ok())
        .ok_or_else(|| {
            format!("pass --key (a test key: lp_test_…; cargo xtask dev prints one)\n\n{USAGE}")
        })?;
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("--key must be an API key (printable characters only)".into());
    }
    let api = api
        .unwrap_or_else(default_api)
        .trim_end_matches('/')
        .to_owned();
    parse_http_url(&api).map_err(|e| format!("--api: {e}"))?;
    let forward_to = forward_to
        .map(|url| parse_http_url(&url))
        .transpose()
        .map_err(|e| format!("--forward-to: {e}"))?;
    let events = match events {
        None => vec!["*".to_owned()],
        Some(list) => {
            let events: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect();
            if events.is_empty() {
                return Err("--events names no event type".into());
            }
            events
        }
    };
    Ok(Some(Options {
        key,
        api,
        forward_to,
        events,
    }))
}

/// Where `cargo xtask dev` serves: `LAYERS_BIND`, else 127.0.0.1:8080 (an unspecified bind
/// address is reached on loopback).
fn default_api() -> String {
    let bind = std::env::var("LAYERS_BIND").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let bind = bind
        .replace("0.0.0.0:", "127.0.0.1:")
        .replace("[::]:", "[::1]:");
    format!("http://{bind}")
}

pub fn run(args: &[String]) -> Result<()> {
    let Some(options) = parse_args(args)? else {
        println!("{USAGE}");
        return Ok(());
    };
    let interrupted = interrupted();
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("could not listen on 127.0.0.1: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("could not read the receiver's address: {e}"))?
        .port();
    let endpoint = register(&options, &format!("http://127.0.0.1:{port}/"))?;
    println!(
        "Ready! endpoint {} → http://127.0.0.1:{port}, secret {}",
        endpoint.id, endpoint.secret
    );
    println!("(times are UTC; Ctrl-C deletes the endpoint and stops)");

    let (tx, rx) = mpsc::channel();
    let secret: Arc<str> = endpoint.secret.as_str().into();
    std::thread::spawn(move || receive(&listener, &secret, &tx));
    let outcome = show(&rx, options.forward_to.as_ref(), &interrupted);

    let deleted = delete(&options, &endpoint.id);
    if deleted.is_ok() {
        println!("Deleted endpoint {}", endpoint.id);
    }
    outcome.and(deleted)
}

/// Prints each delivery (and forwards it) until Ctrl-C.
fn show(rx: &Receiver<Delivery>, forward_to: Option<&HttpUrl>, stop: &AtomicBool) -> Result<()> {
    while !stop.load(Ordering::SeqCst) {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(delivery) => {
                println!("{}", delivery.line());
                if let Some(url) = forward_to {
                    println!("  {}", forward(url, &delivery));
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err("the receiver stopped accepting connections".into())
            }
        }
    }
    Ok(())
}

/// Re-POSTs a delivery, body and headers unchanged, and says what came back.
fn forward(url: &HttpUrl, delivery: &Delivery) -> String {
    match http_call(
        "POST",
        url,
        &delivery.request.headers,
        Some(&delivery.request.body),
    ) {
        Ok((status, _)) => format!("↳ POST {} → {status}", url.shown),
        Err(e) => format!("↳ POST {} failed: {e}", url.shown),
    }
}

// --- The API -------------------------------------------------------------------------------

#[derive(Debug)]
struct Endpoint {
    id: String,
    secret: String,
}

/// One call to the API with the key; a non-2xx answer is an error carrying its body.
fn api_call(options: &Options, method: &str, path: &str, body: Option<&Value>) -> Result<u16> {
    let shown = format!("{method} {}{path}", options.api);
    api_call_json(options, method, path, body)
        .map(|(status, _)| status)
        .map_err(|e| format!("{shown}: {e}"))
}

fn api_call_json(
    options: &Options,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Vec<u8>)> {
    let url = parse_http_url(&format!("{}{path}", options.api))?;
    let mut headers = vec![
        ("Authorization".into(), format!("Bearer {}", options.key)),
        ("Accept".into(), "application/json".into()),
        ("User-Agent".into(), "cargo-xtask-listen".into()),
    ];
    let body = body.map(|b| {
        headers.push(("Content-Type".into(), "application/json".into()));
        b.to_string().into_bytes()
    });
    let (status, answer) = http_call(method, &url, &headers, body.as_deref())?;
    if (200..300).contains(&status) {
        Ok((status, answer))
    } else {
        Err(format!(
            "{status} {}",
            String::from_utf8_lossy(&answer).trim()
        ))
    }
}

/// `POST /v1/webhook-endpoints` for `url`: the endpoint's id and its secret.
fn register(options: &Options, url: &str) -> Result<Endpoint> {
    let path = "/v1/webhook-endpoints";
    let shown = format!("POST {}{path}", options.api);
    let body = json!({
        "url": url,
        "events": options.events,
        "description": "cargo xtask listen",
    });
    let (_, answer) = api_call_json(options, "POST", path, Some(&body)).map_err(|e| {
        let hint = if e.starts_with("400 ") {
            "\n(the API refuses loopback webhook URLs unless LAYERS_ALLOW_PRIVATE_NETWORK=true, \
             which cargo xtask dev sets)"
        } else {
            ""
        };
        format!("{shown}: {e}{hint}")
    })?;
    let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
    let field = |k: &str| answer[k].as_str().map(str::to_owned);
    match (field("id"), field("secret")) {
        (Some(id), Some(secret)) => Ok(Endpoint { id, secret }),
        _ => Err(format!("{shown}: the answer has no id or secret: {answer}")),
    }
}

/// `DELETE /v1/webhook-endpoints/{id}`.
fn delete(options: &Options, id: &str) -> Result<()> {
    api_call(
        options,
        "DELETE",
        &format!("/v1/webhook-endpoints/{id}"),
        None,
    )
    .map(|_| ())
}

// --- Receiving -----------------------------------------------------------------------------

/// One delivery as received, with what its envelope and signatures say.
#[derive(Debug)]
struct Delivery {
    at: SystemTime,
    event_type: String,
    event_id: String,
    sandbox: bool,
    /// Both signature headers checked against the secret; the reason when not.
    verified: Result<(), String>,
    request: Request,
}

impl Delivery {
    fn new(request: Request, secret: &str, now: i64) -> Delivery {
        let envelope: Option<Value> = serde_json::from_slice(&request.body).ok();
        let field = |k: &str, header: &str| {
            envelope
                .as_ref()
                .and_then(|e| e[k].as_str())
                .or_else(|| request.header(header))
                .unwrap_or("?")
                .to_owned()
        };
        Delivery {
            at: SystemTime::now(),
            event_type: field("type", "X-Layers-Event-Type"),
            event_id: field("id", "X-Layers-Event-Id"),
            sandbox: envelope
                .as_ref()
                .and_then(|e| e["meta"]["sandbox"].as_bool())
                == Some(true),
            verified: verify(secret, &request, now),
            request,
        }
    }

    fn line(&self) -> String {
        let signature = match &self.verified {
            Ok(()) => "signature ✓".to_owned(),
            Err(reason) => format!("signature ✗ ({reason})"),
        };
        format!(
            "{}  {:<28} {}  {}  {signature}",
            clock(self.at),
            self.event_type,
            self.event_id,
            if self.sandbox { "sandbox" } else { "live" },
        )
    }
}

/// Accepts connections for ever, a thread each, and reports every POST on `tx`.
fn receive(listener: &TcpListener, secret: &Arc<str>, tx: &Sender<Delivery>) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let (secret, tx) = (secret.clone(), tx.clone());
                std::thread::spawn(move || answer(stream, &secret, &tx));
            }
            Err(e) => {
                eprintln!("xtask: accepting a connection failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Reads one request, reports it when it is a POST, and answers `200 {"received":true}`.
fn answer(stream: TcpStream, secret: &str, tx: &Sender<Delivery>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let (status, body) = match read_request(&mut BufReader::new(&stream)) {
        Ok(request) if request.method == "POST" => {
            let _ = tx.send(Delivery::new(request, secret, now()));
            ("200 OK", r#"{"received":true}"#.to_owned())
        }
        Ok(request) => (
            "405 Method Not Allowed",
            json!({ "error": format!("{} {}: deliveries are POSTs", request.method, request.target) })
                .to_string(),
        ),
        Err(e) => ("400 Bad Request", json!({ "error": e }).to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = (&stream).write_all(response.as_bytes());
    let _ = (&stream).flush();
}

// --- Signatures ----------------------------------------------------------------------------

/// Checks both signature headers of a delivery against the endpoint secret.
fn verify(secret: &str, request: &Request, now: i64) -> Result<(), String> {
    let header = |name: &str| {
        request
            .header(name)
            .ok_or_else(|| format!("no {name} header"))
    };
    verify_layers(secret, header("X-Layers-Signature")?, &request.body, now)
        .map_err(|e| format!("X-Layers-Signature: {e}"))?;
    verify_standard(
        secret,
        header("webhook-id")?,
        header("webhook-timestamp")?,
        header("webhook-signature")?,
        &request.body,
        now,
    )
    .map_err(|e| format!("webhook-signature: {e}"))
}

/// `X-Layers-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`: one `v1` must be the HMAC-SHA256 of
/// `<t>.<body>` keyed with the UTF-8 bytes of the whole secret (compared in constant time by
/// `ring::hmac::verify`), and `t` within the tolerance of `now`.
fn verify_layers(secret: &str, header: &str, body: &[u8], now: i64) -> Result<(), String> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or("every part must read name=value")?;
        match name {
            "t" if timestamp.is_some() => return Err("t= appears twice".into()),
            "t" => timestamp = Some(value),
            "v1" => candidates.push(value),
            _ => {}
        }
    }
    let t = timestamp.ok_or("no t=")?;
    check_timestamp(t, now)?;
    if candidates.is_empty() {
        return Err("no v1=".into());
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let signed = [format!("{t}.").as_bytes(), body].concat();
    candidates
        .iter()
        .filter_map(|hex| decode_hex(hex))
        .any(|tag| hmac::verify(&key, &signed, &tag).is_ok())
        .then_some(())
        .ok_or_else(|| "no v1 matches the secret".into())
}

/// `webhook-signature: v1,<base64>[ v1,<base64>…]` (Standard Webhooks): one entry must be the
/// HMAC-SHA256 of `<id>.<timestamp>.<body>` keyed with the base64-decoded part of the secret
/// after `whsec_`, and the timestamp within the tolerance of `now`.
fn verify_standard(
    secret: &str,
    id: &str,
    timestamp: &str,
    header: &str,
    body: &[u8],
    now: i64,
) -> Result<(), String> {
    let key = secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|encoded| STANDARD.decode(encoded).ok())
        .filter(|key| !key.is_empty())
        .ok_or("the endpoint secret is not whsec_<base64>")?;
    check_timestamp(timestamp, now)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
    let signed = [format!("{id}.{timestamp}.").as_bytes(), body].concat();
    header
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .any(|tag| hmac::verify(&key, &signed, &tag).is_ok())
        .then_some(())
        .ok_or_else(|| "no v1 matches the secret".into())
}

fn check_timestamp(t: &str, now: i64) -> Result<(), String> {
    let t: i64 = t
        .parse()
        .map_err(|_| format!("timestamp {t:?} is not unix seconds"))?;
    let off = now.abs_diff(t);
    if off > TOLERANCE_SECS {
        Err(format!(
            "timestamp is {off} s from this clock (over {TOLERANCE_SECS} s)"
        ))
    } else {
        Ok(())
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `HH:MM:SS` in UTC.
fn clock(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

// --- HTTP/1.1, just enough -----------------------------------------------------------------

#[derive(Debug)]
struct Request {
    method: String,
    target: String,
    /// In the order received, names as sent.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// The first header called `name` (case-insensitive).
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// One request: request line, headers, and a `Content-Length` (or chunked) body.
fn read_request(reader: &mut impl BufRead) -> Result<Request> {
    let (start, headers) = read_head(reader)?;
    let mut parts = start.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("malformed request line {start:?}"));
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || target.is_empty() {
        return Err(format!("malformed request line {start:?}"));
    }
    let body = read_body(reader, &headers, false)?;
    Ok(Request {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        body,
    })
}

/// One response to a request sent with `Connection: close`: the status and the body.
fn read_response(reader: &mut impl BufRead, method: &str) -> Result<(u16, Vec<u8>)> {
    loop {
        let (start, headers) = read_head(reader)?;
        let status = start
            .strip_prefix("HTTP/1.")
            .and_then(|rest| rest.split(' ').nth(1))
            .and_then(|code| code.parse::<u16>().ok())
            .filter(|code| (100..600).contains(code))
            .ok_or_else(|| format!("malformed status line {start:?}"))?;
        if (100..200).contains(&status) {
            continue;
        }
        if method == "HEAD" || status == 204 || status == 304 {
            return Ok((status, Vec::new()));
        }
        return Ok((status, read_body(reader, &headers, true)?));
    }
}

/// The start line and the headers, up to the empty line.
fn read_head(reader: &mut impl BufRead) -> Result<(String, Vec<(String, String)>)> {
    let mut start: Option<String> = None;
    let mut headers = Vec::new();
    let mut total = 0;
    loop {
        let line = read_line(reader, MAX_HEAD.saturating_sub(total))?;
        total += line.len() + 2;
        if line.is_empty() {
            match start {
                // Empty lines before the start line are tolerated (RFC 9112 §2.2).
                None => continue,
                Some(start) => return Ok((start, headers)),
            }
        }
        if start.is_none() {
            start = Some(line);
        } else {
            let (name, value) = line
                .split_once(':')
                .filter(|(name, _)| !name.is_empty() && !name.contains(' '))
                .ok_or_else(|| format!("malformed header line {line:?}"))?;
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
    }
}

/// One line without its CRLF (or bare LF), of at most `limit` bytes.
fn read_line(reader: &mut impl BufRead, limit: usize) -> Result<String> {
    let mut line = Vec::new();
    let limit = u64::try_from(limit).unwrap_or(u64::MAX);
    reader
        .by_ref()
        .take(limit)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("reading failed: {e}"))?;
    if line.last() != Some(&b'\n') {
        return Err(if line.len() as u64 >= limit {
            "the head is too long".into()
        } else {
            "the connection closed in the middle of a message".into()
        });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| "a head line is not UTF-8".into())
}

/// The body: chunked, or `Content-Length` bytes, or (for a response without either) everything
/// up to the end of the connection.
fn read_body(
    reader: &mut impl BufRead,
    headers: &[(String, String)],
    to_eof: bool,
) -> Result<Vec<u8>> {
    if let Some(encoding) = header(headers, "Transfer-Encoding") {
        if !encoding.eq_ignore_ascii_case("chunked") {
            return Err(format!("unsupported Transfer-Encoding {encoding:?}"));
        }
        return read_chunked(reader);
    }
    if let Some(length) = header(headers, "Content-Length") {
        let length: usize = length
            .parse()
            .map_err(|_| format!("malformed Content-Length {length:?}"))?;
        if length > MAX_BODY {
            return Err(format!("a body of {length} bytes is over {MAX_BODY}"));
        }
        let mut body = vec![0; length];
        reader
            .read_exact(&mut body)
            .map_err(|e| format!("the body ended early: {e}"))?;
        return Ok(body);
    }
    let mut body = Vec::new();
    if to_eof {
        reader
            .by_ref()
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| format!("reading the body failed: {e}"))?;
        if body.len() > MAX_BODY {
            return Err(format!("the body is over {MAX_BODY} bytes"));
        }
    }
    Ok(body)
}

fn read_chunked(reader: &mut impl BufRead) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader, 1024)?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| format!("malformed chunk size {line:?}"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !read_line(reader, MAX_HEAD)?.is_empty() {}
            return Ok(body);
        }
        if body.len().saturating_add(size) > MAX_BODY {
            return Err(format!("the body is over {MAX_BODY} bytes"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .map_err(|e| format!("a chunk ended early: {e}"))?;
        if !read_line(reader, 2)?.is_empty() {
            return Err("a chunk is longer than its size".into());
        }
    }
}

/// An `http://` URL, split for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HttpUrl {
    /// As given, for messages.
    shown: String,
    /// `host[:port]`, the `Host` header.
    authority: String,
    /// `host:port`, to connect to.
    address: String,
    /// Path and query, at least `/`.
    target: String,
}

fn parse_http_url(url: &str) -> Result<HttpUrl> {
    let rest = url
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("http://"))
        .map(|_| &url[7..])
        .ok_or_else(|| format!("{url:?}: only http:// URLs are supported"))?;
    let rest = rest.split('#').next().unwrap_or_default();
    let (authority, target) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let target = if target.starts_with('?') {
        format!("/{target}")
    } else {
        target.to_owned()
    };
    if authority.is_empty()
        || authority.contains('@')
        || !authority.bytes().all(|b| b.is_ascii_graphic())
        || !target.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(format!(
            "{url:?} is not a plain http://host[:port]/path URL"
        ));
    }
    // The port follows the last ':' that is not inside an IPv6 literal's brackets.
    let after_host = authority.rfind(']').map_or(authority, |i| &authority[i..]);
    let address = match after_host.rsplit_once(':') {
        Some((_, port)) => {
            port.parse::<u16>()
                .map_err(|_| format!("{url:?}: malformed port {port:?}"))?;
            authority.to_owned()
        }
        None => format!("{authority}:80"),
    };
    Ok(HttpUrl {
        shown: url.to_owned(),
        authority: authority.to_owned(),
        address,
        target,
    })
}

/// One HTTP/1.1 exchange on a fresh connection (`Connection: close`): writes `headers` (less the
/// ones that describe the hop, which it writes itself) and `body` with its `Content-Length`,
/// reads the answer to the end, and returns its status and body.
fn http_call(
    method: &str,
    url: &HttpUrl,
    headers: &[(String, String)],
    body: Option<&[u8]>,
) -> Result<(u16, Vec<u8>)> {
    let addresses = url
        .address
        .to_socket_addrs()
        .map_err(|e| format!("could not resolve {}: {e}", url.address))?;
    let mut last_error = format!("{} resolves to no address", url.address);
    let mut connected = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, Duration::from_secs(10)) {
            Ok(stream) => {
                connected = Some(stream);
                break;
            }
            Err(e) => last_error = format!("could not connect to {address}: {e}"),
        }
    }
    let stream = connected.ok_or(last_error)?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));

    let mut head = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        url.target, url.authority
    );
    for (name, value) in headers {
        if !HOP_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body.unwrap_or_default());
    (&stream)
        .write_all(&request)
        .and_then(|()| (&stream).flush())
        .map_err(|e| format!("sending to {} failed: {e}", url.address))?;
    read_response(&mut BufReader::new(&stream), method)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    // The Standard Webhooks reference vector (standard-webhooks/standard-webhooks,
    // libraries/python/tests/test_webhooks.py) and the X-Layers-Signature of the same body and
    // secret (`printf %s '1614265330.{"test": 2432232314}' | openssl dgst -sha256 -hmac
    // whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`), as crates/webhooks checks them.
    const REF_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const REF_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const REF_TIMESTAMP: i64 = 1614265330;
    const REF_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const REF_STANDARD: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const REF_LAYERS_HEX: &str = "2e37df5d4a028c51a7f3133d64ae1e300d2c2c900f1b1d49d4369ad2530f8964";

    fn whsec(fill: u8) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode([fill; 32]))
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The `v1=` of X-Layers-Signature, computed here with ring.
    fn layers_v1(secret: &str, t: i64, body: &[u8]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        let signed = [format!("{t}.").as_bytes(), body].concat();
        hex(hmac::sign(&key, &signed).as_ref())
    }

    /// One `v1,…` entry of webhook-signature, computed here with ring.
    fn standard_v1(secret: &str, id: &str, t: i64, body: &[u8]) -> String {
        let raw = STANDARD.decode(&secret[SECRET_PREFIX.len()..]).unwrap();
        let key = hmac::Key::new(hmac::HMAC_SHA256, &raw);
        let signed = [format!("{id}.{t}.").as_bytes(), body].concat();
        format!("v1,{}", STANDARD.encode(hmac::sign(&key, &signed).as_ref()))
    }

    /// The headers of a delivery signed with `secret` at `t`.
    fn signed_headers(secret: &str, id: &str, kind: &str, t: i64, body: &[u8]) -> String {
        format!(
            "X-Layers-Signature: t={t},v1={}\r\nX-Layers-Event-Id: {id}\r\n\
             X-Layers-Event-Type: {kind}\r\nwebhook-id: {id}\r\nwebhook-timestamp: {t}\r\n\
             webhook-signature: {}\r\n",
            layers_v1(secret, t, body),
            standard_v1(secret, id, t, body),
        )
    }

    fn envelope(id: &str, kind: &str, sandbox: bool) -> Vec<u8> {
        let mut e = json!({
            "id": id,
            "type": kind,
            "apiVersion": "v1",
            "createdAt": "2025-01-01T00:00:00.000Z",
            "data": { "endpointId": "wh_1" },
        });
        if sandbox {
            e["meta"] = json!({ "sandbox": true });
        }
        e.to_string().into_bytes()
    }

    /// Sends raw bytes to `address` and reads the answer to the end.
    fn send(address: std::net::SocketAddr, raw: &[u8]) -> String {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.write_all(raw).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    #[test]
    fn listen_layers_signature_matches_the_reference_and_a_ring_vector() {
        let header = format!("t={REF_TIMESTAMP},v1={REF_LAYERS_HEX}");
        verify_layers(REF_SECRET, &header, REF_BODY, REF_TIMESTAMP).unwrap();

        let (secret, t, body) = (whsec(7), now(), br#"{"id":"evt_1"}"#.as_slice());
        let header = format!("t={t},v1={}", layers_v1(&secret, t, body));
        verify_layers(&secret, &header, body, now()).unwrap();
        // Keyed with the whole string, not the decoded bytes.
        let raw = STANDARD.decode(&secret[6..]).unwrap();
        let decoded_key = hmac::Key::new(hmac::HMAC_SHA256, &raw);
        let wrong =
            hex(hmac::sign(&decoded_key, &[format!("{t}.").as_bytes(), body].concat()).as_ref());
        assert!(verify_layers(&secret, &format!("t={t},v1={wrong}"), body, t).is_err());
    }

    #[test]
    fn listen_layers_signature_refuses_a_tampered_body_a_stale_timestamp_and_junk() {
        let (secret, t, body) = (whsec(7), now(), br#"{"id":"evt_1"}"#.as_slice());
        let header = format!("t={t},v1={}", layers_v1(&secret, t, body));
        let err = verify_layers(&secret, &header, br#"{"id":"evt_2"}"#, t).unwrap_err();
        assert!(err.contains("no v1 matches"), "{err}");
        assert!(verify_layers(&whsec(8), &header, body, t).is_err());
        let err = verify_layers(&secret, &header, body, t + 301).unwrap_err();
        assert!(err.contains("timestamp"), "{err}");
        verify_layers(&secret, &header, body, t + 300).unwrap();
        for junk in [
            "",
            "v1=00",
            "t=1",
            "t=abc,v1=00",
            &format!("t={t},t={t},v1=00"),
            &format!("t={t},v1=zz"),
            &format!("t={t},v1=é"),
            &format!("t={t}, v1"),
        ] {
            assert!(verify_layers(&secret, junk, body, t).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn listen_layers_signature_accepts_any_v1_during_a_rotation() {
        let (old, new, t, body) = (whsec(1), whsec(2), now(), b"{}".as_slice());
        let header = format!(
            "t={t},v1={},v1={}",
            layers_v1(&new, t, body),
            layers_v1(&old, t, body)
        );
        verify_layers(&old, &header, body, t).unwrap();
        verify_layers(&new, &header, body, t).unwrap();
        assert!(verify_layers(&whsec(3), &header, body, t).is_err());
        // Unknown schemes are ignored.
        let header = format!("t={t},v0=abc,v1={}", layers_v1(&old, t, body));
        verify_layers(&old, &header, body, t).unwrap();
    }

    #[test]
    fn listen_standard_signature_matches_the_reference_and_handles_rotation() {
        let t = REF_TIMESTAMP.to_string();
        verify_standard(
            REF_SECRET,
            REF_ID,
            &t,
            REF_STANDARD,
            REF_BODY,
            REF_TIMESTAMP,
        )
        .unwrap();
        assert!(verify_standard(
            REF_SECRET,
            REF_ID,
            &t,
            REF_STANDARD,
            br#"{"test": 2432232315}"#,
            REF_TIMESTAMP
        )
        .is_err());
        assert!(verify_standard(
            REF_SECRET,
            "msg_other",
            &t,
            REF_STANDARD,
            REF_BODY,
            REF_TIMESTAMP
        )
        .is_err());

        let (old, new, now) = (whsec(1), whsec(2), now());
        let header = format!(
            "{} {}",
            standard_v1(&new, "evt_1", now, b"{}"),
            standard_v1(&old, "evt_1", now, b"{}")
        );
        let t = now.to_string();
        verify_standard(&old, "evt_1", &t, &header, b"{}", now).unwrap();
        verify_standard(&new, "evt_1", &t, &header, b"{}", now).unwrap();
        assert!(verify_standard(&whsec(3), "evt_1", &t, &header, b"{}", now).is_err());
        assert!(verify_standard(&old, "evt_1", &t, &header, b"{}", now - 301).is_err());
        assert!(verify_standard("not-a-secret", "evt_1", &t, &header, b"{}", now).is_err());
    }

    #[test]
    fn listen_parses_a_raw_request() {
        let raw =
            b"POST /hooks?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nContent-Type: application/json\r\n\
                    content-length: 11\r\nX-Layers-Event-Id:  evt_1 \r\n\r\n{\"a\":true}\nEXTRA";
        let request = read_request(&mut Cursor::new(raw.as_slice())).unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.target, "/hooks?x=1");
        assert_eq!(request.header("x-layers-event-id"), Some("evt_1"));
        assert_eq!(request.header("Content-Type"), Some("application/json"));
        assert_eq!(request.headers.len(), 4);
        assert_eq!(request.body, b"{\"a\":true}\n");

        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                        4\r\n{\"a\"\r\n6;ext=1\r\n:true}\r\n0\r\nX-Trailer: 1\r\n\r\n";
        let request = read_request(&mut Cursor::new(chunked.as_slice())).unwrap();
        assert_eq!(request.body, b"{\"a\":true}");

        let get = read_request(&mut Cursor::new(b"GET / HTTP/1.1\n\n".as_slice())).unwrap();
        assert_eq!((get.method.as_str(), get.body.len()), ("GET", 0));

        for bad in [
            b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort".as_slice(),
            b"POST / HTTP/1.1\r\nno colon\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
            b"POST /\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\n",
            b"",
        ] {
            assert!(
                read_request(&mut Cursor::new(bad)).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = format!("POST / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(read_request(&mut Cursor::new(long.as_bytes())).is_err());
    }

    #[test]
    fn listen_parses_responses_and_urls() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n\
                    2\r\n{}\r\n0\r\n\r\n";
        assert_eq!(
            read_response(&mut Cursor::new(raw.as_slice()), "POST").unwrap(),
            (201, b"{}".to_vec())
        );
        let raw = b"HTTP/1.0 404 Not Found\r\n\r\nno length";
        assert_eq!(
            read_response(&mut Cursor::new(raw.as_slice()), "GET").unwrap(),
            (404, b"no length".to_vec())
        );
        let raw = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(
            read_response(&mut Cursor::new(raw.as_slice()), "DELETE").unwrap(),
            (204, vec![])
        );
        assert!(read_response(&mut Cursor::new(b"SMTP 220\r\n\r\n".as_slice()), "GET").is_err());

        let url = parse_http_url("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (
                url.authority.as_str(),
                url.address.as_str(),
                url.target.as_str()
            ),
            ("127.0.0.1:8080", "127.0.0.1:8080", "/")
        );
        let url = parse_http_url("HTTP://localhost/hooks/layers?x=1#frag").unwrap();
        assert_eq!(
            (
                url.authority.as_str(),
                url.address.as_str(),
                url.target.as_str()
            ),
            ("localhost", "localhost:80", "/hooks/layers?x=1")
        );
        let url = parse_http_url("http://[::1]:3000?a").unwrap();
        assert_eq!(
            (url.address.as_str(), url.target.as_str()),
            ("[::1]:3000", "/?a")
        );
        assert_eq!(parse_http_url("http://[::1]").unwrap().address, "[::1]:80");
        for bad in [
            "https://example.com/",
            "ftp://x",
            "http://",
            "http://u:p@host/",
            "http://host:99999/",
            "http://host/a b",
            "127.0.0.1:8080",
        ] {
            assert!(parse_http_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn listen_parses_its_arguments() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let options = parse_args(&args(&[
            "--key",
            "lp_test_X_y",
            "--api=http://127.0.0.1:9/",
            "--events",
            "test.ping, job.succeeded,",
            "--forward-to",
            "http://localhost:3000/hook",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(options.key, "lp_test_X_y");
        assert_eq!(options.api, "http://127.0.0.1:9");
        assert_eq!(options.events, ["test.ping", "job.succeeded"]);
        assert_eq!(options.forward_to.unwrap().target, "/hook");
        assert!(parse_args(&args(&["--help"])).unwrap().is_none());
        for bad in [
            &["--key", "k", "--forward-to", "https://x/"][..],
            &["--key", "k", "--api", "ftp://x"],
            &["--key", "k", "--events", ","],
            &["--key"],
            &["--key", "k", "--nope"],
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
    }

    /// Starts a receiver on a free port; its reports arrive on the returned channel.
    fn start_receiver(secret: &str) -> (std::net::SocketAddr, Receiver<Delivery>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::channel();
        let secret: Arc<str> = secret.into();
        std::thread::spawn(move || receive(&listener, &secret, &tx));
        (address, rx)
    }

    #[test]
    fn listen_receiver_reports_signed_deliveries_end_to_end() {
        let secret = whsec(9);
        let (address, rx) = start_receiver(&secret);
        let wait = Duration::from_secs(10);

        let body = envelope("evt_01SANDBOX", "test.ping", true);
        let raw = [
            format!(
                "POST / HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n{}\r\n",
                body.len(),
                signed_headers(&secret, "evt_01SANDBOX", "test.ping", now(), &body)
            )
            .into_bytes(),
            body.clone(),
        ]
        .concat();
        let answer = send(address, &raw);
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\n{\"received\":true}"), "{answer}");
        let delivery = rx.recv_timeout(wait).unwrap();
        assert_eq!(delivery.event_type, "test.ping");
        assert_eq!(delivery.event_id, "evt_01SANDBOX");
        assert!(delivery.sandbox);
        assert_eq!(delivery.verified, Ok(()));
        assert_eq!(delivery.request.body, body);
        let line = delivery.line();
        assert!(
            line.contains("test.ping") && line.contains("sandbox") && line.contains("signature ✓"),
            "{line}"
        );

        // A live delivery signed with another secret is reported, and marked.
        let body = envelope("evt_01LIVE", "job.succeeded", false);
        let raw = [
            format!(
                "POST / HTTP/1.1\r\nContent-Length: {}\r\n{}\r\n",
                body.len(),
                signed_headers(&whsec(1), "evt_01LIVE", "job.succeeded", now(), &body)
            )
            .into_bytes(),
            body,
        ]
        .concat();
        assert!(send(address, &raw).starts_with("HTTP/1.1 200 "));
        let delivery = rx.recv_timeout(wait).unwrap();
        assert_eq!(
            (delivery.event_type.as_str(), delivery.event_id.as_str()),
            ("job.succeeded", "evt_01LIVE")
        );
        assert!(!delivery.sandbox);
        let reason = delivery.verified.clone().unwrap_err();
        assert!(reason.starts_with("X-Layers-Signature"), "{reason}");
        assert!(delivery.line().contains("live") && delivery.line().contains("signature ✗"));

        // Not a POST, or not HTTP: answered, not reported.
        assert!(send(address, b"GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
        assert!(send(address, b"POST / HTTP/1.1\r\nbad\r\n\r\n").starts_with("HTTP/1.1 400 "));
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    }

    #[test]
    fn listen_forwards_body_and_headers_unchanged() {
        let secret = whsec(4);
        let (first, first_rx) = start_receiver(&secret);
        let (second, second_rx) = start_receiver(&secret);
        let body = envelope("evt_01FWD", "post.published", true);
        let raw = [
            format!(
                "POST /in HTTP/1.1\r\nContent-Length: {}\r\nConnection: keep-alive\r\n{}\r\n",
                body.len(),
                signed_headers(&secret, "evt_01FWD", "post.published", now(), &body)
            )
            .into_bytes(),
            body.clone(),
        ]
        .concat();
        send(first, &raw);
        let delivery = first_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let url = parse_http_url(&format!("http://{second}/forwarded")).unwrap();
        let shown = forward(&url, &delivery);
        assert!(shown.ends_with("/forwarded → 200"), "{shown}");
        let forwarded = second_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(forwarded.verified, Ok(()));
        assert_eq!(forwarded.request.body, body);
        assert_eq!(forwarded.request.target, "/forwarded");
        assert_eq!(forwarded.request.header("Connection"), Some("close"));
        assert_eq!(
            forwarded.request.header("Host"),
            Some(second.to_string().as_str())
        );
        for name in [
            "X-Layers-Signature",
            "webhook-signature",
            "X-Layers-Event-Type",
        ] {
            assert_eq!(
                forwarded.request.header(name),
                delivery.request.header(name)
            );
        }
        // Nothing listening: the failure is reported, not raised.
        let closed = parse_http_url(&format!(
            "http://127.0.0.1:{}/",
            crate::util::free_port().unwrap()
        ))
        .unwrap();
        assert!(forward(&closed, &delivery).contains("failed"));
    }

    /// A fake API answering one request per entry of `answers`; the requests it saw come back.
    fn fake_api(answers: Vec<String>) -> (String, mpsc::Receiver<Request>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for answer in answers {
                let (stream, _) = listener.accept().unwrap();
                let request = read_request(&mut BufReader::new(&stream)).unwrap();
                (&stream).write_all(answer.as_bytes()).unwrap();
                tx.send(request).unwrap();
            }
        });
        (base, rx)
    }

    #[test]
    fn listen_registers_and_deletes_its_endpoint() {
        let created = r#"{"id":"wh_1","url":"http://127.0.0.1:1/","events":["*"],"description":"cargo xtask listen","disabled":false,"createdAt":"2025-01-01T00:00:00.000Z","secret":"whsec_AAAA"}"#;
        let refused = r#"{"error":{"code":"FORBIDDEN_SCOPE"}}"#;
        let (api, seen) = fake_api(vec![
            format!(
                "HTTP/1.1 201 Created\r\nContent-Length: {}\r\n\r\n{created}",
                created.len()
            ),
            "HTTP/1.1 204 No Content\r\n\r\n".into(),
            format!(
                "HTTP/1.1 403 Forbidden\r\nContent-Length: {}\r\n\r\n{refused}",
                refused.len()
            ),
        ]);
        let options = Options {
            key: "lp_test_K_s".into(),
            api,
            forward_to: None,
            events: vec!["test.ping".into()],
        };
        let endpoint = register(&options, "http://127.0.0.1:1/").unwrap();
        assert_eq!(
            (endpoint.id.as_str(), endpoint.secret.as_str()),
            ("wh_1", "whsec_AAAA")
        );
        let post = seen.recv().unwrap();
        assert_eq!(
            (post.method.as_str(), post.target.as_str()),
            ("POST", "/v1/webhook-endpoints")
        );
        assert_eq!(post.header("Authorization"), Some("Bearer lp_test_K_s"));
        let sent: Value = serde_json::from_slice(&post.body).unwrap();
        assert_eq!(sent["url"], "http://127.0.0.1:1/");
        assert_eq!(sent["events"], json!(["test.ping"]));

        delete(&options, "wh_1").unwrap();
        let del = seen.recv().unwrap();
        assert_eq!(
            (del.method.as_str(), del.target.as_str()),
            ("DELETE", "/v1/webhook-endpoints/wh_1")
        );

        let err = delete(&options, "wh_1").unwrap_err();
        assert!(
            err.contains("403") && err.contains("FORBIDDEN_SCOPE"),
            "{err}"
        );
    }
}
