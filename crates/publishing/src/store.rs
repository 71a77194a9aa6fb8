//! The `scheduled_posts` and `platform_posts` tables: create (checks, rows, job and the sandbox's
//! events), read, list and cancel, for one environment.

use chrono::{DateTime, Utc};
use layers_content::{Container, ContainerId};
use layers_core::{EnvKind, Limit, Page};
use layers_db::GenericClient;
use layers_jobs::{Job, JobId, NewJob};
use layers_orgs::OrgId;
use layers_social::{Account, AccountStatus, Platform, SocialAccountId};
use layers_webhooks::EventType;
use tokio_postgres::Row;

use crate::run::Publisher;
use crate::{
    Error, NewPost, PostEvent, PostStatus, Result, ScheduledPost, ScheduledPostId, Target, PUBLISH,
};

/// Publishing for one environment.
#[derive(Clone, Copy, Debug)]
pub struct Publishing {
    env: EnvKind,
}

impl layers_core::Environment for Publishing {
    fn kind(&self) -> EnvKind {
        self.env
    }
}

const POST_COLUMNS: &str = "p.id, p.organization_id, p.project_id, p.is_sandbox, p.container_id, \
     p.job_id, p.status, p.publish_at, p.created_at";

const TARGET_COLUMNS: &str = "t.scheduled_post_id, t.target_index, t.social_account_id, \
     t.platform, t.caption, t.status AS target_status, t.platform_post_id, t.permalink, \
     t.posted_at, t.error, t.error_code";

const INSERT_POST: &str = "INSERT INTO scheduled_posts (id, organization_id, project_id, \
         is_sandbox, container_id, job_id, status, publish_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, now())) \
     RETURNING publish_at, created_at";

const INSERT_TARGETS: &str = "INSERT INTO platform_posts (scheduled_post_id, target_index, \
         project_id, is_sandbox, social_account_id, platform, caption, status, platform_post_id, \
         posted_at, error, error_code) \
     SELECT $1, u.idx, $2, $3, u.account, u.platform, u.caption, u.status, u.external, \
         CASE WHEN u.status = 'published' THEN coalesce($12, \
             (SELECT c.frozen_time FROM project_clock_times c WHERE c.project_id = $2), \
             now()) END, u.error, u.code \
     FROM unnest($4::int[], $5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[], \
                 $10::text[], $11::text[]) \
         AS u (idx, account, platform, caption, external, status, error, code) \
     RETURNING target_index, posted_at";

/// What [`published_post`] reads of a published target and its post.
const PUBLISHED_COLUMNS: &str = "t.platform_post_id, t.platform, t.scheduled_post_id, \
     p.container_id, t.social_account_id, t.is_sandbox, t.posted_at";

/// The name of the index that keeps one live post per container.
const ONE_PER_CONTAINER: &str = "scheduled_posts_one_per_container";

impl Publishing {
    pub fn new(env: EnvKind) -> Publishing {
        Publishing { env }
    }

