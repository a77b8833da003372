//! Restore at start-up: for every `ROOT/CLUSTER/HOST`, load the selected
//! snapshots, then replay the WAL (sealed segments oldest first, then
//! current.wal) with the Go buffer rule — giving back exactly the buffer
//! chains the Go metricstore builds (with `Selection::GoExact` and
//! `Recovery::Strict`), or more of the data where Go loses it (the
//! defaults).
//!
//! What Go does, and this module reproduces:
//! - a snapshot name that is not a number fails the whole host;
//! - snapshots load in number order; one whose `to` is non-zero and before
//!   `from` is skipped; each metric becomes a chunk with the file's start
//!   and frequency and a capacity equal to its length, appended to the
//!   metric's chain — unless it starts before the chain's newest chunk,
//!   which fails the host (files loaded so far stay, the WAL is not
//!   replayed); a name that repeats in one level counts once (the last);
//! - metrics not in the configuration are skipped everywhere;
//! - WAL records older than `from` are skipped; the others are written with
//!   the buffer rule (see [`buffer::write`](crate::restore::buffer::write())) into the level their selector
//!   names, created as needed; a file with a bad header is skipped; replay
//!   stops at the first damaged record.
//!
//! `Recovery::Salvage` differs only where Go loses data: it skips damaged
//! bytes and resynchronises on the next valid record, skips (and reports) a
//! damaged snapshot or an out-of-order chunk instead of giving up on the
//! host, and still replays the WAL after such a failure.
//!
//! Every error and damage is a typed [`Error`]: `Io` (with the OS error
//! number) when a file cannot be listed, opened or read; `Corrupt` when its
//! bytes do not decode (bad magic, checksum, truncation); `Format` when
//! intact files break the rules (a snapshot name that is not a number, a
//! chunk out of order, a stray file where only directories belong).

pub mod buffer;
mod series;
mod view;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use crate::layout::Selection;
pub use buffer::{Chunk, NEW_CHUNK_CAPACITY, RestoredLevel, WriteRefused};

use crate::codec::json::decode_json_snapshot;
use crate::codec::snapshot::decode_header;
use crate::codec::wal::{self, OnDamage, WalItem, WalReader};
use crate::error::{Error, ErrorKind};
use crate::layout::{self, SnapshotFormat};
use crate::storage::{self, HostDir};
use parking_lot::Mutex;
use series::{FoldBuildHasher, SeriesMap};
use view::LevelView;

/// The configured metrics: name → frequency in seconds. Anything else is
/// skipped on restore, as in Go.
#[derive(Debug, Clone, Default)]
pub struct MetricConfig {
    names: Vec<Vec<u8>>,
    frequencies: Vec<i64>,
    index: HashMap<Vec<u8>, usize, FoldBuildHasher>,
}

impl MetricConfig {
    /// The configuration of `(name, frequency in seconds)` pairs.
    pub fn new<N: AsRef<[u8]>>(metrics: impl IntoIterator<Item = (N, i64)>) -> Self {
        let mut config = MetricConfig::default();
        for (name, frequency) in metrics {
            let name = name.as_ref().to_vec();
            match config.index.get(&name) {
                Some(&at) => config.frequencies[at] = frequency,
                None => {
                    config.index.insert(name.clone(), config.names.len());
                    config.names.push(name);
                    config.frequencies.push(frequency);
                }
            }
        }
        config
    }

    fn lookup(&self, name: &[u8]) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Whether the configuration names this metric.
    pub fn contains(&self, name: &[u8]) -> bool {
        self.index.contains_key(name)
    }
}

/// What to do with damaged data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recovery {
    /// As Go: a WAL stops at its first damaged record; a damaged snapshot or
    /// an out-of-order chunk fails the host.
    Strict,
    /// Skip the damage (reported) and go on.
    #[default]
    Salvage,
}

/// How a restore selects snapshots and treats damage.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Which snapshots are loaded.
    pub selection: Selection,
    /// What damage does.
    pub recovery: Recovery,
    /// Hosts restored in parallel; 0 means one per available core.
    pub workers: usize,
    /// Restore only this (cluster, host).
    pub only: Option<(Vec<u8>, Vec<u8>)>,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            selection: Selection::Covering,
            recovery: Recovery::Salvage,
            workers: 0,
            only: None,
        }
    }
}

