//! The WAL files of one shard's hosts, owned by its writer thread: opening
//! (with torn-tail repair), a budget of open descriptors with least-recently
//! used eviction, appends that never leave a partial record, rotation,
//! sealing and fdatasync — and the rule that no accepted record is dropped
//! because a system call failed:
//!
//! - a failed `write`/`open` keeps the host's records (and every later one)
//!   in a backlog, in order; the file is cut back to its last whole record
//!   and the backlog is retried until it is written;
//! - small appends are coalesced: a host's records wait in memory (its
//!   backlog) until it has `COALESCE_BYTES` of them, for at most
//!   `COALESCE_DELAY`, or until `flush`, `sync`, a control or close asks,
//!   so a write carries kilobytes, not a few records (not under `Always`);
//! - a failed `fdatasync` is never retried as if the data were safe (the
//!   kernel may have dropped the dirty pages and cleared the error): every
//!   byte written since the host's last good fdatasync is kept in memory,
//!   and after a failure the file is cut back to the synced length and
//!   those bytes are written again from that copy.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::stats::{Counters, Event, EventHook, EventLevel, WriteErrorKind, bump};
use crate::codec::wal::{self, WalItem, WalReader};
use crate::error::Error;
use crate::storage::{self, FileSystemSync, HostDir};

/// How much of the end of an existing WAL (larger than twice this) is read
/// for the torn-tail check when a process first opens it, instead of all.
const TAIL_CHECK_BYTES: u64 = 1 << 20;

/// A host's records are written once it has this many bytes waiting…
const COALESCE_BYTES: usize = 16 << 10;
/// …or once the oldest has waited this long.
pub(crate) const COALESCE_DELAY: Duration = Duration::from_millis(20);

/// A sync of at least this many files is one syncfs of the root's file
/// system instead of one fdatasync each: the device flushes its cache once,
/// not once per file, and evicted files need not be reopened.
const SYNCFS_MIN_FILES: usize = 16;

/// What a round of writes may leave in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flush {
    /// Retry hosts whose writes failed (else their new records join their
    /// backlog untried).
    pub retry: bool,
    /// Write every host's waiting records, leaving none coalescing.
    pub all: bool,
}

impl Flush {
    /// Everything written, failed hosts retried: for `flush`, `sync`,
    /// controls and close.
    pub const EVERYTHING: Flush = Flush {
        retry: true,
        all: true,
    };
}

/// A write fault for tests: the engine writes at most `after_bytes` of the
/// data, then fails with `error`, as a full or failing disk would.
pub struct WriteFault {
    /// Bytes written before the fault.
    pub after_bytes: usize,
    /// The error returned then.
    pub error: io::Error,
}

/// Decides, before each append to a WAL file, whether it fails. For tests of
/// the error paths; `None` lets the write through.
pub type FaultInjector = dyn Fn(&Path) -> Option<WriteFault> + Send + Sync;

struct Host {
    dir: HostDir,
    file: Option<File>,
    /// Bytes of the file that hold its header and whole records (valid
    /// while `checked`).
    len: u64,
    /// Of those, the bytes known to be on stable storage.
    synced_len: u64,
    /// The existing file was checked for a torn tail in this process.
    checked: bool,
    /// Stamp of the last use, for LRU eviction.
    last_use: u64,
    /// A copy of the file's bytes from `synced_len` to `len`, to write them
    /// again if their fdatasync fails.
    unsynced: Vec<u8>,
    /// Records accepted but not in the file yet (a write or an fdatasync
    /// failed), written before anything newer.
    backlog: Vec<u8>,
    backlog_records: u64,
    /// The file may hold bytes past `len` (a partial write): cut them off
    /// before the next append.
    must_cut: bool,
    /// Why the backlog is not empty (`None`: it is coalescing).
    failure: Option<Error>,
    /// On the `coalescing` list.
    coalescing: bool,
    /// On the `failing` list (a flag, not a search: with thousands of hosts
    /// failing at once a search per failure made each round quadratic).
    listed_failing: bool,
    /// This round's record ranges (into the round's bytes) and their count.
    ranges: Vec<Range<usize>>,
    records: u64,
}

impl Host {
    /// Appends what was just written (the backlog, then this round's ranges
    /// of `bytes`) to the unsynced copy, with no copy of it in between;
    /// returns the bytes added.
    fn copy_written(&mut self, bytes: &[u8]) -> usize {
        let before = self.unsynced.len();
        self.unsynced.extend_from_slice(&self.backlog);
        for range in &self.ranges {
            self.unsynced.extend_from_slice(&bytes[range.clone()]);
        }
        self.unsynced.len() - before
    }
}

