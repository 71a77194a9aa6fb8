//! Uploaded content (CONTRACT §11 "Uploads"): containers made from a partner's files, by URL or
//! by a direct-upload session (declare, PUT each file, finalize). Sandbox uploads never fetch,
//! store or count: they point at fixture media chosen from the container id.

use chrono::{DateTime, Utc};
use layers_core::{EnvKind, Environment as _};
use layers_db::GenericClient;
use layers_orgs::OrgId;

use crate::fixtures::{self, AssetKind, Format};
use crate::ingest_media::Intake;
use crate::model::{Container, ContainerFormat, ContainerId};
use crate::store::{container, find, insert_assets, Content, Error, NewAsset, Result, COLUMNS};

layers_core::prefixed_id!(
    /// A direct-upload session (`upl_…`).
    UploadId,
    "upl"
);

/// The format of an upload of files of these kinds: one image is `image`, two to ten are a
/// `slideshow`, one video is a `video`; a video with anything else is refused.
pub fn upload_format(kinds: &[AssetKind]) -> Result<ContainerFormat> {
    let videos = kinds.iter().filter(|k| **k == AssetKind::Video).count();
    match (videos, kinds.len()) {
        (0, 1) => Ok(ContainerFormat::Generated(Format::Image)),
        (0, 2..=10) => Ok(ContainerFormat::Generated(Format::Slideshow)),
        (1, 1) => Ok(ContainerFormat::Video),
        _ => Err(Error::MixedUpload),
    }
}

/// What a sandbox upload's file is, by its name's extension (`.mp4`, `.mov`: a video; anything
/// else an image). Nothing is fetched or read.
pub fn sandbox_kind(name: &str) -> AssetKind {
    let path = name
        .split(['?', '#'])
        .next()
        .unwrap_or(name)
        .to_ascii_lowercase();
    if path.ends_with(".mp4") || path.ends_with(".mov") {
        AssetKind::Video
    } else {
        AssetKind::Image
    }
}

/// The fixture media of a sandbox upload: image i is `image/sample-((FNV-1a(containerId) + i)
/// mod 3 + 1).jpg`; a video is `video-remix/sample-(FNV-1a(containerId) mod 3 + 1)/` with its
/// thumbnail.
pub(crate) fn sandbox_assets(id: ContainerId, kinds: &[AssetKind]) -> Vec<NewAsset> {
    let id = id.to_string();
    if kinds.contains(&AssetKind::Video) {
        return fixtures::assets(Format::VideoRemix, fixtures::sample_for(&id, 0))
            .iter()
            .map(NewAsset::fixture)
            .collect();
    }
    (0..kinds.len() as u32)
        .flat_map(|i| fixtures::assets(Format::Image, fixtures::sample_for(&id, i)))
        .map(|a| NewAsset::fixture(&a))
        .collect()
}

/// A file declared in a direct-upload session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredFile {
    pub index: u32,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: u64,
    /// Once PUT and checked: where it is stored and its dimensions.
    pub storage_key: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// A direct-upload session.
#[derive(Clone, Debug, PartialEq)]
pub struct UploadSession {
    pub id: UploadId,
    pub organization_id: OrgId,
    pub project_id: uuid::Uuid,
    pub env: EnvKind,
    pub caption: Option<String>,
    pub hook: Option<String>,
    pub files: Vec<DeclaredFile>,
    pub container_id: Option<ContainerId>,
    pub expires_at: DateTime<Utc>,
}

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

    /// Finalizes a session of this environment into its container, in the caller's
    /// transaction: `(container, true)` the first time, `(the same container, false)` after.
    /// Its media are what `intake` says of the session's files ([`Intake::session_media`]).
    pub async fn finalize(
        &self,
        db: &impl GenericClient,
        intake: &Intake,
        org: OrgId,
        project_id: uuid::Uuid,
        id: UploadId,
    ) -> Result<(Container, bool)> {
        let session = session_for_update(db, org, id).await?;
        if session.env != self.kind() {
            return Err(Error::EnvironmentMismatch(session.env));
        }
        if session.project_id != project_id {
            return Err(Error::UploadOfAnotherProject);
        }
        if let Some(done) = session.container_id {
            return Ok((find(db, org, done).await?, false));
        }
        if session.expires_at <= Utc::now() {
            return Err(Error::UploadExpired);
        }
        let container_id = ContainerId::new();
        let (kinds, media) = intake.session_media(container_id, &session.files)?;
        let created = self
            .create_uploaded(
                db,
                org,
                project_id,
                container_id,
                &kinds,
                media,
                session.caption.clone(),
                session.hook.clone(),
            )
            .await?;
        layers_db::cached::execute(
            db,
            "UPDATE upload_sessions SET container_id = $2 WHERE id = $1",
            &[&id.as_uuid(), &container_id.as_uuid()],
        )
        .await?;
        Ok((created, true))
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

async fn session_for_update(
    db: &impl GenericClient,
    org: OrgId,
    id: UploadId,
) -> Result<UploadSession> {
    read_session(db, org, id, true).await
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

/// The job kind that deletes what an unfinalized live session stored once it expires.
pub const EXPIRE_UPLOAD: &str = "upload_expire";

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Location;

    #[test]
    fn upload_formats() {
        use AssetKind::{Image, Video};
        assert_eq!(
            upload_format(&[Image]).unwrap(),
            ContainerFormat::Generated(Format::Image)
        );
        assert_eq!(
            upload_format(&[Image; 10]).unwrap(),
            ContainerFormat::Generated(Format::Slideshow)
        );
        assert_eq!(upload_format(&[Video]).unwrap(), ContainerFormat::Video);
        assert!(upload_format(&[Video, Image]).is_err());
        assert!(upload_format(&[Video, Video]).is_err());
        assert!(upload_format(&[Image; 11]).is_err());
        assert!(upload_format(&[]).is_err());
    }

    #[test]
    fn sandbox_kinds_come_from_the_extension_only() {
        assert_eq!(sandbox_kind("https://x.test/a.MP4"), AssetKind::Video);
        assert_eq!(sandbox_kind("https://x.test/a.mov?sig=1"), AssetKind::Video);
        assert_eq!(sandbox_kind("https://x.test/a.mp4.jpg"), AssetKind::Image);
        assert_eq!(sandbox_kind("clip"), AssetKind::Image);
    }

    #[test]
    fn sandbox_upload_media_follows_the_formula() {
        let id = ContainerId::new();
        let images = sandbox_assets(id, &[AssetKind::Image; 3]);
        let h = u64::from(fixtures::fnv1a(&id.to_string()));
        for (i, a) in images.iter().enumerate() {
            let n = (h + i as u64) % 3 + 1;
            assert_eq!(
                a.location,
                Location::Fixture(format!("image/sample-{n}.jpg"))
            );
        }
        let video = sandbox_assets(id, &[AssetKind::Video]);
        let n = h % 3 + 1;
        assert_eq!(
            video.iter().map(|a| a.location.clone()).collect::<Vec<_>>(),
            vec![
                Location::Fixture(format!("video-remix/sample-{n}/video.mp4")),
                Location::Fixture(format!("video-remix/sample-{n}/thumbnail.jpg")),
            ]
        );
    }
}
