//! The WAL files of one shard's hosts, owned by its writer thread: which
//! records each host has this round, which wait to be written with more
//! or after a failure, and the rule that no accepted record is dropped
//! because a system call failed. Each job has a room of its own:
//!
//! - [`descriptors`]: a budget of open descriptors, least recently used
//!   closed first;
//! - [`repair`]: a file's first open in this process (header, torn tail,
//!   bad header moved aside), with every change made through
//!   [`HostDir`];
//! - [`backlog`]: records accepted but not written yet, with the total
//!   they hold, and the pool of emptied buffers;
//! - [`sync`]: what the next sync must make durable (the copy of every
//!   byte not yet fdatasynced, new directory entries), fdatasync or
//!   syncfs, and the rewrite from that copy after a failed one;
//! - here: appends that never leave a partial record, coalescing,
//!   retries, rotation and sealing.
//!
//! The rules:
//!
//! - a failed `write`/`open` keeps the host's records (and every later one)
//!   in its backlog, in order; the file is cut back to its last whole
//!   record and the backlog is retried until it is written;
//! - small appends are coalesced: a host's records wait in its backlog
//!   until it has [`COALESCE_BYTES`] of them, for at most
//!   [`COALESCE_DELAY`], or until `flush`, `sync`, a control or close asks,
//!   so a write carries kilobytes, not a few records (not under `Always`);
//! - a failed `fdatasync` is never retried as if the data were safe: every
//!   byte written since the host's last good fdatasync is kept in memory,
//!   and after a failure the file is cut back to the synced length and
//!   those bytes are written again from that copy.

mod backlog;
mod descriptors;
mod repair;
mod sync;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::stats::{Counters, Event, EventHook, EventLevel, WriteErrorKind, bump};
use super::tunables::{COALESCE_BYTES, COALESCE_DELAY};
use crate::codec::wal;
use crate::error::Error;
use crate::storage::{HostDir, SyncData, WalOpen};
use backlog::{Backlog, BufferPool};
use descriptors::Descriptors;
use repair::{Checked, Repair};
use sync::Unsynced;

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

/// What [`HostFiles`] knows of one host's file; its descriptor, backlog
/// and unsynced copy live in their own rooms, under the same index.
struct Host {
    dir: HostDir,
    /// Bytes of the file that hold its header and whole records (valid
    /// while `checked`).
    len: u64,
    /// Of those, the bytes known to be on stable storage.
    synced_len: u64,
    /// The existing file was checked for a torn tail in this process.
    checked: bool,
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
    /// Bytes of this round's ranges.
    fn round_bytes(&self) -> usize {
        self.ranges.iter().map(|r| r.len()).sum()
    }

    /// This round's ranges of `bytes`.
    fn round_slices<'a>(&'a self, bytes: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
        self.ranges.iter().map(move |r| &bytes[r.clone()])
    }
}

/// What happens to the backlog of a host whose current.wal is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backlogged {
    /// Written to the new file: the deletion is the size limit's.
    Keep,
    /// Dropped with the file: a checkpoint holds those records.
    Drop,
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
    descriptors: Descriptors,
    backlog: Backlog,
    unsynced: Unsynced,
    pool: BufferPool,
    /// Hosts with ranges waiting in this round.
    dirty: Vec<usize>,
    /// Hosts whose writes failed (they have a backlog).
    failing: Vec<usize>,
    /// Hosts whose backlog waits to be written with more (no failure), and
    /// when the first of them began to wait.
    coalescing: Vec<usize>,
    coalescing_since: Option<Instant>,
}

