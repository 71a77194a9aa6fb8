//! No secret at rest in clear (issue 17): a database that went through every route whose
//! answer carries a secret, each with an `Idempotency-Key`, holds none of them in a `pg_dump`,
//! and the replays still answer them byte for byte.

use layers_tests::{spawn_app, Env, TestApp, TestKey};
use serde_json::{json, Value};

/// POSTs `body` with an `Idempotency-Key`, twice: the answer and its replay must agree.
async fn post_twice(app: &TestApp, key: &TestKey, path: &str, body: Value) -> Value {
    let send = || {
        app.request(reqwest::Method::POST, path, Some(key))
            .header("Idempotency-Key", format!("at-rest {path}"))
            .json(&body)
            .send()
    };
    let first = send().await.unwrap();
    assert!(first.status().is_success(), "{path}: {}", first.status());
    let first = first.text().await.unwrap();
    let replay = send().await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(
        replay.text().await.unwrap(),
        first,
        "{path}: the replay differs"
    );
    serde_json::from_str(&first).unwrap()
}

/// The whole database as `pg_dump` writes it.
fn dump(app: &TestApp) -> String {
    let binary = ["/usr/lib/postgresql/15/bin/pg_dump", "pg_dump"]
        .into_iter()
        .find(|b| std::path::Path::new(b).exists() || !b.contains('/'))
        .unwrap();
    let out = std::process::Command::new(binary)
        .args(["--data-only", &app.db.url])
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn stored_answers_keep_no_secret_in_clear() {
    let app = spawn_app().await;
    let mut secrets = Vec::new();
    for env in [Env::Live, Env::Sandbox] {
        let key = app.partner_key(env).await;
        let project = app.project_id(&key, "Secrets").await;
        let created = post_twice(
            &app,
            &key,
            "/v1/webhook-endpoints",
            json!({ "url": "http://127.0.0.1:9/hook" }),
        )
        .await;
        secrets.push(created["secret"].as_str().unwrap().to_owned());
        let id = created["id"].as_str().unwrap();
        let rotated = post_twice(
            &app,
            &key,
            &format!("/v1/webhook-endpoints/{id}/rotate-secret"),
            json!({}),
        )
        .await;
        secrets.push(rotated["secret"].as_str().unwrap().to_owned());
        let session = post_twice(
            &app,
            &key,
            &format!("/v1/projects/{project}/content/uploads"),
            json!({ "files": [{ "filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": 10 }] }),
        )
        .await;
        let url = session["files"][0]["uploadUrl"].as_str().unwrap();
        if let Some((_, signature)) = url.split_once('?') {
            secrets.push(signature.to_owned());
        }
    }
    let sandbox = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&sandbox, "OAuth").await;
    let state = post_twice(
        &app,
        &sandbox,
        &format!("/v1/projects/{project}/social/oauth-url"),
        json!({ "platform": "instagram" }),
    )
    .await;
    secrets.push(state["state"].as_str().unwrap().to_owned());
    assert_eq!(secrets.len(), 6, "{secrets:?}");

    let dump = dump(&app);
    assert!(
        dump.contains("idempotency_keys"),
        "the dump has the stored answers"
    );
    // text columns appear as they are, bytea ones in hex
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    for secret in &secrets {
        assert!(!dump.contains(secret.as_str()), "{secret} is in the dump");
        assert!(
            !dump.contains(&hex(secret)),
            "{secret} is in the dump, in hex"
        );
    }
    assert!(!dump.contains("whsec_"), "a webhook secret is in the dump");
    assert!(
        !dump.contains(&hex("whsec_")),
        "a webhook secret is in the dump, in hex"
    );
}