/// Emptied host buffers (written backlogs, synced copies) kept for
/// whichever host needs one next: allocations are reused, so buffers do
/// not regrow byte by byte, without every host keeping its own.
#[derive(Default)]
struct BufferPool {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

impl BufferPool {
    /// Capacity the pool may hold, per shard.
    const MAX_BYTES: usize = 8 << 20;

    fn take(&mut self) -> Vec<u8> {
        let buffer = self.buffers.pop().unwrap_or_default();
        self.bytes -= buffer.capacity();
        buffer
    }

    fn give_back(&mut self, mut buffer: Vec<u8>) {
        if buffer.capacity() > 0 && self.bytes + buffer.capacity() <= Self::MAX_BYTES {
            buffer.clear();
            self.bytes += buffer.capacity();
            self.buffers.push(buffer);
        }
    }
}

/// Settings the file layer needs from the store's options.
pub(crate) struct FileSettings {
    pub root: PathBuf,
    pub open_file_budget: usize,
    pub max_wal_bytes: u64,
    pub sync_on_close: bool,
    /// Let small appends wait to be written together (not under `Always`).
    pub coalesce: bool,
    pub event_hook: Option<Arc<EventHook>>,
    pub fault_injector: Option<Arc<FaultInjector>>,
}

pub(crate) struct HostFiles {
    settings: Arc<FileSettings>,
    counters: Arc<Counters>,
    hosts: Vec<Host>,
    /// `cluster \0 host` → index into `hosts`.
    index: HashMap<Vec<u8>, usize>,
    /// (host, stamp) in order of use; entries whose stamp is not the host's
    /// `last_use` are stale and skipped.
    lru: VecDeque<(usize, u64)>,
    clock: u64,
    open: usize,
    /// Hosts with ranges waiting in this round.
    dirty: Vec<usize>,
    /// Hosts with bytes written since their last fdatasync.
    unsynced: Vec<usize>,
    /// Bytes held in the hosts' `unsynced` copies.
    unsynced_bytes: usize,
    /// Hosts whose writes failed (they have a backlog).
    failing: Vec<usize>,
    /// Hosts whose backlog waits to be written with more (no failure), and
    /// when the first of them began to wait.
    coalescing: Vec<usize>,
    coalescing_since: Option<Instant>,
    /// Bytes held in the hosts' backlogs.
    backlog_bytes: usize,
    /// Directories with new entries (files, sub-directories) not yet
    /// fsynced: synced with the records, so a durability of `None` costs
    /// no fsync at all until `sync`.
    dirs_to_sync: BTreeSet<PathBuf>,
    /// The root's file system, for syncs of many files at once; opened
    /// with the first file, before anything is written.
    file_system: Option<FileSystemSync>,
    pool: BufferPool,
}

fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

impl HostFiles {
    pub fn new(settings: Arc<FileSettings>, counters: Arc<Counters>) -> Self {
        HostFiles {
            settings,
            counters,
            hosts: Vec::new(),
            index: HashMap::new(),
            lru: VecDeque::new(),
            clock: 0,
            open: 0,
            dirty: Vec::new(),
            unsynced: Vec::new(),
            unsynced_bytes: 0,
            failing: Vec::new(),
            coalescing: Vec::new(),
            coalescing_since: None,
            backlog_bytes: 0,
            dirs_to_sync: BTreeSet::new(),
            file_system: None,
            pool: BufferPool::default(),
        }
    }

    fn event(&self, host: usize, level: EventLevel, message: String) {
        if let Some(hook) = &self.settings.event_hook {
            let dir = &self.hosts[host].dir;
            hook(&Event {
                level,
                cluster: dir.cluster.clone(),
                host: dir.host.clone(),
                message,
            });
        }
    }

    /// The host for `key` = `cluster \0 host` (names already validated).
    pub fn host_index(&mut self, key: &[u8], cluster_len: usize) -> Result<usize, Error> {
        if let Some(&index) = self.index.get(key) {
            return Ok(index);
        }
        let (cluster, host) = (&key[..cluster_len], &key[cluster_len + 1..]);
        let dir = HostDir::new(&self.settings.root, cluster, host)?;
        self.hosts.push(Host {
            dir,
            file: None,
            len: 0,
            synced_len: 0,
            checked: false,
            last_use: 0,
            unsynced: Vec::new(),
            backlog: Vec::new(),
            backlog_records: 0,
            must_cut: false,
            failure: None,
            coalescing: false,
            listed_failing: false,
            ranges: Vec::new(),
            records: 0,
        });
        self.index.insert(key.to_vec(), self.hosts.len() - 1);
        Ok(self.hosts.len() - 1)
    }