    /// Checks and writes a post, in the caller's transaction (a refusal writes nothing once the
    /// caller rolls back): the container and every account must be the organization's (else
    /// [`Error::ContentNotFound`], [`Error::AccountNotFound`]), of this environment
    /// ([`Error::ContentEnvironmentMismatch`], [`Error::AccountEnvironmentMismatch`]), the
    /// container `completed` ([`Error::ContentNotReady`]) without a post that is not canceled or
    /// failed ([`Error::AlreadyPublished`]), and the accounts active.
    ///
    /// Then, in one round trip: the post, its targets (as `publisher` starts them, see
    /// [`Publisher::outset`]), its `publish` job and one `post.published` per target published
    /// at once.
    pub async fn create(
        &self,
        db: &impl GenericClient,
        new: &NewPost,
        publisher: &Publisher,
    ) -> Result<(ScheduledPost, Job)> {
        let mut checked = self.check(db, new).await?;
        // a live platform without its app is refused before anything is written
        for platform in &checked.platforms {
            publisher.ready(*platform)?;
        }
        // a schedule needs its project's clock now (its `publishAt` is checked against it, and
        // it is the job's time); a publish reads it inside the targets' insert
        // (`project_clock_times`), without a round trip of its own
        if let Some(at) = new.publish_at {
            checked.clock = publisher.clock(db, checked.project_id).await?;
            check_publish_at(at, checked.clock.unwrap_or_else(Utc::now))?;
        }
        let outset = publisher.outset(new);
        let mut made: Vec<Target> = new
            .targets
            .iter()
            .zip(&checked.platforms)
            .zip(outset.targets)
            .enumerate()
            .map(|(i, ((t, platform), start))| Target {
                index: i as u32,
                social_account_id: t.social_account_id,
                platform: *platform,
                caption: t.caption.clone(),
                status: start.status,
                external_id: start.external_id,
                external_url: None,
                posted_at: None,
                error: start.error,
            })
            .collect();
        // both inserts prepared first, so that the targets cannot overtake their post; the
        // events follow both row writes on the connection, so that a handler that reads the
        // post on receipt finds it as announced
        layers_db::cached::prepare_all(db, &[INSERT_POST, INSERT_TARGETS]).await?;
        let ((post_row, target_rows), job, (), ()) = futures_util::future::try_join4(
            self.insert_rows(db, new, &checked, outset.status, &made),
            self.start_job(db, new, &checked, outset.done),
            self.announce(db, new, &made),
            expire_accounts(db, &outset.expired),
        )
        .await?;
        for row in &target_rows {
            let index: i32 = row.get(0);
            if let Some(t) = made.get_mut(index as usize) {
                t.posted_at = row.get(1);
            }
        }
        let post = ScheduledPost {
            id: new.id,
            organization_id: new.organization_id,
            project_id: checked.project_id,
            env: self.env,
            container_id: new.container_id,
            job_id: new.job_id,
            status: outset.status,
            publish_at: post_row.get(0),
            created_at: post_row.get(1),
            targets: made,
        };
        Ok((post, job))
    }

    /// The post's row and its targets' rows.
    async fn insert_rows(
        &self,
        db: &impl GenericClient,
        new: &NewPost,
        checked: &Checked,
        status: PostStatus,
        made: &[Target],
    ) -> Result<(Row, Vec<Row>)> {
        let indexes: Vec<i32> = (0..made.len() as i32).collect();
        let accounts: Vec<uuid::Uuid> =
            made.iter().map(|t| t.social_account_id.as_uuid()).collect();
        let platforms: Vec<&str> = made.iter().map(|t| t.platform.as_str()).collect();
        let captions: Vec<Option<&str>> = made.iter().map(|t| t.caption.as_deref()).collect();
        let external: Vec<Option<&str>> = made.iter().map(|t| t.external_id.as_deref()).collect();
        let statuses: Vec<&str> = made.iter().map(|t| t.status.as_str()).collect();
        let errors: Vec<Option<&str>> = made
            .iter()
            .map(|t| t.error.as_ref().map(|e| e.message.as_str()))
            .collect();
        let codes: Vec<Option<&str>> = made
            .iter()
            .map(|t| t.error.as_ref().map(|e| e.code))
            .collect();
        let post = async {
            layers_db::cached::query_one(
                db,
                INSERT_POST,
                &[
                    &new.id.as_uuid(),
                    &new.organization_id.as_uuid(),
                    &checked.project_id,
                    &self.env.is_sandbox(),
                    &new.container_id.as_uuid(),
                    &new.job_id.as_uuid(),
                    &status.as_str(),
                    &new.publish_at,
                ],
            )
            .await
            .map_err(already_published_or)
        };
        let targets = async {
            layers_db::cached::query(
                db,
                INSERT_TARGETS,
                &[
                    &new.id.as_uuid(),
                    &checked.project_id,
                    &self.env.is_sandbox(),
                    &indexes,
                    &accounts,
                    &platforms,
                    &captions,
                    &external,
                    &statuses,
                    &errors,
                    &codes,
                    &checked.clock,
                ],
            )
            .await
            .map_err(Error::from)
        };
        futures_util::future::try_join(post, targets).await
    }

