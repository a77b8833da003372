//! One shard: a bounded queue of encoded records that appenders fill under a
//! short lock, and the writer thread that drains it into the hosts' files.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex, MutexGuard};

use super::files::{Flush, HostFiles};
use super::stats::{Counters, bump};
use super::tunables::{LINGER, RETRY_MAX, RETRY_MIN, UNSYNCED_LIMIT};
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
    /// answers, per host, every sealed segment it has or why it could not
    /// be sealed.
    Seal {
        hosts: Vec<(Vec<u8>, usize)>,
        label: i64,
        done: Sender<Vec<Result<Vec<PathBuf>, Error>>>,
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
    /// Bytes the writer keeps after failed writes (they count as queued,
    /// so a failing disk pushes back on appenders).
    held: usize,
    /// Why the writer has records it cannot write, while that lasts.
    failure: Option<Error>,
    /// Records and controls ever queued: the ticket of the newest.
    queued: u64,
    /// Highest ticket a `sync` waits to see on disk.
    sync_wanted: u64,
    /// Calls of `flush`/`sync` so far: each gets a round of its own.
    requests: u64,
    /// Rounds the writer has taken the queue for.
    rounds_taken: u64,
    closing: bool,
}

#[derive(Default)]
struct Progress {
    /// Every ticket up to this one is handed to the OS.
    written: u64,
    /// Every ticket up to this one is on disk.
    synced: u64,
    /// Rounds finished; with the outcome of the last one.
    rounds_done: u64,
    /// Records of the last round (or earlier) not yet written, and why.
    write_error: Option<Error>,
    /// Why the last round that had to sync did not sync everything.
    sync_error: Option<Error>,
    /// The writer has finished, with the outcome of its final write and
    /// sync.
    stopped: bool,
    close_result: Option<Result<(), Error>>,
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

/// What a `flush` or `sync` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Records handed to the OS.
    Written,
    /// Records on stable storage.
    Synced,
}

/// How [`Shard::lock_for`] treats the room it waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Room {
    /// The caller appends under this lock.
    Use,
    /// Promised to the caller until [`QueueGuard::release`] (a batch that
    /// reserves room in every shard it touches before queueing anything).
    Reserve,
}

