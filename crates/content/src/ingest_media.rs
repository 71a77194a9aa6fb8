//! Live media intake: bytes from a URL or from a PUT are probed before anything is stored (the
//! first [`HEAD_BYTES`] decide the type and dimensions), then streamed into storage within the
//! size limit. A file refused on the way leaves nothing stored.

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use serde::{Deserialize, Serialize};

use crate::fixtures::AssetKind;
use crate::model::Location;
use crate::probe::{probe, MediaKind, Probe, Rejection, HEAD_BYTES};
use crate::store::NewAsset;

/// Why a live file was refused: a [`Rejection`] of its bytes, or a fetch that failed.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Media(Rejection),
    /// The URL could not be fetched (refused address, timeout, a non-2xx answer).
    #[error("{0}")]
    FetchFailed(String),
    /// The declared size and the bytes that arrived differ.
    #[error("{0}")]
    SizeMismatch(String),
    /// Storage failed: not the partner's fault.
    #[error("storing the file failed: {0}")]
    Storage(String),
}

impl Refused {
    /// The `reason` of 422 `MEDIA_REJECTED` (`None` for a storage failure, a 500).
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Refused::Media(r) => Some(r.reason()),
            Refused::FetchFailed(_) => Some("fetch_failed"),
            Refused::SizeMismatch(_) => Some("unreadable"),
            Refused::Storage(_) => None,
        }
    }
}

/// Where live files go, and how big they may be.
#[derive(Clone, Debug)]
pub struct MediaIntake {
    pub outbound: layers_outbound::Outbound,
    pub storage: layers_storage::Storage,
    /// `LAYERS_UPLOAD_MAX_BYTES`
    pub max_bytes: u64,
}

fn kind_of(probe: &Probe) -> AssetKind {
    match probe.kind {
        MediaKind::Image => AssetKind::Image,
        MediaKind::Video => AssetKind::Video,
    }
}

fn extension(content_type: &str) -> &'static str {
    match content_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        "video/quicktime" => "mov",
        _ => "bin",
    }
}

/// The first chunks of a body, at least [`HEAD_BYTES`] of them unless it ended sooner.
struct Head {
    chunks: Vec<Bytes>,
    /// Their total length.
    len: usize,
    /// Whether the body ended within them.
    ended: bool,
}

/// Reads chunks of `body` until they hold [`HEAD_BYTES`] or it ends.
async fn read_head<S, E>(body: &mut S) -> Result<Head, Refused>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut head = Head {
        chunks: Vec::new(),
        len: 0,
        ended: false,
    };
    while head.len < HEAD_BYTES {
        match body.next().await {
            Some(Ok(chunk)) => {
                head.len += chunk.len();
                head.chunks.push(chunk);
            }
            Some(Err(e)) => {
                return Err(Refused::FetchFailed(format!(
                    "reading the file failed: {e}"
                )))
            }
            None => {
                head.ended = true;
                break;
            }
        }
    }
    Ok(head)
}

