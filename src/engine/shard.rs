//! One shard: a bounded queue of encoded records that appenders fill under a
//! short lock, and the writer thread that drains it into the hosts' files.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex, MutexGuard};

use super::files::HostFiles;
use super::stats::{Counters, bump};
use super::{Backpressure, Durability};
use crate::error::{Error, ErrorKind};

/// An operation that must happen in order with the records queued before
/// it, and whose caller waits for its outcome.
pub(crate) enum Control {
    /// Close and delete each host's current.wal (keys: `cluster \0 host`,
    /// with the cluster's length).
    Rotate {
        hosts: Vec<(Vec<u8>, usize)>,
        done: Sender<Result<(), Error>>,
    },
    /// Rename each host's current.wal to a sealed segment named by `label`;
    /// answers every sealed segment each host has.
    Seal {
        hosts: Vec<(Vec<u8>, usize)>,
        label: i64,
        done: Sender<Result<Vec<Vec<PathBuf>>, Error>>,
    },
}

enum Item {
    /// Records of one host: `key` (`cluster \0 host`) and `records` are
    /// ranges of the queue's bytes.
    Records {
        key: Range<usize>,
        cluster_len: usize,
        records: Range<usize>,
        count: u64,
    },
    Control(Control),
}

#[derive(Default)]
struct Queue {
    bytes: Vec<u8>,
    items: Vec<Item>,
    /// Bytes promised to batches that are checking every shard first.
    reserved: usize,
    /// Records and controls ever queued: the ticket of the newest.
    queued: u64,
    /// Highest ticket a `sync` waits to see on disk.
    sync_wanted: u64,
    /// Highest ticket a `flush` or a control waits to see written.
    flush_wanted: u64,
    closing: bool,
}

#[derive(Default)]
struct Progress {
    /// Every ticket up to this one is handed to the OS (or failed, counted).
    written: u64,
    /// Every ticket up to this one is on disk.
    synced: u64,
    /// The writer thread has finished.
    stopped: bool,
}

pub(crate) struct Shard {
    queue: Mutex<Queue>,
    /// Signals the writer: data, a sync request or closing.
    work: Condvar,
    /// Signals blocked appenders: the writer took the queue.
    space: Condvar,
    progress: Mutex<Progress>,
    progress_changed: Condvar,
    pub counters: Arc<Counters>,
    capacity: usize,
    backpressure: Backpressure,
}

/// How long a writer that woke up to little data waits for more, so that
/// it writes in larger rounds (fewer syscalls). `flush`, `sync`, controls
/// and close never wait for it.
const LINGER: Duration = Duration::from_millis(1);

/// A shard's queue, locked by an appender.
pub(crate) struct QueueGuard<'a> {
    shard: &'a Shard,
    queue: MutexGuard<'a, Queue>,
    /// Queue bytes when it was locked, to wake the writer only when it has
    /// a reason: data in an empty queue, or enough to end its linger.
    bytes_before: usize,
}

impl QueueGuard<'_> {
    /// Appends the records that `encode` writes for one host; consecutive
    /// appends for the same host share one item.
    pub fn append_records(
        &mut self,
        cluster: &[u8],
        host: &[u8],
        count: u64,
        encode: impl FnOnce(&mut Vec<u8>),
    ) {
        let queue = &mut *self.queue;
        let same_host = match queue.items.last() {
            Some(Item::Records {
                key,
                cluster_len,
                records,
                ..
            }) => {
                records.end == queue.bytes.len()
                    && *cluster_len == cluster.len()
                    && queue.bytes[key.clone()].starts_with(cluster)
                    && &queue.bytes[key.start + cluster.len() + 1..key.end] == host
            }
            _ => false,
        };
        if !same_host {
            let start = queue.bytes.len();
            queue.bytes.extend_from_slice(cluster);
            queue.bytes.push(0);
            queue.bytes.extend_from_slice(host);
            let key = start..queue.bytes.len();
            let at = queue.bytes.len();
            queue.items.push(Item::Records {
                key,
                cluster_len: cluster.len(),
                records: at..at,
                count: 0,
            });
        }
        encode(&mut queue.bytes);
        let end = queue.bytes.len();
        if let Some(Item::Records {
            records, count: n, ..
        }) = queue.items.last_mut()
        {
            records.end = end;
            *n += count;
        }
        queue.queued += count;
        bump(&self.shard.counters.appended, count);
    }

    /// Gives back bytes reserved by `Shard::reserve`.
    pub fn release(&mut self, bytes: usize) {
        self.queue.reserved -= bytes;
    }
}

