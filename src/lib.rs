//! ccwal: the persistence path of ClusterCockpit's metricstore — write-ahead
//! log, binary snapshots and restore — byte-compatible with the Go original.
//!
//! Rooms, from the bottom up:
//! - [`names`]: validation of cluster, host, metric and selector names;
//! - [`codec`]: the WAL, binary and JSON snapshot formats, pure (no I/O);
//! - [`layout`]: the directory layout's names and the snapshot selection
//!   rule (no I/O);
//! - [`storage`]: the one owner of the files below a root: listing, and
//!   every durable create, rename, replace and delete;
//! - [`engine`]: the WAL engine (background writer threads);
//! - [`checkpoint`]: writing snapshots and checkpoint sessions;
//! - [`restore`]: loading snapshots and replaying the WAL at start-up;
//! - [`archive`]: old snapshots to Parquet, as cc-backend's archive cleanup;
//! - [`ffi`]: the C ABI, a thin layer over all of the above.

/// cbindgen:ignore
pub mod archive;
/// cbindgen:ignore
pub mod checkpoint;
/// cbindgen:ignore
pub mod codec;
/// cbindgen:ignore
pub mod engine;
/// cbindgen:ignore
pub mod error;
pub mod ffi;
/// cbindgen:ignore
pub mod layout;
/// cbindgen:ignore
pub mod names;
mod parallel;
/// cbindgen:ignore
pub mod restore;
/// cbindgen:ignore
pub mod storage;

pub use error::{Error, ErrorKind, Result};
