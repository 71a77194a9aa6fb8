//! The live adapters against wiremock: the App Store lookup API, the GitHub REST API and a
//! website fetch, their facts and their failures (a 404 is `Permanent`, a 5xx `Transient`, an
//! oversized body or a refused address `Permanent`). Retries and refunds are the jobs crate's.

use layers_ingest::{
    AppstoreTarget, Branch, LiveIngest, Platforms, Repository, Source, WebsiteUrl,
};
use layers_jobs::Failure;
use layers_outbound::{Outbound, OutboundConfig, Url};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghp_test-token";
const UNUSED: &str = "http://127.0.0.1:9/";

fn ingest_with(
    config: OutboundConfig,
    appstore: &str,
    github: &str,
    token: Option<&str>,
) -> LiveIngest {
    LiveIngest::new(
        Outbound::new(config).unwrap(),
        Platforms {
            appstore_base_url: Url::parse(appstore).unwrap(),
            github_base_url: Url::parse(github).unwrap(),
            github_token: token.map(str::to_owned),
        },
    )
}

fn private_allowed() -> OutboundConfig {
    OutboundConfig {
        allow_private_network: true,
        ..Default::default()
    }
}

fn appstore(server: &MockServer) -> LiveIngest {
    ingest_with(private_allowed(), &server.uri(), UNUSED, None)
}

fn github(server: &MockServer, token: Option<&str>) -> LiveIngest {
    ingest_with(private_allowed(), UNUSED, &server.uri(), token)
}

/// Websites need no platform base URL.
fn live() -> LiveIngest {
    ingest_with(private_allowed(), UNUSED, UNUSED, None)
}

fn website(server: &MockServer, page: &str) -> Source {
    Source::Website(WebsiteUrl::parse(&format!("{}{page}", server.uri()), true).unwrap())
}

fn bundle(id: &str) -> Source {
    Source::Appstore(AppstoreTarget::parse(Some(id), None).unwrap())
}

fn repo(s: &str, branch: Option<&str>) -> Source {
    Source::github(
        Repository::parse(s).unwrap(),
        branch.map(|b| Branch::parse(b).unwrap()),
    )
}

fn permanent(result: Result<Value, Failure>) -> String {
    match result {
        Err(Failure::Permanent(message)) => message,
        other => panic!("expected a permanent failure, got {other:?}"),
    }
}

fn transient(result: Result<Value, Failure>) -> String {
    match result {
        Err(Failure::Transient(message)) => message,
        other => panic!("expected a transient failure, got {other:?}"),
    }
}

fn lookup_answer() -> Value {
    json!({
        "resultCount": 1,
        "results": [{
            "trackId": 389801252,
            "trackName": "Example App",
            "description": "Does example things.",
            "bundleId": "com.example.app",
            "sellerName": "Example Inc.",
            "averageUserRating": 4.5,
            "userRatingCount": 1234,
            "genres": ["Utilities"],
            "trackViewUrl": "https://apps.apple.com/us/app/example/id389801252",
        }]
    })
}

// ---- App Store ----

#[tokio::test]
async fn appstore_by_bundle_id() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/lookup"))
        .and(query_param("bundleId", "com.example.app"))
        .respond_with(ResponseTemplate::new(200).set_body_json(lookup_answer()))
        .expect(1)
        .mount(&server)
        .await;
    let result = appstore(&server)
        .facts(&bundle("com.example.app"))
        .await
        .unwrap();
    assert_eq!(result["source"], "appstore");
    let facts = &result["facts"];
    assert_eq!(facts["name"], "Example App");
    assert_eq!(facts["description"], "Does example things.");
    assert_eq!(facts["bundleId"], "com.example.app");
    assert_eq!(facts["trackId"], 389801252);
    assert_eq!(facts["sellerName"], "Example Inc.");
}