impl HostFiles {
    pub fn new(settings: Arc<FileSettings>, counters: Arc<Counters>) -> Self {
        HostFiles {
            descriptors: Descriptors::new(settings.open_file_budget, counters.clone()),
            settings,
            counters,
            hosts: Vec::new(),
            index: HashMap::new(),
            backlog: Backlog::default(),
            unsynced: Unsynced::default(),
            pool: BufferPool::default(),
            dirty: Vec::new(),
            failing: Vec::new(),
            coalescing: Vec::new(),
            coalescing_since: None,
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
            len: 0,
            synced_len: 0,
            checked: false,
            must_cut: false,
            failure: None,
            coalescing: false,
            listed_failing: false,
            ranges: Vec::new(),
            records: 0,
        });
        self.descriptors.add_host();
        self.backlog.add_host();
        self.unsynced.add_host();
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
    /// [`COALESCE_BYTES`] keeps them waiting unless `flush.all`. Hosts whose
    /// writes failed are retried when `flush.retry`; otherwise their new
    /// records join their backlog untried, so a failing disk costs one
    /// attempt per host per retry interval.
    pub fn write_round(&mut self, bytes: &[u8], flush: Flush) {
        for host in std::mem::take(&mut self.dirty) {
            let h = &self.hosts[host];
            let waiting = self.backlog.bytes(host).len() + h.round_bytes();
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
                if self.hosts[host].failure.is_none() && !self.backlog.is_empty(host) {
                    self.write_host(host, bytes);
                }
            }
            self.coalescing_since = None;
        }
        if flush.retry {
            for host in std::mem::take(&mut self.failing) {
                self.hosts[host].listed_failing = false;
                if !self.backlog.is_empty(host) {
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
        self.backlog.total_bytes()
    }

    /// Whether every accepted record is in its file (none failed, none
    /// waiting to be written with more).
    pub fn all_written(&self) -> bool {
        self.backlog.total_bytes() == 0
    }

    /// Bytes written but not yet fdatasynced (kept in memory until they are).
    pub fn unsynced_bytes(&self) -> usize {
        self.unsynced.total_bytes()
    }

    pub fn has_unsynced(&self) -> bool {
        self.unsynced.any_waiting()
    }

    fn publish_gauges(&self) {
        let (records, bytes) = self.failing.iter().fold((0, 0), |(r, b), &h| {
            (
                r + self.backlog.records(h),
                b + self.backlog.bytes(h).len() as u64,
            )
        });
        let counters = &self.counters;
        counters.backlog_records.store(records, Ordering::Relaxed);
        counters.backlog_bytes.store(bytes, Ordering::Relaxed);
    }

    /// Opens the host's file for appending, creating it (and its
    /// directories) with the file magic, or checking an existing one for a
    /// torn tail the first time this process opens it.
    fn open_host(&mut self, host: usize) -> Result<(), Error> {
        if self.descriptors.touch_if_open(host) {
            return Ok(());
        }
        self.descriptors.make_room();
        // A checked file was open in this process: its directories exist,
        // so reopening it after an eviction costs one open.
        if !self.hosts[host].checked {
            // The new directories' entries become durable with the next
            // sync, together with the records.
            let created = self.hosts[host].dir.create()?;
            self.unsynced.add_dirs(created);
        }
        self.unsynced.open_file_system(&self.settings.root);
        let dir = &self.hosts[host].dir;
        let mut file = match self
            .descriptors
            .open_with_eviction(|| dir.open_wal(WalOpen::CreateOrAppend))
        {
            Ok(file) => file,
            Err(e) => {
                let error = Error::io_at("open", &dir.wal_path(), &e);
                if e.kind() == io::ErrorKind::NotFound {
                    // Its directory went away: start over at the next attempt.
                    self.hosts[host].checked = false;
                }
                return Err(error);
            }
        };
        if !self.hosts[host].checked {
            // The file may be new (or was made by an open whose first write
            // failed): its entry becomes durable with the next sync,
            // together with the records.
            let dir = self.hosts[host].dir.path.clone();
            self.unsynced.add_dirs([dir]);
            self.check_existing(host, &mut file)?;
        }
        self.descriptors.insert(host, file);
        Ok(())
    }

    /// Brings a just-opened file to a state where appending is safe (see
    /// [`repair::check_wal`]) and sets where appends start.
    fn check_existing(&mut self, host: usize, file: &mut File) -> Result<(), Error> {
        let mut repairs = Vec::new();
        let checked = repair::check_wal(&self.hosts[host].dir, file, &mut |r| repairs.push(r));
        for repair in repairs {
            if matches!(repair, Repair::TornTail { .. }) {
                bump(&self.counters.torn_tails_repaired, 1);
            }
            let message = repair.message(&self.hosts[host].dir);
            self.event(host, EventLevel::Warning, message);
        }
        let h = &mut self.hosts[host];
        match checked? {
            Checked::NewHeader => {
                // The header is kept like any unsynced record.
                let header = wal::file_header();
                h.len = header.len() as u64;
                h.synced_len = 0;
                self.unsynced.start_with(host, &header);
            }
            Checked::Existing(len) => {
                // This process vouches only for what it writes itself.
                h.len = len;
                h.synced_len = len;
            }
        }
        h.checked = true;
        h.must_cut = false;
        Ok(())
    }

    /// Puts this round's ranges of the host at the end of its backlog.
    fn keep_ranges(&mut self, host: usize, bytes: &[u8]) {
        let h = &mut self.hosts[host];
        let records = std::mem::replace(&mut h.records, 0);
        self.backlog
            .keep(host, h.round_slices(bytes), records, &mut self.pool);
        // Keeps the allocation of the range list for the next round.
        h.ranges.clear();
    }

    /// Writes the host's backlog and this round's ranges; on failure keeps
    /// them all in the backlog.
    fn write_host(&mut self, host: usize, bytes: &[u8]) {
        self.rotate_if_oversized(host);
        match self.append(host, bytes) {
            Ok(()) => {
                let total = self.backlog.bytes(host).len() + self.hosts[host].round_bytes();
                let records = self.hosts[host].records + self.backlog.clear(host, &mut self.pool);
                let h = &mut self.hosts[host];
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
            let records = self.backlog.records(host);
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
        if self.delete_wal(host, Backlogged::Keep).is_ok() {
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
        let file = self.descriptors.file(host).expect("opened by open_host");
        if h.must_cut {
            h.dir.cut_wal(file, h.len, SyncData::Later)?;
            h.must_cut = false;
        }
        let backlog = self.backlog.bytes(host);
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(h.ranges.len() + 1);
        if !backlog.is_empty() {
            slices.push(IoSlice::new(backlog));
        }
        slices.extend(h.round_slices(bytes).map(IoSlice::new));
        let total: usize = slices.iter().map(|s| s.len()).sum();
        // The path is built only for a test's fault injector (or an error).
        let fault = self
            .settings
            .fault_injector
            .as_ref()
            .and_then(|inject| inject(&h.dir.wal_path()));
        match write_all_vectored(file, &mut slices, total, fault) {
            Ok(()) => {
                h.len += total as u64;
                let written = std::iter::once(backlog).chain(h.round_slices(bytes));
                self.unsynced.add(host, written, &mut self.pool);
                Ok(())
            }
            Err(e) => {
                h.must_cut = h.dir.cut_wal(file, h.len, SyncData::Later).is_err();
                let path = h.dir.wal_path();
                Err(Error::io_at("append to", &path, &e))
            }
        }
    }

    /// Deletes the host's current.wal (closing it first), and its backlog
    /// as `backlogged` says: Go's rotation, after a checkpoint that holds
    /// its records. A missing file is not an error. Returns whether a file
    /// was deleted.
    fn delete_wal(&mut self, host: usize, backlogged: Backlogged) -> Result<bool, Error> {
        self.descriptors.close(host);
        self.unsynced.release(host, &mut self.pool);
        if backlogged == Backlogged::Drop {
            self.backlog.clear(host, &mut self.pool);
            self.hosts[host].failure = None;
        }
        let h = &mut self.hosts[host];
        h.checked = false;
        h.len = 0;
        h.synced_len = 0;
        h.must_cut = false;
        let removal = h.dir.remove([h.dir.wal_path()]);
        match removal.errors.into_iter().next() {
            Some((_, error)) => Err(error),
            None => Ok(!removal.removed.is_empty()),
        }
    }

    /// Go's rotation: close and delete the host's current.wal.
    pub fn rotate(&mut self, key: &[u8], cluster_len: usize) -> Result<(), Error> {
        let host = self.host_index(key, cluster_len)?;
        if self.delete_wal(host, Backlogged::Drop)? {
            bump(&self.counters.rotations, 1);
        }
        if std::mem::take(&mut self.hosts[host].listed_failing) {
            self.failing.retain(|&h| h != host);
        }
        self.publish_gauges();
        Ok(())
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
        self.descriptors.close(host);
        let h = &mut self.hosts[host];
        h.checked = false;
        h.len = 0;
        h.synced_len = 0;
        h.dir.seal_wal(label)?;
        Ok(h.dir.list()?.sealed)
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
            self.hosts[host].listed_failing = false;
            let lost = self.backlog.forget_records(host);
            if lost > 0 {
                let failure = self.hosts[host].failure.as_ref();
                let kind = WriteErrorKind::of(failure.and_then(Error::os_code));
                self.counters.write_error(kind, lost);
                self.event(
                    host,
                    EventLevel::Error,
                    format!("{lost} records lost at close"),
                );
            }
        }
        self.descriptors.close_all();
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::codec::wal::{OnDamage, WalItem, WalReader};

    const KEY: &[u8] = b"c\0h";

    fn host_files(root: &Path, configure: impl FnOnce(&mut FileSettings)) -> HostFiles {
        let mut settings = FileSettings {
            root: root.to_path_buf(),
            open_file_budget: 8,
            max_wal_bytes: 0,
            sync_on_close: true,
            coalesce: true,
            event_hook: None,
            fault_injector: None,
        };
        configure(&mut settings);
        HostFiles::new(Arc::new(settings), Arc::new(Counters::default()))
    }

    /// Host files whose appends write `after_bytes`, then fail with `errno`,
    /// while the flag returned is set.
    fn files_with_fault(
        root: &Path,
        after_bytes: usize,
        errno: i32,
    ) -> (HostFiles, Arc<AtomicBool>) {
        let failing = Arc::new(AtomicBool::new(false));
        let fault = failing.clone();
        let files = host_files(root, |settings| {
            settings.fault_injector = Some(Arc::new(move |_: &Path| {
                fault.load(Ordering::Relaxed).then(|| WriteFault {
                    after_bytes,
                    error: io::Error::from_raw_os_error(errno),
                })
            }));
        });
        (files, failing)
    }

    /// One record per timestamp.
    fn records(timestamps: Range<i64>) -> Vec<u8> {
        let mut out = Vec::new();
        for ts in timestamps {
            wal::encode_record_unchecked(&mut out, ts, b"m", &[b"cpu0"], 0);
        }
        out
    }

    /// Queues all of `bytes` (holding `count` records) for the host and
    /// runs a round.
    fn round(files: &mut HostFiles, bytes: &[u8], count: u64, flush: Flush) {
        let host = files.host_index(KEY, 1).unwrap();
        files.add(host, 0..bytes.len(), count);
        files.write_round(bytes, flush);
    }

    /// The timestamps of the records in the host's WAL; panics on damage.
    fn timestamps(root: &Path) -> Vec<i64> {
        let content = std::fs::read(root.join("c/h/current.wal")).unwrap_or_default();
        let start = wal::check_file_header(&content).unwrap();
        WalReader::new(&content, start, OnDamage::Stop)
            .map(|item| match item {
                WalItem::Record { record, .. } => record.ts,
                damaged => panic!("{damaged:?}"),
            })
            .collect()
    }

    const QUIET: Flush = Flush {
        retry: false,
        all: false,
    };

    #[test]
    fn small_appends_wait_until_enough_bytes_or_a_flush() {
        let root = tempfile::tempdir().unwrap();
        let mut files = host_files(root.path(), |_| {});
        round(&mut files, &records(0..2), 2, QUIET);
        assert_eq!(timestamps(root.path()), [] as [i64; 0]);
        assert!(files.coalesce_deadline().is_some());
        assert!(!files.all_written());
        // Enough bytes waiting: written with the new ones, in order.
        let many = (COALESCE_BYTES / records(0..1).len()) as i64;
        round(&mut files, &records(2..2 + many), many as u64, QUIET);
        assert_eq!(timestamps(root.path()), (0..2 + many).collect::<Vec<_>>());
        round(&mut files, &records(100..101), 1, QUIET);
        round(&mut files, &[], 0, Flush::EVERYTHING);
        assert_eq!(timestamps(root.path()).last(), Some(&100));
        assert!(files.all_written());
        assert_eq!(files.coalesce_deadline(), None);
        assert_eq!(
            files.counters.written.load(Ordering::Relaxed),
            3 + many as u64
        );
    }

    #[test]
    fn a_failed_write_keeps_the_records_and_the_file_whole_until_a_retry() {
        let root = tempfile::tempdir().unwrap();
        let (mut files, failing) = files_with_fault(root.path(), 5, libc::ENOSPC);
        failing.store(true, Ordering::Relaxed);
        round(&mut files, &records(0..3), 3, Flush::EVERYTHING);
        assert_eq!(files.failure().unwrap().os_code(), Some(libc::ENOSPC));
        // The partial write was cut off: the file holds whole records only.
        assert_eq!(timestamps(root.path()), [] as [i64; 0]);
        assert_eq!(files.counters.backlog_records.load(Ordering::Relaxed), 3);
        // Without a retry, new records join the backlog untried.
        round(&mut files, &records(3..4), 1, QUIET);
        assert_eq!(files.backlog_bytes(), records(0..4).len());
        failing.store(false, Ordering::Relaxed);
        round(&mut files, &[], 0, Flush::EVERYTHING);
        assert!(files.failure().is_none());
        assert_eq!(timestamps(root.path()), [0, 1, 2, 3]);
        assert_eq!(files.backlog_bytes(), 0);
        assert_eq!(files.counters.backlog_records.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn after_a_failed_sync_the_unsynced_bytes_are_written_again_once() {
        let root = tempfile::tempdir().unwrap();
        let mut files = host_files(root.path(), |_| {});
        round(&mut files, &records(0..2), 2, Flush::EVERYTHING);
        files.sync().unwrap();
        assert_eq!(files.unsynced_bytes(), 0);
        round(&mut files, &records(2..4), 2, Flush::EVERYTHING);
        assert_eq!(files.unsynced_bytes(), records(2..4).len());
        // As if the fdatasync had failed: the file goes back to its synced
        // length and the copy is written again, ahead of newer records.
        let host = files.host_index(KEY, 1).unwrap();
        files.rewrite_after_failed_sync(host);
        assert_eq!(files.unsynced_bytes(), 0);
        assert_eq!(files.backlog_bytes(), records(2..4).len());
        round(&mut files, &records(4..5), 1, Flush::EVERYTHING);
        assert_eq!(timestamps(root.path()), [0, 1, 2, 3, 4]);
        files.sync().unwrap();
        assert!(!files.has_unsynced());
    }

    #[test]
    fn a_new_file_s_header_is_rewritten_with_its_records_after_a_failed_sync() {
        let root = tempfile::tempdir().unwrap();
        let mut files = host_files(root.path(), |_| {});
        round(&mut files, &records(0..1), 1, Flush::EVERYTHING);
        let host = files.host_index(KEY, 1).unwrap();
        assert_eq!(
            files.unsynced_bytes(),
            wal::FILE_HEADER_LEN + records(0..1).len()
        );
        files.rewrite_after_failed_sync(host);
        round(&mut files, &[], 0, Flush::EVERYTHING);
        assert_eq!(timestamps(root.path()), [0]);
    }

    #[test]
    fn a_wal_at_its_size_limit_is_restarted_and_a_rotation_drops_the_backlog() {
        let root = tempfile::tempdir().unwrap();
        let limit = records(0..10).len() as u64;
        let mut files = host_files(root.path(), |settings| settings.max_wal_bytes = limit);
        round(&mut files, &records(0..10), 10, Flush::EVERYTHING);
        round(&mut files, &records(10..11), 1, Flush::EVERYTHING);
        assert_eq!(timestamps(root.path()), [10]);
        assert_eq!(files.counters.size_rotations.load(Ordering::Relaxed), 1);
        round(&mut files, &records(11..12), 1, QUIET);
        files.rotate(KEY, 1).unwrap();
        assert!(!root.path().join("c/h/current.wal").exists());
        assert!(files.all_written());
        assert_eq!(files.unsynced_bytes(), 0);
        assert_eq!(files.counters.rotations.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn sealing_syncs_and_renames_the_wal_and_closing_counts_lost_records() {
        let root = tempfile::tempdir().unwrap();
        let (mut files, fail) = files_with_fault(root.path(), 0, libc::EIO);
        round(&mut files, &records(0..2), 2, QUIET);
        let sealed = files.seal(KEY, 1, 7).unwrap();
        assert_eq!(sealed.len(), 1);
        assert_eq!(files.unsynced_bytes(), 0);
        assert!(!root.path().join("c/h/current.wal").exists());
        fail.store(true, Ordering::Relaxed);
        round(&mut files, &records(2..5), 3, QUIET);
        assert!(files.close_all().is_err());
        let mut stats = crate::engine::Stats::default();
        files.counters.add_to(&mut stats);
        assert_eq!(stats.errors_io.records_lost, 3);
    }
}
