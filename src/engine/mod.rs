//! The WAL engine: samples are validated and encoded as WAL records in the
//! caller's thread, queued for their host's shard, and written by one
//! background thread per shard. The caller never does file I/O.
//!
//! - **Sharding.** A host belongs to one shard, by a hash of its cluster
//!   and host names, so each host's records stay in order and each file
//!   has one writer.
//! - **Bounded memory.** Each shard queues at most `queue_capacity` bytes of
//!   encoded records while its writer holds the previous queue, so the
//!   engine buffers at most `2 × queue_capacity × shards` bytes, plus the
//!   copies of unsynced bytes (at most [`UNSYNCED_LIMIT`] per shard, see
//!   below), a pool of emptied buffers (at most [`BUFFER_POOL_BYTES`] per
//!   shard) and about 1 KB per host it has seen (0.9–1.1 KB measured at
//!   100,000 hosts after a sync). When a queue is full, `Backpressure`
//!   decides: wait (optionally with a timeout) or refuse with `QueueFull`.
//!   Every refused sample is reported to the caller and counted; none is
//!   dropped silently.
//! - **Few syscalls.** A writer takes its whole queue at once and appends
//!   each host's records with one vectored write. Unless durability is
//!   `Always`, a host's records also wait across rounds until it has
//!   [`COALESCE_BYTES`] of them (for at most [`COALESCE_DELAY`], and never
//!   past a `flush`, `sync`, control or close, which write everything
//!   first), so one write carries kilobytes rather than the few records a
//!   round holds per host. Waiting records count against the queue
//!   capacity like queued ones.
//! - **Durability.** `None`: handed to the OS every round. `Interval(d)`:
//!   plus fdatasync of written files every `d`. `Always`: fdatasync before
//!   the next round. `flush()` and `sync()` wait for everything appended
//!   before them, by any thread; `sync` is a group commit: per round,
//!   however many callers wait, one fdatasync per written file, or one
//!   syncfs of the root's file system when [`SYNCFS_MIN_FILES`] or more
//!   files wait (the device flushes its cache once; Linux ≥ 5.8 reports
//!   writeback errors to syncfs, and a failed one makes every waiting file
//!   be rewritten).
//! - **Files.** `ROOT/CLUSTER/HOST/current.wal`, created with the file magic;
//!   new files' and directories' entries are fsynced with the records (so
//!   at every sync, and never under `None` until `sync()`). At most
//!   `max_open_files` descriptors are open (least recently used are closed
//!   and reopened on demand). The first time a process opens an existing
//!   file, a torn tail is cut off, and a file with a bad header is moved
//!   aside (`current.wal.corrupt-N`, which the Go restore ignores), so new
//!   records are never appended after garbage.
//! - **Errors: no accepted record is dropped.** A failed `write` or `open`
//!   (ENOSPC, EIO, EMFILE, …) cuts the file back to its last whole record
//!   and keeps the host's records in memory, in order, retried after
//!   [`RETRY_MIN`] (doubling up to [`RETRY_MAX`]) and at once by `flush`,
//!   `sync` and `close`. The kept bytes count against the queue capacity,
//!   so a disk that stays full pushes back on appenders: `QueueFull`
//!   (Reject), `Timeout` (Block with a timeout), or at once `Io` naming the
//!   failure (Block without a timeout: waiting for a failing disk could
//!   last forever). A failed `fdatasync` is never retried as if the data
//!   were safe: each host's bytes written since its last good fdatasync are
//!   kept (at most [`UNSYNCED_LIMIT`] per shard: past that the writer
//!   syncs, whatever the durability), and after a failure the file is cut
//!   back and they are written again. `flush` and `sync` answer after the
//!   first writer round that starts after the call: `Ok` only when all
//!   records appended before the call are written (synced), otherwise the
//!   `Io` error with the OS code and the host — within a round, never
//!   hanging. Once the fault clears, the retries succeed and so do later
//!   calls. Errors are counted by kind and reported to the event hook;
//!   other hosts go on.
//!
//! The rooms: this module is the [`Store`](crate::engine::Store) API
//! (validation, routing to shards); `shard` the queues and the writer
//! loop; `batch` the batch layout; `files` a shard's WAL files
//! (descriptors, repair at first open, backlog, sync and rewrite); `stats`
//! the counters and events; [`tunables`](crate::engine::tunables) every
//! fixed number above.
//!
//! [`BUFFER_POOL_BYTES`]: crate::engine::tunables::BUFFER_POOL_BYTES
//! [`COALESCE_BYTES`]: crate::engine::tunables::COALESCE_BYTES
//! [`COALESCE_DELAY`]: crate::engine::tunables::COALESCE_DELAY
//! [`RETRY_MAX`]: crate::engine::tunables::RETRY_MAX
//! [`RETRY_MIN`]: crate::engine::tunables::RETRY_MIN
//! [`SYNCFS_MIN_FILES`]: crate::engine::tunables::SYNCFS_MIN_FILES
//! [`UNSYNCED_LIMIT`]: crate::engine::tunables::UNSYNCED_LIMIT