    /// The post's `publish` job: written done with `done` when the request did the work, else
    /// queued for `publish_at` (or now).
    async fn start_job(
        &self,
        db: &impl GenericClient,
        new: &NewPost,
        checked: &Checked,
        done: Option<serde_json::Value>,
    ) -> Result<Job> {
        let job = NewJob {
            project_id: Some(checked.project_id),
            api_key_id: new.api_key_id,
            ..NewJob::new(
                new.job_id,
                new.organization_id,
                self.env,
                &Publish::new(new.id),
            )
        };
        let jobs = layers_jobs::Jobs::new(self.env);
        Ok(match (done, new.publish_at) {
            (Some(done), _) => jobs.record_done(db, job, done).await?,
            // a clocked project's posts are published by the clock's advances: the job waits
            // a century (and is ended by the advance that publishes its post)
            (None, Some(at)) => {
                let at = match checked.clock {
                    Some(_) => at + chrono::TimeDelta::days(36_525),
                    None => at,
                };
                jobs.enqueue_at(db, job, at).await?
            }
            (None, None) => jobs.enqueue(db, job).await?,
        })
    }

    /// One `post.published` per target published at once and one `post.failed` per target
    /// failed at once (the sandbox's magic captions).
    async fn announce(
        &self,
        db: &impl GenericClient,
        new: &NewPost,
        made: &[Target],
    ) -> Result<()> {
        let of = |status: PostStatus| -> Vec<serde_json::Value> {
            made.iter()
                .filter(|t| t.status == status)
                .map(|t| PostEvent::of(new.id, new.container_id, t).to_value())
                .collect()
        };
        let emit = |event: EventType, events: Vec<serde_json::Value>| {
            layers_webhooks::emit_many(db, new.organization_id, self.env, event, events)
        };
        futures_util::future::try_join(
            emit(EventType::PostPublished, of(PostStatus::Published)),
            emit(EventType::PostFailed, of(PostStatus::Failed)),
        )
        .await?;
        Ok(())
    }

    /// The checks of [`Publishing::create`], in the contract's order; the container, whether it
    /// has a post already and the accounts are read in one round trip ([`Standing::read`]).
    async fn check(&self, db: &impl GenericClient, new: &NewPost) -> Result<Checked> {
        let standing = Standing::read(db, new).await?;
        // 404: the container, then each account (unknown, or another organization's)
        let container = standing.container.ok_or(Error::ContentNotFound)?;
        let mut of_targets = Vec::with_capacity(new.targets.len());
        for (index, target) in new.targets.iter().enumerate() {
            let account = standing
                .accounts
                .iter()
                .find(|a| a.id == target.social_account_id)
                .ok_or(Error::AccountNotFound { index })?;
            of_targets.push(account);
        }
        // 422: the other environment's content or accounts
        if container.env != self.env {
            return Err(Error::ContentEnvironmentMismatch(container.env));
        }
        for (index, account) in of_targets.iter().enumerate() {
            if account.env != self.env {
                return Err(Error::AccountEnvironmentMismatch {
                    index,
                    env: account.env,
                });
            }
        }
        // 404: an account of this environment, but of another project
        for (index, account) in of_targets.iter().enumerate() {
            if account.project_id != container.project_id {
                return Err(Error::AccountNotFound { index });
            }
        }
        // 400: an advertiser's grant (TikTok for Business) publishes no posts
        for (index, account) in of_targets.iter().enumerate() {
            if account.platform == Platform::TiktokBusiness {
                return Err(Error::AccountCannotPublish { index });
            }
        }
        // 409: content not ready, already published, an account that cannot publish
        if container.status != layers_content::Status::Completed {
            return Err(Error::ContentNotReady(container.status.as_str()));
        }
        if standing.taken {
            return Err(Error::AlreadyPublished);
        }
        for (index, account) in of_targets.iter().enumerate() {
            if account.status != AccountStatus::Active {
                return Err(Error::AccountNotActive {
                    index,
                    status: account.status.as_str(),
                });
            }
        }
        Ok(Checked {
            project_id: container.project_id,
            platforms: of_targets.iter().map(|a| a.platform).collect(),
            clock: None,
        })
    }

