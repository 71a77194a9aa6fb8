//! The test helper `reset` (CONTRACT §12), jobs' part: deleting an organization's sandbox jobs.
//! Never a live row: the statement is bound to `is_sandbox`.

use layers_db::GenericClient;
use layers_orgs::OrgId;

/// Deletes the organization's sandbox jobs (of one project, or all of them, those of no
/// project too), in one statement on the caller's transaction; answers how many. A worker
/// running one of them finds it gone: its fenced writes change nothing.
pub async fn delete_sandbox(
    db: &impl GenericClient,
    org: OrgId,
    project: Option<uuid::Uuid>,
) -> Result<u64, tokio_postgres::Error> {
    layers_db::cached::execute(
        db,
        "DELETE FROM jobs WHERE organization_id = $1 AND is_sandbox \
           AND ($2::uuid IS NULL OR project_id = $2)",
        &[&org.as_uuid(), &project],
    )
    .await
}