    /// Queues `range` of this round's bytes (holding `records` records) for
    /// the host.
    pub fn add(&mut self, host: usize, range: Range<usize>, records: u64) {
        let h = &mut self.hosts[host];
        if h.ranges.is_empty() {
            self.dirty.push(host);
        }
        match h.ranges.last_mut() {
            Some(last) if last.end == range.start => last.end = range.end,
            _ => h.ranges.push(range),
        }
        h.records += records;
    }

    /// Appends every host's queued ranges to its file: one write (vectored)
    /// per host, with the records it had waiting. A host with fewer than
    /// `COALESCE_BYTES` keeps them waiting unless `flush.all`. Hosts whose
    /// writes failed are retried when `flush.retry`; otherwise their new
    /// records join their backlog untried, so a failing disk costs one
    /// attempt per host per retry interval.
    pub fn write_round(&mut self, bytes: &[u8], flush: Flush) {
        for host in std::mem::take(&mut self.dirty) {
            let h = &self.hosts[host];
            let waiting = h.backlog.len() + h.ranges.iter().map(|r| r.len()).sum::<usize>();
            if h.failure.is_some() && !flush.retry {
                self.keep_ranges(host, bytes);
            } else if h.failure.is_none()
                && self.settings.coalesce
                && !flush.all
                && waiting < COALESCE_BYTES
            {
                self.keep_ranges(host, bytes);
                if !self.hosts[host].coalescing {
                    self.hosts[host].coalescing = true;
                    self.coalescing.push(host);
                    self.coalescing_since.get_or_insert_with(Instant::now);
                }
            } else {
                self.write_host(host, bytes);
            }
        }
        if flush.all {
            for host in std::mem::take(&mut self.coalescing) {
                self.hosts[host].coalescing = false;
                if self.hosts[host].failure.is_none() && !self.hosts[host].backlog.is_empty() {
                    self.write_host(host, bytes);
                }
            }
            self.coalescing_since = None;
        }
        if flush.retry {
            for host in std::mem::take(&mut self.failing) {
                self.hosts[host].listed_failing = false;
                if !self.hosts[host].backlog.is_empty() {
                    self.write_host(host, bytes);
                }
            }
        }
        let hosts = &mut self.hosts;
        self.failing.retain(|&h| {
            hosts[h].listed_failing = hosts[h].failure.is_some();
            hosts[h].listed_failing
        });
        self.publish_gauges();
    }

    /// When the records that wait longest must be written.
    pub fn coalesce_deadline(&self) -> Option<Instant> {
        self.coalescing_since.map(|since| since + COALESCE_DELAY)
    }

    /// The first failure of a host with records not yet written.
    pub fn failure(&self) -> Option<Error> {
        let mut failing = self.failing.iter().map(|&h| &self.hosts[h]);
        let first = failing.next()?;
        let error = first.failure.clone()?;
        let others = self.failing.len() - 1;
        if others == 0 {
            return Some(error);
        }
        Some(error.with_context(format!("and {others} more hosts failing")))
    }

    pub fn backlog_bytes(&self) -> usize {
        self.backlog_bytes
    }

    /// Whether every accepted record is in its file (none failed, none
    /// waiting to be written with more).
    pub fn all_written(&self) -> bool {
        self.backlog_bytes == 0
    }

    /// Bytes written but not yet fdatasynced (kept in memory until they are).
    pub fn unsynced_bytes(&self) -> usize {
        self.unsynced_bytes
    }

    pub fn has_unsynced(&self) -> bool {
        !self.unsynced.is_empty() || !self.dirs_to_sync.is_empty()
    }

    fn publish_gauges(&self) {
        let failing = self.failing.iter().map(|&h| &self.hosts[h]);
        let (records, bytes) = failing.fold((0, 0), |(r, b), h| {
            (r + h.backlog_records, b + h.backlog.len() as u64)
        });
        let counters = &self.counters;
        counters.backlog_records.store(records, Ordering::Relaxed);
        counters.backlog_bytes.store(bytes, Ordering::Relaxed);
    }

