//! Post metrics (CONTRACT §11 "Metrics"): the daily series of a project's published posts, and
//! their sum over the range. The series fields keep the seed's snake_case names.

use actix_web::{web, HttpResponse};
use layers_core::Environment as _;
use layers_metrics::{PostSeries, Range, RangeError};
use layers_metrics_synth::{Date, Day, Summary};
use layers_projects::ProjectId;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::{Authorized, MetricsRead};
use crate::env::Env;
use crate::error::{quote, ApiError};
use crate::extract::path_id;

/// The most post ids one call may name.
const MAX_POST_IDS: usize = 1000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct MetricsQuery {
    /// First day, `YYYY-MM-DD` (default: 27 days before `to`).
    #[param(value_type = Option<String>, format = Date, example = "2026-05-01")]
    from: Option<String>,
    /// Last day, `YYYY-MM-DD`, at most today (UTC; the default).
    #[param(value_type = Option<String>, format = Date, example = "2026-05-08")]
    to: Option<String>,
    /// Comma-separated **externalIds** of published targets, not post ids: the platform's id
    /// of each post, `targets[].externalId` of a scheduled post (`sb_post_…` in the sandbox).
    /// Default: every published post of the project.
    #[param(example = "sb_post_cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f_0")]
    post_ids: Option<String>,
}

/// A date as `YYYY-MM-DD`, serialized without allocating.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ymd(pub(crate) [u8; 10]);

impl Serialize for Ymd {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(std::str::from_utf8(&self.0).expect("ASCII digits and dashes"))
    }
}

/// One day of a post (the seed's field names), made while serializing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = MetricsDay)]
struct DayBody {
    #[schema(value_type = String, format = Date, example = "2026-05-08")]
    date: Ymd,
    views: u64,
    reach: u64,
    likes: u64,
    comments: u64,
    shares: u64,
    saves: u64,
    watch_time_ms: u64,
    posts_published: u64,
    #[schema(example = 0.0312)]
    engagement_rate: f64,
}

impl From<&Day> for DayBody {
    fn from(d: &Day) -> Self {
        DayBody {
            date: Ymd(d.date.ymd()),
            views: d.views,
            reach: d.reach,
            likes: d.likes,
            comments: d.comments,
            shares: d.shares,
            saves: d.saves,
            watch_time_ms: d.watch_time_ms,
            posts_published: d.posts_published,
            engagement_rate: d.engagement_rate,
        }
    }
}

/// A post's days, serialized straight from the series (no copy of 90,000 days).
#[derive(Debug)]
struct Days<'a>(&'a [Day]);

impl Serialize for Days<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(DayBody::from))
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PostMetrics)]
struct PostBody<'a> {
    #[schema(example = "sb_post_cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f_0")]
    external_id: &'a str,
    #[schema(example = "instagram")]
    platform: &'static str,
    #[schema(example = "sp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    scheduled_post_id: String,
    #[schema(example = "cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    container_id: String,
    #[schema(value_type = Vec<DayBody>)]
    series: Days<'a>,
}

impl<'a> From<&'a PostSeries> for PostBody<'a> {
    fn from(s: &'a PostSeries) -> Self {
        PostBody {
            external_id: &s.post.external_id,
            platform: s.post.platform.as_str(),
            scheduled_post_id: s.post.scheduled_post_id.to_string(),
            container_id: s.post.container_id.to_string(),
            series: Days(&s.days),
        }
    }
}

/// A project's series over the range.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Metrics)]
pub struct MetricsBody<'a> {
    #[schema(format = Date, example = "2026-05-01")]
    from: String,
    #[schema(format = Date, example = "2026-05-08")]
    to: String,
    data: Vec<PostBody<'a>>,
}

