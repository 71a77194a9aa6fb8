//! The end-to-end harness: [`spawn_app`] starts the real gateway on port 0 against a fresh
//! database of its own (cloned from a migrated template), and [`TestApp`] drives it over HTTP
//! and seeds organizations and keys through the domain crates, as the operator CLI would.

use layers_core::EnvKind;
use layers_db::testing::{fresh_database, TestDatabase};
use layers_gateway::{Application, Settings};
use layers_keys::{store, Scopes, Tier};
use layers_orgs::{OrgId, Plan};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

pub use layers_core::EnvKind as Env;

pub mod hostile;

/// FNV-1a, 32 bits (CONTRACT §8), written here from the contract rather than taken from the
/// crate that the tests check.
pub fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(16_777_619);
    }
    h
}

/// Both environments, for tests that must hold for live and test keys alike.
pub const BOTH: [EnvKind; 2] = [EnvKind::Live, EnvKind::Sandbox];

/// A running gateway and its database.
#[derive(Debug)]
pub struct TestApp {
    pub address: String,
    pub db: TestDatabase,
    pub http: reqwest::Client,
}

/// A minted key.
#[derive(Debug, Clone)]
pub struct TestKey {
    pub key: String,
    pub api_key_id: uuid::Uuid,
    pub org: OrgId,
}

/// The master key of test gateways (32 bytes of 0x2a).
pub const TEST_MASTER_KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

/// Settings for a gateway on `db`: port 0, one worker, a small pool.
pub fn test_settings(db: &TestDatabase) -> Settings {
    let url = db.url.clone();
    let media = std::env::temp_dir()
        .join("layers-test-media")
        .join(&db.name);
    Settings::from_lookup(|name| match name {
        "LAYERS_STORAGE_URL" => Some(format!("file://{}", media.display())),
        "DATABASE_URL" => Some(url.clone()),
        "LAYERS_BIND" => Some("127.0.0.1:0".into()),
        "LAYERS_WORKERS" => Some("1".into()),
        "LAYERS_DB_POOL_SIZE" => Some("8".into()),
        "LAYERS_ALLOW_PRIVATE_NETWORK" => Some("true".into()),
        "LAYERS_MASTER_KEY" => Some(TEST_MASTER_KEY.into()),
        _ => None,
    })
    .expect("test settings are valid")
}

/// Starts a gateway on a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a gateway on a fresh database, with settings adjusted by `adjust`.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let db = fresh_database().await;
    let mut settings = test_settings(&db);
    adjust(&mut settings);
    let address = start(settings).await;
    TestApp {
        address,
        db,
        http: reqwest::Client::new(),
    }
}

