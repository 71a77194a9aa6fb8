//! The `post_metrics_daily` table: the days the `metrics_sync` job writes and the metrics routes
//! read, one statement each through the connection's prepared-statement cache. A post is named
//! by its platform and the platform's id of it (its externalId); which posts a project has is
//! publishing's to say ([`layers_publishing::posts_of_project`]).

use chrono::NaiveDate;
use layers_db::GenericClient;
use layers_platforms::{Insights, Platform};
use layers_publishing::PublishedPost;

use crate::{to_date, to_naive, Range, Result, SyncedRow};

/// The synced days of `posts` within `range`, in no particular order, in one statement.
pub(crate) async fn read_synced(
    db: &impl GenericClient,
    posts: &[&PublishedPost],
    range: Range,
) -> Result<Vec<SyncedRow>> {
    let platforms: Vec<&str> = posts.iter().map(|p| p.platform.as_str()).collect();
    let ids: Vec<&str> = posts.iter().map(|p| p.external_id.as_str()).collect();
    let rows = layers_db::cached::query(
        db,
        "SELECT m.platform, m.platform_post_id, m.day, m.views, m.reach, m.likes, m.comments, \
             m.shares, m.saves, m.watch_time_ms \
         FROM unnest($1::text[], $2::text[]) AS p (platform, id) \
         JOIN post_metrics_daily m ON m.platform = p.platform AND m.platform_post_id = p.id \
         WHERE m.day BETWEEN $3 AND $4",
        &[&platforms, &ids, &to_naive(range.from), &to_naive(range.to)],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| SyncedRow {
            platform: r.get(0),
            external_id: r.get(1),
            day: to_date(r.get(2)),
            counts: [
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
                r.get(8),
                r.get(9),
            ],
        })
        .collect())
}

/// Writes (or rewrites) the post's row of `day` from its lifetime `totals`: each count is what
/// the total grew by since the days before `day` (never below 0), so that the days sum to the
/// totals. One statement; syncing a day again replaces its row.
pub(crate) async fn record_day(
    db: &impl GenericClient,
    platform: Platform,
    external_id: &str,
    day: NaiveDate,
    totals: &Insights,
) -> Result<(), tokio_postgres::Error> {
    layers_db::cached::execute(
        db,
        "INSERT INTO post_metrics_daily (platform, platform_post_id, day, views, reach, \
             likes, comments, shares, saves, watch_time_ms) \
         SELECT $1, $2, $3, \
             greatest(0, $4::bigint - coalesce(sum(views), 0)::bigint), \
             greatest(0, $5::bigint - coalesce(sum(reach), 0)::bigint), \
             greatest(0, $6::bigint - coalesce(sum(likes), 0)::bigint), \
             greatest(0, $7::bigint - coalesce(sum(comments), 0)::bigint), \
             greatest(0, $8::bigint - coalesce(sum(shares), 0)::bigint), \
             greatest(0, $9::bigint - coalesce(sum(saves), 0)::bigint), \
             greatest(0, $10::bigint - coalesce(sum(watch_time_ms), 0)::bigint) \
         FROM post_metrics_daily \
         WHERE platform = $1 AND platform_post_id = $2 AND day < $3 \
         ON CONFLICT (platform, platform_post_id, day) DO UPDATE SET \
             views = EXCLUDED.views, reach = EXCLUDED.reach, likes = EXCLUDED.likes, \
             comments = EXCLUDED.comments, shares = EXCLUDED.shares, \
             saves = EXCLUDED.saves, watch_time_ms = EXCLUDED.watch_time_ms, \
             synced_at = now()",
        &[
            &platform.as_str(),
            &external_id,
            &day,
            &totals.views,
            &totals.reach,
            &totals.likes,
            &totals.comments,
            &totals.shares,
            &totals.saves,
            &totals.watch_time_ms,
        ],
    )
    .await?;
    Ok(())
}