impl<'a> MetricsBody<'a> {
    /// The body of the metrics route for `series` over `range`, borrowing the series (also what
    /// the bench compares the route with).
    pub fn new(range: Range, series: &'a [PostSeries]) -> MetricsBody<'a> {
        MetricsBody {
            from: range.from().to_string(),
            to: range.to().to_string(),
            data: series.iter().map(PostBody::from).collect(),
        }
    }
}

/// How many posts one chunk of a streamed metrics body holds (about 14 KB each for 90 days).
const POSTS_PER_CHUNK: usize = 8;

/// The metrics body in chunks, serialized as the connection takes them: the same bytes as
/// [`MetricsBody`] serialized whole, but the first ones leave at once and a year of a thousand
/// posts never sits in memory as one buffer.
struct Chunks {
    /// `{"from":…,"to":…,"data":[`, until sent.
    head: Option<Vec<u8>>,
    series: Vec<PostSeries>,
    next: usize,
    done: bool,
}

impl Chunks {
    fn new(range: Range, series: Vec<PostSeries>) -> Chunks {
        let mut head = serde_json::to_vec(&MetricsBody::new(range, &[]))
            .expect("a body of strings serializes");
        // `{"from":"…","to":"…","data":[]}` without its closing `]}`
        head.truncate(head.len() - 2);
        Chunks {
            head: Some(head),
            series,
            next: 0,
            done: false,
        }
    }
}

impl Iterator for Chunks {
    type Item = Result<web::Bytes, std::convert::Infallible>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut chunk = self.head.take().unwrap_or_default();
        let end = (self.next + POSTS_PER_CHUNK).min(self.series.len());
        for i in self.next..end {
            if i > 0 {
                chunk.push(b',');
            }
            serde_json::to_writer(&mut chunk, &PostBody::from(&self.series[i]))
                .expect("a body of strings and numbers serializes");
        }
        self.next = end;
        if self.next == self.series.len() {
            chunk.extend_from_slice(b"]}");
            self.done = true;
        }
        Some(Ok(web::Bytes::from(chunk)))
    }
}

/// The sum over the range (`engagement_rate` weighted by views) and the posts counted.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = MetricsSummary)]
struct SummaryBody {
    #[schema(format = Date, example = "2026-05-01")]
    from: String,
    #[schema(format = Date, example = "2026-05-08")]
    to: String,
    views: u64,
    reach: u64,
    likes: u64,
    comments: u64,
    shares: u64,
    saves: u64,
    watch_time_ms: u64,
    posts_published: u64,
    #[schema(example = 0.0312)]
    engagement_rate: f64,
    /// The number of posts counted.
    posts: u64,
}

impl SummaryBody {
    fn new(range: Range, s: Summary) -> SummaryBody {
        SummaryBody {
            from: range.from().to_string(),
            to: range.to().to_string(),
            views: s.views,
            reach: s.reach,
            likes: s.likes,
            comments: s.comments,
            shares: s.shares,
            saves: s.saves,
            watch_time_ms: s.watch_time_ms,
            posts_published: s.posts_published,
            engagement_rate: s.engagement_rate,
            posts: s.posts,
        }
    }
}

pub(crate) fn date_of(raw: Option<&str>, field: &str) -> Result<Option<Date>, ApiError> {
    raw.map(|s| {
        s.parse::<Date>().map_err(|_| {
            ApiError::validation(
                field,
                format!("{field} must be a date YYYY-MM-DD, got {}", quote(s)),
            )
        })
    })
    .transpose()
}

/// The range asked for (`from` and `to` already parsed), checked against `today` (the
/// project's: its test clock's day, if it lives on one).
pub(crate) fn range_of(
    from: Option<Date>,
    to: Option<Date>,
    today: Date,
) -> Result<Range, ApiError> {
    Range::new(from, to, today).map_err(|e| {
        let field = match e {
            RangeError::InTheFuture { .. } => "to",
            RangeError::Reversed { .. } | RangeError::TooLong { .. } => "from",
        };
        ApiError::validation(field, e.to_string())
    })
}

fn post_ids_of(q: &MetricsQuery) -> Result<Option<Vec<String>>, ApiError> {
    let Some(raw) = &q.post_ids else {
        return Ok(None);
    };
    let mut ids: Vec<String> = Vec::new();
    for id in raw.split(',').map(str::trim) {
        if id.is_empty() {
            return Err(ApiError::validation(
                "postIds",
                "postIds must be externalIds separated by commas, without empty ones",
            ));
        }
        if !ids.iter().any(|seen| seen == id) {
            ids.push(id.to_owned());
        }
    }
    if ids.len() > MAX_POST_IDS {
        return Err(ApiError::validation(
            "postIds",
            format!("postIds may name at most {MAX_POST_IDS} posts"),
        ));
    }
    Ok(Some(ids))
}