    /// Reads one of the organization's posts of this environment.
    pub async fn get(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: ScheduledPostId,
    ) -> Result<ScheduledPost> {
        let found = find(db, org, id).await?.ok_or(Error::NotFound)?;
        if found.env != self.env {
            return Err(Error::InOtherEnvironment(found.env));
        }
        Ok(found)
    }

    /// A project's posts of this environment, newest first, with their targets.
    pub async fn list(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        project_id: uuid::Uuid,
        limit: Limit,
        after: Option<ScheduledPostId>,
    ) -> Result<Page<ScheduledPost, ScheduledPostId>> {
        let rows = layers_db::cached::query(
            db,
            &format!(
                "WITH p AS ( \
                     SELECT * FROM scheduled_posts \
                     WHERE organization_id = $1 AND project_id = $2 AND is_sandbox = $3 \
                       AND ($4::uuid IS NULL OR id < $4) \
                     ORDER BY id DESC LIMIT $5) \
                 SELECT {POST_COLUMNS}, {TARGET_COLUMNS} \
                 FROM p JOIN platform_posts t ON t.scheduled_post_id = p.id \
                 ORDER BY p.id DESC, t.target_index"
            ),
            &[
                &org.as_uuid(),
                &project_id,
                &self.env.is_sandbox(),
                &after.map(|a| a.as_uuid()),
                &(i64::from(limit.get()) + 1),
            ],
        )
        .await?;
        let posts = assemble(&rows)?;
        Ok(Page::from_overfetch(posts, limit, |p: &ScheduledPost| p.id))
    }

    /// Cancels a post that is still `scheduled` (its job too, so no platform is ever called);
    /// one that is publishing or done is [`Error::AlreadyTerminal`].
    pub async fn cancel(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: ScheduledPostId,
    ) -> Result<ScheduledPost> {
        let found = find_for_update(db, org, id).await?.ok_or(Error::NotFound)?;
        if found.env != self.env {
            return Err(Error::EnvironmentMismatch(found.env));
        }
        if found.status != PostStatus::Scheduled {
            return Err(Error::AlreadyTerminal(found.status.as_str()));
        }
        layers_db::cached::execute(
            db,
            "WITH t AS (UPDATE platform_posts SET status = 'canceled' \
                        WHERE scheduled_post_id = $1 AND status = 'scheduled') \
             UPDATE scheduled_posts SET status = 'canceled', updated_at = now() WHERE id = $1",
            &[&id.as_uuid()],
        )
        .await?;
        match layers_jobs::cancel(db, org, self.env, found.job_id).await {
            // a job that already ended (the sandbox's no-op) has nothing left to stop
            Ok(_) | Err(layers_jobs::Error::AlreadyTerminal) => {}
            Err(e) => return Err(e.into()),
        }
        self.get(db, org, id).await
    }
}

/// Marks the accounts a request found with an expired token `needs_reauth`, each with its
/// `social_account.needs_reauth`, in the request's transaction.
async fn expire_accounts(db: &impl GenericClient, accounts: &[SocialAccountId]) -> Result<()> {
    for account in accounts {
        layers_social::mark_needs_reauth(db, *account)
            .await
            .map_err(|e| Error::Corrupt(format!("could not mark {account} needs_reauth: {e}")))?;
    }
    Ok(())
}

/// What the checks learned.
struct Checked {
    project_id: uuid::Uuid,
    platforms: Vec<Platform>,
    /// The time of the test clock the (sandbox) project lives on; `None`: the wall clock.
    clock: Option<DateTime<Utc>>,
}

/// What a new post's checks read: the container (the organization's, else `None`), whether it
/// has a post that is not canceled or failed, and those of the targets' accounts that are the
/// organization's.
struct Standing {
    container: Option<Container>,
    taken: bool,
    accounts: Vec<Account>,
}

