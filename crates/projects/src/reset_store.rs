//! The test helper `reset` (CONTRACT §12), projects' part: deleting an organization's sandbox
//! projects and their influencers. Never a live row: the statement is bound to `is_sandbox`.

use layers_db::GenericClient;
use layers_orgs::OrgId;

/// Deletes the organization's sandbox projects (one, or all) with their influencers, in one
/// statement on the caller's transaction; answers how many projects. Everything else that names
/// a project (jobs, content, uploads, accounts, posts) must be gone first: each owner deletes
/// its own rows (layers-env's reset calls them in that order).
pub async fn delete_sandbox(
    db: &impl GenericClient,
    org: OrgId,
    project: Option<uuid::Uuid>,
) -> Result<u64, tokio_postgres::Error> {
    let row = layers_db::cached::query_one(
        db,
        "WITH influencers AS ( \
             DELETE FROM influencers WHERE organization_id = $1 AND is_sandbox \
               AND ($2::uuid IS NULL OR project_id = $2)), \
         deleted AS ( \
             DELETE FROM projects WHERE organization_id = $1 AND is_sandbox \
               AND ($2::uuid IS NULL OR id = $2) RETURNING 1) \
         SELECT count(*) FROM deleted",
        &[&org.as_uuid(), &project],
    )
    .await?;
    // the whole sandbox goes with its test clocks (they exist only there)
    if project.is_none() {
        layers_db::cached::execute(
            db,
            "DELETE FROM test_clocks WHERE organization_id = $1",
            &[&org.as_uuid()],
        )
        .await?;
    }
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}
