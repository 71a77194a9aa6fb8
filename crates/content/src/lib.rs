//! Content of the Layers Partner API (CONTRACT §8, §11 "Content" and "Uploads"): generated and
//! uploaded containers, and the sandbox fixture catalog with its files.

mod fixtures;

pub use fixtures::*;