impl Standing {
    /// Reads it in one round trip: the three statements (each domain's own, through its store)
    /// are pipelined on the connection.
    async fn read(db: &impl GenericClient, new: &NewPost) -> Result<Standing> {
        let ids: Vec<uuid::Uuid> = new
            .targets
            .iter()
            .map(|t| t.social_account_id.as_uuid())
            .collect();
        let container = async {
            layers_content::container_without_assets(db, new.organization_id, new.container_id)
                .await
                .map_err(|e| match e {
                    layers_content::Error::Db(e) => Error::Db(e),
                    e => Error::Corrupt(e.to_string()),
                })
        };
        let accounts = async {
            layers_social::accounts_of_org(db, new.organization_id, &ids)
                .await
                .map_err(|e| match e {
                    layers_social::Error::Db(e) => Error::Db(e),
                    e => Error::Corrupt(e.to_string()),
                })
        };
        let (container, taken, accounts) =
            futures_util::future::try_join3(container, has_post(db, new.container_id), accounts)
                .await?;
        Ok(Standing {
            container,
            taken,
            accounts,
        })
    }
}

/// A schedule's `publishAt`: after `now` (its project's clock time, or the wall clock's), within
/// [`crate::MAX_SCHEDULE_AHEAD`] of it.
fn check_publish_at(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
    if at <= now {
        return Err(Error::PublishAtNotAhead { now });
    }
    if at > now + crate::MAX_SCHEDULE_AHEAD {
        return Err(Error::PublishAtTooFar { now });
    }
    Ok(())
}

/// Whether the container has a post that is neither canceled nor failed (the one the unique
/// index `scheduled_posts_one_per_container` allows).
async fn has_post(db: &impl GenericClient, container: ContainerId) -> Result<bool> {
    let row = layers_db::cached::query_one(
        db,
        "SELECT EXISTS (SELECT 1 FROM scheduled_posts \
                        WHERE container_id = $1 AND status NOT IN ('canceled', 'failed'))",
        &[&container.as_uuid()],
    )
    .await?;
    Ok(row.get(0))
}

/// The payload of a `publish` job: the post it runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Publish {
    pub scheduled_post: String,
}

impl Publish {
    pub fn new(id: ScheduledPostId) -> Publish {
        Publish {
            scheduled_post: id.to_string(),
        }
    }

    /// The post it runs, or why the payload names none.
    pub fn post(&self) -> Result<ScheduledPostId, layers_jobs::Failure> {
        ScheduledPostId::parse(&self.scheduled_post).map_err(|_| {
            layers_jobs::Failure::Permanent(format!("no scheduled post {}", self.scheduled_post))
        })
    }
}

impl layers_jobs::Payload for Publish {
    fn kind(&self) -> &'static str {
        PUBLISH
    }
}

fn already_published_or(e: tokio_postgres::Error) -> Error {
    let unique = e
        .as_db_error()
        .and_then(|d| d.constraint())
        .is_some_and(|c| c == ONE_PER_CONTAINER);
    if unique {
        Error::AlreadyPublished
    } else {
        Error::Db(e)
    }
}

pub(crate) async fn find(
    db: &impl GenericClient,
    org: OrgId,
    id: ScheduledPostId,
) -> Result<Option<ScheduledPost>> {
    let rows = layers_db::cached::query(
        db,
        &format!(
            "SELECT {POST_COLUMNS}, {TARGET_COLUMNS} \
             FROM scheduled_posts p JOIN platform_posts t ON t.scheduled_post_id = p.id \
             WHERE p.id = $1 AND p.organization_id = $2 ORDER BY t.target_index"
        ),
        &[&id.as_uuid(), &org.as_uuid()],
    )
    .await?;
    Ok(assemble(&rows)?.pop())
}

async fn find_for_update(
    db: &impl GenericClient,
    org: OrgId,
    id: ScheduledPostId,
) -> Result<Option<ScheduledPost>> {
    let locked = layers_db::cached::query_opt(
        db,
        "SELECT 1 FROM scheduled_posts WHERE id = $1 AND organization_id = $2 FOR UPDATE",
        &[&id.as_uuid(), &org.as_uuid()],
    )
    .await?;
    match locked {
        Some(_) => find(db, org, id).await,
        None => Ok(None),
    }
}