mod batch;
mod files;
mod shard;
mod stats;
pub mod tunables;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

pub use batch::{Batch, ENTRY_HEADER_LEN};
#[cfg(feature = "test-hooks")]
pub use files::{FaultInjector, WriteFault};
pub use stats::{ErrorCount, Event, EventHook, EventLevel, Stats};

use crate::codec::wal;
use crate::error::{Error, ErrorKind};
use crate::names::{self, NameField};
use batch::HostNames;
use files::{FileSettings, HostFiles};
use shard::{Control, Room, Shard, Wait};
use stats::Counters;
use tunables::DEFAULT_QUEUE_CAPACITY;

/// When written records are forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Handed to the OS every round; on disk when the OS decides (or at
    /// `sync()`).
    None,
    /// Also fdatasync'ed every interval.
    Interval(Duration),
    /// Every round is fdatasync'ed before the next one is taken.
    Always,
}

/// What `append` does when its shard's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backpressure {
    /// Wait for room; with a timeout, give up with `ErrorKind::Timeout`.
    Block {
        /// How long to wait at most; `None`: without limit.
        timeout: Option<Duration>,
    },
    /// Refuse at once with `ErrorKind::QueueFull`.
    Reject,
}

/// How to open a [`Store`]. `StoreOptions::new(root)` gives the defaults.
#[derive(Clone)]
pub struct StoreOptions {
    /// The checkpoint root: files go to `ROOT/CLUSTER/HOST/current.wal`.
    pub root: PathBuf,
    /// Writer threads; 0 means one per available core.
    pub shards: usize,
    /// Bytes of encoded records each shard may queue (default
    /// [`DEFAULT_QUEUE_CAPACITY`]).
    pub queue_capacity: usize,
    /// When written records are forced to disk (default `None`).
    pub durability: Durability,
    /// How often an idle writer wakes up (for `Interval` durability).
    pub flush_interval: Duration,
    /// Open WAL descriptors across all shards (default: half the soft
    /// RLIMIT_NOFILE, between 64 and 16384, and never above the limit
    /// `open` accepts: the soft RLIMIT_NOFILE less a quarter of it, at
    /// least 16 and at most 256, left to the application).
    pub max_open_files: usize,
    /// A host's file is deleted and restarted, as in Go, once it reaches
    /// this size; 0 means no limit.
    pub max_wal_bytes: u64,
    /// What an append does when its shard's queue is full.
    pub backpressure: Backpressure,
    /// Receives events from the writer threads (see [`EventHook`]).
    pub event_hook: Option<Arc<EventHook>>,
    /// For tests of the error paths (feature `test-hooks`, not part of the
    /// API otherwise): makes chosen appends fail.
    #[cfg(feature = "test-hooks")]
    pub fault_injector: Option<Arc<FaultInjector>>,
}

impl StoreOptions {
    /// The defaults for a store below `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        StoreOptions {
            root: root.into(),
            shards: 0,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            durability: Durability::None,
            flush_interval: Duration::from_secs(1),
            max_open_files: default_open_file_budget(),
            max_wal_bytes: 0,
            backpressure: Backpressure::Block { timeout: None },
            event_hook: None,
            #[cfg(feature = "test-hooks")]
            fault_injector: None,
        }
    }
}

