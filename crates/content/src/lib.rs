//! Content of the Layers Partner API (CONTRACT §8, §11 "Content" and "Uploads"): generated and
//! uploaded containers, and the sandbox fixture catalog with its files.

mod fixtures;
#[cfg(feature = "store")]
mod generate;
mod model;
#[cfg(feature = "store")]
mod store;

pub use fixtures::*;
#[cfg(feature = "store")]
pub use generate::{
    payload, Generation, GeneratorConfig, LiveGeneration, NotConfigured, GENERATE, KINDS,
    REGENERATE,
};
pub use model::{
    preview, Asset, AssetId, Container, ContainerFormat, ContainerId, Location, Preview, Source,
    Status,
};
#[cfg(feature = "store")]
pub use store::{
    complete, containers_of_job, fail, mark_generating, Content, Error, NewAsset, NewGeneration,
    Result,
};
