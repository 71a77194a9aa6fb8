//! The metrics figure of `cargo xtask bench`: `GET /v1/projects/:id/metrics` for 1,000 sandbox
//! posts × 90 days through the HTTP route (synthesis on read, the database read, JSON), against
//! serializing the same response from a precomputed value in the same process.
//!
//! Reads `DATABASE_URL` (migrated here if it is not yet). Starts the gateway in this process on a free
//! port, makes an organization, a test key and a project, writes 1,000 published sandbox posts
//! (rows, as the publish route would leave them, published 120 days ago so that every day of
//! the range is synthesized), then times, after two warm-ups, `ROUNDS` sequential requests and
//! `ROUNDS` serializations of the route's own body type built from series read once. Checks
//! that both give the same bytes, and prints one JSON object (medians, in milliseconds).
//!
//! Then the same for ads (issue 20): `GET /v1/projects/:id/ads/metrics` for 100 sandbox
//! campaigns × 90 days (created 120 days ago, each paused for three days of the range), against
//! serializing the route's own body built from the days read once (the `ads` object).

use std::time::Instant;

use layers_core::EnvKind;
use layers_gateway::routes::ads::AdMetricsBody;
use layers_gateway::routes::metrics::MetricsBody;
use layers_gateway::{Application, Settings};
use layers_keys::{Scopes, Tier};
use layers_metrics::Range;
use layers_orgs::Plan;

const POSTS: i64 = 1_000;
const CAMPAIGNS: i64 = 100;
const DAYS: i64 = 90;
const ROUNDS: usize = 15;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

/// What the example's parts return on failure.
type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Migrates the database at `database_url` and starts the gateway in this process on a free
/// port, with no job workers; its base URL.
async fn start_gateway(database_url: &str) -> BenchResult<String> {
    layers_db::migrate(database_url).await?;
    let settings = Settings::from_lookup(|name| match name {
        "DATABASE_URL" => Some(database_url.to_owned()),
        "LAYERS_BIND" => Some("127.0.0.1:0".into()),
        "LAYERS_JOB_CONCURRENCY" => Some("0".into()),
        _ => std::env::var(name).ok(),
    })?;
    let app = Application::build(settings).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    Ok(base)
}

/// The bench's organization, its sandbox key and its project.
struct Tenant {
    org: layers_orgs::OrgId,
    key: String,
    project_id: String,
    project_uuid: uuid::Uuid,
}