/// A damaged range of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The damaged file.
    pub file: PathBuf,
    /// Byte offset of the range.
    pub offset: u64,
    /// Its length in bytes.
    pub len: u64,
    /// What is wrong with the range (its message does not repeat `file`):
    /// `Corrupt` for bytes that do not decode, `Format` for a chunk out of
    /// order under `Salvage` (offset and len 0).
    pub reason: Error,
}

/// Why a file was passed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// A snapshot whose window ends at `to`, before `from` (Go skips it
    /// too); not an error.
    BeforeFrom {
        /// The end of the snapshot's window.
        to: i64,
    },
    /// The file could not be read (`Io`) or decoded (`Corrupt`); the
    /// error's message names the file.
    Failed(Error),
}

impl SkipReason {
    /// The error, when the file was skipped because of one.
    pub fn error(&self) -> Option<&Error> {
        match self {
            SkipReason::BeforeFrom { .. } => None,
            SkipReason::Failed(error) => Some(error),
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::BeforeFrom { to } => write!(f, "window ends at {to}, before from"),
            SkipReason::Failed(error) => write!(f, "{error}"),
        }
    }
}

/// What restoring one host did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostReport {
    /// Files loaded, in order.
    pub files_loaded: Vec<PathBuf>,
    /// Files passed over, with the reason (window before `from`, a file
    /// that cannot be read, bad WAL header, damaged snapshot under
    /// `Salvage`).
    pub files_skipped: Vec<(PathBuf, SkipReason)>,
    /// WAL records written into chunks.
    pub records_applied: u64,
    /// WAL records older than `from`, skipped.
    pub records_before_from: u64,
    /// WAL records of metrics not in the configuration, skipped.
    pub records_unknown_metric: u64,
    /// Records the buffer rule refused (before the newest chunk's start).
    pub records_rejected: u64,
    /// Damaged ranges found (skipped under `Salvage`).
    pub damage: Vec<Damage>,
}

/// One restored host: its level tree, what was done, and the error that
/// stopped it, if any (what was loaded before the error stays, as in Go).
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredHost {
    /// The host's cluster name.
    pub cluster: Vec<u8>,
    /// The host's name.
    pub host: Vec<u8>,
    /// The host level and its children.
    pub root: RestoredLevel,
    /// What the restore did.
    pub report: HostReport,
    /// The error that stopped the host, its message naming the file: `Io`
    /// (with the OS error number) when the directory cannot be listed, and
    /// `Format` for a snapshot name that is not a number, in either mode;
    /// under `Strict` also `Io` for a selected snapshot that cannot be
    /// read, `Corrupt` for a damaged one and `Format` for a chunk out of
    /// order (`Salvage` skips and reports those instead).
    pub error: Option<Error>,
}

/// The result of a restore: hosts sorted by cluster, then host.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    /// The retention horizon restored for.
    pub from: i64,
    /// Every host restored, sorted by cluster, then host.
    pub hosts: Vec<RestoredHost>,
    /// A problem of the root itself, apart from the hosts' own errors: a
    /// stray file where only cluster and host directories belong (kind
    /// `Format`, the message names the first such file).
    pub error: Option<Error>,
    /// Under `Strict`, the hosts (cluster, host) found after that stray
    /// file, which are not restored because Go's scan stops there, in name
    /// order (only `options.only` when given). Empty under `Salvage`.
    pub hosts_not_restored: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Levels of one host during the restore, in an arena so that the WAL
/// replay can cache a selector's level by index. A worker keeps its arena
/// from host to host: [`Levels::take`] empties the nodes and the next host
/// reuses them instead of allocating each level's table of chains again.
struct Levels {
    nodes: Vec<Node>,
    /// Nodes of the current host (the first is the host's own level).
    used: usize,
}

struct Node {
    /// Per configured metric (by config index), its chain.
    chains: Vec<Vec<Chunk>>,
    children: BTreeMap<Vec<u8>, usize>,
}

impl Node {
    fn new(metrics: usize) -> Self {
        Node {
            chains: vec![Vec::new(); metrics],
            children: BTreeMap::new(),
        }
    }
}

impl Levels {
    fn new(metrics: usize) -> Self {
        Levels {
            nodes: vec![Node::new(metrics)],
            used: 1,
        }
    }

