//! `Job` per kind: a `oneOf` of one variant per family of kinds, told apart by `kind`, each with
//! its typed `result` (what the kind's handler returns, `layers_env::Task`), and `error` typed
//! as `JobError` (`{code, message}`) for all. Every kind a worker runs (`Task::KINDS`) is in
//! exactly one family; `tests/tests/api/openapi.rs` holds every job and `job.*` event the
//! sandbox makes against these schemas.

use serde_json::{json, Value};
use utoipa::openapi::{OpenApi as Document, RefOr, Schema};

/// A family of kinds: its variant's name, its kinds, its result's schema name.
struct Family {
    variant: &'static str,
    kinds: &'static [&'static str],
    result: &'static str,
}

const FAMILIES: [Family; 8] = [
    Family {
        variant: "IngestJob",
        kinds: &["ingest_appstore", "ingest_github", "ingest_website"],
        result: "IngestResult",
    },
    Family {
        variant: "GenerationJob",
        kinds: &["content_generate", "content_regenerate"],
        result: "GenerationResult",
    },
    Family {
        variant: "UploadExpiryJob",
        kinds: &["upload_expire"],
        result: "UploadExpiryResult",
    },
    Family {
        variant: "PublishJob",
        kinds: &["publish"],
        result: "PublishResult",
    },
    Family {
        variant: "SyncJob",
        kinds: &["metrics_sync", "ads_metrics_sync"],
        result: "SyncResult",
    },
    Family {
        variant: "TokenRefreshJob",
        kinds: &["social_token_refresh"],
        result: "TokenRefreshResult",
    },
    Family {
        variant: "ClockAdvanceJob",
        kinds: &["test_clock_advance"],
        result: "ClockAdvanceResult",
    },
    Family {
        variant: "CampaignJob",
        kinds: &["ads_campaign_create", "ads_campaign_update"],
        result: "CampaignResult",
    },
];

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn id(prefix: &str, example: &str) -> Value {
    json!({
        "type": "string",
        "pattern": format!("^{prefix}_[0-9a-f]{{32}}$"),
        "example": example,
    })
}

/// The result schemas, each exactly what its handler writes; and `JobError`.
fn results() -> Vec<(&'static str, Value)> {
    let mut all = content_results();
    all.extend(platform_results());
    all
}

fn count(description: &str) -> Value {
    json!({ "type": "integer", "minimum": 0, "description": description })
}