/// Makes an organization and a sandbox key directly, and a project through the gateway at
/// `base`.
async fn tenant(db: &layers_db::Client, http: &reqwest::Client, base: &str) -> BenchResult<Tenant> {
    let org = layers_orgs::create(db, "metrics bench", Plan::Partner, None)
        .await?
        .id;
    let minted = layers_keys::store::mint(
        db,
        &ring::rand::SystemRandom::new(),
        org,
        EnvKind::Sandbox,
        &Scopes::parse("*")?,
        Tier::Standard,
    )
    .await?;
    let key = minted.key.expose();
    let project: serde_json::Value = http
        .post(format!("{base}/v1/projects"))
        .bearer_auth(&key)
        .json(&serde_json::json!({ "name": "metrics bench" }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let project_id = project["id"].as_str().ok_or("no project id")?.to_owned();
    let project_uuid = layers_projects::ProjectId::parse(&project_id)?.as_uuid();
    Ok(Tenant {
        org,
        key,
        project_id,
        project_uuid,
    })
}

/// Writes [`POSTS`] published sandbox posts of `tenant`'s project, one target each, published
/// 120 days ago.
async fn write_posts(db: &layers_db::Client, tenant: &Tenant) -> BenchResult<()> {
    let project_uuid = tenant.project_uuid;
    db.batch_execute(&format!(
        "CREATE TEMP TABLE bench_posts AS \
             SELECT layers_uuid_v7() AS container, layers_uuid_v7() AS post, \
                    layers_uuid_v7() AS account, n FROM generate_series(1, {POSTS}) AS n; \
         INSERT INTO content_containers (id, organization_id, project_id, is_sandbox, format, \
             source, status) \
             SELECT container, '{org}', '{project_uuid}', true, 'image', 'generated', 'completed' \
             FROM bench_posts; \
         INSERT INTO social_accounts (id, organization_id, project_id, is_sandbox, platform, \
             platform_user_id, handle, token) \
             SELECT account, '{org}', '{project_uuid}', true, 'instagram', 'sb_bench_' || n, \
                 'sandbox_instagram', 'sandbox_token' FROM bench_posts; \
         INSERT INTO scheduled_posts (id, organization_id, project_id, is_sandbox, container_id, \
             job_id, status, publish_at) \
             SELECT post, '{org}', '{project_uuid}', true, container, layers_uuid_v7(), \
                 'published', now() - interval '120 days' FROM bench_posts; \
         INSERT INTO platform_posts (scheduled_post_id, target_index, project_id, is_sandbox, \
             social_account_id, platform, status, platform_post_id, posted_at) \
             SELECT post, 0, '{project_uuid}', true, account, 'instagram', 'published', \
                 'sb_post_cnt_' || replace(container::text, '-', '') || '_0', \
                 now() - interval '120 days' FROM bench_posts;",
        org = tenant.org.as_uuid(),
    ))
    .await?;
    Ok(())
}

/// Writes [`CAMPAIGNS`] active sandbox campaigns of `tenant`'s project on one ad account,
/// created 120 days ago, each paused 30 days ago and resumed 27 days ago.
async fn write_campaigns(db: &layers_db::Client, tenant: &Tenant) -> BenchResult<()> {
    let project_uuid = tenant.project_uuid;
    db.batch_execute(&format!(
        "CREATE TEMP TABLE bench_campaigns AS \
             SELECT layers_uuid_v7() AS id, n FROM generate_series(1, {CAMPAIGNS}) AS n; \
         INSERT INTO ad_accounts (id, organization_id, project_id, is_sandbox, platform, \
             external_id, name, currency, timezone) \
             VALUES ('00000000-0000-7000-8000-0000000000aa', '{org}', '{project_uuid}', true, \
                 'meta', 'sb_act_bench', 'Sandbox ad account', 'USD', 'UTC'); \
         INSERT INTO ads_campaigns (id, organization_id, project_id, is_sandbox, ad_account_id, \
             platform, name, objective, status, daily_budget, currency, start_at, active_from, \
             targeting, creatives, external_ids, job_id, created_at) \
             SELECT id, '{org}', '{project_uuid}', true, \
                 '00000000-0000-7000-8000-0000000000aa', 'meta', 'bench ' || n, 'app_installs', \
                 'active', 5000 + n, 'USD', now() - interval '120 days', \
                 now() - interval '120 days', '{{\"countries\": [\"US\"]}}', '[]', \
                 '{{\"campaign\": \"sb\", \"adSet\": \"sb\", \"ads\": []}}', \
                 layers_uuid_v7(), now() - interval '120 days' FROM bench_campaigns; \
         INSERT INTO ads_campaign_days (campaign_id, day, paused) \
             SELECT id, (now() - interval '30 days')::date, true FROM bench_campaigns \
             UNION ALL SELECT id, (now() - interval '27 days')::date, false FROM bench_campaigns;",
        org = tenant.org.as_uuid(),
    ))
    .await?;
    Ok(())
}

/// Through the route: two warm-ups, then [`ROUNDS`] sequential `GET`s of `url`; their times in
/// ms and the last body.
async fn through_route(
    http: &reqwest::Client,
    url: &str,
    key: &str,
) -> BenchResult<(Vec<f64>, Vec<u8>)> {
    let mut route_ms = Vec::new();
    let mut body = Vec::new();
    for round in 0..ROUNDS + 2 {
        let started = Instant::now();
        let res = http.get(url).bearer_auth(key).send().await?;
        if !res.status().is_success() {
            return Err(format!("the route answered {}", res.status()).into());
        }
        body = res.bytes().await?.to_vec();
        if round >= 2 {
            route_ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok((route_ms, body))
}

/// The same response from a precomputed value: the series read once, then two warm-ups and
/// [`ROUNDS`] serializations of the route's body type; their times in ms and the last bytes.
async fn serialized(
    db: &layers_db::Client,
    tenant: &Tenant,
    range: Range,
) -> BenchResult<(Vec<f64>, Vec<u8>)> {
    let series = layers_metrics::series(
        db,
        tenant.org,
        EnvKind::Sandbox,
        tenant.project_uuid,
        range,
        None,
    )
    .await?;
    let precomputed = MetricsBody::new(range, &series);
    let mut serialize_ms = Vec::new();
    let mut bytes = Vec::new();
    for round in 0..ROUNDS + 2 {
        let started = Instant::now();
        bytes = serde_json::to_vec(&precomputed)?;
        if round >= 2 {
            serialize_ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok((serialize_ms, bytes))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let database_url = std::env::var("DATABASE_URL")?;
    let base = start_gateway(&database_url).await?;
    let pool = layers_db::pool(&database_url, 4)?;
    let db = pool.get().await?;
    let http = reqwest::Client::new();
    let tenant = tenant(&db, &http, &base).await?;
    write_posts(&db, &tenant).await?;

    let today = layers_metrics::today();
    let from =
        layers_metrics_synth::Date::from_days_since_epoch(today.days_since_epoch() - (DAYS - 1))?;
    let range = Range::new(Some(from), Some(today), today)?;
    let project_id = &tenant.project_id;
    let url = format!("{base}/v1/projects/{project_id}/metrics?from={from}&to={today}");

    let (route_ms, body) = through_route(&http, &url, &tenant.key).await?;
    let (serialize_ms, bytes) = serialized(&db, &tenant, range).await?;
    if bytes != body {
        return Err("the route's body differs from the precomputed one".into());
    }
    let (route, serialize) = (median(route_ms), median(serialize_ms));
    let ads = ads_figures(&db, &http, &base, &tenant, range).await?;
    println!(
        "{}",
        serde_json::json!({
            "posts": POSTS,
            "days": DAYS,
            "bytes": body.len(),
            "route_ms": route,
            "serialize_ms": serialize,
            "ratio": route / serialize,
            "ads": ads,
        })
    );
    Ok(())
}

/// The ads figure: the route against serializing its body from the days read once.
async fn ads_figures(
    db: &layers_db::Client,
    http: &reqwest::Client,
    base: &str,
    tenant: &Tenant,
    range: Range,
) -> BenchResult<serde_json::Value> {
    write_campaigns(db, tenant).await?;
    let (from, to) = (range.from(), range.to());
    let project_id = &tenant.project_id;
    let url = format!("{base}/v1/projects/{project_id}/ads/metrics?from={from}&to={to}");
    let (route_ms, body) = through_route(http, &url, &tenant.key).await?;
    let projects = layers_projects::Projects::new(EnvKind::Sandbox);
    let jobs = layers_jobs::Jobs::new(EnvKind::Sandbox);
    let env = layers_ads::AdsEnv {
        env: EnvKind::Sandbox,
        projects: &projects,
        jobs: &jobs,
        ads: &layers_ads::Ads::Sandbox,
    };
    let project = layers_projects::ProjectId::from_uuid(tenant.project_uuid);
    let days = env
        .metrics(db, tenant.org, project, None, (from, to, to))
        .await?;
    let precomputed = AdMetricsBody::new(range, &days);
    let mut serialize_ms = Vec::new();
    let mut bytes = Vec::new();
    for round in 0..ROUNDS + 2 {
        let started = Instant::now();
        bytes = serde_json::to_vec(&precomputed)?;
        if round >= 2 {
            serialize_ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    if bytes != body {
        return Err("the ads route's body differs from the precomputed one".into());
    }
    let (route, serialize) = (median(route_ms), median(serialize_ms));
    Ok(serde_json::json!({
        "campaigns": CAMPAIGNS,
        "days": DAYS,
        "bytes": body.len(),
        "route_ms": route,
        "serialize_ms": serialize,
        "ratio": route / serialize,
    }))
}
