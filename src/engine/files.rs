//! The WAL files of one shard's hosts, owned by its writer thread: opening
//! (with torn-tail repair), a budget of open descriptors with least-recently
//! used eviction, appends that never leave a partial record, rotation and
//! fdatasync.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Read, Write};
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use super::stats::{Counters, Event, EventHook, EventLevel, WriteErrorKind, bump};
use crate::codec::wal::{self, WalItem, WalReader};
use crate::error::Error;
use crate::layout::{self, WAL_FILE_NAME};

/// A write fault for tests: the engine writes at most `after_bytes` of the
/// data, then fails with `error`, as a full or failing disk would.
pub struct WriteFault {
    pub after_bytes: usize,
    pub error: io::Error,
}

/// Decides, before each append to a WAL file, whether it fails. For tests of
/// the error paths; `None` lets the write through.
pub type FaultInjector = dyn Fn(&Path) -> Option<WriteFault> + Send + Sync;

struct Host {
    cluster: Vec<u8>,
    host: Vec<u8>,
    dir: PathBuf,
    file: Option<File>,
    /// The file's length as written by us (valid while `checked`).
    len: u64,
    /// The existing file was checked for a torn tail in this process.
    checked: bool,
    /// Stamp of the last use, for LRU eviction.
    last_use: u64,
    /// Written since the last fdatasync.
    unsynced: bool,
    /// This round's record ranges (into the round's bytes) and their count.
    ranges: Vec<Range<usize>>,
    records: u64,
}

impl Host {
    fn wal_path(&self) -> PathBuf {
        self.dir.join(WAL_FILE_NAME)
    }
}

