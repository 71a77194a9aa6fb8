//! The test helper `reset` (CONTRACT §12), ads' part: deleting an organization's sandbox
//! campaigns (with their days, by cascade) and ad accounts. Never a live row: both statements
//! are bound to `is_sandbox`.

use layers_db::GenericClient;
use layers_orgs::OrgId;

/// Deletes the organization's sandbox campaigns and ad accounts (of one project, or all), on
/// the caller's transaction, before the social accounts and projects they name; answers how
/// many campaigns.
pub async fn delete_sandbox(
    db: &impl GenericClient,
    org: OrgId,
    project: Option<uuid::Uuid>,
) -> Result<u64, tokio_postgres::Error> {
    let campaigns = layers_db::cached::execute(
        db,
        "DELETE FROM ads_campaigns WHERE organization_id = $1 AND is_sandbox \
           AND ($2::uuid IS NULL OR project_id = $2)",
        &[&org.as_uuid(), &project],
    )
    .await?;
    layers_db::cached::execute(
        db,
        "DELETE FROM ad_accounts WHERE organization_id = $1 AND is_sandbox \
           AND ($2::uuid IS NULL OR project_id = $2)",
        &[&org.as_uuid(), &project],
    )
    .await?;
    Ok(campaigns)
}
