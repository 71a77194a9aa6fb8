//! Every error answers the contract's envelope with the right status, and every response carries
//! X-Request-Id.

use layers_tests::{assert_error, spawn_app, spawn_app_with, Env};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let res = app.request(Method::GET, path, None).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert!(res.headers().contains_key("x-request-id"));
    }
}

#[tokio::test]
async fn readiness_fails_without_a_database() {
    let app =
        spawn_app_with(|s| s.database_url = "postgres://postgres@127.0.0.1:1/nowhere".into()).await;
    let res = app
        .request(Method::GET, "/readyz", None)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let live = app
        .request(Method::GET, "/healthz", None)
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let res = app
        .request(Method::GET, "/nowhere", None)
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "NOT_FOUND").await;
    assert_error(app.get("/v1/nowhere", &key).await, 404, "NOT_FOUND").await;
    let res = app
        .request(Method::DELETE, "/v1/projects", Some(&key))
        .send()
        .await
        .unwrap();
    assert_error(res, 405, "METHOD_NOT_ALLOWED").await;
    let res = app
        .request(Method::POST, "/healthz", None)
        .send()
        .await
        .unwrap();
    assert_error(res, 405, "METHOD_NOT_ALLOWED").await;
}

#[tokio::test]
async fn bodies_that_are_not_acceptable_json() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Live).await;
    let post = || app.request(Method::POST, "/v1/projects", Some(&key));

    let res = post()
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "VALIDATION_ERROR").await;
    let res = post()
        .header("content-type", "text/plain")
        .body("{\"name\": \"x\"}")
        .send()
        .await
        .unwrap();
    assert_error(res, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    let res = post().body("{\"name\": \"x\"}").send().await.unwrap();
    assert_error(res, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    let res = post().send().await.unwrap();
    assert_error(res, 400, "VALIDATION_ERROR").await;
    let res = post()
        .header("content-type", "application/json")
        .body("[1, 2]")
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "VALIDATION_ERROR").await;

    // over 1 MiB, declared up front or streamed without a length
    let big = format!("{{\"name\": \"{}\"}}", "a".repeat(1024 * 1024 + 10));
    let res = post()
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_error(res, 413, "PAYLOAD_TOO_LARGE").await;
    let status = chunked_post(&app.address, &key.key, big.as_bytes()).await;
    assert_eq!(status, 413);
    assert_eq!(app.count("SELECT count(*) FROM projects").await, 0);
}

/// Posts `body` with Transfer-Encoding: chunked (no Content-Length) and returns the status.
async fn chunked_post(address: &str, key: &str, body: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /v1/projects HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(64 * 1024) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if stream.write_all(&framed).await.is_err() {
            break; // the server may answer and close before reading everything
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn fields_are_named_in_validation_errors() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    for (body, field) in [
        (json!({}), "name"),
        (json!({ "name": 5 }), "name"),
        (json!({ "name": "   " }), "name"),
        (json!({ "name": "x", "bogus": true }), "bogus"),
        (
            json!({ "name": "x", "timezone": "Mars/Olympus" }),
            "timezone",
        ),
        (
            json!({ "name": "x", "primaryLanguage": "not a tag" }),
            "primaryLanguage",
        ),
        (
            json!({ "name": "x", "customerExternalId": "" }),
            "customerExternalId",
        ),
    ] {
        let error = assert_error(
            app.post("/v1/projects", &key, &body).await,
            400,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(error["details"]["field"], field, "{body}");
    }
    assert_eq!(app.count("SELECT count(*) FROM projects").await, 0);
}

#[tokio::test]
async fn unexpected_failures_are_opaque_500s() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Live).await;
    app.client()
        .await
        .batch_execute("DROP TABLE influencers")
        .await
        .unwrap();
    let project = app.project(&key, "p").await;
    let res = app
        .post(
            &format!(
                "/v1/projects/{}/influencers",
                project["id"].as_str().unwrap()
            ),
            &key,
            &json!({ "name": "Ava" }),
        )
        .await;
    let error = assert_error(res, 500, "INTERNAL").await;
    let text = error.to_string();
    assert!(
        !text.contains("influencers") && !text.contains("relation"),
        "{text}"
    );
}

/// A row written into a project another transaction deleted meanwhile (a sandbox reset racing a
/// request) fails its foreign key: the answer is 404 `NOT_FOUND`, not a 500, however the
/// domain crate wraps the database's error (`#[error(transparent)]` shows only its `DbError`).
#[tokio::test]
async fn a_referent_deleted_meanwhile_is_404_not_500() {
    use layers_db::tokio_postgres;

    /// What `#[error(transparent)]` makes of a tokio-postgres error.
    #[derive(Debug)]
    struct Transparent(tokio_postgres::Error);
    impl std::fmt::Display for Transparent {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            self.0.fmt(f)
        }
    }
    impl std::error::Error for Transparent {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            std::error::Error::source(&self.0)
        }
    }

    let app = spawn_app().await;
    let db = app.db.pool.get().await.unwrap();
    let gone = uuid::Uuid::new_v4();
    let failed = db
        .execute(
            "INSERT INTO influencers (id, project_id, organization_id, name, is_sandbox) \
             VALUES ($1, $2, $2, 'x', true)",
            &[&uuid::Uuid::new_v4(), &gone],
        )
        .await
        .expect_err("no such project");
    assert!(layers_db::is_foreign_key_violation(&failed));
    let wrapped = Transparent(failed);
    assert!(layers_db::is_foreign_key_violation(&wrapped));
    let answer = layers_gateway::ApiError::internal(wrapped);
    assert_eq!(answer.code().status(), 404);

    let other = db
        .execute("SELECT 1/0", &[])
        .await
        .expect_err("division by zero");
    assert!(!layers_db::is_foreign_key_violation(&other));
    assert_eq!(
        layers_gateway::ApiError::internal(other).code().status(),
        500
    );
}
