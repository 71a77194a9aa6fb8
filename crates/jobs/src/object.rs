//! The job as partners see it (CONTRACT §7): the body of `GET /v1/jobs/:id` and the `data` of
//! the `job.succeeded`, `job.failed` and `job.canceled` events, defined once for both.

use chrono::{DateTime, SecondsFormat, Utc};
use layers_projects::ProjectId;
use serde::Serialize;

use crate::{Job, JobStatus};

/// A job, the same shape for every kind and both environments.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Job))]
#[serde(rename_all = "camelCase")]
pub struct JobObject {
    #[cfg_attr(
        feature = "openapi",
        schema(example = "job_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")
    )]
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(example = "ingest_appstore"))]
    pub kind: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = status_schema))]
    pub status: &'static str,
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")
    )]
    pub project_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(format = DateTime, example = "2026-05-08T12:00:00.000Z"))]
    pub created_at: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime, example = "2026-05-08T12:00:00.000Z"))]
    pub updated_at: String,
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, format = DateTime, example = "2026-05-08T12:00:00.010Z")
    )]
    pub started_at: Option<String>,
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, format = DateTime, example = "2026-05-08T12:00:00.020Z")
    )]
    pub finished_at: Option<String>,
    /// What the job produced, once `succeeded` (for ingest: `{source, facts}`).
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = Option<Object>))]
    pub result: Option<serde_json::Value>,
    /// Why the job failed, once `failed`: `{code, message}`. Codes (a set that may grow):
    /// `generation_failed`, `not_found` (ingest), `platform_rejected`, `token_expired`,
    /// `platform_error` (ads), `retries_exhausted` (an outside service kept failing for every
    /// attempt), `job_failed` (anything else; the message says what).
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = Option<Object>))]
    pub error: Option<serde_json::Value>,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl From<&Job> for JobObject {
    fn from(j: &Job) -> Self {
        JobObject {
            id: j.id.to_string(),
            kind: j.kind.clone(),
            status: j.status.as_str(),
            project_id: j.project_id.map(|p| ProjectId::from_uuid(p).to_string()),
            created_at: time(j.created_at),
            updated_at: time(j.updated_at),
            started_at: j.started_at.map(time),
            finished_at: j.finished_at.map(time),
            result: (j.status == JobStatus::Succeeded)
                .then(|| j.result.clone())
                .flatten(),
            error: (j.status == JobStatus::Failed)
                .then(|| j.error.clone())
                .flatten(),
        }
    }
}

impl JobObject {
    /// The object as a JSON value (an event's `data`).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a job object of strings and JSON values serializes")
    }
}

/// `queued`, `running`, `succeeded`, `failed` or `canceled`.
#[cfg(feature = "openapi")]
pub fn status_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([
            "queued",
            "running",
            "succeeded",
            "failed",
            "canceled",
        ]))
        .into()
}