/// Posts from rows of a post joined with its targets, in the rows' order.
fn assemble(rows: &[Row]) -> Result<Vec<ScheduledPost>> {
    let mut posts: Vec<ScheduledPost> = Vec::new();
    for row in rows {
        let id = ScheduledPostId::from_uuid(row.get("id"));
        if posts.last().is_none_or(|p| p.id != id) {
            let status: &str = row.get("status");
            posts.push(ScheduledPost {
                id,
                organization_id: OrgId::from_uuid(row.get("organization_id")),
                project_id: row.get("project_id"),
                env: EnvKind::from_sandbox(row.get("is_sandbox")),
                container_id: ContainerId::from_uuid(row.get("container_id")),
                job_id: JobId::from_uuid(row.get("job_id")),
                status: PostStatus::parse(status).ok_or_else(|| Error::Corrupt(status.into()))?,
                publish_at: row.get("publish_at"),
                created_at: row.get("created_at"),
                targets: Vec::new(),
            });
        }
        let post = posts.last_mut().expect("pushed above");
        post.targets.push(target(row)?);
    }
    Ok(posts)
}

fn target(row: &Row) -> Result<Target> {
    let platform: &str = row.get("platform");
    let status: &str = row.get("target_status");
    let index: i32 = row.get("target_index");
    Ok(Target {
        index: index as u32,
        social_account_id: SocialAccountId::from_uuid(row.get("social_account_id")),
        platform: Platform::parse(platform).ok_or_else(|| Error::Corrupt(platform.into()))?,
        caption: row.get("caption"),
        status: PostStatus::parse(status).ok_or_else(|| Error::Corrupt(status.into()))?,
        external_id: row.get("platform_post_id"),
        external_url: row.get("permalink"),
        posted_at: row.get("posted_at"),
        error: row
            .get::<_, Option<String>>("error")
            .map(|m| crate::TargetError::stored(row.get("error_code"), m)),
    })
}

/// A published target, as the metrics routes see it.
#[derive(Clone, Debug, PartialEq)]
pub struct PublishedPost {
    pub external_id: String,
    pub platform: Platform,
    pub scheduled_post_id: ScheduledPostId,
    pub container_id: ContainerId,
    pub social_account_id: SocialAccountId,
    pub env: EnvKind,
    pub posted_at: DateTime<Utc>,
}

/// A project's published targets of `env`: all of them (oldest first) when `external_ids` is
/// `None`, else those whose externalId is listed (in no particular order; ids that match no
/// post are simply absent).
pub async fn posts_of_project(
    db: &impl GenericClient,
    org: OrgId,
    env: EnvKind,
    project_id: uuid::Uuid,
    external_ids: Option<&[String]>,
) -> Result<Vec<PublishedPost>> {
    let rows = layers_db::cached::query(
        db,
        &format!(
            "SELECT {PUBLISHED_COLUMNS} \
         FROM platform_posts t JOIN scheduled_posts p ON p.id = t.scheduled_post_id \
         WHERE t.project_id = $1 AND t.status = 'published' AND t.is_sandbox = $2 \
           AND p.organization_id = $3 \
           AND ($4::text[] IS NULL OR t.platform_post_id = ANY($4)) \
         ORDER BY t.posted_at, t.platform_post_id"
        ),
        &[
            &project_id,
            &env.is_sandbox(),
            &org.as_uuid(),
            &external_ids,
        ],
    )
    .await?;
    rows.iter().map(published_post).collect()
}

/// The published targets of the post `id` in `env`, in target order: what a metrics sync reads
/// insights for. One statement.
pub async fn published_targets(
    db: &impl GenericClient,
    env: EnvKind,
    id: ScheduledPostId,
) -> Result<Vec<PublishedPost>> {
    let rows = layers_db::cached::query(
        db,
        &format!(
            "SELECT {PUBLISHED_COLUMNS} \
         FROM platform_posts t JOIN scheduled_posts p ON p.id = t.scheduled_post_id \
         WHERE t.scheduled_post_id = $1 AND t.status = 'published' AND t.is_sandbox = $2 \
         ORDER BY t.target_index"
        ),
        &[&id.as_uuid(), &env.is_sandbox()],
    )
    .await?;
    rows.iter().map(published_post).collect()
}