impl MediaIntake {
    /// Reads `body`'s first bytes, probes them (against `declared` when given), then streams
    /// everything into storage under `key_stem` + the type's extension. With `exact_size`, a
    /// body of any other length is refused. Nothing stays stored when it is refused.
    pub async fn store_checked<S, E>(
        &self,
        key_stem: &str,
        body: S,
        declared: Option<&str>,
        exact_size: Option<u64>,
    ) -> Result<NewAsset, Refused>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut body = body;
        let Head {
            chunks: head,
            len: head_len,
            ended,
        } = read_head(&mut body).await?;
        let limit = exact_size.unwrap_or(self.max_bytes).min(self.max_bytes);
        if head_len as u64 > limit {
            return Err(self.too_large(exact_size));
        }
        let first: Vec<u8> = head.iter().flat_map(|c| c.iter().copied()).collect();
        let probed = probe(&first, declared).map_err(Refused::Media)?;
        let key = format!("{key_stem}.{}", extension(probed.content_type));
        let rest = if ended {
            futures_util::stream::empty().boxed_local()
        } else {
            body.map(|r| r.map_err(|e| std::io::Error::other(e.to_string())))
                .boxed_local()
        };
        let all = futures_util::stream::iter(head.into_iter().map(Ok)).chain(rest);
        let stored = self
            .storage
            .put_stream(&key, all, limit)
            .await
            .map_err(|e| self.storage_refusal(e, exact_size))?;
        if let Some(size) = exact_size {
            if stored != size {
                let _ = self.storage.delete(&key).await;
                return Err(Refused::SizeMismatch(format!(
                    "{stored} bytes arrived, {size} were declared"
                )));
            }
        }
        Ok(NewAsset {
            kind: kind_of(&probed),
            location: Location::Stored(key),
            content_type: probed.content_type.to_owned(),
            width: probed.width,
            height: probed.height,
        })
    }

    /// The refusal of a body longer than allowed: a size mismatch when `exact_size` was
    /// declared below the limit, else too large.
    fn too_large(&self, exact_size: Option<u64>) -> Refused {
        match exact_size {
            Some(size) if size < self.max_bytes => {
                Refused::SizeMismatch(format!("more bytes arrived than the {size} declared"))
            }
            _ => Refused::Media(Rejection::TooLarge {
                max_bytes: self.max_bytes,
            }),
        }
    }

    /// The refusal for a failed `put_stream`: over the limit (as [`MediaIntake::too_large`]),
    /// a body that could not be read, or storage's own failure.
    fn storage_refusal(&self, e: layers_storage::Error, exact_size: Option<u64>) -> Refused {
        match e {
            layers_storage::Error::TooLarge { .. } => self.too_large(exact_size),
            layers_storage::Error::Body(e) => {
                Refused::FetchFailed(format!("reading the file failed: {e}"))
            }
            e => Refused::Storage(e.to_string()),
        }
    }

    /// Fetches `url` (through the outbound guard: private addresses refused after resolution)
    /// and stores it checked, as [`MediaIntake::store_checked`]. The answer's `Content-Type`, when
    /// it names an accepted type, must agree with the bytes.
    pub async fn fetch(&self, url: &str, key_stem: &str) -> Result<NewAsset, Refused> {
        let parsed = layers_outbound::Url::parse(url)
            .map_err(|e| Refused::FetchFailed(format!("not a URL: {e}")))?;
        let response = self
            .outbound
            .get(parsed)
            .send()
            .await
            .map_err(|e| Refused::FetchFailed(e.to_string()))?
            .error_for_status()
            .await
            .map_err(|e| Refused::FetchFailed(e.to_string()))?;
        let declared = response
            .headers()
            .get(layers_outbound::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_ascii_lowercase())
            .filter(|v| crate::probe::ACCEPTED.contains(&v.as_str()));
        let length = response
            .headers()
            .get(layers_outbound::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if length.is_some_and(|l| l > self.max_bytes) {
            return Err(Refused::Media(Rejection::TooLarge {
                max_bytes: self.max_bytes,
            }));
        }
        let chunks = Box::pin(response.into_chunks());
        self.store_checked(key_stem, chunks, declared.as_deref(), None)
            .await
    }
}

/// The payload of an [`EXPIRE_UPLOAD`](crate::EXPIRE_UPLOAD) job: the session it forgets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpireUpload {
    pub upload_id: String,
}

impl layers_jobs::Payload for ExpireUpload {
    fn kind(&self) -> &'static str {
        crate::EXPIRE_UPLOAD
    }
}

/// What uploads do in one environment: live files are fetched, probed, stored and counted;
/// sandbox files are never fetched, stored, validated or counted.
#[derive(Clone, Debug)]
pub enum Intake {
    Live(Box<MediaIntake>),
    Sandbox,
}

impl Intake {
    /// Whether uploads count toward the per-project monthly quota.
    pub fn counts_toward_quota(&self) -> bool {
        matches!(self, Intake::Live(_))
    }

