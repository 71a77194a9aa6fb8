//! The sandbox fixture files (filled in by `cargo xtask fixtures`).