/// The results of ingest, generation, upload and publishing jobs.
fn content_results() -> Vec<(&'static str, Value)> {
    vec![
        (
            "IngestResult",
            json!({
                "type": "object",
                "description": "What an ingest found: `source` (`appstore`, `github`, `website`) and \
                    its `facts` (the App Store's name, description, rating…; GitHub's name, \
                    description, stars, README…; a website's title, description, text…). A test \
                    key's facts are deterministic, say that no store was called, and carry `sandbox`.",
                "required": ["source", "facts"],
                "properties": {
                    "source": { "type": "string", "enum": ["appstore", "github", "website"] },
                    "facts": { "type": "object", "additionalProperties": true },
                    "sandbox": {
                        "type": "boolean",
                        "description": "`true` on a test key's facts (absent on a live key's).",
                    },
                },
            }),
        ),
        (
            "GenerationResult",
            json!({
                "type": "object",
                "description": "The content containers the generation completed.",
                "required": ["containerIds"],
                "properties": {
                    "containerIds": {
                        "type": "array",
                        "items": id("cnt", "cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
                    },
                },
            }),
        ),
        (
            "UploadExpiryResult",
            json!({
                "type": "object",
                "description": "An upload session that was never finalized, cleaned up: the \
                    stored files deleted.",
                "required": ["deleted"],
                "properties": {
                    "uploadId": id("upl", "upl_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
                    "deleted": count("Files deleted."),
                },
            }),
        ),
        (
            "PublishResult",
            json!({
                "type": "object",
                "description": "The scheduled post and the status it ended in (each target's \
                    outcome is on the post).",
                "required": ["scheduledPostId", "status"],
                "properties": {
                    "scheduledPostId": id("sp", "sp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
                    "status": {
                        "type": "string",
                        "enum": ["scheduled", "publishing", "published", "failed", "canceled"],
                    },
                },
            }),
        ),
    ]
}

/// The results of sync, refresh, clock and campaign jobs, and `JobError`.
fn platform_results() -> Vec<(&'static str, Value)> {
    vec![
        (
            "SyncResult",
            json!({
                "type": "object",
                "description": "A metrics sync: the days (or posts) it wrote.",
                "required": ["synced"],
                "properties": { "synced": count("Rows synced.") },
            }),
        ),
        (
            "TokenRefreshResult",
            json!({
                "type": "object",
                "description": "A social account's token refreshed before it expired.",
                "required": ["refreshed"],
                "properties": { "refreshed": { "type": "boolean" } },
            }),
        ),
        (
            "ClockAdvanceResult",
            json!({
                "type": "object",
                "description": "A test clock's advance: what fell due on the way.",
                "required": ["clockId", "postsPublished", "accountsExpired"],
                "properties": {
                    "clockId": id("clock", "clock_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
                    "postsPublished": count("Scheduled posts published."),
                    "accountsExpired": count("Accounts that turned `needs_reauth`."),
                },
            }),
        ),
        (
            "CampaignResult",
            json!({
                "type": "object",
                "description": "The campaign, its status and its objects' ids on the platform.",
                "required": ["campaignId", "status", "externalIds"],
                "properties": {
                    "campaignId": id("cmp", "cmp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
                    "status": {
                        "type": "string",
                        "enum": ["pending", "active", "paused", "failed", "archived"],
                    },
                    "externalIds": reference("AdExternalIds"),
                },
            }),
        ),
        (
            "JobError",
            json!({
                "type": "object",
                "description": "Why a job failed. `code` is one of a set that may grow: \
                    `generation_failed`, `not_found` (ingest), `platform_rejected`, \
                    `token_expired`, `platform_error` (ads), `retries_exhausted` (an outside \
                    service kept failing for every attempt), `job_failed` (anything else; the \
                    message says what).",
                "required": ["code", "message"],
                "properties": {
                    "code": { "type": "string", "example": "generation_failed" },
                    "message": { "type": "string" },
                },
            }),
        ),
    ]
}

/// Replaces `Job` with its per-kind `oneOf`, adding the variants and the result schemas.
pub(super) fn add(doc: &mut Document, kinds: &[&str]) {
    let components = doc.components.get_or_insert_with(Default::default);
    let schemas = &mut components.schemas;
    for kind in kinds {
        let homes = FAMILIES.iter().filter(|f| f.kinds.contains(kind)).count();
        assert_eq!(homes, 1, "the job kind {kind} is in exactly one family");
    }
    let base = serde_json::to_value(schemas.get("Job").expect("Job is in the document"))
        .expect("a schema serializes");
    for (name, schema) in results() {
        insert(schemas, name, schema);
    }
    let mut mapping = serde_json::Map::new();
    let mut variants = Vec::new();
    for family in &FAMILIES {
        let mut variant = base.clone();
        variant["description"] = json!(format!(
            "A job of kind {}.",
            family
                .kinds
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let properties = &mut variant["properties"];
        properties["kind"] = json!({ "type": "string", "enum": family.kinds });
        properties["result"] = json!({
            "description": "What the job produced, once `succeeded`; else `null`.",
            "oneOf": [reference(family.result), { "type": "null" }],
        });
        properties["error"] = json!({
            "description": "Why the job failed, once `failed`; else `null`.",
            "oneOf": [reference("JobError"), { "type": "null" }],
        });
        insert(schemas, family.variant, variant);
        for kind in family.kinds {
            mapping.insert(
                (*kind).to_owned(),
                json!(format!("#/components/schemas/{}", family.variant)),
            );
        }
        variants.push(reference(family.variant));
    }
    let job = json!({
        "description": "A job: the same fields for every kind and both environments, its \
            `result` typed by its `kind`.",
        "oneOf": variants,
        "discriminator": { "propertyName": "kind", "mapping": mapping },
    });
    schemas.insert(
        "Job".to_owned(),
        serde_json::from_value(job).expect("a schema"),
    );
}

fn insert(
    schemas: &mut std::collections::BTreeMap<String, RefOr<Schema>>,
    name: &str,
    schema: Value,
) {
    let schema: RefOr<Schema> = serde_json::from_value(schema).expect("a schema");
    let old = schemas.insert(name.to_owned(), schema);
    assert!(old.is_none(), "the schema {name} is named twice");
}
