//! The test helper `reset` (CONTRACT §12), webhooks' part: deleting an organization's sandbox
//! events (with their deliveries and attempts) and, when asked, its sandbox endpoints. Never a
//! live row: every statement is bound to `is_sandbox`.

use layers_db::GenericClient;
use layers_orgs::OrgId;

/// What a project's reset deletes of events: events carry no project column, so an event
/// belongs to a project when its `data` names it: `data.projectId` is the project (`job.*`,
/// `content.*`, `social_account.*`) or `data.containerId` one of its containers (`post.*`).
/// Events naming neither (`test.ping`, test clocks) go only with the organization's reset.
#[derive(Clone, Copy, Debug)]
pub struct ProjectEvents<'a> {
    pub project: uuid::Uuid,
    /// The project's content containers (those its reset deletes).
    pub containers: &'a [uuid::Uuid],
}

/// Deletes the organization's sandbox events (of one project, see [`ProjectEvents`], or all of
/// them), their deliveries and attempts, in one statement on the caller's transaction; answers
/// how many events.
pub async fn delete_sandbox(
    db: &impl GenericClient,
    org: OrgId,
    project: Option<ProjectEvents<'_>>,
) -> Result<u64, tokio_postgres::Error> {
    let project_id = project.map(|p| format!("proj_{}", p.project.simple()));
    let containers: Vec<String> = project
        .map(|p| {
            p.containers
                .iter()
                .map(|c| format!("cnt_{}", c.simple()))
                .collect()
        })
        .unwrap_or_default();
    let row = layers_db::cached::query_one(
        db,
        "WITH gone AS ( \
             SELECT id FROM events \
             WHERE organization_id = $1 AND is_sandbox \
               AND ($2::text IS NULL \
                    OR convert_from(body, 'UTF8')::jsonb -> 'data' ->> 'projectId' = $2 \
                    OR convert_from(body, 'UTF8')::jsonb -> 'data' ->> 'containerId' \
                       = ANY ($3::text[]))), \
         deliveries AS ( \
             DELETE FROM webhook_deliveries WHERE event_id IN (SELECT id FROM gone)), \
         deleted AS ( \
             DELETE FROM events WHERE id IN (SELECT id FROM gone) RETURNING 1) \
         SELECT count(*) FROM deleted",
        &[&org.as_uuid(), &project_id, &containers],
    )
    .await?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// Deletes the organization's sandbox webhook endpoints with their deliveries logs, in one
/// statement on the caller's transaction; answers how many endpoints.
pub async fn delete_sandbox_endpoints(
    db: &impl GenericClient,
    org: OrgId,
) -> Result<u64, tokio_postgres::Error> {
    layers_db::cached::execute(
        db,
        "DELETE FROM webhook_endpoints WHERE organization_id = $1 AND is_sandbox",
        &[&org.as_uuid()],
    )
    .await
}