/// The project's today (this environment's project, else the projects error): its test clock's
/// day if it lives on one, else the UTC day.
pub(crate) async fn project_today(
    env: &Env,
    db: &impl layers_db::GenericClient,
    org: layers_orgs::OrgId,
    project: ProjectId,
) -> Result<Date, ApiError> {
    let found = env.projects.get(db, org, project).await?;
    Ok(match found.test_clock_id {
        Some(_) => layers_projects::clock_time(db, project.as_uuid())
            .await?
            .map_or_else(layers_metrics::today, layers_metrics::day_of),
        None => layers_metrics::today(),
    })
}

async fn read(
    state: &AppState,
    auth: &Authorized<MetricsRead>,
    env: &Env,
    project: &str,
    query: &MetricsQuery,
) -> Result<(Range, Vec<PostSeries>), ApiError> {
    let project = path_id(project, "project", ProjectId::parse)?;
    // the dates parse before anything is read; checked against the project's today below
    let from = date_of(query.from.as_deref(), "from")?;
    let to = date_of(query.to.as_deref(), "to")?;
    let ids = post_ids_of(query)?;
    let db = state.pool.get().await?;
    let today = project_today(env, &db, auth.organization_id, project).await?;
    let range = range_of(from, to, today)?;
    let series = layers_metrics::series(
        &db,
        auth.organization_id,
        env.kind(),
        project.as_uuid(),
        range,
        ids.as_deref(),
    )
    .await?;
    Ok((range, series))
}

#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}/metrics",
    tag = "Metrics",
    operation_id = "getPostMetrics",
    summary = "Post metrics, day by day",
    description = "The daily series of the project's published posts (or of `postIds`, which are \
        externalIds: `targets[].externalId` of a scheduled post). A sandbox post's series is \
        synthesized from its externalId and the day alone: the same call answers the same \
        bytes, and overlapping ranges agree day by day. A live post's series is what the \
        platforms' insights reported, synced daily. The series fields keep the snake_case names \
        of the live metrics schema (`watch_time_ms`, `posts_published`, `engagement_rate`), \
        the only exception to camelCase on the wire.",
    params(
        ("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
        MetricsQuery,
    ),
    responses(
        (status = 200, description = "The series", body = MetricsBody),
        (status = 400, description = "`VALIDATION_ERROR`: a bad date, `to` after today, `from` \
            after `to`, or more than 366 days", body = crate::openapi::ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: the project, or a post id (`details.field` \
            `postIds`)", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn metrics(
    state: web::Data<AppState>,
    auth: Authorized<MetricsRead>,
    env: Env,
    path: web::Path<String>,
    query: web::Query<MetricsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (range, series) = read(&state, &auth, &env, &path, &query).await?;
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .streaming(futures_util::stream::iter(Chunks::new(range, series))))
}

#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}/metrics/summary",
    tag = "Metrics",
    operation_id = "getPostMetricsSummary",
    summary = "Post metrics, summed",
    description = "The same fields summed over the range and the posts (`engagement_rate` \
        weighted by views), plus `posts`, the number of posts counted.",
    params(
        ("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
        MetricsQuery,
    ),
    responses(
        (status = 200, description = "The sums", body = SummaryBody),
        (status = 400, description = "`VALIDATION_ERROR`: a bad range", body = crate::openapi::ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: the project, or a post id", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn summary(
    state: web::Data<AppState>,
    auth: Authorized<MetricsRead>,
    env: Env,
    path: web::Path<String>,
    query: web::Query<MetricsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (range, series) = read(&state, &auth, &env, &path, &query).await?;
    let sum = layers_metrics::summarize(&series);
    Ok(HttpResponse::Ok().json(SummaryBody::new(range, sum)))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    super::Routes::new(cfg, super::V1)
        .route(__path_metrics, metrics)
        .route(__path_summary, summary);
}
