//! [`Storage`]: a local directory or an S3 bucket behind object_store, with checked keys.

use std::{fmt, path::PathBuf, sync::Arc};

use bytes::Bytes;
use futures_util::{stream::BoxStream, Stream, StreamExt, TryStreamExt};
use object_store::{
    aws::AmazonS3Builder, local::LocalFileSystem, path::Path, GetOptions, GetRange, ObjectStore,
    ObjectStoreExt, PutPayload, WriteMultipart,
};
use url::Url;

use crate::{BoxError, Error, Result};

/// Bytes of every part of a multipart upload but the last (S3 wants at least 5 MiB, and R2 parts
/// of one size).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one upload sent at once: with the part being filled, an upload holds at most
/// `(MAX_PARTS_IN_FLIGHT + 1) × PART_SIZE` bytes, whatever the body's size.
pub const MAX_PARTS_IN_FLIGHT: usize = 2;
/// Longest key, in bytes (S3 allows 1024 with the prefix).
pub const MAX_KEY_LEN: usize = 512;

/// What [`Storage::info`] knows of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    /// The store's entity tag (unquoted), the same while the object does not change.
    pub etag: String,
}

/// A stored object's bytes, as they are read.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// Where live media is stored (`LAYERS_STORAGE_URL`). Cheap to clone.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    backend: Backend,
}

/// What `Debug` prints: where, never how to get in.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Backend {
    Local { root: PathBuf },
    S3 { bucket: String, prefix: String },
}

/// A parsed `LAYERS_STORAGE_URL`.
#[derive(Debug, PartialEq, Eq)]
enum Location {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the object store's own `Debug`: S3's holds its configuration.
        match &self.backend {
            Backend::Local { root } => f.debug_struct("Storage").field("local", root).finish(),
            Backend::S3 { bucket, prefix } => f
                .debug_struct("Storage")
                .field("s3_bucket", bucket)
                .field("prefix", prefix)
                .finish(),
        }
    }
}

impl Storage {
    /// Opens `LAYERS_STORAGE_URL`: `file:///absolute/path` (the directory is created if missing)
    /// or `s3://bucket/prefix` (credentials, region and endpoint from the AWS variables; nothing
    /// is sent before the first request). Anything else is [`Error::Config`].
    pub fn from_url(url: &str) -> Result<Storage> {
        match parse_url(url)? {
            Location::Local(root) => {
                std::fs::create_dir_all(&root).map_err(|e| {
                    Error::Config(format!(
                        "cannot create the directory {}: {e}",
                        root.display()
                    ))
                })?;
                let store = LocalFileSystem::new_with_prefix(&root)
                    .map_err(|e| Error::Config(format!("cannot open {}: {e}", root.display())))?
                    .with_automatic_cleanup(true);
                Ok(Storage {
                    store: Arc::new(store),
                    backend: Backend::Local { root },
                })
            }
            Location::S3 { bucket, prefix } => s3(AmazonS3Builder::from_env(), bucket, prefix),
        }
    }