/// Settings the file layer needs from the store's options.
pub(crate) struct FileSettings {
    pub root: PathBuf,
    pub open_file_budget: usize,
    pub max_wal_bytes: u64,
    pub sync_on_close: bool,
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
    /// Hosts written since their last fdatasync.
    unsynced: Vec<usize>,
    /// Directories with new entries (files, sub-directories) not yet
    /// fsynced: synced with the records, so a durability of `None` costs
    /// no fsync at all, as in Go.
    dirs_to_sync: BTreeSet<PathBuf>,
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
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
            dirs_to_sync: BTreeSet::new(),
        }
    }

    fn event(&self, host: usize, level: EventLevel, message: String) {
        if let Some(hook) = &self.settings.event_hook {
            let h = &self.hosts[host];
            hook(&Event {
                level,
                cluster: h.cluster.clone(),
                host: h.host.clone(),
                message,
            });
        }
    }

    /// The host for `key` = `cluster \0 host` (names already validated).
    pub fn host_index(&mut self, key: &[u8], cluster_len: usize) -> usize {
        if let Some(&index) = self.index.get(key) {
            return index;
        }
        let (cluster, host) = (&key[..cluster_len], &key[cluster_len + 1..]);
        let dir = self
            .settings
            .root
            .join(OsStr::from_bytes(cluster))
            .join(OsStr::from_bytes(host));
        self.hosts.push(Host {
            cluster: cluster.to_vec(),
            host: host.to_vec(),
            dir,
            file: None,
            len: 0,
            checked: false,
            last_use: 0,
            unsynced: false,
            ranges: Vec::new(),
            records: 0,
        });
        self.index.insert(key.to_vec(), self.hosts.len() - 1);
        self.hosts.len() - 1
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
    /// per host.
    pub fn write_round(&mut self, bytes: &[u8]) {
        let mut slices = Vec::new();
        for host in std::mem::take(&mut self.dirty) {
            self.write_host(host, bytes, &mut slices);
        }
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

    fn evict_one(&mut self) {
        while let Some((host, stamp)) = self.lru.pop_front() {
            if self.hosts[host].last_use == stamp && self.hosts[host].file.is_some() {
                self.close_file(host);
                return;
            }
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
        while self.open >= self.settings.open_file_budget.max(1) {
            self.evict_one();
        }
        let dir = self.hosts[host].dir.clone();
        if !dir.is_dir() {
            fs::create_dir_all(&dir)
                .map_err(|e| Error::io(format!("create {}", dir.display()), &e))?;
            // The new directories' entries become durable with the next
            // sync, together with the records.
            let parents = [dir.parent(), dir.parent().and_then(Path::parent)];
            self.dirs_to_sync
                .extend(parents.into_iter().flatten().map(Path::to_path_buf));
        }
        let path = self.hosts[host].wal_path();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| Error::io(format!("open {}", path.display()), &e))?;
        if !self.hosts[host].checked {
            let len = self.check_existing(host, &mut file, &path)?;
            let h = &mut self.hosts[host];
            h.len = len;
            h.checked = true;
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
        let mut content = Vec::new();
        file.read_to_end(&mut content)
            .map_err(|e| Error::io(format!("read {}", path.display()), &e))?;
        let start = match wal::check_file_header(&content) {
            Ok(0) => {
                file.write_all(&wal::file_header())
                    .map_err(|e| Error::io(format!("write header of {}", path.display()), &e))?;
                // The new file's entry becomes durable with the next sync.
                self.dirs_to_sync.insert(self.hosts[host].dir.clone());
                return Ok(wal::FILE_HEADER_LEN as u64);
            }
            Ok(start) => start,
            Err(e) => {
                let aside =
                    path.with_file_name(format!("{WAL_FILE_NAME}.corrupt-{}", unix_nanos()));
                fs::rename(path, &aside)
                    .map_err(|e| Error::io(format!("move aside {}", path.display()), &e))?;
                self.event(
                    host,
                    EventLevel::Warning,
                    format!(
                        "{}: {e}; moved to {} and started a new WAL",
                        path.display(),
                        aside.display()
                    ),
                );
                *file = OpenOptions::new()
                    .read(true)
                    .append(true)
                    .create_new(true)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(path)
                    .map_err(|e| Error::io(format!("create {}", path.display()), &e))?;
                return self.check_existing(host, file, path);
            }
        };
        let mut reader = WalReader::new(&content, start, false);
        let damage = reader.by_ref().find_map(|item| match item {
            WalItem::Damaged { offset, len, error } => Some((offset, len, error)),
            WalItem::Record { .. } => None,
        });
        if let Some((offset, len, error)) = damage {
            file.set_len(offset as u64)
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
            return Ok(offset as u64);
        }
        Ok(content.len() as u64)
    }

    fn write_host<'a>(&mut self, host: usize, bytes: &'a [u8], slices: &mut Vec<IoSlice<'a>>) {
        let ranges = std::mem::take(&mut self.hosts[host].ranges);
        let records = std::mem::replace(&mut self.hosts[host].records, 0);
        let max = self.settings.max_wal_bytes;
        if max > 0 && self.hosts[host].len >= max && self.hosts[host].checked {
            let size = self.hosts[host].len;
            if self.delete_wal(host).is_ok() {
                bump(&self.counters.size_rotations, 1);
                self.event(
                    host,
                    EventLevel::Warning,
                    format!("WAL reached {size} bytes (limit {max}): deleted and restarted"),
                );
            }
        }
        if let Err(e) = self.open_host(host) {
            self.lose(host, records, &e);
            return;
        }
        slices.clear();
        slices.extend(ranges.iter().map(|r| IoSlice::new(&bytes[r.clone()])));
        let total: usize = ranges.iter().map(|r| r.len()).sum();
        let before = self.hosts[host].len;
        match self.append_all(host, slices, total) {
            Ok(()) => {
                let h = &mut self.hosts[host];
                h.len += total as u64;
                if !h.unsynced {
                    h.unsynced = true;
                    self.unsynced.push(host);
                }
                bump(&self.counters.written, records);
                bump(&self.counters.bytes_written, total as u64);
            }
            Err(e) => {
                let error = Error::io(
                    format!("append to {}", self.hosts[host].wal_path().display()),
                    &e,
                );
                self.cut_back(host, before);
                self.lose(host, records, &error);
            }
        }
        // Keep the allocation of the range list for the next round.
        let mut ranges = ranges;
        ranges.clear();
        self.hosts[host].ranges = ranges;
    }

    fn append_all(
        &mut self,
        host: usize,
        slices: &mut [IoSlice<'_>],
        total: usize,
    ) -> io::Result<()> {
        let path = self.hosts[host].wal_path();
        let fault = self
            .settings
            .fault_injector
            .as_ref()
            .and_then(|inject| inject(&path));
        let file = self.hosts[host].file.as_mut().expect("opened by open_host");
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

    /// After a failed append: truncate back to the last complete record.
    /// When even that fails, close the file so the next open re-checks it
    /// and cuts the partial record then.
    fn cut_back(&mut self, host: usize, len: u64) {
        let truncated = self.hosts[host].file.as_ref().map(|f| f.set_len(len));
        if !matches!(truncated, Some(Ok(()))) {
            self.close_file(host);
            self.hosts[host].checked = false;
        }
    }

    fn lose(&mut self, host: usize, records: u64, error: &Error) {
        self.counters
            .write_error(WriteErrorKind::of(error.os_code()), records);
        self.event(
            host,
            EventLevel::Error,
            format!("{records} records lost: {error}"),
        );
    }

    /// Deletes the host's current.wal (closing it first). A missing file is
    /// not an error. Returns whether a file was deleted.
    fn delete_wal(&mut self, host: usize) -> Result<bool, Error> {
        self.close_file(host);
        let h = &mut self.hosts[host];
        h.checked = false;
        h.len = 0;
        h.unsynced = false;
        let path = h.wal_path();
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(format!("remove {}", path.display()), &e)),
        }
    }

    /// Go's rotation: close and delete the host's current.wal.
    pub fn rotate(&mut self, key: &[u8], cluster_len: usize) -> Result<(), Error> {
        let host = self.host_index(key, cluster_len);
        if self.delete_wal(host)? {
            bump(&self.counters.rotations, 1);
        }
        Ok(())
    }

    /// Closes the host's current.wal (after an fdatasync if it has unsynced
    /// records) and renames it to a sealed segment named by `label`, so that
    /// new records go to a fresh file; returns every sealed segment the host
    /// has, oldest first, older ones included.
    pub fn seal(
        &mut self,
        key: &[u8],
        cluster_len: usize,
        label: i64,
    ) -> Result<Vec<PathBuf>, Error> {
        let host = self.host_index(key, cluster_len);
        if self.hosts[host].unsynced {
            if let Some(file) = &self.hosts[host].file {
                file.sync_data().map_err(|e| {
                    Error::io(
                        format!("fdatasync {}", self.hosts[host].wal_path().display()),
                        &e,
                    )
                })?;
                bump(&self.counters.fsyncs, 1);
            }
        }
        self.close_file(host);
        let h = &mut self.hosts[host];
        h.checked = false;
        h.len = 0;
        h.unsynced = false;
        let (dir, wal) = (h.dir.clone(), h.wal_path());
        if wal.exists() {
            let target = (0..)
                .map(|k| dir.join(layout::sealed_segment_name(label, k)))
                .find(|path| !path.exists())
                .expect("some k is free");
            fs::rename(&wal, &target)
                .map_err(|e| Error::io(format!("seal {}", wal.display()), &e))?;
            fsync_dir(&dir).map_err(|e| Error::io(format!("fsync {}", dir.display()), &e))?;
        }
        match layout::list_host_files(&dir) {
            Ok(files) => Ok(files.sealed),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(Error::io(format!("list {}", dir.display()), &e)),
        }
    }

    /// fdatasync of every file written since the last call; files closed
    /// meanwhile are reopened for it.
    pub fn sync(&mut self) -> Result<(), Error> {
        let mut first_error = None;
        for dir in std::mem::take(&mut self.dirs_to_sync) {
            bump(&self.counters.fsyncs, 1);
            if let Err(e) = fsync_dir(&dir) {
                first_error.get_or_insert(Error::io(format!("fsync {}", dir.display()), &e));
                self.dirs_to_sync.insert(dir);
            }
        }
        for host in std::mem::take(&mut self.unsynced) {
            let h = &self.hosts[host];
            if !h.unsynced {
                continue;
            }
            let result = match &h.file {
                Some(file) => file.sync_data(),
                None => File::open(h.wal_path()).and_then(|f| f.sync_data()),
            };
            bump(&self.counters.fsyncs, 1);
            match result {
                Ok(()) => self.hosts[host].unsynced = false,
                Err(e) => {
                    let error = Error::io(
                        format!("fdatasync {}", self.hosts[host].wal_path().display()),
                        &e,
                    );
                    self.event(host, EventLevel::Error, error.to_string());
                    self.unsynced.push(host);
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Closes every file, after an fdatasync unless durability is `None`.
    pub fn close_all(&mut self) {
        if self.settings.sync_on_close {
            let _ = self.sync();
        }
        for host in 0..self.hosts.len() {
            self.close_file(host);
        }
    }
}
