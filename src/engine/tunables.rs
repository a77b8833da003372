//! Every fixed number the engine works by, defined once: the code uses
//! these constants and the documentation links to them.

use std::time::Duration;

/// Bytes of encoded records each shard may queue, unless
/// [`StoreOptions::queue_capacity`](super::StoreOptions::queue_capacity)
/// says otherwise.
pub const DEFAULT_QUEUE_CAPACITY: usize = 8 << 20;

/// Unless durability is `Always`, a host's records are written once it has
/// this many bytes waiting…
pub const COALESCE_BYTES: usize = 16 << 10;

/// …or once the oldest has waited this long.
pub const COALESCE_DELAY: Duration = Duration::from_millis(20);

/// A sync of at least this many files is one syncfs of the root's file
/// system instead of one fdatasync each: the device flushes its cache once,
/// not once per file, and evicted files need not be reopened.
pub const SYNCFS_MIN_FILES: usize = 16;

/// Bytes written but not yet fdatasynced that make a shard's writer sync
/// even when durability is `None`: the copy it keeps of them for a failed
/// fdatasync stays bounded.
pub const UNSYNCED_LIMIT: usize = 64 << 20;

/// The most a shard keeps in its pool of emptied host buffers.
pub const BUFFER_POOL_BYTES: usize = 8 << 20;

/// How long a writer waits before it retries hosts whose writes failed;
/// doubled after each failed retry up to [`RETRY_MAX`]. `flush`, `sync` and
/// close retry at once.
pub const RETRY_MIN: Duration = Duration::from_millis(10);

/// The longest wait between retries of failed writes.
pub const RETRY_MAX: Duration = Duration::from_secs(1);

/// How long a writer that woke up to little data waits for more, so that
/// it writes in larger rounds (fewer syscalls). `flush`, `sync`, controls
/// and close never wait for it.
pub const LINGER: Duration = Duration::from_millis(1);

/// How much of the end of an existing WAL (larger than twice this) is read
/// for the torn-tail check when a process first opens it, instead of all.
pub const TAIL_CHECK_BYTES: u64 = 1 << 20;
