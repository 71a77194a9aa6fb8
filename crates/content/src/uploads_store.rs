//! The statements of uploads (`upload_sessions`, `upload_files` and the uploaded containers):
//! what `uploads.rs` decides, written and read here.

use chrono::{DateTime, Utc};
use layers_core::{EnvKind, Environment as _};
use layers_db::GenericClient;
use layers_orgs::OrgId;

use crate::fixtures::AssetKind;
use crate::model::{Container, ContainerId};
use crate::store::{container, insert_assets, Content, Error, NewAsset, Result, COLUMNS};
use crate::uploads::{upload_format, DeclaredFile, UploadId, UploadSession};

impl Content {
    /// How many live uploads the project made this UTC month (sandbox uploads never count): its
    /// uploaded containers, and its direct-upload sessions not finalized (yet, or ever: a
    /// session counts from its creation, so that sessions never finalized cannot store without
    /// bound).
    pub async fn uploads_this_month(
        &self,
        db: &impl GenericClient,
        project_id: uuid::Uuid,
    ) -> Result<i64> {
        let row = layers_db::cached::query_one(
            db,
            "WITH month AS (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' \
                                AS start) \
             SELECT (SELECT count(*) FROM content_containers, month \
                     WHERE project_id = $1 AND source = 'uploaded' AND NOT is_sandbox \
                       AND created_at >= month.start) \
                  + (SELECT count(*) FROM upload_sessions, month \
                     WHERE project_id = $1 AND NOT is_sandbox AND container_id IS NULL \
                       AND created_at >= month.start)",
            &[&project_id],
        )
        .await?;
        Ok(row.get(0))
    }

    /// Writes a completed, uploaded container of this environment with `media` (what the
    /// environment's intake took in: stored files live, fixture media in the sandbox); `kinds`
    /// give the format.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_uploaded(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        project_id: uuid::Uuid,
        id: ContainerId,
        kinds: &[AssetKind],
        media: Vec<NewAsset>,
        caption: Option<String>,
        hook: Option<String>,
    ) -> Result<Container> {
        let format = upload_format(kinds)?;
        let row = layers_db::cached::query_one(
            db,
            &format!(
                "INSERT INTO content_containers (id, organization_id, project_id, is_sandbox, \
                     format, source, status, variant_index, hook, caption) \
                 VALUES ($1, $2, $3, $4, $5, 'uploaded', 'completed', 0, $6, $7) \
                 RETURNING {COLUMNS}"
            ),
            &[
                &id.as_uuid(),
                &org.as_uuid(),
                &project_id,
                &self.kind().is_sandbox(),
                &format.as_str(),
                &hook,
                &caption,
            ],
        )
        .await?;
        let mut created = container(&row)?;
        created.assets = insert_assets(db, id, &media).await?;
        Ok(created)
    }

    /// Opens a direct-upload session of this environment for `files` (indexes from 0).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_session(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        project_id: uuid::Uuid,
        files: &[DeclaredFile],
        caption: Option<String>,
        hook: Option<String>,
        expires_at: DateTime<Utc>,
    ) -> Result<UploadSession> {
        let id = UploadId::new();
        let indexes: Vec<i32> = files.iter().map(|f| f.index as i32).collect();
        let names: Vec<&str> = files.iter().map(|f| f.filename.as_str()).collect();
        let types: Vec<&str> = files.iter().map(|f| f.content_type.as_str()).collect();
        let sizes: Vec<i64> = files
            .iter()
            .map(|f| i64::try_from(f.size_bytes).unwrap_or(i64::MAX))
            .collect();
        layers_db::cached::execute(
            db,
            "WITH s AS ( \
                 INSERT INTO upload_sessions (id, organization_id, project_id, is_sandbox, caption, \
                                              hook, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id) \
             INSERT INTO upload_files (session_id, index, filename, content_type, size_bytes) \
             SELECT s.id, f.index, f.filename, f.content_type, f.size_bytes \
             FROM s, unnest($8::int[], $9::text[], $10::text[], $11::bigint[]) \
                 AS f (index, filename, content_type, size_bytes)",
            &[
                &id.as_uuid(),
                &org.as_uuid(),
                &project_id,
                &self.kind().is_sandbox(),
                &caption,
                &hook,
                &expires_at,
                &indexes,
                &names,
                &types,
                &sizes,
            ],
        )
        .await?;
        Ok(UploadSession {
            id,
            organization_id: org,
            project_id,
            env: self.kind(),
            caption,
            hook,
            files: files.to_vec(),
            container_id: None,
            expires_at,
        })
    }
}

