//! Uploaded content (CONTRACT §11 "Uploads"): containers made from a partner's files, by URL or
//! by a direct-upload session (declare, PUT each file, finalize). Sandbox uploads never fetch,
//! store or count: they point at fixture media chosen from the container id.
//!
//! The rules live here; the statements are in `uploads_store.rs`.

use chrono::{DateTime, Utc};
use layers_core::{EnvKind, Environment as _};
use layers_db::GenericClient;
use layers_orgs::OrgId;

use crate::fixtures::{self, AssetKind, Format};
use crate::ingest_media::Intake;
use crate::model::{Container, ContainerFormat, ContainerId};
use crate::store::{find, Content, Error, NewAsset, Result};
use crate::uploads_store;
// what the expiry job (in `ingest_media.rs`) reaches through this module
pub(crate) use crate::uploads_store::{expired_files, forget_files};

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
        let session = uploads_store::session_for_update(db, org, id).await?;
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
        uploads_store::finalized(db, id, container_id).await?;
        Ok((created, true))
    }
}

/// The job kind that deletes what an unfinalized live session stored once it expires.
pub const EXPIRE_UPLOAD: &str = "upload_expire";

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