    fn touch(&mut self, host: usize) {
        self.clock += 1;
        self.hosts[host].last_use = self.clock;
        self.lru.push_back((host, self.clock));
        if self.lru.len() > 4 * self.open.max(64) {
            let hosts = &self.hosts;
            self.lru
                .retain(|&(h, stamp)| hosts[h].last_use == stamp && hosts[h].file.is_some());
        }
    }

    fn close_file(&mut self, host: usize) {
        if self.hosts[host].file.take().is_some() {
            self.open -= 1;
            self.counters.open_files.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Closes the least recently used file; false when none is open.
    fn evict_one(&mut self) -> bool {
        while let Some((host, stamp)) = self.lru.pop_front() {
            if self.hosts[host].last_use == stamp && self.hosts[host].file.is_some() {
                self.close_file(host);
                return true;
            }
        }
        false
    }

    /// Runs `open`; when the process is out of descriptors, closes half of
    /// this shard's files and tries once more.
    fn open_with_eviction(&mut self, open: impl Fn() -> io::Result<File>) -> io::Result<File> {
        match open() {
            Err(e) if is_out_of_descriptors(&e) && self.open > 0 => {
                for _ in 0..self.open.div_ceil(2) {
                    self.evict_one();
                }
                open()
            }
            result => result,
        }
    }

    /// Opens the host's file for appending, creating it (and its
    /// directories) with the file magic, or checking an existing one for a
    /// torn tail the first time this process opens it.
    fn open_host(&mut self, host: usize) -> Result<(), Error> {
        if self.hosts[host].file.is_some() {
            self.touch(host);
            return Ok(());
        }
        while self.open >= self.settings.open_file_budget.max(1) && self.evict_one() {}
        // A checked file was open in this process: its directories exist,
        // so reopening it after an eviction costs one open.
        if !self.hosts[host].checked {
            // The new directories' entries become durable with the next
            // sync, together with the records.
            let created = self.hosts[host].dir.create()?;
            self.dirs_to_sync.extend(created);
        }
        if self.file_system.is_none() {
            // Without it every sync is one fdatasync per file.
            self.file_system = FileSystemSync::open(&self.settings.root).ok();
        }
        let path = self.hosts[host].dir.wal_path();
        let dir = self.hosts[host].dir.clone();
        let mut file = self
            .open_with_eviction(|| dir.open_wal(false))
            .map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    // Its directory went away: start over at the next attempt.
                    self.hosts[host].checked = false;
                }
                Error::io(format!("open {}", path.display()), &e)
            })?;
        if !self.hosts[host].checked {
            // The file may be new (or was made by an open whose first write
            // failed): its entry becomes durable with the next sync,
            // together with the records.
            self.dirs_to_sync.insert(self.hosts[host].dir.path.clone());
            let len = self.check_existing(host, &mut file, &path)?;
            let h = &mut self.hosts[host];
            h.len = len;
            h.checked = true;
            h.must_cut = false;
        }
        self.hosts[host].file = Some(file);
        self.open += 1;
        bump(&self.counters.open_files, 1);
        self.touch(host);
        Ok(())
    }

    /// Brings a just-opened file to a state where appending is safe:
    /// a header in an empty file, a torn tail cut off, a file with a bad
    /// header moved aside. Returns the length to append at.
    fn check_existing(&mut self, host: usize, file: &mut File, path: &Path) -> Result<u64, Error> {
        let size = file
            .metadata()
            .map_err(|e| Error::io(format!("stat {}", path.display()), &e))?
            .len();
        if size > 2 * TAIL_CHECK_BYTES {
            if let Some(len) = self.check_tail(host, file, path, size)? {
                self.hosts[host].synced_len = len;
                return Ok(len);
            }
        }
        let mut content = Vec::new();
        file.read_to_end(&mut content)
            .map_err(|e| Error::io(format!("read {}", path.display()), &e))?;
        let start = match wal::check_file_header(&content) {
            Ok(0) => {
                // Cut whatever a failed header write left, then write it.
                let header = wal::file_header();
                file.set_len(0)
                    .and_then(|()| file.write_all(&header))
                    .map_err(|e| Error::io(format!("write header of {}", path.display()), &e))?;
                // The header is kept like any unsynced record.
                let h = &mut self.hosts[host];
                h.synced_len = 0;
                self.unsynced_bytes -= h.unsynced.len();
                h.unsynced.clear();
                h.unsynced.extend_from_slice(&header);
                self.note_unsynced(host, true, header.len());
                return Ok(header.len() as u64);
            }
            Ok(start) => start,
            Err(e) => {
                let aside = self.hosts[host].dir.move_aside(path)?;
                self.event(
                    host,
                    EventLevel::Warning,
                    format!(
                        "{}: {e}; moved to {} and started a new WAL",
                        path.display(),
                        aside.display()
                    ),
                );
                *file = self.hosts[host]
                    .dir
                    .open_wal(true)
                    .map_err(|e| Error::io(format!("create {}", path.display()), &e))?;
                return self.check_existing(host, file, path);
            }
        };
        let mut reader = WalReader::new(&content, start, false);
        let damage = reader.by_ref().find_map(|item| match item {
            WalItem::Damaged { offset, len, error } => Some((offset, len, error)),
            WalItem::Record { .. } => None,
        });
        let len = match damage {
            Some((offset, len, error)) => {
                self.cut_tail(host, file, path, offset as u64, len, error)?
            }
            None => content.len() as u64,
        };
        // What an earlier process left is as durable as it will get; this
        // process vouches only for what it writes itself.
        self.hosts[host].synced_len = len;
        Ok(len)
    }