impl Drop for QueueGuard<'_> {
    fn drop(&mut self) {
        let (before, now) = (self.bytes_before, self.queue.bytes.len());
        let linger_bytes = self.shard.linger_bytes();
        if (before == 0 && now > 0) || (before < linger_bytes && now >= linger_bytes) {
            self.shard.work.notify_one();
        }
    }
}

fn closed() -> Error {
    Error::new(ErrorKind::Closed, "the store is closed")
}

impl Shard {
    pub fn new(capacity: usize, backpressure: Backpressure, counters: Arc<Counters>) -> Self {
        Shard {
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            space: Condvar::new(),
            progress: Mutex::new(Progress::default()),
            progress_changed: Condvar::new(),
            counters,
            capacity,
            backpressure,
        }
    }

    /// Locks the queue once `need` more bytes fit (an empty queue takes
    /// anything, so an oversized batch still goes through), waiting or
    /// refusing as the backpressure policy says. `reserve` keeps the bytes
    /// promised until `QueueGuard::release`.
    pub fn lock_for(
        &self,
        need: usize,
        samples: u64,
        reserve: bool,
    ) -> Result<QueueGuard<'_>, Error> {
        let mut queue = self.queue.lock();
        let deadline = match self.backpressure {
            Backpressure::Block { timeout: Some(t) } => Some(Instant::now() + t),
            _ => None,
        };
        loop {
            if queue.closing {
                return Err(closed());
            }
            let used = queue.bytes.len() + queue.reserved;
            if used == 0 || used + need <= self.capacity {
                break;
            }
            let refuse = match self.backpressure {
                Backpressure::Reject => Some(Error::new(
                    ErrorKind::QueueFull,
                    "the shard's queue is full",
                )),
                Backpressure::Block { .. } => match deadline {
                    Some(deadline) if self.space.wait_until(&mut queue, deadline).timed_out() => {
                        Some(Error::new(
                            ErrorKind::Timeout,
                            "timed out waiting for room in the shard's queue",
                        ))
                    }
                    Some(_) => None,
                    None => {
                        self.space.wait(&mut queue);
                        None
                    }
                },
            };
            if let Some(error) = refuse {
                bump(&self.counters.rejected, samples);
                return Err(error);
            }
        }
        if reserve {
            queue.reserved += need;
        }
        let bytes_before = queue.bytes.len();
        Ok(QueueGuard {
            shard: self,
            queue,
            bytes_before,
        })
    }

    /// Locks the queue to append what `lock_for(.., reserve = true)` made
    /// room for.
    pub fn lock_reserved(&self) -> Result<QueueGuard<'_>, Error> {
        let queue = self.queue.lock();
        if queue.closing {
            return Err(closed());
        }
        let bytes_before = queue.bytes.len();
        Ok(QueueGuard {
            shard: self,
            queue,
            bytes_before,
        })
    }

    /// Gives back a reservation without appending (a batch that failed on
    /// another shard).
    pub fn unreserve(&self, bytes: usize) {
        self.queue.lock().reserved -= bytes;
        self.space.notify_all();
    }

    /// Queues a control operation (never refused for room: it is small and
    /// its caller waits for it).
    pub fn control(&self, control: Control) -> Result<(), Error> {
        let mut queue = self.queue.lock();
        if queue.closing {
            return Err(closed());
        }
        queue.items.push(Item::Control(control));
        queue.queued += 1;
        queue.flush_wanted = queue.queued;
        drop(queue);
        self.work.notify_one();
        Ok(())
    }

    /// Waits until everything queued before the call is written (`sync`:
    /// on disk).
    pub fn wait_for(&self, sync: bool) -> Result<(), Error> {
        let ticket = {
            let mut queue = self.queue.lock();
            if queue.closing {
                return Err(closed());
            }
            if sync {
                queue.sync_wanted = queue.sync_wanted.max(queue.queued);
            }
            queue.flush_wanted = queue.queued;
            queue.queued
        };
        self.work.notify_one();
        let mut progress = self.progress.lock();
        loop {
            let done = if sync {
                progress.synced
            } else {
                progress.written
            };
            if done >= ticket {
                return Ok(());
            }
            if progress.stopped {
                return Err(closed());
            }
            self.progress_changed.wait(&mut progress);
        }
    }

    /// Stops accepting; the writer drains what is queued and exits.
    pub fn close(&self) {
        self.queue.lock().closing = true;
        self.work.notify_all();
        self.space.notify_all();
    }

    /// Queue bytes that end a writer's linger at once.
    fn linger_bytes(&self) -> usize {
        (self.capacity / 4).min(256 << 10)
    }

    pub fn queued_bytes(&self) -> u64 {
        self.queue.lock().bytes.len() as u64
    }
}