#[tokio::test]
async fn appstore_by_track_id_from_a_store_url_and_under_a_base_path() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/fake/lookup"))
        .and(query_param("id", "389801252"))
        .respond_with(ResponseTemplate::new(200).set_body_json(lookup_answer()))
        .expect(1)
        .mount(&server)
        .await;
    let live = ingest_with(
        private_allowed(),
        &format!("{}/fake/", server.uri()),
        UNUSED,
        None,
    );
    let source = Source::Appstore(
        AppstoreTarget::parse(
            None,
            Some("https://apps.apple.com/us/app/example/id389801252"),
        )
        .unwrap(),
    );
    let result = live.facts(&source).await.unwrap();
    assert_eq!(result["facts"]["name"], "Example App");
    assert_eq!(result["facts"]["description"], "Does example things.");
    assert_eq!(result["facts"]["bundleId"], "com.example.app");
}

#[tokio::test]
async fn appstore_without_a_result_is_permanent_and_names_the_bundle_id() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/lookup"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"resultCount": 0, "results": []})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let message = permanent(
        appstore(&server)
            .facts(&bundle("com.example.doesnotexist"))
            .await,
    );
    assert!(message.contains("com.example.doesnotexist"), "{message}");
}

#[tokio::test]
async fn appstore_5xx_is_transient_and_404_permanent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(query_param("bundleId", "com.example.down"))
        .respond_with(ResponseTemplate::new(503).set_body_string("maintenance"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(query_param("bundleId", "com.example.gone"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let live = appstore(&server);
    let message = transient(live.facts(&bundle("com.example.down")).await);
    assert!(message.contains("503"), "{message}");
    let message = permanent(live.facts(&bundle("com.example.gone")).await);
    assert!(message.contains("404"), "{message}");
}

// ---- GitHub ----

fn repository_answer(default_branch: &str) -> Value {
    json!({
        "name": "widget",
        "full_name": "acme/widget",
        "description": "A widget.",
        "default_branch": default_branch,
        "stargazers_count": 42,
        "language": "Rust",
        "html_url": "https://github.com/acme/widget",
        "topics": ["cli"],
    })
}

#[tokio::test]
async fn github_repository_and_readme_with_a_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget"))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(repository_answer("main")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget/readme"))
        .and(query_param("ref", "release/1.0"))
        .and(header("accept", "application/vnd.github.raw"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_string("# Widget\n\nIt widgets."))
        .expect(1)
        .mount(&server)
        .await;
    let result = github(&server, Some(TOKEN))
        .facts(&repo("acme/widget", Some("release/1.0")))
        .await
        .unwrap();
    assert_eq!(result["source"], "github");
    let facts = &result["facts"];
    assert_eq!(facts["name"], "widget");
    assert_eq!(facts["fullName"], "acme/widget");
    assert_eq!(facts["description"], "A widget.");
    assert_eq!(facts["stars"], 42);
    assert_eq!(facts["branch"], "release/1.0");
    assert_eq!(facts["readme"], "# Widget\n\nIt widgets.");
}

#[tokio::test]
async fn github_uses_the_default_branch_and_sends_no_token_when_none_is_configured() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget"))
        .respond_with(ResponseTemplate::new(200).set_body_json(repository_answer("develop")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget/readme"))
        .and(query_param("ref", "develop"))
        .and(header("accept", "application/vnd.github.raw"))
        .respond_with(ResponseTemplate::new(200).set_body_string("# Widget"))
        .expect(1)
        .mount(&server)
        .await;
    let result = github(&server, None)
        .facts(&repo("acme/widget", None))
        .await
        .unwrap();
    assert_eq!(result["facts"]["branch"], "develop");
    assert_eq!(result["facts"]["readme"], "# Widget");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    for request in requests {
        assert!(
            !request.headers.contains_key("authorization"),
            "{} sent an Authorization header",
            request.url
        );
    }
}

#[tokio::test]
async fn github_without_a_readme_succeeds_with_a_null_readme() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget"))
        .respond_with(ResponseTemplate::new(200).set_body_json(repository_answer("main")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget/readme"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .expect(1)
        .mount(&server)
        .await;
    let result = github(&server, Some(TOKEN))
        .facts(&repo("acme/widget", None))
        .await
        .unwrap();
    assert_eq!(result["facts"]["name"], "widget");
    assert_eq!(result["facts"]["branch"], "main");
    assert_eq!(result["facts"]["readme"], Value::Null);
}

#[tokio::test]
async fn github_missing_repository_is_permanent_and_names_it() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/nothing"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .expect(1)
        .mount(&server)
        .await;
    let message = permanent(
        github(&server, Some(TOKEN))
            .facts(&repo("acme/nothing", None))
            .await,
    );
    assert!(message.contains("acme/nothing"), "{message}");
    // the README is not asked for
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn github_5xx_is_transient_for_the_repository_and_the_readme() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/flaky"))
        .respond_with(ResponseTemplate::new(502))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget"))
        .respond_with(ResponseTemplate::new(200).set_body_json(repository_answer("main")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget/readme"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let live = github(&server, None);
    let message = transient(live.facts(&repo("acme/flaky", None)).await);
    assert!(message.contains("502"), "{message}");
    let message = transient(live.facts(&repo("acme/widget", None)).await);
    assert!(message.contains("503"), "{message}");
}

// ---- Websites ----

#[tokio::test]
async fn website_facts_prefer_open_graph() {
    let server = MockServer::start().await;
    let html = r#"<!doctype html><html><head>
        <title>Plain Title</title>
        <meta name="description" content="A plain description.">
        <meta property="og:title" content="Open Graph Title">
        <meta property="og:description" content="An Open Graph description.">
        <meta property="og:image" content="https://example.com/card.png">
        </head><body><h1>Hello</h1></body></html>"#;
    Mock::given(method("GET"))
        .and(path("/app"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(html, "text/html; charset=utf-8"))
        .expect(1)
        .mount(&server)
        .await;
    let source = website(&server, "/app");
    let result = live().facts(&source).await.unwrap();
    assert_eq!(result["source"], "website");
    let facts = &result["facts"];
    assert_eq!(facts["name"], "Open Graph Title");
    assert_eq!(facts["title"], "Plain Title");
    assert_eq!(facts["description"], "An Open Graph description.");
    assert_eq!(facts["ogImage"], "https://example.com/card.png");
    assert_eq!(facts["url"], format!("{}/app", server.uri()));
}

#[tokio::test]
async fn website_with_only_a_title() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "<html><head><title> Just a Title </title></head><body></body></html>",
            "text/html",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let result = live().facts(&website(&server, "/")).await.unwrap();
    assert_eq!(result["facts"]["name"], "Just a Title");
    assert_eq!(result["facts"]["description"], Value::Null);
}

#[tokio::test]
async fn website_404_is_permanent_and_500_transient() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/gone"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no such page"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/broken"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    let live = live();
    let message = permanent(live.facts(&website(&server, "/gone")).await);
    assert!(message.contains("404"), "{message}");
    let message = transient(live.facts(&website(&server, "/broken")).await);
    assert!(message.contains("500"), "{message}");
}

#[tokio::test]
async fn website_larger_than_the_cap_is_permanent() {
    let server = MockServer::start().await;
    let html = format!(
        "<html><head><title>Big</title></head><body>{}</body></html>",
        "x".repeat(4096)
    );
    Mock::given(method("GET"))
        .and(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(html, "text/html"))
        .expect(1)
        .mount(&server)
        .await;
    let live = ingest_with(
        OutboundConfig {
            allow_private_network: true,
            max_response_bytes: 1024,
            ..Default::default()
        },
        UNUSED,
        UNUSED,
        None,
    );
    let message = permanent(live.facts(&website(&server, "/big")).await);
    assert!(message.contains("larger than 1024 bytes"), "{message}");
}

// ---- Refusals ----

#[tokio::test]
async fn a_loopback_website_is_refused_without_a_request_when_private_networks_are_not_allowed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("<title>Secret</title>", "text/html"))
        .expect(0)
        .mount(&server)
        .await;
    let live = ingest_with(OutboundConfig::default(), UNUSED, UNUSED, None);
    // queued while private networks were allowed; the client of the day refuses it
    let message = permanent(live.facts(&website(&server, "/")).await);
    assert!(message.contains("not reachable"), "{message}");
    assert!(
        !message.contains("127.0.0.1"),
        "the address is not named: {message}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 0);
}