    /// [`HostFiles::check_existing`] of a large file: checks its header and
    /// looks for a torn tail in its last `TAIL_CHECK_BYTES` only (what comes
    /// before was written whole: every failed append is cut back). `None`
    /// when that is not enough to tell (a bad header, no whole record in
    /// the window): the caller reads the whole file.
    fn check_tail(
        &mut self,
        host: usize,
        file: &File,
        path: &Path,
        size: u64,
    ) -> Result<Option<u64>, Error> {
        let read_error = |e: io::Error| Error::io(format!("read {}", path.display()), &e);
        let mut header = [0u8; wal::FILE_HEADER_LEN];
        file.read_exact_at(&mut header, 0).map_err(read_error)?;
        if wal::check_file_header(&header).is_err() {
            return Ok(None);
        }
        let base = size - TAIL_CHECK_BYTES;
        let mut window = vec![0u8; TAIL_CHECK_BYTES as usize];
        file.read_exact_at(&mut window, base).map_err(read_error)?;
        let first = match wal::decode_record(&window) {
            Ok(_) => Some(0),
            Err(_) => wal::find_next_record(&window, 0),
        };
        let Some(first) = first else {
            return Ok(None);
        };
        let damage = WalReader::new(&window, first, false).find_map(|item| match item {
            WalItem::Damaged { offset, len, error } => Some((offset, len, error)),
            WalItem::Record { .. } => None,
        });
        Ok(Some(match damage {
            Some((offset, len, error)) => {
                self.cut_tail(host, file, path, base + offset as u64, len, error)?
            }
            None => size,
        }))
    }