    fn child(&mut self, parent: usize, name: &[u8]) -> usize {
        if let Some(&child) = self.nodes[parent].children.get(name) {
            return child;
        }
        if self.used == self.nodes.len() {
            self.nodes.push(Node::new(self.nodes[0].chains.len()));
        }
        let child = self.used;
        self.used += 1;
        self.nodes[parent].children.insert(name.to_vec(), child);
        child
    }

    /// The host's levels, leaving every node empty for the next host.
    fn take(&mut self, config: &MetricConfig) -> RestoredLevel {
        fn build(nodes: &mut [Node], at: usize, config: &MetricConfig) -> RestoredLevel {
            let chains = &mut nodes[at].chains;
            // Sized up front: collecting an unsized iterator into the map
            // grew a Vec step by step first.
            let mut metrics = Vec::with_capacity(chains.iter().filter(|c| !c.is_empty()).count());
            for (i, chain) in chains.iter_mut().enumerate() {
                if !chain.is_empty() {
                    metrics.push((config.names[i].clone(), std::mem::take(chain)));
                }
            }
            let metrics = metrics.into_iter().collect();
            let children: Vec<(Vec<u8>, usize)> = std::mem::take(&mut nodes[at].children)
                .into_iter()
                .collect();
            let children = children
                .into_iter()
                .map(|(name, child)| (name, build(nodes, child, config)))
                .collect();
            RestoredLevel { metrics, children }
        }
        self.used = 1;
        build(&mut self.nodes, 0, config)
    }
}

/// The largest read buffer a worker keeps for its next host: one that held
/// an unusually large file is given back rather than held while the other
/// hosts' data piles up.
const KEEP_READ_BUFFER: usize = 64 << 20;

/// What a worker keeps from one host to the next, so that the allocator is
/// not asked for it again per host: allocating and freeing a large block
/// per host made glibc consolidate its free lists every time.
struct WorkerState {
    /// The read buffer.
    content: Vec<u8>,
    levels: Levels,
    /// The series in the last WAL file replayed: room for as many in the
    /// next one spares the series map its rehashing as it grows, since the
    /// hosts of a cluster mostly send the same series.
    series_hint: usize,
}

impl WorkerState {
    fn new(config: &MetricConfig) -> Self {
        WorkerState {
            content: Vec::new(),
            levels: Levels::new(config.names.len()),
            series_hint: 0,
        }
    }
}

/// The last occurrence of each name, in file order: Go reads a level into
/// maps, where a repeated name replaces the earlier one.
fn last_of_each<T>(items: &[T], name: impl Fn(&T) -> &[u8]) -> impl Iterator<Item = &T> {
    let mut last = HashMap::with_capacity_and_hasher(items.len(), FoldBuildHasher::default());
    for (i, item) in items.iter().enumerate() {
        last.insert(name(item), i);
    }
    items
        .iter()
        .enumerate()
        .filter(move |(i, item)| last[name(item)] == *i)
        .map(|(_, item)| item)
}

struct HostRestore<'a> {
    dir: &'a Path,
    from: i64,
    config: &'a MetricConfig,
    options: &'a RestoreOptions,
    levels: &'a mut Levels,
    report: HostReport,
    content: &'a mut Vec<u8>,
    series_hint: &'a mut usize,
}

