//! Containers and assets as the domain sees them, and the preview every renderer reads.

use chrono::{DateTime, Utc};
use layers_core::EnvKind;
use layers_orgs::OrgId;

use crate::fixtures::{AssetKind, Format};

layers_core::prefixed_id!(
    /// A content container (`cnt_…`).
    ContainerId,
    "cnt"
);

layers_core::prefixed_id!(
    /// One media file of a container (`asset_…`).
    AssetId,
    "asset"
);

/// What a container holds: a generated format, or an uploaded `video`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContainerFormat {
    Generated(Format),
    /// One uploaded video (uploads of images are `image` or `slideshow`).
    Video,
}

impl ContainerFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerFormat::Generated(f) => f.as_str(),
            ContainerFormat::Video => "video",
        }
    }

    pub fn parse(s: &str) -> Option<ContainerFormat> {
        match s {
            "video" => Some(ContainerFormat::Video),
            other => Format::parse(other).map(ContainerFormat::Generated),
        }
    }
}

/// Where a container came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Generated,
    Uploaded,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Generated => "generated",
            Source::Uploaded => "uploaded",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        match s {
            "generated" => Some(Source::Generated),
            "uploaded" => Some(Source::Uploaded),
            _ => None,
        }
    }
}

/// Where a container stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Queued,
    Generating,
    Completed,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Generating => "generating",
            Status::Completed => "completed",
            Status::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "queued" => Status::Queued,
            "generating" => Status::Generating,
            "completed" => Status::Completed,
            "failed" => Status::Failed,
            _ => return None,
        })
    }
}

/// Where an asset's bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A sandbox fixture, by its path under `/sandbox/` (`slideshow/sample-1/slide-1.jpg`).
    Fixture(String),
    /// A live object, by its key in storage.
    Stored(String),
}

/// One media file of a container.
#[derive(Clone, Debug, PartialEq)]
pub struct Asset {
    pub id: AssetId,
    pub kind: AssetKind,
    pub location: Location,
    pub content_type: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// A container as stored, with its assets in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Container {
    pub id: ContainerId,
    pub organization_id: OrgId,
    pub project_id: uuid::Uuid,
    pub env: EnvKind,
    pub format: ContainerFormat,
    pub source: Source,
    pub status: Status,
    pub variant_index: u32,
    pub hook: Option<String>,
    pub caption: Option<String>,
    pub influencer_id: Option<uuid::Uuid>,
    pub job_id: Option<uuid::Uuid>,
    pub regenerations: u32,
    pub assets: Vec<Asset>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The preview of CONTRACT §11, from a container's assets once their URLs are known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    pub primary_url: String,
    pub thumbnail_url: String,
    pub image_urls: Vec<String>,
    pub video_url: Option<String>,
}

/// The preview of a container whose assets have the URLs `urls` (in the assets' order);
/// `None` while it has no media. Slides: all images, the first is primary and thumbnail;
/// videos: the video is primary, the thumbnail (else the video) is the thumbnail; an image: it
/// is all three.
pub fn preview(assets: &[Asset], urls: &[String]) -> Option<Preview> {
    let of = |kind: AssetKind| {
        assets
            .iter()
            .zip(urls)
            .filter(move |(a, _)| a.kind == kind)
            .map(|(_, u)| u.clone())
    };
    let images: Vec<String> = of(AssetKind::Image).collect();
    match of(AssetKind::Video).next() {
        Some(video) => Some(Preview {
            primary_url: video.clone(),
            thumbnail_url: of(AssetKind::Thumbnail).next().unwrap_or(video.clone()),
            image_urls: Vec::new(),
            video_url: Some(video),
        }),
        None => {
            let first = images.first()?.clone();
            Some(Preview {
                primary_url: first.clone(),
                thumbnail_url: of(AssetKind::Thumbnail).next().unwrap_or(first),
                image_urls: images,
                video_url: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(kind: AssetKind, path: &str) -> Asset {
        Asset {
            id: AssetId::new(),
            kind,
            location: Location::Fixture(path.into()),
            content_type: "image/jpeg".into(),
            width: Some(1080),
            height: Some(1920),
        }
    }

    #[test]
    fn previews_follow_the_contract_per_shape() {
        let slides: Vec<Asset> = (1..=5)
            .map(|i| asset(AssetKind::Image, &format!("s{i}")))
            .collect();
        let urls: Vec<String> = (1..=5).map(|i| format!("u{i}")).collect();
        let p = preview(&slides, &urls).unwrap();
        assert_eq!(p.primary_url, "u1");
        assert_eq!(p.thumbnail_url, "u1");
        assert_eq!(p.image_urls, urls);
        assert_eq!(p.video_url, None);

        let video = [
            asset(AssetKind::Video, "v"),
            asset(AssetKind::Thumbnail, "t"),
        ];
        let p = preview(&video, &["video".into(), "thumb".into()]).unwrap();
        assert_eq!(p.primary_url, "video");
        assert_eq!(p.thumbnail_url, "thumb");
        assert!(p.image_urls.is_empty());
        assert_eq!(p.video_url.as_deref(), Some("video"));

        let image = [asset(AssetKind::Image, "i")];
        let p = preview(&image, &["img".into()]).unwrap();
        assert_eq!(
            (p.primary_url.as_str(), p.thumbnail_url.as_str()),
            ("img", "img")
        );
        assert_eq!(p.image_urls, vec!["img".to_owned()]);
        assert_eq!(preview(&[], &[]), None);
    }

    #[test]
    fn formats_read_back() {
        for f in ["slideshow", "video-remix", "ugc-creative", "image", "video"] {
            assert_eq!(ContainerFormat::parse(f).unwrap().as_str(), f);
        }
        assert_eq!(ContainerFormat::parse("gif"), None);
    }
}