    /// Stores `body` under `key` and answers its size, never holding the whole body (see the
    /// crate docs). More than `max_bytes` is [`Error::TooLarge`] as soon as the excess arrives;
    /// then, as after a body or backend error, the upload is aborted and nothing is stored. An
    /// object already under `key` is replaced only when the new one is complete.
    pub async fn put_stream<S, E>(&self, key: &str, body: S, max_bytes: u64) -> Result<u64>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: Into<BoxError>,
    {
        let location = self.location(key)?;
        let mut body = std::pin::pin!(body);
        let mut size: u64 = 0;
        // The first chunks, until a whole part has arrived: a smaller body is one plain put.
        let mut first: Vec<Bytes> = Vec::new();
        let mut first_len = 0;
        let mut upload: Option<WriteMultipart> = None;

        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    let e: BoxError = e.into();
                    abandon(upload, key).await;
                    return Err(Error::Body(e));
                }
            };
            size += chunk.len() as u64;
            if size > max_bytes {
                abandon(upload, key).await;
                return Err(Error::TooLarge { max_bytes });
            }
            match upload.as_mut() {
                Some(writer) => {
                    if let Err(e) = writer.wait_for_capacity(MAX_PARTS_IN_FLIGHT).await {
                        abandon(upload, key).await;
                        return Err(backend(e));
                    }
                    writer.put(chunk);
                }
                None => {
                    first_len += chunk.len();
                    first.push(chunk);
                    if first_len >= PART_SIZE {
                        let parts = self.store.put_multipart(&location).await.map_err(backend)?;
                        let mut writer = WriteMultipart::new_with_chunk_size(parts, PART_SIZE);
                        for chunk in first.drain(..) {
                            writer.put(chunk);
                        }
                        upload = Some(writer);
                    }
                }
            }
        }

        match upload {
            None => {
                let payload: PutPayload = first.into_iter().collect();
                self.store.put(&location, payload).await.map_err(backend)?;
            }
            Some(mut writer) => {
                // `finish` aborts when completing fails, not when a part did: wait for them here.
                if let Err(e) = writer.wait_for_capacity(0).await {
                    abandon(Some(writer), key).await;
                    return Err(backend(e));
                }
                writer.finish().await.map_err(backend)?;
            }
        }
        Ok(size)
    }

    /// Stores a small object whole.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        let location = self.location(key)?;
        self.store
            .put(&location, bytes.into())
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// The object under `key`, as a stream of chunks, and its size; [`Error::NotFound`] if none.
    pub async fn get(&self, key: &str) -> Result<(ByteStream, u64)> {
        let location = self.location(key)?;
        let result = self.store.get(&location).await.map_err(backend)?;
        let size = result.meta.size;
        Ok((result.into_stream().map_err(backend).boxed(), size))
    }

    /// The size and entity tag of the object under `key`, or `None` if there is none: what a
    /// ranged or conditional read is answered from.
    pub async fn info(&self, key: &str) -> Result<Option<ObjectInfo>> {
        let location = self.location(key)?;
        match self.store.head(&location).await {
            Ok(meta) => Ok(Some(ObjectInfo {
                size: meta.size,
                // the store's own tag, else one from what changes with the object
                etag: meta.e_tag.unwrap_or_else(|| {
                    format!(
                        "{:x}-{:x}",
                        meta.size,
                        meta.last_modified.timestamp_nanos_opt().unwrap_or(0)
                    )
                }),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    /// The bytes `range` (end excluded, within the object) of the object under `key`, as a
    /// stream of chunks; [`Error::NotFound`] if none.
    pub async fn get_range(&self, key: &str, range: std::ops::Range<u64>) -> Result<ByteStream> {
        let location = self.location(key)?;
        let options = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&location, options)
            .await
            .map_err(backend)?;
        Ok(result.into_stream().map_err(backend).boxed())
    }

    /// The size of the object under `key`, or `None` if there is none.
    pub async fn head(&self, key: &str) -> Result<Option<u64>> {
        let location = self.location(key)?;
        match self.store.head(&location).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    /// Deletes the object under `key`; deleting what is not there succeeds.
    pub async fn delete(&self, key: &str) -> Result<()> {
        let location = self.location(key)?;
        match self.store.delete(&location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    /// The object store path of `key`: the key checked, behind the S3 prefix if any.
    fn location(&self, key: &str) -> Result<Path> {
        check_key(key)?;
        let path = match &self.backend {
            Backend::S3 { prefix, .. } if !prefix.is_empty() => format!("{prefix}/{key}"),
            _ => key.to_owned(),
        };
        Path::parse(path).map_err(|_| invalid_key(key))
    }

    #[cfg(test)]
    fn with_store(store: Arc<dyn ObjectStore>, backend: Backend) -> Storage {
        Storage { store, backend }
    }
}

fn s3(builder: AmazonS3Builder, bucket: String, prefix: String) -> Result<Storage> {
    let store = builder
        .with_bucket_name(&bucket)
        .build()
        .map_err(|e| Error::Config(format!("cannot configure S3: {e}")))?;
    Ok(Storage {
        store: Arc::new(store),
        backend: Backend::S3 { bucket, prefix },
    })
}

/// Aborts a multipart upload under way, if any. A failed abort is logged: the parts already sent
/// stay in the bucket until its lifecycle rule removes them.
async fn abandon(upload: Option<WriteMultipart>, key: &str) {
    if let Some(writer) = upload {
        if let Err(e) = writer.abort().await {
            tracing::warn!(key, error = %e, "could not abort a multipart upload");
        }
    }
}

fn backend(e: object_store::Error) -> Error {
    match e {
        object_store::Error::NotFound { .. } => Error::NotFound,
        e => Error::Backend(e),
    }
}

fn parse_url(url: &str) -> Result<Location> {
    let expected = "expected file:///absolute/path or s3://bucket/prefix";
    let parsed = Url::parse(url.trim())
        .map_err(|e| Error::Config(format!("not a URL ({e}); {expected}")))?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::Config(format!(
            "a storage URL has no query or fragment; {expected}"
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::Config(
            "credentials do not belong in the URL: S3 takes them from the AWS variables".into(),
        ));
    }
    match parsed.scheme() {
        "file" => {
            let relative = || {
                Error::Config(format!(
                    "a file URL names an absolute path, with three slashes; {expected}"
                ))
            };
            // The URL parser reads `file:relative` as `file:///relative`: look at what was written.
            let written = url.trim().to_ascii_lowercase();
            if !(written.starts_with("file:///") || written.starts_with("file://localhost/")) {
                return Err(relative());
            }
            match parsed.host_str() {
                None | Some("") | Some("localhost") => {}
                Some(_) => return Err(relative()),
            }
            let path = parsed.to_file_path().map_err(|()| relative())?;
            if !path.is_absolute() {
                return Err(relative());
            }
            Ok(Location::Local(path))
        }
        "s3" => {
            let bucket = parsed.host_str().unwrap_or_default();
            let bucket_ok = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                });
            if !bucket_ok {
                return Err(Error::Config(format!(
                    "an S3 bucket name is 3 to 63 of [a-z0-9.-]; {expected}"
                )));
            }
            let prefix = parsed.path().trim_matches('/');
            // The URL parser resolves `a/../b` to `b`: look at what was written too.
            if url.contains("..") || (!prefix.is_empty() && check_key(prefix).is_err()) {
                return Err(Error::Config(
                    "the S3 prefix must follow the key rules: [A-Za-z0-9._/-], no `..`, no empty segment".into(),
                ));
            }
            Ok(Location::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
            })
        }
        scheme => Err(Error::Config(format!(
            "unsupported scheme `{}`; {expected}",
            scheme.chars().take(16).collect::<String>()
        ))),
    }
}

/// The key rules of the crate docs.
fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-'))
        && !key.contains("..")
        && key
            .split('/')
            .all(|segment| !segment.is_empty() && segment != ".");
    if ok {
        Ok(())
    } else {
        Err(invalid_key(key))
    }
}

fn invalid_key(key: &str) -> Error {
    Error::InvalidKey(key.chars().take(64).collect())
}

#[cfg(test)]
mod tests {
    use std::{
        ops::Range,
        sync::{
            atomic::{AtomicU64, AtomicUsize, Ordering},
            Mutex,
        },
    };

    use futures_util::stream;
    use object_store::{
        CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
        PutMultipartOptions, PutOptions, PutResult, UploadPart,
    };

    use super::*;

    const MIB: usize = 1024 * 1024;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("layers-storage-{name}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            TempDir(dir)
        }

        fn url(&self) -> String {
            format!("file://{}", self.0.display())
        }

        /// Every file under the directory, staging files included.
        fn files(&self) -> Vec<PathBuf> {
            fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
                for entry in std::fs::read_dir(dir).unwrap() {
                    let path = entry.unwrap().path();
                    if path.is_dir() {
                        walk(&path, out);
                    } else {
                        out.push(path);
                    }
                }
            }
            let mut out = Vec::new();
            walk(&self.0, &mut out);
            out
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// `n` chunks of `chunk` bytes each, made only when polled (byte i of the body is `i % 251`);
    /// `produced` counts the chunks handed out.
    fn body(
        n: usize,
        chunk: usize,
        produced: Arc<AtomicUsize>,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
        stream::iter(0..n).map(move |i| {
            produced.fetch_add(1, Ordering::SeqCst);
            Ok(Bytes::from(
                (i * chunk..(i + 1) * chunk)
                    .map(|b| (b % 251) as u8)
                    .collect::<Vec<u8>>(),
            ))
        })
    }

    fn expected(len: usize) -> Vec<u8> {
        (0..len).map(|b| (b % 251) as u8).collect()
    }

    async fn read_all(storage: &Storage, key: &str) -> (Vec<u8>, u64) {
        let (chunks, size) = storage.get(key).await.unwrap();
        let chunks: Vec<Bytes> = chunks.try_collect().await.unwrap();
        (chunks.concat(), size)
    }

    #[tokio::test]
    async fn put_get_head_delete_round_trip() {
        let dir = TempDir::new("round-trip");
        assert!(!dir.0.exists());
        let storage = Storage::from_url(&dir.url()).unwrap();
        assert!(dir.0.is_dir(), "from_url creates the directory");

        assert_eq!(storage.head("a/b.jpg").await.unwrap(), None);
        assert!(matches!(storage.get("a/b.jpg").await, Err(Error::NotFound)));

        storage
            .put("a/b.jpg", Bytes::from_static(b"jpeg bytes"))
            .await
            .unwrap();
        assert_eq!(storage.head("a/b.jpg").await.unwrap(), Some(10));
        assert_eq!(
            read_all(&storage, "a/b.jpg").await,
            (b"jpeg bytes".to_vec(), 10)
        );
        assert_eq!(
            std::fs::read(dir.0.join("a/b.jpg")).unwrap(),
            b"jpeg bytes",
            "stored under the root, at the key's path"
        );

        // Replaced whole by a later put.
        storage
            .put("a/b.jpg", Bytes::from_static(b"png"))
            .await
            .unwrap();
        assert_eq!(read_all(&storage, "a/b.jpg").await, (b"png".to_vec(), 3));

        storage.delete("a/b.jpg").await.unwrap();
        assert_eq!(storage.head("a/b.jpg").await.unwrap(), None);
        storage.delete("a/b.jpg").await.unwrap();
        assert!(dir.files().is_empty());
    }

    #[tokio::test]
    async fn a_small_stream_and_an_empty_one_are_stored() {
        let dir = TempDir::new("small");
        let storage = Storage::from_url(&dir.url()).unwrap();
        let produced = Arc::new(AtomicUsize::new(0));
        let size = storage
            .put_stream("s.bin", body(10, 1000, produced), 10_000)
            .await
            .unwrap();
        assert_eq!(size, 10_000, "exactly max_bytes is allowed");
        assert_eq!(
            read_all(&storage, "s.bin").await,
            (expected(10_000), 10_000)
        );

        let empty = stream::empty::<Result<Bytes, std::io::Error>>();
        assert_eq!(storage.put_stream("e.bin", empty, 10).await.unwrap(), 0);
        assert_eq!(storage.head("e.bin").await.unwrap(), Some(0));
    }

    #[tokio::test]
    async fn a_30_mib_stream_is_uploaded_in_parts_without_holding_it() {
        let dir = TempDir::new("multipart");
        let (storage, counting) = counted(&dir);

        let produced = Arc::new(AtomicUsize::new(0));
        counting.watch(produced.clone());
        let size = storage
            .put_stream("v/big.mp4", body(30, MIB, produced), 256 * MIB as u64)
            .await
            .unwrap();

        assert_eq!(size, 30 * MIB as u64);
        assert_eq!(
            counting.part_sizes(),
            [PART_SIZE, PART_SIZE, PART_SIZE, 6 * MIB],
            "8 MiB parts, the last one shorter"
        );
        // When the first part left, only its 8 chunks had been read from the body.
        assert_eq!(counting.produced_at_first_part(), PART_SIZE / MIB);
        assert!(counting.max_in_flight() <= MAX_PARTS_IN_FLIGHT);
        assert_eq!(counting.completed(), 1);

        let (bytes, size) = read_all(&storage, "v/big.mp4").await;
        assert_eq!(size, 30 * MIB as u64);
        assert!(bytes == expected(30 * MIB), "the stored bytes differ");
        assert_eq!(
            dir.files(),
            [dir.0.join("v/big.mp4")],
            "no staging file left"
        );
    }

    #[tokio::test]
    async fn too_large_aborts_and_leaves_nothing() {
        let dir = TempDir::new("too-large");
        let (storage, counting) = counted(&dir);

        // Past one part: a multipart upload had begun.
        let produced = Arc::new(AtomicUsize::new(0));
        let max = 20 * MIB as u64;
        let result = storage
            .put_stream("big.mp4", body(30, MIB, produced.clone()), max)
            .await;
        assert!(
            matches!(result, Err(Error::TooLarge { max_bytes }) if max_bytes == max),
            "{result:?}"
        );
        assert_eq!(
            produced.load(Ordering::SeqCst),
            21,
            "stops reading at the first byte too many"
        );
        assert!(!counting.part_sizes().is_empty());
        assert_eq!((counting.aborted(), counting.completed()), (1, 0));
        assert_eq!(storage.head("big.mp4").await.unwrap(), None);
        assert!(dir.files().is_empty(), "left: {:?}", dir.files());

        // Within the first part: nothing had been sent.
        let produced = Arc::new(AtomicUsize::new(0));
        let result = storage
            .put_stream("small.jpg", body(10, 100, produced.clone()), 250)
            .await;
        assert!(matches!(result, Err(Error::TooLarge { max_bytes: 250 })));
        assert_eq!(produced.load(Ordering::SeqCst), 3);
        assert_eq!(storage.head("small.jpg").await.unwrap(), None);

        // An earlier object under the key survives a refused replacement.
        storage
            .put("keep.jpg", Bytes::from_static(b"old"))
            .await
            .unwrap();
        let result = storage
            .put_stream("keep.jpg", body(30, MIB, Arc::default()), max)
            .await;
        assert!(matches!(result, Err(Error::TooLarge { .. })));
        assert_eq!(read_all(&storage, "keep.jpg").await, (b"old".to_vec(), 3));
        assert_eq!(dir.files(), [dir.0.join("keep.jpg")]);
    }

    #[tokio::test]
    async fn a_failing_body_aborts_and_leaves_nothing() {
        let dir = TempDir::new("body-error");
        let (storage, counting) = counted(&dir);
        let chunks = (0..20).map(|i| {
            if i == 12 {
                Err(std::io::Error::other("connection reset"))
            } else {
                Ok(Bytes::from(vec![1u8; MIB]))
            }
        });
        let result = storage
            .put_stream("x.mp4", stream::iter(chunks), u64::MAX)
            .await;
        match result {
            Err(Error::Body(e)) => assert_eq!(e.to_string(), "connection reset"),
            other => panic!("{other:?}"),
        }
        assert_eq!((counting.aborted(), counting.completed()), (1, 0));
        assert_eq!(storage.head("x.mp4").await.unwrap(), None);
        assert!(dir.files().is_empty(), "left: {:?}", dir.files());
    }

    #[test]
    fn put_stream_is_send_for_a_send_body() {
        fn assert_send<T: Send>(_: T) {}
        let storage = Storage::with_store(
            Arc::new(object_store::memory::InMemory::new()),
            Backend::Local { root: "/".into() },
        );
        assert_send(storage.put_stream("k", body(1, 1, Arc::default()), 1));
    }

    #[tokio::test]
    async fn invalid_keys_are_refused_before_any_io() {
        let dir = TempDir::new("keys");
        let storage = Storage::from_url(&dir.url()).unwrap();
        let long = "a".repeat(MAX_KEY_LEN + 1);
        for key in [
            "",
            "/abs.jpg",
            "a/../b.jpg",
            "..",
            "a..b",
            "a//b",
            "a/",
            "./a",
            "a/./b",
            "a b",
            "a\\b",
            "a%2e",
            "é.jpg",
            "a\nb",
            "a#1",
            &long,
        ] {
            assert!(
                matches!(storage.head(key).await, Err(Error::InvalidKey(_))),
                "{key:?}"
            );
            assert!(matches!(
                storage.put(key, Bytes::new()).await,
                Err(Error::InvalidKey(_))
            ));
            assert!(matches!(
                storage
                    .put_stream(key, body(1, 1, Arc::default()), 10)
                    .await,
                Err(Error::InvalidKey(_))
            ));
            assert!(matches!(storage.get(key).await, Err(Error::InvalidKey(_))));
            assert!(matches!(
                storage.delete(key).await,
                Err(Error::InvalidKey(_))
            ));
        }
        assert!(dir.files().is_empty());

        for key in [
            "a",
            "upl_01J/0.jpg",
            "A-Z_0.9/x.y.z",
            ".hidden",
            &"a".repeat(MAX_KEY_LEN),
        ] {
            assert_eq!(check_key(key).map_err(|e| e.to_string()), Ok(()), "{key}");
        }
        match check_key(&"é".repeat(100)) {
            Err(Error::InvalidKey(quoted)) => assert_eq!(quoted.chars().count(), 64),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn storage_urls_are_parsed() {
        assert_eq!(
            parse_url("file:///var/lib/layers/media").unwrap(),
            Location::Local("/var/lib/layers/media".into())
        );
        assert_eq!(
            parse_url("file:///srv/my%20media/").unwrap(),
            Location::Local("/srv/my media/".into())
        );
        assert_eq!(
            parse_url("file://localhost/srv/media").unwrap(),
            Location::Local("/srv/media".into())
        );
        assert_eq!(
            parse_url("s3://layers-media/live/uploads/").unwrap(),
            Location::S3 {
                bucket: "layers-media".into(),
                prefix: "live/uploads".into()
            }
        );
        assert_eq!(
            parse_url("s3://layers-media").unwrap(),
            Location::S3 {
                bucket: "layers-media".into(),
                prefix: String::new()
            }
        );
        for (url, says) in [
            ("http://example.com/media", "unsupported scheme `http`"),
            (
                "https://bucket.s3.amazonaws.com/",
                "unsupported scheme `https`",
            ),
            ("file://relative/media", "absolute path"),
            ("file:relative", "absolute path"),
            ("file:/relative", "absolute path"),
            ("file://host/media", "absolute path"),
            ("/var/lib/media", "not a URL"),
            (".dev/media", "not a URL"),
            ("", "not a URL"),
            ("s3://", "bucket name"),
            ("s3://UPPER/x", "bucket name"),
            ("s3://b/x", "bucket name"),
            ("s3://bucket/a/../b", "prefix"),
            ("s3://bucket/a b", "prefix"),
            ("s3://bucket/a%20b", "prefix"),
            ("s3://bucket/a//b", "prefix"),
            ("s3://bucket/x?region=eu", "no query"),
            ("s3://AKIA:s3cr3t@bucket/x", "credentials"),
        ] {
            // `parse_url`, not `from_url`: a test that fails must not create directories.
            let error = parse_url(url).unwrap_err();
            let message = error.to_string();
            assert!(matches!(error, Error::Config(_)), "{url}: {error:?}");
            assert!(message.starts_with("LAYERS_STORAGE_URL: "), "{message}");
            assert!(message.contains(says), "{url}: {message}");
            assert!(!message.contains("s3cr3t"), "{message}");
        }
        // And through `from_url` itself (neither can create a directory).
        for url in ["http://example.com/media", "file://relative/media"] {
            let error = Storage::from_url(url).unwrap_err();
            assert!(matches!(error, Error::Config(_)), "{url}: {error:?}");
        }
    }

    #[tokio::test]
    async fn s3_keys_go_under_the_prefix() {
        // Building the client sends nothing; `location` is where every call goes.
        let storage = Storage::from_url("s3://layers-media/live/uploads").unwrap();
        assert_eq!(
            storage.backend,
            Backend::S3 {
                bucket: "layers-media".into(),
                prefix: "live/uploads".into()
            }
        );
        assert_eq!(
            storage.location("upl_1/0.jpg").unwrap().as_ref(),
            "live/uploads/upl_1/0.jpg"
        );
        let bare = Storage::from_url("s3://layers-media/").unwrap();
        assert_eq!(
            bare.location("upl_1/0.jpg").unwrap().as_ref(),
            "upl_1/0.jpg"
        );
        assert!(matches!(
            storage.location("../x"),
            Err(Error::InvalidKey(_))
        ));
    }

    #[test]
    fn debug_prints_no_credentials() {
        let builder = AmazonS3Builder::new()
            .with_region("eu-west-1")
            .with_access_key_id("AKIAEXAMPLEKEYID")
            .with_secret_access_key("wJalrXUtnFEMI-s3cr3t")
            .with_token("session-t0ken");
        // The builder's own Debug shows the secret: Storage must not delegate to it.
        assert!(format!("{builder:?}").contains("wJalrXUtnFEMI-s3cr3t"));
        let storage = s3(builder, "layers-media".into(), "live".into()).unwrap();
        let debug = format!("{storage:?}");
        assert_eq!(
            debug,
            r#"Storage { s3_bucket: "layers-media", prefix: "live" }"#
        );
        for secret in ["AKIAEXAMPLEKEYID", "s3cr3t", "t0ken"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }

    /// A storage on `dir` whose object store is counted.
    fn counted(dir: &TempDir) -> (Storage, Arc<Counting>) {
        std::fs::create_dir_all(&dir.0).unwrap();
        let local = LocalFileSystem::new_with_prefix(&dir.0).unwrap();
        let counting = Arc::new(Counting::new(Arc::new(local)));
        let backend = Backend::Local {
            root: dir.0.clone(),
        };
        (Storage::with_store(counting.clone(), backend), counting)
    }

    /// An object store that counts what goes through it: parts (and their sizes), parts in
    /// flight, completions and aborts, and how many body chunks had been read when the first
    /// part was sent.
    #[derive(Debug)]
    struct Counting {
        inner: Arc<dyn ObjectStore>,
        stats: Arc<Stats>,
    }

    #[derive(Debug, Default)]
    struct Stats {
        part_sizes: Mutex<Vec<usize>>,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
        completed: AtomicUsize,
        aborted: AtomicUsize,
        produced: Mutex<Option<Arc<AtomicUsize>>>,
        produced_at_first_part: AtomicU64,
    }

    impl Counting {
        fn new(inner: Arc<dyn ObjectStore>) -> Counting {
            Counting {
                inner,
                stats: Arc::default(),
            }
        }

        fn watch(&self, produced: Arc<AtomicUsize>) {
            *self.stats.produced.lock().unwrap() = Some(produced);
        }

        fn part_sizes(&self) -> Vec<usize> {
            self.stats.part_sizes.lock().unwrap().clone()
        }

        fn max_in_flight(&self) -> usize {
            self.stats.max_in_flight.load(Ordering::SeqCst)
        }

        fn completed(&self) -> usize {
            self.stats.completed.load(Ordering::SeqCst)
        }

        fn aborted(&self) -> usize {
            self.stats.aborted.load(Ordering::SeqCst)
        }

        fn produced_at_first_part(&self) -> usize {
            self.stats.produced_at_first_part.load(Ordering::SeqCst) as usize
        }
    }

    impl fmt::Display for Counting {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "Counting({})", self.inner)
        }
    }

    #[derive(Debug)]
    struct CountingUpload {
        inner: Box<dyn MultipartUpload>,
        stats: Arc<Stats>,
    }

    #[async_trait::async_trait]
    impl MultipartUpload for CountingUpload {
        fn put_part(&mut self, data: PutPayload) -> UploadPart {
            let stats = self.stats.clone();
            let mut sizes = stats.part_sizes.lock().unwrap();
            if sizes.is_empty() {
                if let Some(produced) = &*stats.produced.lock().unwrap() {
                    let n = produced.load(Ordering::SeqCst) as u64;
                    stats.produced_at_first_part.store(n, Ordering::SeqCst);
                }
            }
            sizes.push(data.content_length());
            drop(sizes);
            let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            stats.max_in_flight.fetch_max(now, Ordering::SeqCst);
            let part = self.inner.put_part(data);
            Box::pin(async move {
                let result = part.await;
                stats.in_flight.fetch_sub(1, Ordering::SeqCst);
                result
            })
        }

        async fn complete(&mut self) -> object_store::Result<PutResult> {
            self.stats.completed.fetch_add(1, Ordering::SeqCst);
            self.inner.complete().await
        }

        async fn abort(&mut self) -> object_store::Result<()> {
            self.stats.aborted.fetch_add(1, Ordering::SeqCst);
            self.inner.abort().await
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for Counting {
        async fn put_opts(
            &self,
            location: &Path,
            payload: PutPayload,
            opts: PutOptions,
        ) -> object_store::Result<PutResult> {
            self.inner.put_opts(location, payload, opts).await
        }

        async fn put_multipart_opts(
            &self,
            location: &Path,
            opts: PutMultipartOptions,
        ) -> object_store::Result<Box<dyn MultipartUpload>> {
            let inner = self.inner.put_multipart_opts(location, opts).await?;
            Ok(Box::new(CountingUpload {
                inner,
                stats: self.stats.clone(),
            }))
        }

        async fn get_opts(
            &self,
            location: &Path,
            options: GetOptions,
        ) -> object_store::Result<GetResult> {
            self.inner.get_opts(location, options).await
        }

        async fn get_ranges(
            &self,
            location: &Path,
            ranges: &[Range<u64>],
        ) -> object_store::Result<Vec<Bytes>> {
            self.inner.get_ranges(location, ranges).await
        }

        fn delete_stream(
            &self,
            locations: BoxStream<'static, object_store::Result<Path>>,
        ) -> BoxStream<'static, object_store::Result<Path>> {
            self.inner.delete_stream(locations)
        }

        fn list(
            &self,
            prefix: Option<&Path>,
        ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
            self.inner.list(prefix)
        }

        async fn list_with_delimiter(
            &self,
            prefix: Option<&Path>,
        ) -> object_store::Result<ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }

        async fn copy_opts(
            &self,
            from: &Path,
            to: &Path,
            options: CopyOptions,
        ) -> object_store::Result<()> {
            self.inner.copy_opts(from, to, options).await
        }
    }
}