impl HostRestore<'_> {
    fn read(&mut self, path: &Path) -> Result<(), Error> {
        self.content.clear();
        let mut file = fs::File::open(path).map_err(|e| Error::io_at("open", path, &e))?;
        file.read_to_end(self.content)
            .map_err(|e| Error::io_at("read", path, &e))?;
        Ok(())
    }

    /// Loads one snapshot level into `node`; `Err` only for the start-order
    /// error under `Strict`.
    fn load_level(&mut self, node: usize, level: &LevelView<'_>, file: &Path) -> Result<(), Error> {
        for metric in last_of_each(&level.metrics, |m| m.name) {
            let Some(index) = self.config.lookup(metric.name) else {
                continue;
            };
            let chain = &mut self.levels.nodes[node].chains[index];
            if let Some(head) = chain.last().filter(|head| head.start > metric.start) {
                let reason = format!(
                    "metric {}: chunk start {} is before the previous chunk's start {}",
                    String::from_utf8_lossy(metric.name),
                    metric.start,
                    head.start
                );
                if self.options.recovery == Recovery::Strict {
                    let message = format!("{}: {reason}", file.display());
                    return Err(Error::new(ErrorKind::Format, message));
                }
                self.report.damage.push(Damage {
                    file: file.to_path_buf(),
                    offset: 0,
                    len: 0,
                    reason: Error::new(ErrorKind::Format, reason),
                });
                continue;
            }
            let chunk = Chunk {
                start: metric.start,
                frequency: metric.frequency,
                capacity: metric.values.len(),
                archived: true,
                values: metric.values.to_f64_vec(),
            };
            buffer::push(chain, chunk);
        }
        for (name, child) in last_of_each(&level.children, |(name, _)| name) {
            let child_node = self.levels.child(node, name);
            self.load_level(child_node, child, file)?;
        }
        Ok(())
    }

    /// Loads a selected snapshot file. `Err` stops the host (Go's
    /// behaviour, kept under `Strict`).
    fn load_snapshot(&mut self, entry: &layout::SnapshotEntry) -> Result<(), Error> {
        let path = entry.path.as_path();
        self.read(path)?;
        let content = std::mem::take(self.content);
        let result = self.load_snapshot_content(path, entry.format, &content);
        *self.content = content;
        result
    }

    fn load_snapshot_content(
        &mut self,
        path: &Path,
        format: SnapshotFormat,
        content: &[u8],
    ) -> Result<(), Error> {
        let damaged = |this: &mut Self, offset: u64, reason: String| {
            let error = Error::new(ErrorKind::Corrupt, format!("{}: {reason}", path.display()));
            if this.options.recovery == Recovery::Strict {
                return Err(error);
            }
            let len = content.len() as u64 - offset;
            this.report.damage.push(Damage {
                file: path.to_path_buf(),
                offset,
                len,
                reason: Error::new(ErrorKind::Corrupt, reason),
            });
            this.report
                .files_skipped
                .push((path.to_path_buf(), SkipReason::Failed(error)));
            Ok(())
        };
        let skip_window = |to: i64| to != 0 && to < self.from;
        match format {
            SnapshotFormat::Binary => {
                // Go checks the window from the header before reading the tree.
                match decode_header(content) {
                    Ok((_, to)) if skip_window(to) => {
                        self.report
                            .files_skipped
                            .push((path.to_path_buf(), SkipReason::BeforeFrom { to }));
                        return Ok(());
                    }
                    _ => {}
                }
                match LevelView::binary(content) {
                    Ok(root) => self.load_level(0, &root, path)?,
                    Err(e) => return damaged(self, e.offset as u64, e.to_string()),
                }
            }
            SnapshotFormat::Json => match decode_json_snapshot(content) {
                Ok(snapshot) if skip_window(snapshot.to) => {
                    let reason = SkipReason::BeforeFrom { to: snapshot.to };
                    self.report.files_skipped.push((path.to_path_buf(), reason));
                    return Ok(());
                }
                Ok(snapshot) => self.load_level(0, &LevelView::json(&snapshot.root), path)?,
                Err(e) => return damaged(self, 0, e.to_string()),
            },
        }
        self.report.files_loaded.push(path.to_path_buf());
        Ok(())
    }

    /// Replays one WAL file with the buffer rule.
    fn replay(&mut self, path: &Path) {
        if let Err(error) = self.read(path) {
            self.report
                .files_skipped
                .push((path.to_path_buf(), SkipReason::Failed(error)));
            return;
        }
        let content = std::mem::take(self.content);
        let start = match wal::check_file_header(&content) {
            Ok(start) => start,
            Err(e) => {
                // Go warns and skips the file; the host is not failed.
                let error = Error::new(ErrorKind::Corrupt, format!("{}: {e}", path.display()));
                self.report
                    .files_skipped
                    .push((path.to_path_buf(), SkipReason::Failed(error)));
                *self.content = content;
                return;
            }
        };
        let salvage = self.options.recovery == Recovery::Salvage;
        let on_damage = if salvage {
            OnDamage::Resync
        } else {
            OnDamage::Stop
        };
        let mut series = SeriesMap::with_capacity(*self.series_hint);
        for item in WalReader::new(&content, start, on_damage) {
            let record = match item {
                WalItem::Record { record, .. } => record,
                WalItem::Damaged { offset, len, error } => {
                    let damage = Damage {
                        file: path.to_path_buf(),
                        offset: offset as u64,
                        len: len as u64,
                        reason: Error::new(ErrorKind::Corrupt, error.to_string()),
                    };
                    self.report.damage.push(damage);
                    continue;
                }
            };
            if record.ts < self.from {
                self.report.records_before_from += 1;
                continue;
            }
            let (config, levels) = (self.config, &mut *self.levels);
            let target = series.target(record.series_key(), || {
                // An unknown metric creates no levels.
                let metric = config.lookup(record.metric)?;
                let node = (record.selector.iter()).fold(0, |node, name| levels.child(node, name));
                Some((node, metric))
            });
            let Some((node, metric)) = target else {
                self.report.records_unknown_metric += 1;
                continue;
            };
            let chain = &mut self.levels.nodes[node].chains[metric];
            let value = record.value() as f64;
            // Salvage also takes a record older than the chain's newest
            // chunk (a backfilled sample a checkpoint kept in a segment).
            let frequency = self.config.frequencies[metric];
            let written = match salvage {
                true => buffer::write_anywhere(chain, frequency, record.ts, value),
                false => buffer::write(chain, frequency, record.ts, value),
            };
            match written {
                Ok(()) => self.report.records_applied += 1,
                Err(_) => self.report.records_rejected += 1,
            }
        }
        *self.series_hint = series.len();
        self.report.files_loaded.push(path.to_path_buf());
        *self.content = content;
    }

    fn run(&mut self) -> Option<Error> {
        let files = match storage::list_host_files(self.dir) {
            Ok(files) => files,
            Err(e) => return Some(Error::io_at("list", self.dir, &e)),
        };
        if let Some(bad) = files.bad_names.first() {
            let message = format!("{}: snapshot name is not a number", bad.display());
            return Some(Error::new(ErrorKind::Format, message));
        }
        for entry in layout::select_snapshots(files.snapshots, self.from, self.options.selection) {
            if let Err(error) = self.load_snapshot(&entry) {
                if self.options.recovery == Recovery::Strict {
                    return Some(error);
                }
                // Only a file that cannot be read comes here under Salvage.
                self.report
                    .files_skipped
                    .push((entry.path, SkipReason::Failed(error)));
            }
        }
        for segment in files.sealed.iter().chain(&files.wal) {
            self.replay(segment);
        }
        None
    }
}

