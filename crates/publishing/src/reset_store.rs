//! The test helper `reset` (CONTRACT §12), publishing's part: deleting an organization's sandbox
//! scheduled posts with their targets. Never a live row: the statement is bound to `is_sandbox`.

use layers_db::GenericClient;
use layers_orgs::OrgId;

/// Deletes the organization's sandbox scheduled posts (of one project, or all) with their
/// targets (`platform_posts`, by cascade), in one statement on the caller's transaction;
/// answers how many posts. Sandbox posts have no metrics rows (their series are synthesized).
pub async fn delete_sandbox(
    db: &impl GenericClient,
    org: OrgId,
    project: Option<uuid::Uuid>,
) -> Result<u64, tokio_postgres::Error> {
    layers_db::cached::execute(
        db,
        "DELETE FROM scheduled_posts WHERE organization_id = $1 AND is_sandbox \
           AND ($2::uuid IS NULL OR project_id = $2)",
        &[&org.as_uuid(), &project],
    )
    .await
}
