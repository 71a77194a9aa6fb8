//! Containers and assets in the database, for one environment ([`Content`]).

use layers_core::{EnvKind, Limit, Page};
use layers_db::GenericClient;
use layers_orgs::OrgId;
use layers_webhooks::EventType;
use serde_json::json;
use tokio_postgres::Row;

use crate::fixtures::{self, AssetKind, Format};
use crate::generate::{Generation, Made};
use crate::model::{
    Asset, AssetId, Container, ContainerFormat, ContainerId, Location, Source, Status,
};

/// What can go wrong with content.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such content")]
    NotFound,
    /// Read in one environment, the container exists in the other one (named here).
    #[error("the content exists only in {0}")]
    InOtherEnvironment(EnvKind),
    /// An action in one environment naming a container of the other one (named here).
    #[error("the content belongs to {0}")]
    EnvironmentMismatch(EnvKind),
    #[error("no such asset")]
    AssetNotFound,
    /// Regenerating a container that is still being generated.
    #[error("the content is still being generated")]
    NotFinished,
    /// Regenerating an uploaded container.
    #[error("uploaded content cannot be regenerated")]
    Uploaded,
    /// An upload mixing a video with other files, or more than one video.
    #[error("a video is uploaded alone: one video, or one to ten images")]
    MixedUpload,
    #[error("no such upload")]
    UploadNotFound,
    /// The upload session has expired.
    #[error("the upload has expired; start a new one")]
    UploadExpired,
    /// Finalizing before every file was PUT (the indexes missing).
    #[error("files {0:?} have not been uploaded yet")]
    UploadIncomplete(Vec<u32>),
    /// The upload belongs to another project.
    #[error("the upload belongs to another project")]
    UploadOfAnotherProject,
    #[error("stored content is corrupt: {0}")]
    Corrupt(String),
    /// Live generation without a generator.
    #[error(transparent)]
    NotConfigured(#[from] crate::generate::NotConfigured),
    /// The paid start's refusals: the project, the credit gate, the job.
    #[error(transparent)]
    Start(#[from] layers_jobs::Refused),
    /// The project used its live uploads of the month (`quota`).
    #[error("this project used its {quota} live uploads of the month")]
    UploadQuota { quota: u32 },
    /// A declared or fetched file refused (its index in the request).
    #[error("file {index} was refused: {refused}")]
    Media {
        index: usize,
        refused: crate::Refused,
    },
    #[error(transparent)]
    Events(#[from] layers_webhooks::StoreError),
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
}

impl From<layers_projects::Error> for Error {
    fn from(e: layers_projects::Error) -> Error {
        Error::Start(e.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The variants a generation request asks for, with the job that makes them.
#[derive(Clone, Debug)]
pub struct NewGeneration {
    pub organization_id: OrgId,
    pub project_id: uuid::Uuid,
    pub format: Format,
    /// One per variant (1..=3), made by the caller so that the job naming them can be written
    /// in the same round trip.
    pub container_ids: Vec<ContainerId>,
    pub hook: Option<String>,
    pub caption: Option<String>,
    pub influencer_id: Option<uuid::Uuid>,
    pub job_id: uuid::Uuid,
}

/// A media file to attach to a container.
#[derive(Clone, Debug)]
pub struct NewAsset {
    pub kind: AssetKind,
    pub location: Location,
    pub content_type: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

impl NewAsset {
    pub(crate) fn fixture(a: &fixtures::FixtureAsset) -> NewAsset {
        NewAsset {
            kind: a.kind,
            location: Location::Fixture(a.path.to_owned()),
            content_type: a.content_type.to_owned(),
            width: Some(a.width),
            height: Some(a.height),
        }
    }
}

/// Content operations for one environment: what a handler (or a job) holds, so that it never
/// passes the environment itself.
#[derive(Clone, Copy, Debug)]
pub struct Content {
    env: EnvKind,
}

impl layers_core::Environment for Content {
    fn kind(&self) -> EnvKind {
        self.env
    }
}

pub(crate) const COLUMNS: &str =
    "id, organization_id, project_id, is_sandbox, format, source, status, \
     variant_index, hook, caption, influencer_id, job_id, regenerations, created_at, updated_at";

impl Content {
    pub fn new(env: EnvKind) -> Content {
        Content { env }
    }

    /// Writes the containers of a generation request, in the caller's transaction, each as
    /// `made` says (see [`Generation::first_made`]); each one `completed` fires
    /// `content.completed`.
    pub async fn create_generated(
        &self,
        db: &impl GenericClient,
        new: &NewGeneration,
        made: Vec<Made>,
    ) -> Result<Vec<Container>> {
        let ids = &new.container_ids;
        // one status for all the variants of a request
        let status = made.first().map_or(Status::Queued, |m| m.status);
        let uuids: Vec<uuid::Uuid> = ids.iter().map(ContainerId::as_uuid).collect();
        let indexes: Vec<i32> = (0..ids.len() as i32).collect();
        let with_assets: Vec<(ContainerId, &[NewAsset])> = ids
            .iter()
            .copied()
            .zip(made.iter().map(|m| m.assets.as_slice()))
            .collect();
        let events = completed_events(new, status);
        // the containers, their assets and their events go out in one round trip, in this
        // order on the connection (both inserts prepared first, so that the assets cannot
        // overtake the containers they refer to)
        let insert_containers = format!(
            "INSERT INTO content_containers (id, organization_id, project_id, \
                 is_sandbox, format, source, status, variant_index, hook, caption, \
                 influencer_id, job_id) \
             SELECT u.id, $2, $3, $4, $5, 'generated', $6, u.idx, $7, $8, $9, $10 \
             FROM unnest($1::uuid[], $11::int[]) AS u (id, idx) \
             RETURNING {COLUMNS}"
        );
        layers_db::cached::prepare_all(db, &[&insert_containers, INSERT_ASSETS]).await?;
        let (rows, made, _) = futures_util::future::try_join3(
            async {
                layers_db::cached::query(
                    db,
                    &insert_containers,
                    &[
                        &uuids,
                        &new.organization_id.as_uuid(),
                        &new.project_id,
                        &self.env.is_sandbox(),
                        &new.format.as_str(),
                        &status.as_str(),
                        &new.hook,
                        &new.caption,
                        &new.influencer_id,
                        &new.job_id,
                        &indexes,
                    ],
                )
                .await
                .map_err(Error::from)
            },
            insert_assets_of(db, &with_assets),
            async {
                layers_webhooks::emit_many(
                    db,
                    new.organization_id,
                    self.env,
                    EventType::ContentCompleted,
                    events,
                )
                .await
                .map_err(Error::from)
            },
        )
        .await?;
        let mut containers = rows.iter().map(container).collect::<Result<Vec<_>>>()?;
        containers.sort_by_key(|c| c.variant_index);
        for (container, assets) in containers.iter_mut().zip(made) {
            container.assets = assets;
        }
        Ok(containers)
    }

    /// Reads one of the organization's containers of this environment, with its assets.
    pub async fn get(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: ContainerId,
    ) -> Result<Container> {
        let found = find(db, org, id).await?;
        if found.env != self.env {
            return Err(Error::InOtherEnvironment(found.env));
        }
        Ok(found)
    }

    /// A project's containers of this environment, newest first, with their assets.
    pub async fn list(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        project_id: uuid::Uuid,
        limit: Limit,
        after: Option<ContainerId>,
    ) -> Result<Page<Container, ContainerId>> {
        let rows = layers_db::cached::query(
            db,
            &format!(
                "SELECT {COLUMNS} FROM content_containers \
                 WHERE organization_id = $1 AND project_id = $2 AND is_sandbox = $3 \
                   AND ($4::uuid IS NULL OR id < $4) \
                 ORDER BY id DESC LIMIT $5"
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
        let mut items = rows.iter().map(container).collect::<Result<Vec<_>>>()?;
        attach_assets(db, &mut items).await?;
        Ok(Page::from_overfetch(items, limit, |c: &Container| c.id))
    }

    /// Starts a regeneration of a finished, generated container of this environment, in the
    /// caller's transaction: its n-th regeneration starts as `generation` says (see
    /// [`Generation::remade`]), and fires `content.completed` if it is complete at once.
    pub async fn regenerate(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: ContainerId,
        job_id: uuid::Uuid,
        generation: &Generation,
    ) -> Result<Container> {
        let row = layers_db::cached::query_opt(
            db,
            &format!(
                "SELECT {COLUMNS} FROM content_containers \
                 WHERE id = $1 AND organization_id = $2 FOR UPDATE"
            ),
            &[&id.as_uuid(), &org.as_uuid()],
        )
        .await?
        .ok_or(Error::NotFound)?;
        let current = container(&row)?;
        if current.env != self.env {
            return Err(Error::EnvironmentMismatch(current.env));
        }
        let ContainerFormat::Generated(format) = current.format else {
            return Err(Error::Uploaded);
        };
        if current.source == Source::Uploaded {
            return Err(Error::Uploaded);
        }
        if matches!(current.status, Status::Queued | Status::Generating) {
            return Err(Error::NotFinished);
        }
        let n = current.regenerations + 1;
        let made = generation.remade(format, id, n);
        let status = made.status;
        let row = layers_db::cached::query_one(
            db,
            &format!(
                "UPDATE content_containers SET status = $2, regenerations = $3, job_id = $4, \
                     error = NULL, updated_at = now() \
                 WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[&id.as_uuid(), &status.as_str(), &(n as i32), &job_id],
        )
        .await?;
        let mut updated = container(&row)?;
        layers_db::cached::execute(
            db,
            "DELETE FROM content_assets WHERE container_id = $1",
            &[&id.as_uuid()],
        )
        .await?;
        if !made.assets.is_empty() {
            updated.assets = insert_assets(db, id, &made.assets).await?;
        }
        if status == Status::Completed {
            announce(db, &updated).await?;
        }
        Ok(updated)
    }

    /// One asset of a container of this environment.
    pub async fn asset(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: ContainerId,
        asset: AssetId,
    ) -> Result<(Container, Asset)> {
        let container = self.get(db, org, id).await?;
        let found = container
            .assets
            .iter()
            .find(|a| a.id == asset)
            .cloned()
            .ok_or(Error::AssetNotFound)?;
        Ok((container, found))
    }
}

/// The containers a generation job makes, in variant order.
pub async fn containers_of_job(
    db: &impl GenericClient,
    job_id: uuid::Uuid,
) -> Result<Vec<Container>> {
    let rows = layers_db::cached::query(
        db,
        &format!(
            "SELECT {COLUMNS} FROM content_containers WHERE job_id = $1 ORDER BY variant_index"
        ),
        &[&job_id],
    )
    .await?;
    let mut items = rows.iter().map(container).collect::<Result<Vec<_>>>()?;
    attach_assets(db, &mut items).await?;
    Ok(items)
}

/// Marks a queued container as being generated.
pub async fn mark_generating(db: &impl GenericClient, id: ContainerId) -> Result<()> {
    layers_db::cached::execute(
        db,
        "UPDATE content_containers SET status = 'generating', updated_at = now() \
         WHERE id = $1 AND status IN ('queued', 'generating')",
        &[&id.as_uuid()],
    )
    .await?;
    Ok(())
}

/// Completes a container with its media, and fires `content.completed`, in the caller's
/// transaction.
pub async fn complete(
    db: &impl GenericClient,
    id: ContainerId,
    assets: &[NewAsset],
) -> Result<Container> {
    let row = layers_db::cached::query_one(
        db,
        &format!(
            "UPDATE content_containers SET status = 'completed', error = NULL, updated_at = now() \
             WHERE id = $1 RETURNING {COLUMNS}"
        ),
        &[&id.as_uuid()],
    )
    .await?;
    let mut done = container(&row)?;
    layers_db::cached::execute(
        db,
        "DELETE FROM content_assets WHERE container_id = $1",
        &[&id.as_uuid()],
    )
    .await?;
    done.assets = insert_assets(db, id, assets).await?;
    announce(db, &done).await?;
    Ok(done)
}

/// Fails a container that is not completed, with why, and fires `content.failed`, in the
/// caller's transaction. A completed container is left as it is.
pub async fn fail(
    db: &impl GenericClient,
    id: ContainerId,
    message: &str,
) -> Result<Option<Container>> {
    let row = layers_db::cached::query_opt(
        db,
        &format!(
            "UPDATE content_containers SET status = 'failed', error = $2, updated_at = now() \
             WHERE id = $1 AND status <> 'completed' RETURNING {COLUMNS}"
        ),
        &[&id.as_uuid(), &json!({ "message": message })],
    )
    .await?;
    let Some(row) = row else { return Ok(None) };
    let failed = container(&row)?;
    announce(db, &failed).await?;
    Ok(Some(failed))
}

/// The `data` of `content.completed` and `content.failed` (CONTRACT §10).
fn event_data(
    id: ContainerId,
    project_id: uuid::Uuid,
    job_id: Option<uuid::Uuid>,
    format: ContainerFormat,
    status: Status,
) -> serde_json::Value {
    json!({
        "containerId": id.to_string(),
        "projectId": layers_projects::ProjectId::from_uuid(project_id).to_string(),
        "jobId": job_id.map(|j| layers_jobs::JobId::from_uuid(j).to_string()),
        "format": format.as_str(),
        "status": status.as_str(),
    })
}

/// `content.completed` or `content.failed` for a container that has just finished.
async fn announce(db: &impl GenericClient, c: &Container) -> Result<()> {
    let event_type = match c.status {
        Status::Completed => EventType::ContentCompleted,
        Status::Failed => EventType::ContentFailed,
        Status::Queued | Status::Generating => return Ok(()),
    };
    let data = event_data(c.id, c.project_id, c.job_id, c.format, c.status);
    layers_webhooks::emit(db, c.organization_id, c.env, event_type, data).await?;
    Ok(())
}

/// One `content.completed` per container of `new` when they are made complete at once
/// (`status`), else none.
fn completed_events(new: &NewGeneration, status: Status) -> Vec<serde_json::Value> {
    new.container_ids
        .iter()
        .filter(|_| status == Status::Completed)
        .map(|id| {
            event_data(
                *id,
                new.project_id,
                Some(new.job_id),
                ContainerFormat::Generated(new.format),
                Status::Completed,
            )
        })
        .collect()
}

pub(crate) async fn insert_assets(
    db: &impl GenericClient,
    container: ContainerId,
    assets: &[NewAsset],
) -> Result<Vec<Asset>> {
    Ok(insert_assets_of(db, &[(container, assets)])
        .await?
        .remove(0))
}

/// The assets of several containers, in one statement; each container's assets come back in
/// its order.
const INSERT_ASSETS: &str =
    "INSERT INTO content_assets (id, container_id, position, kind, fixture_path, storage_key, \
         content_type, width, height) \
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::text[], \
                          $6::text[], $7::text[], $8::int[], $9::int[])";

pub(crate) async fn insert_assets_of(
    db: &impl GenericClient,
    containers: &[(ContainerId, &[NewAsset])],
) -> Result<Vec<Vec<Asset>>> {
    let mut owners = Vec::new();
    let mut ids = Vec::new();
    let mut positions = Vec::new();
    let mut kinds = Vec::new();
    let mut fixture_paths: Vec<Option<&str>> = Vec::new();
    let mut keys: Vec<Option<&str>> = Vec::new();
    let mut types = Vec::new();
    let mut widths = Vec::new();
    let mut heights = Vec::new();
    let mut made = Vec::with_capacity(containers.len());
    for (container, assets) in containers {
        let mut these = Vec::with_capacity(assets.len());
        for (position, a) in assets.iter().enumerate() {
            let id = AssetId::new();
            owners.push(container.as_uuid());
            ids.push(id.as_uuid());
            positions.push(position as i32);
            kinds.push(a.kind.as_str());
            fixture_paths.push(match &a.location {
                Location::Fixture(p) => Some(p.as_str()),
                Location::Stored(_) => None,
            });
            keys.push(match &a.location {
                Location::Stored(k) => Some(k.as_str()),
                Location::Fixture(_) => None,
            });
            types.push(a.content_type.as_str());
            widths.push(a.width.map(|w| w as i32));
            heights.push(a.height.map(|h| h as i32));
            these.push(Asset {
                id,
                kind: a.kind,
                location: a.location.clone(),
                content_type: a.content_type.clone(),
                width: a.width,
                height: a.height,
            });
        }
        made.push(these);
    }
    if ids.is_empty() {
        return Ok(made);
    }
    layers_db::cached::execute(
        db,
        INSERT_ASSETS,
        &[
            &ids,
            &owners,
            &positions,
            &kinds,
            &fixture_paths,
            &keys,
            &types,
            &widths,
            &heights,
        ],
    )
    .await?;
    Ok(made)
}

pub(crate) async fn find(
    db: &impl GenericClient,
    org: OrgId,
    id: ContainerId,
) -> Result<Container> {
    let row = layers_db::cached::query_opt(
        db,
        &format!("SELECT {COLUMNS} FROM content_containers WHERE id = $1 AND organization_id = $2"),
        &[&id.as_uuid(), &org.as_uuid()],
    )
    .await?
    .ok_or(Error::NotFound)?;
    let mut found = vec![container(&row)?];
    attach_assets(db, &mut found).await?;
    Ok(found.remove(0))
}

async fn attach_assets(db: &impl GenericClient, containers: &mut [Container]) -> Result<()> {
    if containers.is_empty() {
        return Ok(());
    }
    let ids: Vec<uuid::Uuid> = containers.iter().map(|c| c.id.as_uuid()).collect();
    let rows = layers_db::cached::query(
        db,
        "SELECT container_id, id, kind, fixture_path, storage_key, content_type, width, height \
         FROM content_assets WHERE container_id = ANY ($1) ORDER BY container_id, position",
        &[&ids],
    )
    .await?;
    for row in rows {
        let owner = ContainerId::from_uuid(row.get(0));
        let kind: &str = row.get(2);
        let location = match (
            row.get::<_, Option<String>>(3),
            row.get::<_, Option<String>>(4),
        ) {
            (Some(path), None) => Location::Fixture(path),
            (None, Some(key)) => Location::Stored(key),
            _ => return Err(Error::Corrupt("an asset with no single location".into())),
        };
        let asset = Asset {
            id: AssetId::from_uuid(row.get(1)),
            kind: [AssetKind::Image, AssetKind::Video, AssetKind::Thumbnail]
                .into_iter()
                .find(|k| k.as_str() == kind)
                .ok_or_else(|| Error::Corrupt(kind.to_owned()))?,
            location,
            content_type: row.get(5),
            width: row.get::<_, Option<i32>>(6).map(|w| w as u32),
            height: row.get::<_, Option<i32>>(7).map(|h| h as u32),
        };
        if let Some(c) = containers.iter_mut().find(|c| c.id == owner) {
            c.assets.push(asset);
        }
    }
    Ok(())
}

pub(crate) fn container(row: &Row) -> Result<Container> {
    let format: &str = row.get("format");
    let source: &str = row.get("source");
    let status: &str = row.get("status");
    Ok(Container {
        id: ContainerId::from_uuid(row.get("id")),
        organization_id: OrgId::from_uuid(row.get("organization_id")),
        project_id: row.get("project_id"),
        env: EnvKind::from_sandbox(row.get("is_sandbox")),
        format: ContainerFormat::parse(format).ok_or_else(|| Error::Corrupt(format.to_owned()))?,
        source: Source::parse(source).ok_or_else(|| Error::Corrupt(source.to_owned()))?,
        status: Status::parse(status).ok_or_else(|| Error::Corrupt(status.to_owned()))?,
        variant_index: row.get::<_, i32>("variant_index") as u32,
        hook: row.get("hook"),
        caption: row.get("caption"),
        influencer_id: row.get("influencer_id"),
        job_id: row.get("job_id"),
        regenerations: row.get::<_, i32>("regenerations") as u32,
        assets: Vec::new(),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}

/// The organization's container `id` as its row stands, without its assets (`assets` is
/// empty): one statement, for another domain that checks where a container stands (its
/// environment, project and status) within its own pipelined round trip, as publishing does
/// before a post. `None` when it is unknown or another organization's.
pub async fn container_without_assets(
    db: &impl GenericClient,
    org: OrgId,
    id: ContainerId,
) -> Result<Option<Container>> {
    let row = layers_db::cached::query_opt(
        db,
        &format!("SELECT {COLUMNS} FROM content_containers WHERE id = $1 AND organization_id = $2"),
        &[&id.as_uuid(), &org.as_uuid()],
    )
    .await?;
    row.as_ref().map(container).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use layers_db::testing::fresh_database;
    use layers_orgs::Plan;

    /// Pipelined inserts must reach the server in order even when only the later statement is
    /// in the connection's cache: before `prepare_all`, the assets' insert (cached) left at
    /// once while the containers' insert (not cached) waited for its Parse, and the assets
    /// failed their foreign key.
    #[tokio::test]
    async fn assets_never_overtake_their_containers_on_one_connection() {
        let db = fresh_database().await;
        let mut c = db.pool.get().await.unwrap();
        let org = layers_orgs::create(&c, "Acme", Plan::Partner, None)
            .await
            .unwrap()
            .id;
        let project = uuid::Uuid::now_v7();
        c.execute(
            "INSERT INTO projects (id, organization_id, name, timezone, primary_language, \
                 is_sandbox) VALUES ($1, $2, 'P', 'UTC', 'en', true)",
            &[&project, &org.as_uuid()],
        )
        .await
        .unwrap();
        // the assets' statement is cached on this connection, the containers' is not
        c.prepare_cached(INSERT_ASSETS).await.unwrap();
        let tx = c.transaction().await.unwrap();
        let ids = vec![ContainerId::new(), ContainerId::new()];
        let first_made = Generation::Sandbox.first_made(Format::Slideshow, &ids);
        let made = Content::new(EnvKind::Sandbox)
            .create_generated(
                &tx,
                &NewGeneration {
                    organization_id: org,
                    project_id: project,
                    format: Format::Slideshow,
                    container_ids: ids,
                    hook: None,
                    caption: None,
                    influencer_id: None,
                    job_id: uuid::Uuid::now_v7(),
                },
                first_made,
            )
            .await
            .expect("the containers are written before their assets");
        tx.commit().await.unwrap();
        assert_eq!(made.len(), 2);
        assert!(made.iter().all(|m| m.assets.len() == 5));
    }
}