fn descriptor_limit() -> u64 {
    // Miri has no getrlimit; the usual soft limit lets the options code
    // run there.
    if cfg!(miri) {
        return 1024;
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur
    } else {
        1024
    }
}

/// The most WAL descriptors the process's soft RLIMIT_NOFILE allows, with
/// headroom for the application and ccwal's other files.
fn open_file_ceiling() -> usize {
    let soft = descriptor_limit();
    let headroom = (soft / 4).clamp(16, 256);
    soft.saturating_sub(headroom).min(usize::MAX as u64) as usize
}

/// Half the process's descriptor limit, leaving the rest to the host
/// application.
fn default_open_file_budget() -> usize {
    ((descriptor_limit() / 2).clamp(64, 16_384) as usize).min(open_file_ceiling().max(1))
}

/// One host's answer to [`Store::seal`]: every sealed segment it has, or
/// why its WAL could not be made durable and sealed.
pub type SealOutcome = Result<Vec<PathBuf>, Error>;

/// The WAL engine. `Send + Sync`: share it (e.g. in an `Arc`) and append
/// from any number of threads. Dropping it closes it.
pub struct Store {
    root: PathBuf,
    shards: Vec<Arc<Shard>>,
    writers: Mutex<Vec<JoinHandle<()>>>,
}

/// The shard of a host: a multiplicative hash of its names taken eight
/// bytes at a time (a single append hashes them every time, and a
/// byte-at-a-time hash showed up at 10% of its profile), reduced with the
/// hash's high bits.
fn shard_of(cluster: &[u8], host: &[u8], shards: usize) -> usize {
    if shards == 1 {
        return 0;
    }
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mix = |hash: u64, word: u64| (hash.rotate_left(23) ^ word).wrapping_mul(K);
    let mut hash = ((cluster.len() as u64) << 32) | host.len() as u64;
    for name in [cluster, host] {
        let mut words = name.chunks_exact(8);
        for word in &mut words {
            hash = mix(hash, u64::from_le_bytes(word.try_into().expect("8 bytes")));
        }
        let mut tail = [0u8; 8];
        tail[..words.remainder().len()].copy_from_slice(words.remainder());
        hash = mix(hash, u64::from_le_bytes(tail));
    }
    (((hash >> 32) * shards as u64) >> 32) as usize
}

/// Bytes a record takes in a queue, with its share of the host key.
fn queued_len(cluster: &[u8], host: &[u8], record_len: usize) -> usize {
    cluster.len() + 1 + host.len() + record_len
}