/// A `flush` or `sync` waiting for its answer.
pub(crate) struct Request {
    ticket: u64,
    round: u64,
    wait: Wait,
}

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
    /// refusing as the backpressure policy says.
    pub fn lock_for(&self, need: usize, samples: u64, room: Room) -> Result<QueueGuard<'_>, Error> {
        let mut queue = self.queue.lock();
        let deadline = match self.backpressure {
            Backpressure::Block { timeout: Some(t) } => Some(Instant::now() + t),
            _ => None,
        };
        loop {
            if queue.closing {
                return Err(closed());
            }
            let used = queue.bytes.len() + queue.reserved + queue.held;
            if used == 0 || used + need <= self.capacity {
                break;
            }
            let refuse = match (self.backpressure, &queue.failure) {
                (Backpressure::Reject, _) => Some(Error::new(
                    ErrorKind::QueueFull,
                    "the shard's queue is full",
                )),
                // Waiting for a disk that keeps failing could last forever.
                (Backpressure::Block { timeout: None }, Some(failure)) => Some(
                    failure
                        .clone()
                        .with_context("the shard's queue is full because writes fail"),
                ),
                (Backpressure::Block { .. }, _) => match deadline {
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
        if room == Room::Reserve {
            queue.reserved += need;
        }
        let bytes_before = queue.bytes.len();
        Ok(QueueGuard {
            shard: self,
            queue,
            bytes_before,
        })
    }

    /// Locks the queue to append what `lock_for(.., Room::Reserve)` made
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
        queue.requests += 1;
        drop(queue);
        self.work.notify_one();
        Ok(())
    }

    /// Asks the writer to write (or sync) everything queued so far;
    /// [`Shard::wait_for`] the answer.
    pub fn request(&self, wait: Wait) -> Result<Request, Error> {
        let mut queue = self.queue.lock();
        if queue.closing {
            return Err(closed());
        }
        if wait == Wait::Synced {
            queue.sync_wanted = queue.sync_wanted.max(queue.queued);
        }
        queue.requests += 1;
        let request = Request {
            ticket: queue.queued,
            round: queue.rounds_taken + 1,
            wait,
        };
        drop(queue);
        self.work.notify_one();
        Ok(request)
    }

    /// Waits until everything queued before the request is written (or on
    /// disk, as it asked). Answers after the first writer round that starts
    /// after the request: an error when that round could not write (or
    /// sync) it all.
    pub fn wait_for(&self, request: Request) -> Result<(), Error> {
        let Request {
            ticket,
            round,
            wait,
        } = request;
        let mut progress = self.progress.lock();
        loop {
            let done = match wait {
                Wait::Written => progress.written,
                Wait::Synced => progress.synced,
            };
            if done >= ticket {
                return Ok(());
            }
            if progress.rounds_done >= round {
                let error = match wait {
                    Wait::Synced => progress
                        .sync_error
                        .as_ref()
                        .or(progress.write_error.as_ref()),
                    Wait::Written => progress.write_error.as_ref(),
                };
                return Err(error.cloned().unwrap_or_else(|| {
                    Error::new(ErrorKind::Io, "the writer could not complete the request")
                }));
            }
            if progress.stopped {
                return Err(closed());
            }
            self.progress_changed.wait(&mut progress);
        }
    }

    /// The outcome of the writer's final write and sync, once it stopped.
    pub fn close_result(&self) -> Result<(), Error> {
        self.progress.lock().close_result.clone().unwrap_or(Ok(()))
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

/// What a round takes from the queue.
struct Round {
    ticket: u64,
    sync_wanted: u64,
    closing: bool,
    /// A `flush`, `sync` or control waits for this round.
    requested: bool,
    /// The writer holds more than half the queue capacity in records
    /// waiting to be written with more.
    held_too_much: bool,
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
    let mut seen_requests = 0;
    let mut next_retry: Option<Instant> = None;
    let mut retry_delay = RETRY_MIN;
    loop {
        let sync_due = |files: &HostFiles, last_sync: Instant| {
            matches!(durability, Durability::Interval(d) if last_sync.elapsed() >= d)
                && files.has_unsynced()
        };
        let round = {
            let mut queue = shard.queue.lock();
            loop {
                let now = Instant::now();
                let retry_due = next_retry.is_some_and(|at| now >= at);
                let coalesce_due = files.coalesce_deadline().is_some_and(|at| now >= at);
                if !queue.items.is_empty()
                    || queue.closing
                    || queue.requests != seen_requests
                    || retry_due
                    || coalesce_due
                    || sync_due(&files, last_sync)
                {
                    break;
                }
                let wake = [next_retry, files.coalesce_deadline()]
                    .into_iter()
                    .flatten()
                    .min();
                let wait = wake.map_or(flush_interval, |at| {
                    at.saturating_duration_since(now).min(flush_interval)
                });
                shard.work.wait_for(&mut queue, wait);
            }
            if !queue.closing
                && queue.requests == seen_requests
                && !queue.items.is_empty()
                && queue.bytes.len() < shard.linger_bytes()
            {
                shard.work.wait_for(&mut queue, LINGER);
            }
            std::mem::swap(&mut queue.bytes, &mut spare.bytes);
            std::mem::swap(&mut queue.items, &mut spare.items);
            queue.rounds_taken += 1;
            let requested = queue.requests != seen_requests;
            seen_requests = queue.requests;
            Round {
                ticket: queue.queued,
                sync_wanted: queue.sync_wanted,
                closing: queue.closing,
                requested,
                held_too_much: queue.held > shard.capacity / 2,
            }
        };
        shard.space.notify_all();
        let started = Instant::now();
        let retry = round.requested || round.closing || next_retry.is_some_and(|at| started >= at);
        let must_sync = durability == Durability::Always
            || sync_due(&files, last_sync)
            || round.sync_wanted > shard.progress.lock().synced
            || files.unsynced_bytes() > UNSYNCED_LIMIT;
        let flush = Flush {
            retry,
            all: retry
                || must_sync
                || round.held_too_much
                || files.coalesce_deadline().is_some_and(|at| started >= at),
        };
        for item in spare.items.drain(..) {
            match item {
                Item::Records {
                    key,
                    cluster_len,
                    records,
                    count,
                } => match files.host_index(&spare.bytes[key], cluster_len) {
                    Ok(host) => files.add(host, records, count),
                    // Names are checked before they are queued.
                    Err(error) => shard
                        .counters
                        .write_error(super::stats::WriteErrorKind::of(error.os_code()), count),
                },
                Item::Control(Control::Rotate { hosts, done }) => {
                    files.write_round(&spare.bytes, Flush::EVERYTHING);
                    let result = hosts
                        .iter()
                        .try_for_each(|(key, cluster_len)| files.rotate(key, *cluster_len));
                    let _ = done.send(result);
                }
                Item::Control(Control::Seal { hosts, label, done }) => {
                    files.write_round(&spare.bytes, Flush::EVERYTHING);
                    let result = hosts
                        .iter()
                        .map(|(key, cluster_len)| files.seal(key, *cluster_len, label))
                        .collect();
                    let _ = done.send(result);
                }
            }
        }
        files.write_round(&spare.bytes, flush);
        spare.bytes.clear();
        bump(&shard.counters.flushes, 1);
        shard.counters.max_flush_micros.fetch_max(
            started.elapsed().as_micros() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );

        let synced = must_sync.then(|| files.sync());
        if must_sync {
            last_sync = Instant::now();
        }
        let write_error = files.failure();
        if write_error.is_some() {
            next_retry = Some(Instant::now() + retry_delay);
            retry_delay = (retry_delay * 2).min(RETRY_MAX);
        } else {
            next_retry = None;
            retry_delay = RETRY_MIN;
        }
        let drained = {
            let mut queue = shard.queue.lock();
            queue.held = files.backlog_bytes();
            queue.failure = write_error.clone();
            round.closing && queue.items.is_empty()
        };
        // Room may have come back, or appenders waiting for it must learn
        // that writes fail.
        shard.space.notify_all();
        let close_result = drained.then(|| files.close_all());
        {
            let mut progress = shard.progress.lock();
            progress.rounds_done += 1;
            let all_written = files.all_written();
            if all_written {
                progress.written = round.ticket;
            }
            match synced {
                Some(Ok(())) if all_written => {
                    progress.synced = round.ticket;
                    progress.sync_error = None;
                }
                Some(Ok(())) => progress.sync_error = write_error.clone(),
                Some(Err(error)) => progress.sync_error = Some(error),
                None => {}
            }
            progress.write_error = write_error;
            if close_result.is_some() {
                progress.close_result = close_result;
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
        let mut progress = self.0.progress.lock();
        progress.stopped = true;
        progress.close_result.get_or_insert_with(|| {
            Err(Error::new(
                ErrorKind::Io,
                "the writer thread stopped unexpectedly",
            ))
        });
        drop(progress);
        self.0.progress_changed.notify_all();
        self.0.close();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    fn shard(capacity: usize, backpressure: Backpressure) -> Shard {
        Shard::new(capacity, backpressure, Arc::new(Counters::default()))
    }

    fn append(shard: &Shard, bytes: usize, room: Room) -> Result<(), Error> {
        let mut queue = shard.lock_for(bytes, 1, room)?;
        if room == Room::Reserve {
            queue.release(bytes);
        }
        queue.append_records(b"c", b"h", 1, |out| out.resize(out.len() + bytes, 0));
        Ok(())
    }

    #[test]
    fn a_full_queue_refuses_or_times_out_as_the_policy_says() {
        let rejecting = shard(16, Backpressure::Reject);
        // An empty queue takes anything, so an oversized batch goes through.
        append(&rejecting, 100, Room::Use).unwrap();
        let refused = append(&rejecting, 1, Room::Use).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::QueueFull);
        assert_eq!(rejecting.counters.rejected.load(Ordering::Relaxed), 1);
        assert_eq!(rejecting.queued_bytes(), 100 + 3);

        let timeout = Some(Duration::from_millis(20));
        let blocking = shard(16, Backpressure::Block { timeout });
        append(&blocking, 10, Room::Use).unwrap();
        let started = Instant::now();
        let refused = append(&blocking, 10, Room::Use).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::Timeout);
        assert!(started.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn reserved_room_counts_until_it_is_used_or_given_back() {
        let shard = shard(64, Backpressure::Reject);
        drop(shard.lock_for(40, 1, Room::Reserve).unwrap());
        assert_eq!(
            shard.lock_for(40, 1, Room::Use).err().map(|e| e.kind()),
            Some(ErrorKind::QueueFull)
        );
        shard.unreserve(40);
        drop(shard.lock_for(40, 1, Room::Reserve).unwrap());
        let mut queue = shard.lock_reserved().unwrap();
        queue.release(40);
        drop(queue);
        append(&shard, 40, Room::Use).unwrap();
    }

    #[test]
    fn consecutive_records_of_one_host_share_an_item() {
        let shard = shard(1 << 10, Backpressure::Reject);
        append(&shard, 3, Room::Use).unwrap();
        append(&shard, 5, Room::Use).unwrap();
        let mut queue = shard.lock_for(1, 1, Room::Use).unwrap();
        queue.append_records(b"c", b"other", 2, |out| out.push(7));
        drop(queue);
        let queue = shard.queue.lock();
        let items: Vec<_> = queue
            .items
            .iter()
            .map(|item| match item {
                Item::Records {
                    key,
                    records,
                    count,
                    ..
                } => (queue.bytes[key.clone()].to_vec(), records.len(), *count),
                Item::Control(_) => panic!("no control was queued"),
            })
            .collect();
        assert_eq!(
            items,
            [(b"c\0h".to_vec(), 8, 2), (b"c\0other".to_vec(), 1, 2)]
        );
        assert_eq!(queue.queued, 4);
    }

    #[test]
    fn a_closed_shard_refuses_appends_requests_and_controls() {
        let shard = shard(1 << 10, Backpressure::Reject);
        shard.close();
        let closed = |result: Result<(), Error>| result.unwrap_err().kind() == ErrorKind::Closed;
        assert!(closed(append(&shard, 1, Room::Use)));
        assert!(closed(shard.request(Wait::Synced).map(drop)));
        assert!(closed(shard.lock_reserved().map(drop)));
    }

    #[test]
    fn the_writer_answers_a_sync_once_the_records_are_in_the_file() {
        let root = tempfile::tempdir().unwrap();
        let counters = Arc::new(Counters::default());
        let shard = Arc::new(Shard::new(1 << 20, Backpressure::Reject, counters.clone()));
        let settings = Arc::new(super::super::files::FileSettings {
            root: root.path().to_path_buf(),
            open_file_budget: 4,
            max_wal_bytes: 0,
            sync_on_close: false,
            coalesce: true,
            event_hook: None,
            fault_injector: None,
        });
        let files = HostFiles::new(settings, counters.clone());
        let writer_shard = shard.clone();
        let writer = std::thread::spawn(move || {
            run_writer(
                writer_shard,
                files,
                Durability::None,
                Duration::from_secs(1),
            )
        });
        let mut queue = shard.lock_for(64, 1, Room::Use).unwrap();
        queue.append_records(b"c", b"h", 1, |out| {
            crate::codec::wal::encode_record_unchecked(out, 1, b"m", &[b"cpu0"], 0);
        });
        drop(queue);
        let request = shard.request(Wait::Synced).unwrap();
        shard.wait_for(request).unwrap();
        let wal = std::fs::read(root.path().join("c/h/current.wal")).unwrap();
        let record_len = crate::codec::wal::encoded_len(b"m", &[b"cpu0"]);
        assert_eq!(wal.len(), crate::codec::wal::FILE_HEADER_LEN + record_len);
        assert_eq!(counters.written.load(Ordering::Relaxed), 1);
        shard.close();
        writer.join().unwrap();
        assert!(shard.close_result().is_ok());
        let after_close = shard.request(Wait::Written).map(drop).unwrap_err();
        assert_eq!(after_close.kind(), ErrorKind::Closed);
    }
}