/// A session by id (of either environment), without its organization: what the signed PUT
/// URL names.
pub async fn upload_session(db: &impl GenericClient, id: UploadId) -> Result<UploadSession> {
    let row = layers_db::cached::query_opt(
        db,
        "SELECT organization_id FROM upload_sessions WHERE id = $1",
        &[&id.as_uuid()],
    )
    .await?
    .ok_or(Error::UploadNotFound)?;
    read_session(db, OrgId::from_uuid(row.get(0)), id, false).await
}

/// A session of the organization by id, locked for the rest of the caller's transaction (what
/// finalizing reads).
pub(crate) async fn session_for_update(
    db: &impl GenericClient,
    org: OrgId,
    id: UploadId,
) -> Result<UploadSession> {
    read_session(db, org, id, true).await
}

/// Marks a session finalized into `container`.
pub(crate) async fn finalized(
    db: &impl GenericClient,
    id: UploadId,
    container: ContainerId,
) -> Result<()> {
    layers_db::cached::execute(
        db,
        "UPDATE upload_sessions SET container_id = $2 WHERE id = $1",
        &[&id.as_uuid(), &container.as_uuid()],
    )
    .await?;
    Ok(())
}

async fn read_session(
    db: &impl GenericClient,
    org: OrgId,
    id: UploadId,
    lock: bool,
) -> Result<UploadSession> {
    let row = layers_db::cached::query_opt(
        db,
        &format!(
            "SELECT project_id, is_sandbox, caption, hook, container_id, expires_at \
             FROM upload_sessions WHERE id = $1 AND organization_id = $2{}",
            if lock { " FOR UPDATE" } else { "" }
        ),
        &[&id.as_uuid(), &org.as_uuid()],
    )
    .await?
    .ok_or(Error::UploadNotFound)?;
    let files = layers_db::cached::query(
        db,
        "SELECT index, filename, content_type, size_bytes, storage_key, width, height \
         FROM upload_files WHERE session_id = $1 ORDER BY index",
        &[&id.as_uuid()],
    )
    .await?
    .iter()
    .map(|f| DeclaredFile {
        index: f.get::<_, i32>(0) as u32,
        filename: f.get(1),
        content_type: f.get(2),
        size_bytes: f.get::<_, i64>(3) as u64,
        storage_key: f.get(4),
        width: f.get::<_, Option<i32>>(5).map(|w| w as u32),
        height: f.get::<_, Option<i32>>(6).map(|h| h as u32),
    })
    .collect();
    Ok(UploadSession {
        id,
        organization_id: org,
        project_id: row.get(0),
        env: EnvKind::from_sandbox(row.get(1)),
        caption: row.get(2),
        hook: row.get(3),
        files,
        container_id: row
            .get::<_, Option<uuid::Uuid>>(4)
            .map(ContainerId::from_uuid),
        expires_at: row.get(5),
    })
}

/// The storage keys of a session's files, if it expired without being finalized (none
/// otherwise).
pub async fn expired_files(db: &impl GenericClient, id: UploadId) -> Result<Vec<String>> {
    let rows = layers_db::cached::query(
        db,
        "SELECT f.storage_key FROM upload_files f JOIN upload_sessions s ON s.id = f.session_id \
         WHERE s.id = $1 AND s.container_id IS NULL AND s.expires_at <= now() \
           AND f.storage_key IS NOT NULL",
        &[&id.as_uuid()],
    )
    .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Forgets the stored files of a session that expired without being finalized (their objects
/// were deleted).
pub async fn forget_files(db: &impl GenericClient, id: UploadId) -> Result<u64> {
    Ok(layers_db::cached::execute(
        db,
        "UPDATE upload_files f SET storage_key = NULL FROM upload_sessions s \
         WHERE f.session_id = $1 AND s.id = f.session_id AND s.container_id IS NULL \
           AND s.expires_at <= now() AND f.storage_key IS NOT NULL",
        &[&id.as_uuid()],
    )
    .await?)
}

/// Records a file's stored bytes (after they were checked), unless the session was finalized
/// or expired meanwhile; answers whether it was recorded.
pub async fn record_file(
    db: &impl GenericClient,
    id: UploadId,
    index: u32,
    storage_key: &str,
    width: Option<u32>,
    height: Option<u32>,
) -> Result<bool> {
    let n = layers_db::cached::execute(
        db,
        "UPDATE upload_files f SET storage_key = $3, width = $4, height = $5, received_at = now() \
         FROM upload_sessions s \
         WHERE f.session_id = $1 AND f.index = $2 AND s.id = f.session_id \
           AND s.container_id IS NULL AND s.expires_at > now()",
        &[
            &id.as_uuid(),
            &(index as i32),
            &storage_key,
            &width.map(|w| w as i32),
            &height.map(|h| h as i32),
        ],
    )
    .await?;
    Ok(n == 1)
}