fn restore_host(
    dir: &HostDir,
    from: i64,
    config: &MetricConfig,
    options: &RestoreOptions,
    state: &mut WorkerState,
) -> RestoredHost {
    let mut restore = HostRestore {
        dir: &dir.path,
        from,
        config,
        options,
        levels: &mut state.levels,
        report: HostReport::default(),
        content: &mut state.content,
        series_hint: &mut state.series_hint,
    };
    let failure = restore.run();
    RestoredHost {
        cluster: dir.cluster.clone(),
        host: dir.host.clone(),
        root: restore.levels.take(config),
        report: restore.report,
        error: failure,
    }
}

/// Restores one host directory on the calling thread (`options.workers` and
/// `options.only` do not apply).
pub(crate) fn restore_one(
    dir: &HostDir,
    from: i64,
    config: &MetricConfig,
    options: &RestoreOptions,
) -> RestoredHost {
    restore_host(dir, from, config, options, &mut WorkerState::new(config))
}

/// The hosts of a root, each restored when the caller asks for it, on the
/// caller's thread. A consumer that moves every host elsewhere (the Go
/// server copies it into its own store) overlaps that with the next hosts'
/// restore on its other threads, and holds only the hosts in flight rather
/// than the whole root twice; the memory of each host it drops is reused for
/// the next. [`restore`] is this, on `options.workers` threads, keeping
/// every host.
///
/// Any number of threads may restore hosts at once (each host any number of
/// times: its files are read again).
pub struct RestoreScan {
    from: i64,
    config: MetricConfig,
    options: RestoreOptions,
    hosts: Vec<HostDir>,
    error: Option<Error>,
    hosts_not_restored: Vec<(Vec<u8>, Vec<u8>)>,
    /// States of the threads that restored a host and returned, for the
    /// next host (their buffers and level arena).
    idle: Mutex<Vec<WorkerState>>,
}