    /// The media of the finalized direct-upload session `files` for its new container
    /// `container`, with the files' kinds. Live, every file must have been PUT
    /// ([`Error::UploadIncomplete`](crate::Error::UploadIncomplete) names the missing ones) and
    /// its content type gives its kind; in the sandbox nothing was stored, the names'
    /// extensions give the kinds and fixture media stands in.
    pub fn session_media(
        &self,
        container: crate::ContainerId,
        files: &[crate::DeclaredFile],
    ) -> crate::Result<(Vec<AssetKind>, Vec<NewAsset>)> {
        if let Intake::Sandbox = self {
            let kinds: Vec<AssetKind> = files
                .iter()
                .map(|f| crate::sandbox_kind(&f.filename))
                .collect();
            let media = crate::uploads::sandbox_assets(container, &kinds);
            return Ok((kinds, media));
        }
        let missing: Vec<u32> = files
            .iter()
            .filter(|f| f.storage_key.is_none())
            .map(|f| f.index)
            .collect();
        if !missing.is_empty() {
            return Err(crate::Error::UploadIncomplete(missing));
        }
        let kinds: Vec<AssetKind> = files
            .iter()
            .map(|f| match f.content_type.starts_with("video/") {
                true => AssetKind::Video,
                false => AssetKind::Image,
            })
            .collect();
        let media = files
            .iter()
            .zip(&kinds)
            .map(|(f, kind)| NewAsset {
                kind: *kind,
                location: Location::Stored(f.storage_key.clone().unwrap_or_default()),
                content_type: f.content_type.clone(),
                width: f.width,
                height: f.height,
            })
            .collect();
        Ok((kinds, media))
    }

    /// Takes in the files at `urls` for container `container`: live, each is fetched, probed
    /// and stored (all or none: a refusal deletes what was stored before it); in the sandbox
    /// only the names' extensions are read and fixture media stands in, unless a name is
    /// `sandbox-reject-<reason>.<ext>` (CONTRACT §12): then that file is refused with `reason`
    /// as live would refuse it, and nothing is taken in. Answers the files'
    /// kinds and their assets.
    pub async fn fetch_all(
        &self,
        container: crate::ContainerId,
        urls: &[String],
    ) -> Result<(Vec<AssetKind>, Vec<NewAsset>), (usize, Refused)> {
        let live = match self {
            Intake::Sandbox => {
                if let Some(refused) = urls.iter().enumerate().find_map(sandbox_rejection) {
                    return Err(refused);
                }
                let kinds: Vec<AssetKind> = urls.iter().map(|u| crate::sandbox_kind(u)).collect();
                let media = crate::uploads::sandbox_assets(container, &kinds);
                return Ok((kinds, media));
            }
            Intake::Live(live) => live,
        };
        let mut assets: Vec<NewAsset> = Vec::with_capacity(urls.len());
        for (i, url) in urls.iter().enumerate() {
            match live.fetch(url, &format!("uploads/{container}/{i}")).await {
                Ok(asset) => assets.push(asset),
                Err(refused) => {
                    for stored in &assets {
                        if let Location::Stored(key) = &stored.location {
                            let _ = live.storage.delete(key).await;
                        }
                    }
                    return Err((i, refused));
                }
            }
        }
        Ok((assets.iter().map(|a| a.kind).collect(), assets))
    }

    /// Checks what a direct-upload session declares: live, each type must be accepted and each
    /// size within the limit; the sandbox accepts anything.
    pub fn check_declared(&self, files: &[crate::DeclaredFile]) -> Result<(), (usize, Refused)> {
        let Intake::Live(live) = self else {
            return Ok(());
        };
        for (i, f) in files.iter().enumerate() {
            crate::probe::check_declared(&f.content_type).map_err(|r| (i, Refused::Media(r)))?;
            if f.size_bytes > live.max_bytes {
                return Err((
                    i,
                    Refused::Media(Rejection::TooLarge {
                        max_bytes: live.max_bytes,
                    }),
                ));
            }
        }
        Ok(())
    }