/// The writer thread's loop: take the whole queue, write each host's
/// records with one call, fdatasync as the durability mode and `sync`
/// callers ask, report progress; until closed and drained.
pub(crate) fn run_writer(
    shard: Arc<Shard>,
    mut files: HostFiles,
    durability: Durability,
    flush_interval: Duration,
) {
    let _stopped = StopOnExit(&shard);
    let mut spare = Queue::default();
    let mut last_sync = Instant::now();
    let mut sync_failed = false;
    loop {
        let (ticket, sync_wanted, closing) = {
            let mut queue = shard.queue.lock();
            // After a failed fdatasync, retry at the next interval, not at once.
            while queue.items.is_empty()
                && !queue.closing
                && (sync_failed || queue.sync_wanted <= shard.progress.lock().synced)
            {
                if shard.work.wait_for(&mut queue, flush_interval).timed_out() {
                    break;
                }
            }
            let urgent = queue.closing
                || queue.flush_wanted > shard.progress.lock().written
                || queue.sync_wanted > shard.progress.lock().synced;
            if !urgent && !queue.items.is_empty() && queue.bytes.len() < shard.linger_bytes() {
                shard.work.wait_for(&mut queue, LINGER);
            }
            std::mem::swap(&mut queue.bytes, &mut spare.bytes);
            std::mem::swap(&mut queue.items, &mut spare.items);
            (queue.queued, queue.sync_wanted, queue.closing)
        };
        shard.space.notify_all();
        let started = Instant::now();
        for item in spare.items.drain(..) {
            match item {
                Item::Records {
                    key,
                    cluster_len,
                    records,
                    count,
                } => {
                    let host = files.host_index(&spare.bytes[key], cluster_len);
                    files.add(host, records, count);
                }
                Item::Control(Control::Rotate { hosts, done }) => {
                    files.write_round(&spare.bytes);
                    let result = hosts
                        .iter()
                        .try_for_each(|(key, cluster_len)| files.rotate(key, *cluster_len));
                    let _ = done.send(result);
                }
                Item::Control(Control::Seal { hosts, label, done }) => {
                    files.write_round(&spare.bytes);
                    let result = hosts
                        .iter()
                        .map(|(key, cluster_len)| files.seal(key, *cluster_len, label))
                        .collect();
                    let _ = done.send(result);
                }
            }
        }
        files.write_round(&spare.bytes);
        spare.bytes.clear();
        bump(&shard.counters.flushes, 1);
        shard.counters.max_flush_micros.fetch_max(
            started.elapsed().as_micros() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );

        let interval_due =
            matches!(durability, Durability::Interval(d) if last_sync.elapsed() >= d);
        let must_sync = durability == Durability::Always
            || interval_due
            || sync_wanted > shard.progress.lock().synced;
        // A failed fdatasync is reported as an event and retried next round;
        // `sync` callers are released only by a round whose sync succeeded.
        let synced = must_sync && files.sync().is_ok();
        sync_failed = must_sync && !synced;
        if must_sync {
            last_sync = Instant::now();
        }
        let drained = closing && shard.queue.lock().items.is_empty();
        if drained {
            files.close_all();
        }
        {
            let mut progress = shard.progress.lock();
            progress.written = ticket;
            if synced {
                progress.synced = ticket;
            }
        }
        shard.progress_changed.notify_all();
        if drained {
            return;
        }
    }
}

/// Marks the writer stopped however it ends (also by a panic, a bug), so
/// that callers waiting in `flush`/`sync` get an error instead of hanging.
struct StopOnExit<'a>(&'a Shard);

impl Drop for StopOnExit<'_> {
    fn drop(&mut self) {
        self.0.progress.lock().stopped = true;
        self.0.progress_changed.notify_all();
        self.0.close();
    }
}