/// Starts a gateway with `settings` and returns its base URL.
pub async fn start(settings: Settings) -> String {
    let app = Application::build(settings)
        .await
        .expect("the gateway starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run());
    address
}

impl TestApp {
    /// Objects stored under this app's storage directory (live media).
    pub fn stored_files(&self) -> usize {
        fn walk(dir: &std::path::Path) -> usize {
            std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| {
                            if e.path().is_dir() {
                                walk(&e.path())
                            } else {
                                1
                            }
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        walk(
            &std::env::temp_dir()
                .join("layers-test-media")
                .join(&self.db.name),
        )
    }

    pub async fn client(&self) -> layers_db::Client {
        self.db.pool.get().await.expect("a database connection")
    }

    /// An organization on `plan`.
    pub async fn org(&self, plan: Plan) -> OrgId {
        layers_orgs::create(&self.client().await, "Test Org", plan, None)
            .await
            .expect("create an organization")
            .id
    }

    /// A key for `org` in `env` with `scopes` (`*` or a list) and `tier`.
    pub async fn key_with(&self, org: OrgId, env: EnvKind, scopes: &str, tier: Tier) -> TestKey {
        let scopes = Scopes::parse(scopes).expect("valid scopes");
        let minted = store::mint(
            &self.client().await,
            &ring::rand::SystemRandom::new(),
            org,
            env,
            &scopes,
            tier,
        )
        .await
        .expect("mint a key");
        TestKey {
            key: minted.key.expose(),
            api_key_id: minted.record.id,
            org,
        }
    }

    /// An all-scopes standard key on a fresh partner organization.
    pub async fn partner_key(&self, env: EnvKind) -> TestKey {
        let org = self.org(Plan::Partner).await;
        self.key_with(org, env, "*", Tier::Standard).await
    }

    pub fn request(&self, method: Method, path: &str, key: Option<&TestKey>) -> RequestBuilder {
        let req = self
            .http
            .request(method, format!("{}{}", self.address, path));
        match key {
            Some(k) => req.bearer_auth(&k.key),
            None => req,
        }
    }

    pub async fn get(&self, path: &str, key: &TestKey) -> Response {
        self.request(Method::GET, path, Some(key))
            .send()
            .await
            .expect("GET")
    }

    /// GET `path` and read the body as JSON, whatever the status.
    pub async fn get_json(&self, path: &str, key: &TestKey) -> Value {
        self.get(path, key).await.json().await.expect("a JSON body")
    }

    pub async fn post(&self, path: &str, key: &TestKey, body: &Value) -> Response {
        self.request(Method::POST, path, Some(key))
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    pub async fn post_empty(&self, path: &str, key: &TestKey) -> Response {
        self.request(Method::POST, path, Some(key))
            .send()
            .await
            .expect("POST")
    }

    pub async fn patch(&self, path: &str, key: &TestKey, body: &Value) -> Response {
        self.request(Method::PATCH, path, Some(key))
            .json(body)
            .send()
            .await
            .expect("PATCH")
    }

    /// GETs `path` until it answers `status`, for at most one second (key lookups are cached
    /// per process and invalidated by notification, which takes milliseconds), and returns that
    /// response.
    pub async fn get_eventually(&self, path: &str, key: &TestKey, status: u16) -> Response {
        let started = std::time::Instant::now();
        loop {
            let res = self.get(path, key).await;
            if res.status().as_u16() == status
                || started.elapsed() > std::time::Duration::from_secs(1)
            {
                return res;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Polls a job until it has ended (`succeeded`, `failed` or `canceled`), for at most ten
    /// seconds, and returns it.
    pub async fn job_settles(&self, key: &TestKey, job: &str) -> Value {
        let started = std::time::Instant::now();
        loop {
            let body = self.get_json(&format!("/v1/jobs/{job}"), key).await;
            if matches!(
                body["status"].as_str(),
                Some("succeeded" | "failed" | "canceled")
            ) {
                return body;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "the job has not ended: {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Connects a sandbox account of `platform` to the project (oauth-url, then a plain GET of
    /// its URL) and returns its id.
    pub async fn connect_sandbox(&self, key: &TestKey, project: &str, platform: &str) -> String {
        let res = self
            .post(
                &format!("/v1/projects/{project}/social/oauth-url"),
                key,
                &serde_json::json!({ "platform": platform }),
            )
            .await;
        assert_eq!(res.status(), 200);
        let minted: Value = res.json().await.unwrap();
        let url = minted["url"]
            .as_str()
            .unwrap()
            .replace("http://127.0.0.1:8080", &self.address);
        let res = self.http.get(url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        body["socialAccountId"].as_str().unwrap().to_owned()
    }

    /// Generates one piece of `format` content in the project and returns the 202's body.
    pub async fn generate(&self, key: &TestKey, project: &str, format: &str) -> Value {
        let res = self
            .post(
                &format!("/v1/projects/{project}/content/{format}"),
                key,
                &serde_json::json!({}),
            )
            .await;
        assert_eq!(res.status(), 202);
        res.json().await.unwrap()
    }

    /// Waits until the gateway's key cache is in use (its listener has proven that
    /// notifications arrive): before that, every lookup goes to the database.
    pub async fn wait_for_key_cache(&self) {
        let started = std::time::Instant::now();
        loop {
            let ready: Value = self
                .http
                .get(format!("{}/readyz", self.address))
                .send()
                .await
                .expect("GET /readyz")
                .json()
                .await
                .expect("readyz JSON");
            if ready["keyCache"] == "listening" {
                return;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "the key cache never started listening: {ready}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Copies the database's one scheduled post `n` times, a minute apart, each with its own
    /// container, target and queued `publish` job: many due posts without as many requests.
    pub async fn copy_scheduled_post(&self, n: u32) {
        self.client()
            .await
            .batch_execute(&format!(
                "CREATE TEMP TABLE m AS SELECT gen_random_uuid() AS cid, gen_random_uuid() AS pid, \
                     gen_random_uuid() AS jid, g FROM generate_series(1, {n}) g; \
                 INSERT INTO content_containers SELECT (jsonb_populate_record(c, \
                     jsonb_build_object('id', m.cid))).* FROM content_containers c, m; \
                 INSERT INTO jobs SELECT (jsonb_populate_record(j, \
                     jsonb_build_object('id', m.jid))).* FROM jobs j, m WHERE j.kind = 'publish'; \
                 INSERT INTO scheduled_posts SELECT (jsonb_populate_record(p, jsonb_build_object( \
                     'id', m.pid, 'container_id', m.cid, 'job_id', m.jid, \
                     'publish_at', p.publish_at + m.g * interval '1 minute'))).* \
                     FROM scheduled_posts p, m; \
                 INSERT INTO platform_posts SELECT (jsonb_populate_record(t, \
                     jsonb_build_object('scheduled_post_id', m.pid))).* FROM platform_posts t, m;"
            ))
            .await
            .expect("the copies are written");
    }

    /// A single number from SQL, for asserting what was (or was not) written.
    pub async fn count(&self, sql: &str) -> i64 {
        self.client()
            .await
            .query_one(sql, &[])
            .await
            .expect("count query")
            .get(0)
    }

    /// Creates a project and returns its body.
    pub async fn project(&self, key: &TestKey, name: &str) -> Value {
        let res = self
            .post("/v1/projects", key, &serde_json::json!({ "name": name }))
            .await;
        assert_eq!(res.status(), 201);
        res.json().await.expect("project JSON")
    }

    /// Creates a project and returns its id.
    pub async fn project_id(&self, key: &TestKey, name: &str) -> String {
        self.project(key, name).await["id"]
            .as_str()
            .expect("an id")
            .to_owned()
    }
}

/// Asserts an error envelope with `status` and `code`, and that its request id matches the
/// header. Returns the `error` object.
pub async fn assert_error(res: Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status of {}", res.url());
    let header = res
        .headers()
        .get("x-request-id")
        .expect("every response has X-Request-Id")
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let body: Value = res.json().await.expect("error body is JSON");
    let error = body["error"].clone();
    assert_eq!(error["code"], code, "{body}");
    assert_eq!(error["requestId"], header.as_str());
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    error
}

/// A fake generator: `POST /generate` answers one image whose bytes it serves too; it also
/// counts what it was asked.
pub async fn fake_generator(status: u16) -> wiremock::MockServer {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let (jpeg, _) = layers_content::file("image/sample-1.jpg").expect("a fixture to serve");
    Mock::given(method("GET"))
        .and(path("/files/out.jpg"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "image/jpeg")
                .set_body_bytes(jpeg),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/generate"))
        .and(header("authorization", "Bearer gen-token"))
        .respond_with(
            ResponseTemplate::new(status).set_body_json(serde_json::json!({
                "assets": [{ "kind": "image", "url": format!("{}/files/out.jpg", server.uri()),
                             "contentType": "image/jpeg", "width": 1080, "height": 1920 }]
            })),
        )
        .mount(&server)
        .await;
    server
}

/// A TCP proxy to the test PostgreSQL server that can be cut: [`DbProxy::cut`] closes every
/// connection through it and refuses new ones, [`DbProxy::restore`] accepts again, as a database
/// restart looks from the gateway.
#[derive(Debug)]
pub struct DbProxy {
    pub port: u16,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl DbProxy {
    /// A proxy on 127.0.0.1 to the server behind `database_url`.
    pub async fn start(database_url: &str) -> DbProxy {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::Arc;
        let url = reqwest::Url::parse(database_url).expect("a database URL");
        let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let generation = Arc::new(AtomicU64::new(0));
        let (is_open, current) = (open.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !is_open.load(Ordering::SeqCst) {
                    continue; // dropped: the gateway sees its connection closed at once
                }
                let born = current.load(Ordering::SeqCst);
                let (upstream, current) = (upstream.clone(), current.clone());
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let cut = async {
                        while current.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        }
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut => {}
                    }
                });
            }
        });
        DbProxy {
            port,
            open,
            generation,
        }
    }

    /// `database_url` with its host and port replaced by this proxy's.
    pub fn url(&self, database_url: &str) -> String {
        let mut url = reqwest::Url::parse(database_url).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(self.port)).unwrap();
        url.to_string()
    }

    /// Closes every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        use std::sync::atomic::Ordering;
        self.open.store(false, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