    /// Deletes what a refused live upload stored (nothing in the sandbox).
    pub async fn discard(&self, assets: &[NewAsset]) {
        if let Intake::Live(live) = self {
            for asset in assets {
                if let Location::Stored(key) = &asset.location {
                    let _ = live.storage.delete(key).await;
                }
            }
        }
    }

    /// Arranges, in the caller's transaction, for what a live direct-upload session stores to be
    /// deleted if it expires unfinalized: a durable `upload_expire` job at its expiry. The
    /// sandbox stores nothing and queues nothing.
    pub async fn expire_later(
        &self,
        db: &impl layers_db::GenericClient,
        session: &crate::UploadSession,
    ) -> Result<(), layers_jobs::Error> {
        if let Intake::Live(_) = self {
            let task = ExpireUpload {
                upload_id: session.id.to_string(),
            };
            let job = layers_jobs::NewJob {
                project_id: Some(session.project_id),
                ..layers_jobs::NewJob::new(
                    layers_jobs::JobId::new(),
                    session.organization_id,
                    session.env,
                    &task,
                )
            };
            layers_jobs::enqueue_at(db, &job, Some(session.expires_at)).await?;
        }
        Ok(())
    }

    /// The `upload_expire` job: deletes the stored files of a session that expired without
    /// being finalized (no connection is held while storage is called), then forgets them.
    pub async fn expire(
        &self,
        task: &ExpireUpload,
        control: &layers_jobs::Control,
    ) -> Result<serde_json::Value, layers_jobs::Failure> {
        use layers_jobs::Failure;
        let Intake::Live(live) = self else {
            return Ok(serde_json::json!({ "deleted": 0 }));
        };
        let id = crate::UploadId::parse(&task.upload_id)
            .map_err(|_| Failure::Permanent(format!("no upload {}", task.upload_id)))?;
        let db_failure =
            |e: &dyn std::fmt::Display| Failure::Transient(format!("the database failed: {e}"));
        let keys = {
            let db = control.pool().get().await.map_err(|e| db_failure(&e))?;
            crate::uploads::expired_files(&db, id)
                .await
                .map_err(|e| db_failure(&e))?
        };
        for key in &keys {
            live.storage
                .delete(key)
                .await
                .map_err(|e| Failure::Transient(format!("could not delete {key}: {e}")))?;
        }
        let db = control.pool().get().await.map_err(|e| db_failure(&e))?;
        crate::uploads::forget_files(&db, id)
            .await
            .map_err(|e| db_failure(&e))?;
        Ok(serde_json::json!({ "uploadId": id.to_string(), "deleted": keys.len() }))
    }

    /// The live intake, for a PUT: `None` in the sandbox, whose upload URLs are inert.
    pub fn live(&self) -> Option<&MediaIntake> {
        match self {
            Intake::Live(live) => Some(live),
            Intake::Sandbox => None,
        }
    }
}

/// The largest file a sandbox refusal `too_large` names (the default
/// `LAYERS_UPLOAD_MAX_BYTES`).
const SANDBOX_MAX_BYTES: u64 = 268_435_456;

/// The refusal a sandbox URL asks for by its last path segment, `sandbox-reject-<reason>.<ext>`
/// (`reason` one of `too_large`, `unsupported_type`, `unreadable`, `fetch_failed`), with its
/// index; `None` for any other URL. With a live key such a URL is fetched like any other.
fn sandbox_rejection((index, url): (usize, &String)) -> Option<(usize, Refused)> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit('/').next()?;
    let (reason, ext) = name.strip_prefix("sandbox-reject-")?.split_once('.')?;
    if ext.is_empty() {
        return None;
    }
    let refused = match reason {
        "too_large" => Refused::Media(Rejection::TooLarge {
            max_bytes: SANDBOX_MAX_BYTES,
        }),
        "unsupported_type" => {
            Refused::Media(Rejection::UnsupportedType(format!("{name} (sandbox)")))
        }
        "unreadable" => Refused::Media(Rejection::Unreadable(format!("{name} (sandbox)"))),
        "fetch_failed" => Refused::FetchFailed(format!("fetching {name} failed (sandbox)")),
        _ => return None,
    };
    Some((index, refused))
}