    /// Cuts a torn tail off at `offset`; returns the new length. Made
    /// durable at once (rare): a sealed segment must never get the torn
    /// bytes back after a crash.
    fn cut_tail(
        &mut self,
        host: usize,
        file: &File,
        path: &Path,
        offset: u64,
        len: usize,
        error: wal::RecordError,
    ) -> Result<u64, Error> {
        file.set_len(offset)
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::io(format!("truncate {}", path.display()), &e))?;
        bump(&self.counters.torn_tails_repaired, 1);
        self.event(
            host,
            EventLevel::Warning,
            format!(
                "{}: cut {len} damaged bytes at offset {offset} ({error})",
                path.display()
            ),
        );
        Ok(offset)
    }

    /// Counts `added` bytes that joined the host's unsynced copy (see
    /// [`Host::copy_written`]); a copy that was empty puts the host on the
    /// list of files to sync.
    fn note_unsynced(&mut self, host: usize, was_empty: bool, added: usize) {
        if was_empty && added > 0 {
            self.unsynced.push(host);
        }
        self.unsynced_bytes += added;
    }

    /// Puts this round's ranges of the host at the end of its backlog.
    fn keep_ranges(&mut self, host: usize, bytes: &[u8]) {
        let h = &mut self.hosts[host];
        if h.backlog.capacity() == 0 {
            h.backlog = self.pool.take();
        }
        let ranges = std::mem::take(&mut h.ranges);
        for range in &ranges {
            h.backlog.extend_from_slice(&bytes[range.clone()]);
            self.backlog_bytes += range.len();
        }
        h.backlog_records += std::mem::replace(&mut h.records, 0);
        // Keep the allocation of the range list for the next round.
        let mut ranges = ranges;
        ranges.clear();
        h.ranges = ranges;
    }

    /// Writes the host's backlog and this round's ranges; on failure keeps
    /// them all in the backlog.
    fn write_host(&mut self, host: usize, bytes: &[u8]) {
        self.rotate_if_oversized(host);
        match self.append(host, bytes) {
            Ok(()) => {
                let h = &mut self.hosts[host];
                let records = h.records + h.backlog_records;
                let total: usize =
                    h.backlog.len() + h.ranges.iter().map(|r| r.len()).sum::<usize>();
                self.backlog_bytes -= h.backlog.len();
                // Back to the pool, not kept: most hosts wait between
                // writes, and a buffer kept per host would grow memory with
                // the number of hosts rather than with the bytes waiting.
                self.pool.give_back(std::mem::take(&mut h.backlog));
                h.backlog_records = 0;
                h.records = 0;
                h.ranges.clear();
                if h.failure.take().is_some() {
                    self.event(host, EventLevel::Info, "writing again".to_string());
                }
                bump(&self.counters.written, records);
                bump(&self.counters.bytes_written, total as u64);
            }
            Err(error) => {
                self.keep_ranges(host, bytes);
                self.fail(host, error);
            }
        }
    }

    /// Marks the host failing (its backlog waits for a retry); counts and
    /// reports the error when it is a new one.
    fn fail(&mut self, host: usize, error: Error) {
        let h = &mut self.hosts[host];
        if !h.listed_failing {
            h.listed_failing = true;
            self.failing.push(host);
        }
        let new = h.failure.as_ref().map(Error::os_code) != Some(error.os_code());
        h.failure = Some(error.clone());
        if new {
            self.counters
                .write_error(WriteErrorKind::of(error.os_code()), 0);
            let records = self.hosts[host].backlog_records;
            self.event(
                host,
                EventLevel::Error,
                format!("{error}; {records} records kept in memory and retried"),
            );
        }
    }

    fn rotate_if_oversized(&mut self, host: usize) {
        let max = self.settings.max_wal_bytes;
        let h = &self.hosts[host];
        if max == 0 || !h.checked || h.len < max {
            return;
        }
        let size = h.len;
        if self.delete_wal(host, false).is_ok() {
            bump(&self.counters.size_rotations, 1);
            self.event(
                host,
                EventLevel::Warning,
                format!("WAL reached {size} bytes (limit {max}): deleted and restarted"),
            );
        }
    }

    /// Opens the file, cuts off what a failed write left, and appends the
    /// backlog and this round's ranges with one vectored write. On failure
    /// the file is cut back to its last whole record (or marked to be cut
    /// before the next append).
    fn append(&mut self, host: usize, bytes: &[u8]) -> Result<(), Error> {
        self.open_host(host)?;
        let h = &mut self.hosts[host];
        // The path is built only for an error (or a test's fault injector).
        let error =
            |dir: &HostDir, what: &str, e: &io::Error| Error::io_at(what, &dir.wal_path(), e);
        let file = h.file.as_mut().expect("opened by open_host");
        if h.must_cut {
            file.set_len(h.len)
                .map_err(|e| error(&h.dir, "truncate", &e))?;
            h.must_cut = false;
        }
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(h.ranges.len() + 1);
        if !h.backlog.is_empty() {
            slices.push(IoSlice::new(&h.backlog));
        }
        slices.extend(h.ranges.iter().map(|r| IoSlice::new(&bytes[r.clone()])));
        let total: usize = slices.iter().map(|s| s.len()).sum();
        let fault = self
            .settings
            .fault_injector
            .as_ref()
            .and_then(|inject| inject(&h.dir.wal_path()));
        match write_all_vectored(file, &mut slices, total, fault) {
            Ok(()) => {
                h.len += total as u64;
                if h.unsynced.capacity() == 0 {
                    h.unsynced = self.pool.take();
                }
                let was_empty = h.unsynced.is_empty();
                let added = h.copy_written(bytes);
                self.note_unsynced(host, was_empty, added);
                Ok(())
            }
            Err(e) => {
                h.must_cut = file.set_len(h.len).is_err();
                Err(error(&h.dir, "append to", &e))
            }
        }
    }

    /// Deletes the host's current.wal (closing it first), with whatever it
    /// has not written yet: Go's rotation, after a checkpoint that holds
    /// its records. A missing file is not an error. Returns whether a file
    /// was deleted.
    fn delete_wal(&mut self, host: usize, drop_backlog: bool) -> Result<bool, Error> {
        self.close_file(host);
        let h = &mut self.hosts[host];
        h.checked = false;
        h.len = 0;
        h.synced_len = 0;
        h.must_cut = false;
        self.unsynced_bytes -= h.unsynced.len();
        self.pool.give_back(std::mem::take(&mut h.unsynced));
        if drop_backlog {
            self.backlog_bytes -= h.backlog.len();
            self.pool.give_back(std::mem::take(&mut h.backlog));
            h.backlog_records = 0;
            h.failure = None;
        }
        let removal = h.dir.remove([h.dir.wal_path()]);
        match removal.errors.into_iter().next() {
            Some((_, error)) => Err(error),
            None => Ok(!removal.removed.is_empty()),
        }
    }

    /// Go's rotation: close and delete the host's current.wal.
    pub fn rotate(&mut self, key: &[u8], cluster_len: usize) -> Result<(), Error> {
        let host = self.host_index(key, cluster_len)?;
        if self.delete_wal(host, true)? {
            bump(&self.counters.rotations, 1);
        }
        if std::mem::take(&mut self.hosts[host].listed_failing) {
            self.failing.retain(|&h| h != host);
        }
        self.publish_gauges();
        Ok(())
    }

    /// Makes the host's file durable: written backlog, fdatasync (reopening
    /// the file if it was evicted), new directory entries.
    fn sync_host(&mut self, host: usize) -> Result<(), Error> {
        self.write_backlog(host)?;
        if self.hosts[host].unsynced.is_empty() {
            return Ok(());
        }
        let path = self.hosts[host].dir.wal_path();
        let result = match self.hosts[host].file.as_ref() {
            Some(file) => file.sync_data(),
            None => match self.open_with_eviction(|| File::open(&path)) {
                Ok(file) => file.sync_data(),
                // The data is still in the page cache: retry the sync later.
                Err(e) => return Err(Error::io(format!("open {}", path.display()), &e)),
            },
        };
        bump(&self.counters.fsyncs, 1);
        match result {
            Ok(()) => {
                self.synced(host);
                Ok(())
            }
            Err(e) => {
                let error = Error::io_at("fdatasync", &path, &e);
                self.rewrite_after_failed_sync(host);
                self.fail(host, error.clone());
                self.publish_gauges();
                Err(error)
            }
        }
    }

    /// Writes the host's waiting records, before a sync; the error when
    /// they stay unwritten.
    fn write_backlog(&mut self, host: usize) -> Result<(), Error> {
        if !self.hosts[host].backlog.is_empty() {
            self.write_host(host, &[]);
            if let Some(error) = &self.hosts[host].failure {
                return Err(error.clone());
            }
        }
        Ok(())
    }

    /// Everything written to the host's file is on stable storage: its
    /// copy is no longer needed.
    fn synced(&mut self, host: usize) {
        let h = &mut self.hosts[host];
        h.synced_len = h.len;
        self.unsynced_bytes -= h.unsynced.len();
        // Back to the pool, as a written backlog: memory follows the
        // bytes kept.
        self.pool.give_back(std::mem::take(&mut h.unsynced));
    }

    /// After a failed fdatasync nothing written since the last good one can
    /// be trusted: cut the file back to the synced length and queue the
    /// kept copy to be written again, ahead of the backlog.
    fn rewrite_after_failed_sync(&mut self, host: usize) {
        self.close_file(host);
        let h = &mut self.hosts[host];
        let mut again = std::mem::take(&mut h.unsynced);
        self.unsynced_bytes -= again.len();
        self.backlog_bytes += again.len();
        again.append(&mut h.backlog);
        h.backlog = again;
        h.len = h.synced_len;
        h.must_cut = true;
        if h.len == 0 {
            // The header is in the copy: write it again like the records.
            h.checked = true;
        }
    }

    fn sync_dirs(&mut self) -> Result<(), Error> {
        let mut first_error = None;
        for dir in std::mem::take(&mut self.dirs_to_sync) {
            bump(&self.counters.fsyncs, 1);
            if let Err(e) = storage::sync_dir(&dir) {
                first_error.get_or_insert(e);
                self.dirs_to_sync.insert(dir);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Closes the host's current.wal (after writing its backlog and an
    /// fdatasync) and renames it to a sealed segment named by `label`, so
    /// that new records go to a fresh file; returns every sealed segment
    /// the host has, oldest first, older ones included. Fails, and leaves
    /// the file as it is, when its records cannot all be made durable.
    pub fn seal(
        &mut self,
        key: &[u8],
        cluster_len: usize,
        label: i64,
    ) -> Result<Vec<PathBuf>, Error> {
        let host = self.host_index(key, cluster_len)?;
        // A file this process never opened may end in a torn record (a
        // crash): cut it before it becomes a segment that must read whole.
        if !self.hosts[host].checked && self.hosts[host].dir.wal_path().exists() {
            self.open_host(host)?;
        }
        self.sync_dirs()?;
        self.sync_host(host)?;
        self.close_file(host);
        let h = &mut self.hosts[host];
        h.checked = false;
        h.len = 0;
        h.synced_len = 0;
        h.dir.seal_wal(label)?;
        Ok(h.dir.list()?.sealed)
    }

    /// fdatasync of every file written since the last call (files closed
    /// meanwhile are reopened for it) and of new directory entries. A host
    /// whose fdatasync fails is rewritten from its copy at the next retry.
    pub fn sync(&mut self) -> Result<(), Error> {
        if self.unsynced.len() >= SYNCFS_MIN_FILES && self.file_system.is_some() {
            return self.sync_file_system();
        }
        let mut first_error = self.sync_dirs().err();
        for host in std::mem::take(&mut self.unsynced) {
            if self.hosts[host].unsynced.is_empty() {
                continue;
            }
            if let Err(error) = self.sync_host(host) {
                first_error.get_or_insert(error);
                if !self.hosts[host].unsynced.is_empty() {
                    self.unsynced.push(host);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// [`HostFiles::sync`] with one syncfs: writes the waiting records of
    /// the hosts to sync, then flushes the file system, directories
    /// included. When it fails, every one of those hosts is rewritten from
    /// its copy, as after a failed fdatasync (the error may have hit any).
    fn sync_file_system(&mut self) -> Result<(), Error> {
        let hosts = std::mem::take(&mut self.unsynced);
        let mut first_error = None;
        for &host in &hosts {
            if let Err(error) = self.write_backlog(host) {
                first_error.get_or_insert(error);
            }
        }
        bump(&self.counters.fsyncs, 1);
        let synced = self.file_system.as_ref().expect("checked by sync").sync();
        for host in hosts {
            let h = &mut self.hosts[host];
            if h.unsynced.is_empty() {
                continue;
            }
            match &synced {
                Ok(()) => self.synced(host),
                Err(error) => {
                    self.rewrite_after_failed_sync(host);
                    self.fail(host, error.clone());
                }
            }
        }
        match synced {
            Ok(()) => self.dirs_to_sync.clear(),
            Err(error) => {
                self.publish_gauges();
                first_error = Some(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// A last attempt to write (and, unless durability is `None`, sync)
    /// everything, then closes every file. Returns the first error; records
    /// still not written then are lost, and counted.
    pub fn close_all(&mut self) -> Result<(), Error> {
        self.write_round(&[], Flush::EVERYTHING);
        let mut result = match self.failure() {
            Some(error) => Err(error),
            None => Ok(()),
        };
        if self.settings.sync_on_close {
            let synced = self.sync();
            if result.is_ok() {
                result = synced;
            }
        }
        for host in std::mem::take(&mut self.failing) {
            let h = &mut self.hosts[host];
            h.listed_failing = false;
            let lost = std::mem::replace(&mut h.backlog_records, 0);
            if lost > 0 {
                let kind = WriteErrorKind::of(h.failure.as_ref().and_then(Error::os_code));
                self.counters.write_error(kind, lost);
                self.event(
                    host,
                    EventLevel::Error,
                    format!("{lost} records lost at close"),
                );
            }
        }
        for host in 0..self.hosts.len() {
            self.close_file(host);
        }
        result
    }
}

/// Writes all of `slices` (`total` bytes), or fails as `fault` says.
fn write_all_vectored(
    file: &mut File,
    slices: &mut [IoSlice<'_>],
    total: usize,
    fault: Option<WriteFault>,
) -> io::Result<()> {
    if let Some(fault) = fault {
        let data: Vec<u8> = slices.iter().flat_map(|s| s.iter().copied()).collect();
        file.write_all(&data[..fault.after_bytes.min(total)])?;
        return Err(fault.error);
    }
    let mut slices = slices;
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "write returned 0")),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
