//! Test clocks against the database (CONTRACT §12): a clock belongs to one organization and
//! exists only in its sandbox, so every read and write is scoped by the organization alone.

use chrono::{DateTime, Utc};
use layers_core::{Limit, Page};
use layers_db::GenericClient;
use layers_orgs::OrgId;
use tokio_postgres::Row;

use crate::{ClockStatus, Result, TestClock, TestClockId};

const CLOCK_COLUMNS: &str = "id, organization_id, name, frozen_time, status, created_at";

fn clock(row: &Row) -> TestClock {
    TestClock {
        id: TestClockId::from_uuid(row.get("id")),
        organization_id: OrgId::from_uuid(row.get("organization_id")),
        name: row.get("name"),
        frozen_time: row.get("frozen_time"),
        status: match row.get::<_, &str>("status") {
            "advancing" => ClockStatus::Advancing,
            _ => ClockStatus::Ready,
        },
        created_at: row.get("created_at"),
    }
}

/// Creates a clock of the organization, `ready` at `frozen_time`.
pub async fn create_clock(
    db: &impl GenericClient,
    org: OrgId,
    frozen_time: DateTime<Utc>,
    name: Option<&str>,
) -> Result<TestClock> {
    let row = layers_db::cached::query_one(
        db,
        &format!(
            "INSERT INTO test_clocks (id, organization_id, name, frozen_time) \
                 VALUES ($1, $2, $3, $4) RETURNING {CLOCK_COLUMNS}"
        ),
        &[
            &TestClockId::new().as_uuid(),
            &org.as_uuid(),
            &name,
            &frozen_time,
        ],
    )
    .await?;
    Ok(clock(&row))
}

/// One of the organization's clocks (`None`: no such clock, or another organization's).
pub async fn find_clock(
    db: &impl GenericClient,
    org: OrgId,
    id: TestClockId,
) -> Result<Option<TestClock>> {
    let row = layers_db::cached::query_opt(
        db,
        &format!("SELECT {CLOCK_COLUMNS} FROM test_clocks WHERE id = $1 AND organization_id = $2"),
        &[&id.as_uuid(), &org.as_uuid()],
    )
    .await?;
    Ok(row.as_ref().map(clock))
}

/// The organization's clocks, newest first, after the `after` cursor.
pub async fn list_clocks(
    db: &impl GenericClient,
    org: OrgId,
    limit: Limit,
    after: Option<TestClockId>,
) -> Result<Page<TestClock, TestClockId>> {
    let rows = layers_db::cached::query(
        db,
        &format!(
            "SELECT {CLOCK_COLUMNS} FROM test_clocks \
                 WHERE organization_id = $1 AND ($2::uuid IS NULL OR id < $2) \
                 ORDER BY id DESC LIMIT $3"
        ),
        &[
            &org.as_uuid(),
            &after.map(|a| a.as_uuid()),
            &(i64::from(limit.get()) + 1),
        ],
    )
    .await?;
    let items = rows.iter().map(clock).collect();
    Ok(Page::from_overfetch(items, limit, |c: &TestClock| c.id))
}

/// Deletes one of the organization's clocks (its projects return to the wall clock); `None`:
/// no such clock.
pub async fn delete_clock(
    db: &impl GenericClient,
    org: OrgId,
    id: TestClockId,
) -> Result<Option<TestClock>> {
    let row = layers_db::cached::query_opt(
        db,
        &format!(
            "DELETE FROM test_clocks WHERE id = $1 AND organization_id = $2 \
                 RETURNING {CLOCK_COLUMNS}"
        ),
        &[&id.as_uuid(), &org.as_uuid()],
    )
    .await?;
    Ok(row.as_ref().map(clock))
}