/// A published target from a row of [`posts_of_project`]'s or [`published_targets`]'
/// columns.
fn published_post(row: &Row) -> Result<PublishedPost> {
    let platform: &str = row.get(1);
    Ok(PublishedPost {
        external_id: row.get(0),
        platform: Platform::parse(platform).ok_or_else(|| Error::Corrupt(platform.into()))?,
        scheduled_post_id: ScheduledPostId::from_uuid(row.get(2)),
        container_id: ContainerId::from_uuid(row.get(3)),
        social_account_id: SocialAccountId::from_uuid(row.get(4)),
        env: EnvKind::from_sandbox(row.get(5)),
        posted_at: row.get(6),
    })
}

/// Moves a post and its targets still `scheduled` to `publishing`, the live job's start: `false`
/// when the post is neither `scheduled` nor `publishing` (canceled before its time, or ended by
/// an earlier attempt), and then nothing changes.
pub(crate) async fn start_publishing(db: &impl GenericClient, id: ScheduledPostId) -> Result<bool> {
    let started = layers_db::cached::query_opt(
        db,
        "WITH t AS (UPDATE platform_posts SET status = 'publishing' \
                    WHERE scheduled_post_id = $1 AND status = 'scheduled') \
         UPDATE scheduled_posts SET status = 'publishing', updated_at = now() \
         WHERE id = $1 AND status IN ('scheduled', 'publishing') RETURNING 1",
        &[&id.as_uuid()],
    )
    .await?;
    Ok(started.is_some())
}

/// Records a target published as `external_id` (at `external_url`, if the platform gave one),
/// posted now; answers when.
pub(crate) async fn mark_target_published(
    db: &impl GenericClient,
    post: ScheduledPostId,
    index: u32,
    external_id: &str,
    external_url: Option<&str>,
) -> Result<Option<DateTime<Utc>>> {
    let row = layers_db::cached::query_one(
        db,
        "UPDATE platform_posts SET status = 'published', platform_post_id = $3, \
             permalink = $4, posted_at = now(), error = NULL \
         WHERE scheduled_post_id = $1 AND target_index = $2 RETURNING posted_at",
        &[
            &post.as_uuid(),
            &(index as i32),
            &external_id,
            &external_url,
        ],
    )
    .await?;
    Ok(row.get(0))
}

/// Records a target failed, with why.
pub(crate) async fn mark_target_failed(
    db: &impl GenericClient,
    post: ScheduledPostId,
    index: u32,
    why: &crate::TargetError,
) -> Result<()> {
    layers_db::cached::execute(
        db,
        "UPDATE platform_posts SET status = 'failed', error = $3, error_code = $4 \
         WHERE scheduled_post_id = $1 AND target_index = $2",
        &[&post.as_uuid(), &(index as i32), &why.message, &why.code],
    )
    .await?;
    Ok(())
}

/// Ends a `publishing` post: `published` when any of its targets was, else `failed`; answers
/// that status, or `None` when the post was not `publishing` (an earlier attempt ended it) and
/// nothing changed.
pub(crate) async fn end_post(
    db: &impl GenericClient,
    id: ScheduledPostId,
) -> Result<Option<PostStatus>> {
    let row = layers_db::cached::query_opt(
        db,
        "UPDATE scheduled_posts SET updated_at = now(), status = CASE \
             WHEN EXISTS (SELECT 1 FROM platform_posts \
                          WHERE scheduled_post_id = $1 AND status = 'published') \
             THEN 'published' ELSE 'failed' END \
         WHERE id = $1 AND status = 'publishing' RETURNING status",
        &[&id.as_uuid()],
    )
    .await?;
    row.map(|row| post_status_of(row.get(0))).transpose()
}

/// The status of the post `id`, which must exist.
pub(crate) async fn post_status(
    db: &impl GenericClient,
    id: ScheduledPostId,
) -> Result<PostStatus> {
    let row = layers_db::cached::query_one(
        db,
        "SELECT status FROM scheduled_posts WHERE id = $1",
        &[&id.as_uuid()],
    )
    .await?;
    post_status_of(row.get(0))
}

/// A status as stored; an unknown one is [`Error::Corrupt`] naming it.
fn post_status_of(status: &str) -> Result<PostStatus> {
    PostStatus::parse(status).ok_or_else(|| Error::Corrupt(status.to_owned()))
}
