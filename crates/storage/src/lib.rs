//! Live media storage (CONTRACT §3 `LAYERS_STORAGE_URL`, §11 "Uploads") and its signed URLs.
//!
//! ```
//! use bytes::Bytes;
//! use futures_util::{stream, TryStreamExt};
//! use layers_storage::{Error, SignatureError, Storage, UrlSigner};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("layers-storage-doc-{}", std::process::id()));
//! let storage = Storage::from_url(&format!("file://{}", dir.display()))?;
//!
//! // A body arrives as a stream of chunks; more than `max_bytes` of it is refused.
//! let body = stream::iter([Ok::<_, std::io::Error>(Bytes::from("hello ")), Ok(Bytes::from("world"))]);
//! assert_eq!(storage.put_stream("upl_1/0.jpg", body, 1024).await?, 11);
//! assert_eq!(storage.head("upl_1/0.jpg").await?, Some(11));
//!
//! let (chunks, size) = storage.get("upl_1/0.jpg").await?;
//! let bytes: Vec<Bytes> = chunks.try_collect().await?;
//! assert_eq!((bytes.concat(), size), (b"hello world".to_vec(), 11));
//!
//! let big = stream::iter([Ok::<_, std::io::Error>(Bytes::from(vec![0; 2048]))]);
//! assert!(matches!(storage.put_stream("upl_1/1.jpg", big, 1024).await, Err(Error::TooLarge { .. })));
//! assert_eq!(storage.head("upl_1/1.jpg").await?, None);
//! assert!(matches!(storage.head("../etc/passwd").await, Err(Error::InvalidKey(_))));
//!
//! // The gateway serves `GET /media/upl_1/0.jpg?exp=…&sig=…`.
//! let signer = UrlSigner::new(&[7; 32]);
//! let query = signer.sign("GET", "/media/upl_1/0.jpg", 1_700_003_600); // "exp=1700003600&sig=…"
//! let sig = query.split_once("&sig=").unwrap().1;
//! signer.verify("GET", "/media/upl_1/0.jpg", "1700003600", sig, 1_700_000_000)?;
//! assert_eq!(
//!     signer.verify("PUT", "/media/upl_1/0.jpg", "1700003600", sig, 1_700_000_000),
//!     Err(SignatureError::Invalid)
//! );
//! assert_eq!(
//!     signer.verify("GET", "/media/upl_1/0.jpg", "1700003600", sig, 1_700_003_600),
//!     Err(SignatureError::Expired)
//! );
//!
//! storage.delete("upl_1/0.jpg").await?;
//! assert_eq!(storage.head("upl_1/0.jpg").await?, None);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! - [`Storage::from_url`] reads `LAYERS_STORAGE_URL`: `file:///absolute/path` is a local
//!   directory (created if missing), `s3://bucket/prefix` a bucket configured from the usual AWS
//!   variables (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT` …),
//!   with `prefix/` in front of every key. Its `Debug` names the backend, never credentials.
//! - Keys are `[A-Za-z0-9._/-]`, at most [`MAX_KEY_LEN`] bytes, with no `..`, no leading or
//!   trailing `/` and no empty segment; any other key is [`Error::InvalidKey`] before any I/O.
//! - [`Storage::put_stream`] never holds the whole body: a body shorter than [`PART_SIZE`] is one
//!   plain `put`; a longer one is a multipart upload in parts of exactly [`PART_SIZE`] (the last
//!   one shorter), at most [`MAX_PARTS_IN_FLIGHT`] sent at once. The moment more than
//!   `max_bytes` have arrived it stops reading, aborts the upload and answers
//!   [`Error::TooLarge`]; a failing body or backend aborts it too. Either way nothing is stored
//!   under the key (a multipart object appears only when it completes). The parts are sent from
//!   Tokio tasks, so it runs inside a Tokio runtime (actix-web's is one).
//! - [`UrlSigner`] signs `METHOD \n path \n exp` with HMAC-SHA256 under a key derived from the
//!   master key (`LAYERS_MASTER_KEY`), so the master key itself never signs anything here; the
//!   signature is checked in constant time (ring).

mod sign;
mod store;

pub use bytes::Bytes;
pub use sign::{media_url, SignatureError, UrlSigner, SIGNING_LABEL};
pub use store::{ByteStream, ObjectInfo, Storage, MAX_KEY_LEN, MAX_PARTS_IN_FLIGHT, PART_SIZE};

/// What a failing body stream's error becomes ([`Error::Body`]).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `LAYERS_STORAGE_URL` is not a storage URL this crate opens. The message never quotes the
    /// URL (it could carry credentials).
    #[error("LAYERS_STORAGE_URL: {0}")]
    Config(String),
    /// The key breaks the key rules (quoted up to 64 characters).
    #[error("invalid storage key `{0}`: keys are [A-Za-z0-9._/-], without `..`, a leading or trailing `/` or an empty segment")]
    InvalidKey(String),
    /// More than `max_bytes` arrived; the upload was aborted and nothing is stored.
    #[error("the body is larger than {max_bytes} bytes")]
    TooLarge { max_bytes: u64 },
    /// No object under that key.
    #[error("no stored object under that key")]
    NotFound,
    /// The body stream failed; the upload was aborted and nothing is stored.
    #[error("reading the body failed")]
    Body(#[source] BoxError),
    /// The local filesystem or S3 failed.
    #[error("the storage backend failed")]
    Backend(#[source] object_store::Error),
}

/// This crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
