//! Test clocks against the database (CONTRACT §12): a clock belongs to one organization and
//! exists only in its sandbox, so every read and write is scoped by the organization alone.

use chrono::{DateTime, Months, Utc};
use layers_core::{Limit, Page};
use layers_db::GenericClient;
use layers_orgs::OrgId;
use tokio_postgres::Row;

use crate::{
    AdvanceRefusal, Advanced, ClockStatus, ProjectId, Result, TestClock, TestClockId,
    MAX_ADVANCE_MONTHS,
};

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

/// Begins an advance of one of the organization's clocks to `to`: refused when the clock is
/// unknown, `to` is not after its time or more than two years after it, or the clock is still
/// advancing; else the clock is `advancing` at `to` (its row locked until the caller commits).
pub async fn start_advance(
    db: &impl GenericClient,
    org: OrgId,
    id: TestClockId,
    to: DateTime<Utc>,
) -> Result<std::result::Result<Advanced, AdvanceRefusal>> {
    let row = layers_db::cached::query_opt(
        db,
        &format!(
            "SELECT {CLOCK_COLUMNS} FROM test_clocks WHERE id = $1 AND organization_id = $2 \
                 FOR UPDATE"
        ),
        &[&id.as_uuid(), &org.as_uuid()],
    )
    .await?;
    let Some(found) = row.as_ref().map(clock) else {
        return Ok(Err(AdvanceRefusal::NotFound));
    };
    if found.status == ClockStatus::Advancing {
        return Ok(Err(AdvanceRefusal::Advancing));
    }
    if to <= found.frozen_time {
        return Ok(Err(AdvanceRefusal::NotForward));
    }
    let limit = found
        .frozen_time
        .checked_add_months(Months::new(MAX_ADVANCE_MONTHS));
    if limit.is_none_or(|limit| to > limit) {
        return Ok(Err(AdvanceRefusal::TooFar));
    }
    let row = layers_db::cached::query_one(
        db,
        &format!(
            "UPDATE test_clocks SET frozen_time = $2, status = 'advancing' WHERE id = $1 \
                 RETURNING {CLOCK_COLUMNS}"
        ),
        &[&id.as_uuid(), &to],
    )
    .await?;
    Ok(Ok(Advanced {
        clock: clock(&row),
        previous: found.frozen_time,
    }))
}

/// Ends the advance of a clock to `to`: `ready` again. `None` when the clock is gone, was
/// advanced further meanwhile, or is ready already (nothing written).
pub async fn finish_advance(
    db: &impl GenericClient,
    id: TestClockId,
    to: DateTime<Utc>,
) -> Result<Option<TestClock>> {
    let row = layers_db::cached::query_opt(
        db,
        &format!(
            "UPDATE test_clocks SET status = 'ready' \
                 WHERE id = $1 AND frozen_time = $2 AND status = 'advancing' \
                 RETURNING {CLOCK_COLUMNS}"
        ),
        &[&id.as_uuid(), &to],
    )
    .await?;
    Ok(row.as_ref().map(clock))
}

/// The sandbox projects that live on a clock.
pub async fn clock_projects(db: &impl GenericClient, id: TestClockId) -> Result<Vec<ProjectId>> {
    let rows = layers_db::cached::query(
        db,
        "SELECT id FROM projects WHERE test_clock_id = $1 AND is_sandbox ORDER BY id",
        &[&id.as_uuid()],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| ProjectId::from_uuid(r.get(0)))
        .collect())
}

/// The time of the clock a project lives on; `None`: the project runs on the wall clock (or
/// is not found).
pub async fn clock_time(
    db: &impl GenericClient,
    project: uuid::Uuid,
) -> Result<Option<DateTime<Utc>>> {
    let row = layers_db::cached::query_opt(
        db,
        "SELECT c.frozen_time FROM projects p JOIN test_clocks c ON c.id = p.test_clock_id \
             WHERE p.id = $1",
        &[&project],
    )
    .await?;
    Ok(row.map(|r| r.get(0)))
}
