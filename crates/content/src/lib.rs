//! Content of the Layers Partner API (CONTRACT §8, §11 "Content" and "Uploads"): generated and
//! uploaded containers, and the sandbox fixture catalog with its files.

#[cfg(feature = "store")]
mod command;
mod fixtures;
#[cfg(feature = "store")]
mod generate;
#[cfg(feature = "store")]
mod ingest_media;
mod model;
mod probe;
#[cfg(feature = "store")]
mod reset_store;
#[cfg(feature = "store")]
mod store;
#[cfg(feature = "store")]
pub use reset_store::{delete_sandbox, DeletedContent};
#[cfg(feature = "store")]
mod uploads;
#[cfg(feature = "store")]
mod uploads_store;

#[cfg(feature = "store")]
pub use command::{
    ContentEnv, RecordUpload, Regenerate, StartGeneration, StartSession, Started, UploadTo,
};
pub use fixtures::*;
#[cfg(feature = "store")]
pub use generate::{
    Generate, Generation, GeneratorConfig, LiveGeneration, Made, NotConfigured, GENERATE, KINDS,
    REGENERATE,
};
#[cfg(feature = "store")]
pub use ingest_media::{ExpireUpload, Intake, MediaIntake, Refused};
pub use model::{
    preview, Asset, AssetId, Container, ContainerFormat, ContainerId, Location, Preview, Source,
    Status,
};
pub use probe::{check_declared, probe, MediaKind, Probe, Rejection, ACCEPTED, HEAD_BYTES};
#[cfg(feature = "store")]
pub use store::{
    complete, container_without_assets, containers_of_job, fail, mark_generating, Content, Error,
    NewAsset, NewGeneration, Result,
};
#[cfg(feature = "store")]
pub use uploads::{
    sandbox_kind, upload_format, DeclaredFile, UploadId, UploadSession, EXPIRE_UPLOAD,
};
#[cfg(feature = "store")]
pub use uploads_store::{record_file, upload_session};
