//! The test helper `reset` (CONTRACT §12), content's part: deleting an organization's sandbox
//! upload sessions (with their files) and content containers (with their assets). Never a live
//! row: every statement is bound to `is_sandbox`.

use layers_db::GenericClient;
use layers_orgs::OrgId;

/// What a reset deleted of content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeletedContent {
    /// The containers deleted (their events are found by these).
    pub containers: Vec<uuid::Uuid>,
    /// How many upload sessions.
    pub uploads: u64,
}

/// Deletes the organization's sandbox upload sessions and content containers (of one project,
/// or all), with their files and assets, in one statement on the caller's transaction. The
/// scheduled posts that name a container go first (layers-publishing's `delete_sandbox`).
/// Sandbox media are the compiled-in fixtures: no stored object goes with them.
pub async fn delete_sandbox(
    db: &impl GenericClient,
    org: OrgId,
    project: Option<uuid::Uuid>,
) -> Result<DeletedContent, tokio_postgres::Error> {
    let row = layers_db::cached::query_one(
        db,
        "WITH uploads AS ( \
             DELETE FROM upload_sessions WHERE organization_id = $1 AND is_sandbox \
               AND ($2::uuid IS NULL OR project_id = $2) RETURNING 1), \
         containers AS ( \
             DELETE FROM content_containers WHERE organization_id = $1 AND is_sandbox \
               AND ($2::uuid IS NULL OR project_id = $2) RETURNING id) \
         SELECT (SELECT count(*) FROM uploads), \
                (SELECT coalesce(array_agg(id), '{}') FROM containers)",
        &[&org.as_uuid(), &project],
    )
    .await?;
    Ok(DeletedContent {
        uploads: u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
        containers: row.get(1),
    })
}