impl RestoreScan {
    /// Lists `ROOT/CLUSTER/HOST` (or only `options.only`) for the retention
    /// horizon `from`; `options.workers` does not apply. Fails only when
    /// ROOT cannot be listed. Blocks (lists the directories); any thread.
    pub fn new(
        root: &Path,
        from: i64,
        config: MetricConfig,
        options: RestoreOptions,
    ) -> Result<Self, Error> {
        let (mut hosts, strays) =
            storage::scan_root_strays(root).map_err(|e| Error::io_at("list", root, &e))?;
        // Go's scan stops at the first file where only directories belong;
        // under `Strict` so does this one (the hosts before it are restored).
        let wanted = |h: &HostDir| {
            options
                .only
                .as_ref()
                .is_none_or(|(cluster, host)| &h.cluster == cluster && &h.host == host)
        };
        let mut error = None;
        let mut hosts_not_restored = Vec::new();
        if let Some((stray, hosts_before)) = strays.first() {
            let mut message = format!(
                "{}: a file where only cluster and host directories belong",
                stray.display()
            );
            if options.recovery == Recovery::Strict {
                hosts_not_restored = hosts
                    .split_off(*hosts_before)
                    .into_iter()
                    .filter(wanted)
                    .map(|h| (h.cluster, h.host))
                    .collect();
                message.push_str(&format!(
                    "; the scan stops here, as Go's does: {} host(s) after it not restored",
                    hosts_not_restored.len()
                ));
            }
            error = Some(Error::new(ErrorKind::Format, message));
        }
        hosts.retain(wanted);
        Ok(RestoreScan {
            from,
            config,
            options,
            hosts,
            error,
            hosts_not_restored,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The number of hosts, sorted by cluster, then host.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether the root has no host to restore.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// The (cluster, host) names of host `index`.
    pub fn host_name(&self, index: usize) -> Option<(&[u8], &[u8])> {
        let dir = self.hosts.get(index)?;
        Some((&dir.cluster, &dir.host))
    }

    /// A problem of the root itself (see [`Restored::error`]).
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// The hosts Go's scan would not reach (see
    /// [`Restored::hosts_not_restored`]).
    pub fn hosts_not_restored(&self) -> &[(Vec<u8>, Vec<u8>)] {
        &self.hosts_not_restored
    }

    /// Restores host `index` (`None` past the last). Blocks (reads its
    /// files); any thread, any number at once.
    pub fn restore_host(&self, index: usize) -> Option<RestoredHost> {
        let dir = self.hosts.get(index)?;
        let mut state = self
            .idle
            .lock()
            .pop()
            .unwrap_or_else(|| WorkerState::new(&self.config));
        let host = restore_host(dir, self.from, &self.config, &self.options, &mut state);
        if state.content.capacity() > KEEP_READ_BUFFER {
            state.content = Vec::new();
        }
        self.idle.lock().push(state);
        Some(host)
    }

    /// Every host restored on `workers` threads (0: one per core), and what
    /// the scan found about the root.
    fn restore_all(self, workers: usize) -> Restored {
        let workers = match workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let indices: Vec<usize> = (0..self.hosts.len()).collect();
        let hosts = crate::parallel::map(&indices, workers, |&i| {
            self.restore_host(i)
                .expect("an index below the number of hosts")
        });
        Restored {
            from: self.from,
            hosts,
            error: self.error,
            hosts_not_restored: self.hosts_not_restored,
        }
    }
}

/// Restores every `ROOT/CLUSTER/HOST` (or only `options.only`) with
/// `options.workers` threads. One host's failure is reported in its
/// `error` and does not stop the others. Fails only when ROOT cannot be
/// listed. Blocks; any thread.
pub fn restore(
    root: &Path,
    from: i64,
    config: &MetricConfig,
    options: &RestoreOptions,
) -> Result<Restored, Error> {
    let scan = RestoreScan::new(root, from, config.clone(), options.clone())?;
    Ok(scan.restore_all(options.workers))
}

/// A metric configuration from JSON `{"metric": frequency_seconds, ...}`.
pub fn parse_metric_config(json: &[u8]) -> Result<MetricConfig, Error> {
    let map: BTreeMap<String, i64> = serde_json::from_slice(json).map_err(|e| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("metric configuration: {e}"),
        )
    })?;
    if let Some((name, _)) = map.iter().find(|(_, f)| **f <= 0) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("metric {name:?}: frequency must be > 0"),
        ));
    }
    Ok(MetricConfig::new(
        map.iter().map(|(name, &f)| (name.as_bytes(), f)),
    ))
}