impl Store {
    /// Starts the writer threads. Fails on invalid options or when a thread
    /// cannot be started; touches no file until the first append.
    pub fn open(options: StoreOptions) -> Result<Store, Error> {
        let shards = match options.shards {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        if options.queue_capacity == 0 || options.max_open_files == 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "queue_capacity and max_open_files must be > 0",
            ));
        }
        let ceiling = open_file_ceiling();
        if options.max_open_files > ceiling {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "max_open_files {} is above what RLIMIT_NOFILE {} allows ({ceiling}, \
                     keeping headroom for the application)",
                    options.max_open_files,
                    descriptor_limit()
                ),
            ));
        }
        if options.flush_interval.is_zero()
            || options.durability == Durability::Interval(Duration::ZERO)
        {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "flush and sync intervals must be > 0",
            ));
        }
        let settings = Arc::new(FileSettings {
            root: options.root.clone(),
            open_file_budget: options.max_open_files.div_ceil(shards),
            max_wal_bytes: options.max_wal_bytes,
            sync_on_close: options.durability != Durability::None,
            coalesce: options.durability != Durability::Always,
            event_hook: options.event_hook.clone(),
            #[cfg(feature = "test-hooks")]
            fault_injector: options.fault_injector.clone(),
            #[cfg(not(feature = "test-hooks"))]
            fault_injector: None,
        });
        let mut store = Store {
            root: options.root.clone(),
            shards: Vec::with_capacity(shards),
            writers: Mutex::new(Vec::new()),
        };
        for index in 0..shards {
            let counters = Arc::new(Counters::default());
            let shard = Arc::new(Shard::new(
                options.queue_capacity,
                options.backpressure,
                counters.clone(),
            ));
            let files = HostFiles::new(settings.clone(), counters);
            let writer_shard = shard.clone();
            let (durability, interval) = (options.durability, options.flush_interval);
            let handle = std::thread::Builder::new()
                .name(format!("ccwal-writer-{index}"))
                .spawn(move || shard::run_writer(writer_shard, files, durability, interval))
                .map_err(|e| Error::io("start a writer thread", &e))?;
            store.shards.push(shard);
            store.writers.lock().push(handle);
        }
        Ok(store)
    }

    fn shard(&self, cluster: &[u8], host: &[u8]) -> &Shard {
        &self.shards[shard_of(cluster, host, self.shards.len())]
    }

    /// Queues one sample. Names are checked here (a bad one is refused with
    /// `InvalidName`, nothing queued); the value is stored as float32.
    /// May block under `Backpressure::Block`. Any thread.
    pub fn append<S: AsRef<[u8]>>(
        &self,
        cluster: &[u8],
        host: &[u8],
        metric: &[u8],
        selector: &[S],
        value: f64,
        ts: i64,
    ) -> Result<(), Error> {
        names::validate_sample(cluster, host, metric, selector)?;
        let need = queued_len(cluster, host, wal::encoded_len(metric, selector));
        let mut queue = self.shard(cluster, host).lock_for(need, 1, Room::Use)?;
        queue.append_records(cluster, host, 1, |out| {
            wal::encode_record_unchecked(out, ts, metric, selector, (value as f32).to_bits());
        });
        Ok(())
    }

    /// Queues every sample of a batch, or none: room is reserved in every
    /// shard the batch touches (waiting or refusing as the backpressure
    /// policy says) before anything is queued. May block. Any thread.
    pub fn append_batch(&self, batch: &Batch) -> Result<(), Error> {
        // `Batch::push` checked the names already.
        self.append_entries(batch.as_bytes(), HostNames::Trusted)
    }

    /// [`Store::append_batch`] for bytes in the batch layout (see
    /// [`Batch`]), as they come through the C ABI. Malformed bytes are
    /// refused with `InvalidArgument` (or `InvalidName`) naming the sample;
    /// nothing of the batch is queued then.
    pub fn append_encoded_batch(&self, bytes: &[u8]) -> Result<(), Error> {
        self.append_entries(bytes, HostNames::Check)
    }

    fn append_entries(&self, bytes: &[u8], names: HostNames) -> Result<(), Error> {
        thread_local! {
            // The encoded records of the batch being appended: reused, so
            // that a batch costs no allocation (and no page faults), up to
            // KEPT_RECORDS_CAPACITY per thread (cgo calls come on many).
            static RECORDS: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        const KEPT_RECORDS_CAPACITY: usize = 1 << 20;
        RECORDS.with_borrow_mut(|records| {
            let appended = self.append_runs(bytes, names, records);
            if records.capacity() > KEPT_RECORDS_CAPACITY {
                *records = Vec::new();
            }
            appended
        })
    }

    fn append_runs(
        &self,
        bytes: &[u8],
        names: HostNames,
        records: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let shards = self.shards.len();
        // Pass 1, outside every lock: check everything, encode the records,
        // split the batch into runs of one host, find each run's shard and
        // each shard's share of bytes.
        let runs = batch::runs(bytes, names, records)?;
        let mut need = vec![(0usize, 0u64); shards];
        let placed: Vec<usize> = runs
            .iter()
            .map(|run| {
                let shard = shard_of(run.cluster, run.host, shards);
                need[shard].0 += queued_len(run.cluster, run.host, run.records.len());
                need[shard].1 += run.samples;
                shard
            })
            .collect();
        let touched: Vec<usize> = (0..shards).filter(|&s| need[s].1 > 0).collect();
        for (at, &shard) in touched.iter().enumerate() {
            if let Err(error) =
                self.shards[shard].lock_for(need[shard].0, need[shard].1, Room::Reserve)
            {
                for &earlier in &touched[..at] {
                    self.shards[earlier].unreserve(need[earlier].0);
                }
                let rest: u64 = touched[at + 1..].iter().map(|&s| need[s].1).sum();
                bump_rejected(&self.shards[shard], rest);
                return Err(error);
            }
        }
        // Pass 2, per shard: queue its runs in batch order.
        for shard in touched {
            let mut queue = self.shards[shard].lock_reserved()?;
            queue.release(need[shard].0);
            let mine = runs.iter().zip(&placed).filter(|&(_, &s)| s == shard);
            for (run, _) in mine {
                queue.append_records(run.cluster, run.host, run.samples, |out| {
                    out.extend_from_slice(&records[run.records.clone()])
                });
            }
        }
        Ok(())
    }

    /// Returns `Ok` when every sample appended before the call, by any
    /// thread, is handed to the OS (it survives a crash of the process).
    /// When some could not be written, returns the `Io` error (they are
    /// kept and retried; a later call answers again). Blocks for one writer
    /// round per shard, never longer.
    pub fn flush(&self) -> Result<(), Error> {
        self.wait_all(Wait::Written)
    }

    /// Returns `Ok` when every sample appended before the call, by any
    /// thread, is on stable storage (file data fdatasynced, new directory
    /// entries fsynced). Otherwise the `Io` error, as [`Store::flush`].
    /// Blocks for one writer round per shard, never longer.
    pub fn sync(&self) -> Result<(), Error> {
        self.wait_all(Wait::Synced)
    }

    /// Asks every shard first, then waits: the shards' rounds overlap.
    fn wait_all(&self, wait: Wait) -> Result<(), Error> {
        let requests = self
            .shards
            .iter()
            .map(|shard| shard.request(wait))
            .collect::<Result<Vec<_>, _>>()?;
        let mut first_error = None;
        for (shard, request) in self.shards.iter().zip(requests) {
            if let Err(error) = shard.wait_for(request) {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Closes and deletes `current.wal` of each (cluster, host), after every
    /// record of that host appended before the call (Go's rotation). A host
    /// without a file is no error. Blocks until done.
    pub fn rotate<C: AsRef<[u8]>, H: AsRef<[u8]>>(&self, hosts: &[(C, H)]) -> Result<(), Error> {
        let shards = self.shards.len();
        let mut per_shard: Vec<Vec<(Vec<u8>, usize)>> = vec![Vec::new(); shards];
        for (cluster, host) in hosts {
            let (cluster, host) = (cluster.as_ref(), host.as_ref());
            names::validate_path_component(NameField::Cluster, cluster)?;
            names::validate_path_component(NameField::Host, host)?;
            let key = [cluster, &[0], host].concat();
            per_shard[shard_of(cluster, host, shards)].push((key, cluster.len()));
        }
        let mut waiting = Vec::new();
        for (shard, hosts) in per_shard
            .into_iter()
            .enumerate()
            .filter(|(_, h)| !h.is_empty())
        {
            let (done, outcome) = crossbeam_channel::bounded(1);
            self.shards[shard].control(Control::Rotate { hosts, done })?;
            waiting.push(outcome);
        }
        for outcome in waiting {
            outcome
                .recv()
                .map_err(|_| Error::new(ErrorKind::Closed, "the store closed during rotation"))??;
        }
        Ok(())
    }

    /// Seals the WAL of each (cluster, host): after every record of that host
    /// appended before the call, its current.wal is renamed to
    /// `wal-<label>.sealed` (see `layout::sealed_segment_name`), a name the
    /// Go restore ignores and ccwal's restore replays before current.wal;
    /// later records go to a fresh current.wal. Before the rename the
    /// host's records are written and fdatasynced (reopening an evicted
    /// file); a host for which that fails keeps its current.wal and gets
    /// the error. Returns, per host in the order given, every sealed
    /// segment it has (older ones included) or that error; fails as a
    /// whole only for bad names or a closed store. Blocks until done. The
    /// checkpoint session is built on this.
    pub fn seal<C: AsRef<[u8]>, H: AsRef<[u8]>>(
        &self,
        hosts: &[(C, H)],
        label: i64,
    ) -> Result<Vec<SealOutcome>, Error> {
        let shards = self.shards.len();
        let mut per_shard: Vec<Vec<(Vec<u8>, usize)>> = vec![Vec::new(); shards];
        let mut placement = Vec::with_capacity(hosts.len());
        for (cluster, host) in hosts {
            let (cluster, host) = (cluster.as_ref(), host.as_ref());
            names::validate_path_component(NameField::Cluster, cluster)?;
            names::validate_path_component(NameField::Host, host)?;
            let shard = shard_of(cluster, host, shards);
            placement.push((shard, per_shard[shard].len()));
            per_shard[shard].push(([cluster, &[0], host].concat(), cluster.len()));
        }
        let mut answers: Vec<Option<crossbeam_channel::Receiver<_>>> = vec![None; shards];
        for (shard, hosts) in per_shard
            .into_iter()
            .enumerate()
            .filter(|(_, h)| !h.is_empty())
        {
            let (done, answer) = crossbeam_channel::bounded(1);
            self.shards[shard].control(Control::Seal { hosts, label, done })?;
            answers[shard] = Some(answer);
        }
        let mut sealed: Vec<Vec<Option<SealOutcome>>> = Vec::with_capacity(shards);
        for answer in answers {
            sealed.push(match answer {
                Some(answer) => answer
                    .recv()
                    .map_err(|_| Error::new(ErrorKind::Closed, "the store closed while sealing"))?
                    .into_iter()
                    .map(Some)
                    .collect(),
                None => Vec::new(),
            });
        }
        Ok(placement
            .into_iter()
            .map(|(shard, at)| sealed[shard][at].take().expect("one answer per host"))
            .collect())
    }

    /// The checkpoint root this store writes below.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The engine's counters, summed over the shards.
    pub fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        for shard in &self.shards {
            shard.counters.add_to(&mut stats);
            stats.queue_bytes.push(shard.queued_bytes());
        }
        stats
    }

    /// Stops accepting (later calls get `Closed`), writes everything queued
    /// (retrying failed writes once more), fdatasyncs unless durability is
    /// `None`, closes the files and joins the writer threads. Returns the
    /// first error of that final write and sync: records still unwritten
    /// then are lost (and counted in `Stats::failed`). Idempotent (a later
    /// call returns the same outcome); dropping the store closes it too.
    pub fn close(&self) -> Result<(), Error> {
        for shard in &self.shards {
            shard.close();
        }
        for writer in self.writers.lock().drain(..) {
            let _ = writer.join();
        }
        let mut first_error = None;
        for shard in &self.shards {
            if let Err(error) = shard.close_result() {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn bump_rejected(shard: &Shard, samples: u64) {
    stats::bump(&shard.counters.rejected, samples);
}

impl Drop for Store {
    fn drop(&mut self) {
        // Whoever cares about the outcome calls `close` first.
        let _ = self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_spread_evenly_over_shards_and_names_do_not_run_together() {
        for shards in [2, 3, 8, 32] {
            let mut counts = vec![0usize; shards];
            for h in 0..20_000 {
                counts[shard_of(b"fritz", format!("node{h:05}").as_bytes(), shards)] += 1;
            }
            let mean = 20_000 / shards;
            for &count in &counts {
                assert!(
                    count.abs_diff(mean) < mean / 10,
                    "{shards} shards: {counts:?}"
                );
            }
        }
        assert_eq!(shard_of(b"c", b"h", 1), 0);
        // Stable, and where one name ends matters.
        assert_eq!(shard_of(b"c", b"h", 7), shard_of(b"c", b"h", 7));
        let split =
            |c: &[u8], h: &[u8]| (0..64).map(|n| shard_of(c, h, 64 + n)).collect::<Vec<_>>();
        assert_ne!(split(b"ab", b"c"), split(b"a", b"bc"));
    }
}
