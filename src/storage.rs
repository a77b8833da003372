//! One owner for the files below a checkpoint root: where a host's files
//! are, what a host directory holds, and every change to it made durably
//! (create, append-side repairs, rename, replace, delete, with the fsyncs
//! of the directories whose entries change). The engine, checkpoints,
//! compaction, restore and the CLI all go through here, so the rules for
//! what is on stable storage live in one place.
//!
//! Durability rules kept here:
//! - a new file or directory is durable only once its parent directory is
//!   fsynced: creators get the directories to sync back (the engine syncs
//!   them together with the records, at its next sync);
//! - a file replaced or renamed into place is written to a temporary name,
//!   fdatasynced, renamed, and its directory fsynced;
//! - removals are followed by one fsync of the directory, so a removed file
//!   does not come back after a crash and shadow newer data.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::Error;
use crate::layout::{
    self, HostFileName, SnapshotEntry, SnapshotFormat, WAL_FILE_NAME, classify, sealed_segment_name,
};

/// fsync of a directory: makes the entries created, renamed or removed in
/// it durable.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io_at("fsync", dir, &e))
}

/// Flushes every dirty page of the file system holding `path` with one
/// syncfs: a group commit of many files.
pub fn sync_file_system(path: &Path) -> Result<(), Error> {
    FileSystemSync::open(path)?.sync()
}

/// A descriptor kept open on a file system for repeated syncfs calls.
/// Linux reports a writeback error to syncfs through each descriptor that
/// was open when it happened, so one opened before the first write sees
/// every later error, even one another process's sync has already seen.
pub struct FileSystemSync {
    dir: File,
    path: PathBuf,
}

impl FileSystemSync {
    /// Opens the directory `path` (which must exist).
    pub fn open(path: &Path) -> Result<Self, Error> {
        let dir = File::open(path).map_err(|e| Error::io_at("open", path, &e))?;
        Ok(FileSystemSync {
            dir,
            path: path.to_path_buf(),
        })
    }

    /// Flushes every dirty page and metadata block of the file system
    /// (Linux ≥ 5.8 reports writeback errors here).
    pub fn sync(&self) -> Result<(), Error> {
        // SAFETY: syncfs on a valid, open descriptor.
        if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&self.dir)) } != 0 {
            return Err(Error::io_at(
                "syncfs",
                &self.path,
                &io::Error::last_os_error(),
            ));
        }
        Ok(())
    }
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Opens `path` for writing, emptied, with the flags every ccwal file uses.
fn open_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_CLOEXEC)
        .mode(0o644)
        .open(path)
}

/// How [`HostDir::open_wal`] treats an existing current.wal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalOpen {
    /// Open it, or create it when missing.
    CreateOrAppend,
    /// Only create it: an existing file is an error.
    CreateNew,
}

/// Whether a change to a file is fdatasynced before the call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncData {
    /// Synced at once.
    Now,
    /// Left to a later sync.
    Later,
}

/// Files removed from a host directory, and those that could not be.
#[derive(Debug, Default)]
pub struct Removal {
    /// Files deleted.
    pub removed: Vec<PathBuf>,
    /// Files that could not be deleted, with the error.
    pub errors: Vec<(PathBuf, Error)>,
}

impl Removal {
    /// Moves the outcome into a report's lists.
    pub fn report_into(self, removed: &mut Vec<PathBuf>, errors: &mut Vec<(PathBuf, Error)>) {
        removed.extend(self.removed);
        errors.extend(self.errors);
    }
}

/// A host directory found below ROOT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDir {
    /// The cluster directory's name.
    pub cluster: Vec<u8>,
    /// The host directory's name.
    pub host: Vec<u8>,
    /// The host directory.
    pub path: PathBuf,
}

impl HostDir {
    /// `ROOT/CLUSTER/HOST`, after checking both names are single path
    /// components.
    pub fn new(root: &Path, cluster: &[u8], host: &[u8]) -> Result<HostDir, Error> {
        Ok(HostDir {
            cluster: cluster.to_vec(),
            host: host.to_vec(),
            path: layout::host_dir(root, cluster, host)?,
        })
    }

    /// The host's `current.wal`.
    pub fn wal_path(&self) -> PathBuf {
        self.path.join(WAL_FILE_NAME)
    }

    /// The host's snapshot file for `from`.
    pub fn snapshot_path(&self, from: i64, format: SnapshotFormat) -> PathBuf {
        self.path.join(layout::snapshot_file_name(from, format))
    }

    /// Opens current.wal for reading and appending, as `how` says. The
    /// caller fsyncs the directory for a new entry (see
    /// [`HostDir::create`]).
    pub fn open_wal(&self, how: WalOpen) -> io::Result<File> {
        let only_new = how == WalOpen::CreateNew;
        OpenOptions::new()
            .read(true)
            .append(true)
            .create(!only_new)
            .create_new(only_new)
            .custom_flags(libc::O_CLOEXEC)
            .mode(0o644)
            .open(self.wal_path())
    }

    /// Cuts current.wal, open as `file`, back to `len` bytes: the repair of
    /// a torn tail, or of what a failed append left.
    pub fn cut_wal(&self, file: &File, len: u64, sync: SyncData) -> Result<(), Error> {
        file.set_len(len)
            .and_then(|()| match sync {
                SyncData::Now => file.sync_data(),
                SyncData::Later => Ok(()),
            })
            .map_err(|e| Error::io_at("truncate", &self.wal_path(), &e))
    }

    /// Empties current.wal, open as `file`, and writes `header` (what a
    /// failed header write left is cut off). Not synced: the caller keeps
    /// the header like any record not yet synced.
    pub fn restart_wal(&self, file: &mut File, header: &[u8]) -> Result<(), Error> {
        file.set_len(0)
            .and_then(|()| file.write_all(header))
            .map_err(|e| {
                let path = self.wal_path();
                Error::io_at("write header of", &path, &e)
            })
    }

    /// The directory's files, classified; a missing directory has none.
    pub fn list(&self) -> Result<HostListing, Error> {
        match list_host_files(&self.path) {
            Ok(listing) => Ok(listing),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(HostListing::default()),
            Err(e) => Err(Error::io_at("list", &self.path, &e)),
        }
    }

    /// Creates the directory (and the cluster directory) when missing.
    /// Returns the directories that gained an entry: they must be fsynced
    /// before anything in the new directory counts as durable.
    pub fn create(&self) -> Result<Vec<PathBuf>, Error> {
        if self.path.is_dir() {
            return Ok(Vec::new());
        }
        let cluster_dir = self.path.parent().expect("ROOT/CLUSTER/HOST");
        let cluster_existed = cluster_dir.is_dir();
        fs::create_dir_all(&self.path).map_err(|e| Error::io_at("create", &self.path, &e))?;
        let mut changed = vec![cluster_dir.to_path_buf()];
        if !cluster_existed {
            changed.extend(cluster_dir.parent().map(Path::to_path_buf));
        }
        Ok(changed)
    }

    /// [`HostDir::create`], with the new entries fsynced at once.
    pub fn create_durably(&self) -> Result<(), Error> {
        self.create()?.iter().try_for_each(|dir| sync_dir(dir))
    }

    /// Renames current.wal to the first free sealed-segment name for
    /// `label` and fsyncs the directory. The caller has fdatasynced the
    /// file. `None` when there is no current.wal.
    pub fn seal_wal(&self, label: i64) -> Result<Option<PathBuf>, Error> {
        let wal = self.wal_path();
        if !wal.exists() {
            return Ok(None);
        }
        let target = (0..)
            .map(|k| self.path.join(sealed_segment_name(label, k)))
            .find(|path| !path.exists())
            .expect("some k is free");
        fs::rename(&wal, &target).map_err(|e| Error::io_at("seal", &wal, &e))?;
        sync_dir(&self.path)?;
        Ok(Some(target))
    }

    /// Moves a damaged file out of the way under a name no reader takes
    /// (`<name>.corrupt-<nanos>`), durably. Returns the new name.
    pub fn move_aside(&self, path: &Path) -> Result<PathBuf, Error> {
        let name = path.file_name().unwrap_or(OsStr::new("file"));
        let mut aside = name.to_os_string();
        aside.push(format!(".corrupt-{}", unix_nanos()));
        let aside = self.path.join(aside);
        fs::rename(path, &aside).map_err(|e| Error::io_at("move aside", path, &e))?;
        sync_dir(&self.path)?;
        Ok(aside)
    }

    /// Writes `bytes` to `name` in this directory (created as needed),
    /// replacing any file of that name; with [`SyncData::Now`] the file is
    /// fdatasynced and new directories fsynced. No file is left on failure.
    /// The entry is not yet durable: rename it into place with
    /// [`HostDir::rename_into_place`].
    pub fn write_temporary(
        &self,
        name: &str,
        bytes: &[u8],
        sync: SyncData,
    ) -> Result<PathBuf, Error> {
        match sync {
            SyncData::Now => self.create_durably()?,
            SyncData::Later => drop(self.create()?),
        }
        let tmp = self.path.join(name);
        let written = open_new(&tmp).and_then(|mut file| {
            file.write_all(bytes)?;
            match sync {
                SyncData::Now => file.sync_data(),
                SyncData::Later => Ok(()),
            }
        });
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io_at("write", &tmp, &e));
        }
        Ok(tmp)
    }

    /// Renames a temporary file over `target`; on failure the temporary is
    /// removed and `target` is untouched. The directory is not fsynced
    /// (see [`sync_dir`]), so that a group of renames shares one.
    pub fn rename_into_place(&self, tmp: &Path, target: &Path) -> Result<(), Error> {
        fs::rename(tmp, target).map_err(|e| {
            let _ = fs::remove_file(tmp);
            Error::io(format!("rename {} into place", tmp.display()), &e).with_path(tmp)
        })
    }

    /// Renames `from` to `to` (which must not exist) and fsyncs the
    /// directory; on failure both stay as they were.
    pub fn rename_durably(&self, from: &Path, to: &Path) -> Result<(), Error> {
        if to.exists() {
            return Err(Error::new(
                crate::error::ErrorKind::InvalidArgument,
                format!(
                    "rename {} to {}: the target exists",
                    from.display(),
                    to.display()
                ),
            ));
        }
        fs::rename(from, to).map_err(|e| {
            Error::io(format!("rename {} to {}", from.display(), to.display()), &e).with_path(from)
        })?;
        sync_dir(&self.path)
    }

    /// Replaces `target` by `bytes` atomically and durably: temporary file,
    /// fdatasync, rename, directory fsync. After a crash `target` holds
    /// either the old or the new bytes.
    pub fn replace(&self, target: &Path, bytes: &[u8]) -> Result<(), Error> {
        let name = target.file_name().unwrap_or(OsStr::new("file"));
        let mut tmp_name = name.to_os_string();
        tmp_name.push(".tmp");
        let tmp = self.write_temporary(&tmp_name.to_string_lossy(), bytes, SyncData::Now)?;
        self.rename_into_place(&tmp, target)?;
        sync_dir(&self.path)
    }

    /// Removes `paths` (a missing one is no error), then fsyncs the
    /// directory once if anything went.
    pub fn remove(&self, paths: impl IntoIterator<Item = PathBuf>) -> Removal {
        let mut removal = Removal::default();
        for path in paths {
            match fs::remove_file(&path) {
                Ok(()) => removal.removed.push(path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    let error = Error::io_at("remove", &path, &e);
                    removal.errors.push((path, error));
                }
            }
        }
        if !removal.removed.is_empty() {
            if let Err(e) = sync_dir(&self.path) {
                let removed = std::mem::take(&mut removal.removed);
                removal
                    .errors
                    .extend(removed.into_iter().map(|p| (p, e.clone())));
            }
        }
        removal
    }
}

/// Creates `dir` and its missing parents, each new entry fsynced in its
/// parent, so the directory survives a crash once this returns.
pub fn create_dir_durably(dir: &Path) -> Result<(), Error> {
    let mut missing = Vec::new();
    let mut at = dir;
    while !at.is_dir() {
        missing.push(at.to_path_buf());
        match at.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => at = parent,
            _ => break,
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| Error::io_at("create", dir, &e))?;
    for created in missing.iter().rev() {
        if let Some(parent) = created.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// A file outside the host directories (an archive) being written under
/// `<name>.tmp` in its directory, to be renamed into place durably by
/// [`StagedFile::commit`]. Dropped without a commit, the temporary file is
/// removed.
#[derive(Debug)]
pub struct StagedFile {
    dir: PathBuf,
    tmp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl StagedFile {
    /// Creates `dir` durably when missing and opens `dir/<name>.tmp` for
    /// writing (truncated). Refuses (`Format`) when `dir/<name>` exists:
    /// an archive is never replaced.
    pub fn create(dir: &Path, name: &str) -> Result<(StagedFile, File), Error> {
        create_dir_durably(dir)?;
        let target = dir.join(name);
        if target.exists() {
            return Err(Error::new(
                crate::ErrorKind::Format,
                format!("{} exists; it is not replaced", target.display()),
            ));
        }
        let tmp = dir.join(format!("{name}.tmp"));
        let file = open_new(&tmp).map_err(|e| Error::io_at("create", &tmp, &e))?;
        let staged = StagedFile {
            dir: dir.to_path_buf(),
            tmp,
            target,
            committed: false,
        };
        Ok((staged, file))
    }

    /// Where the file goes.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// fsyncs `file` (written through the descriptor `create` gave), closes
    /// it, renames it into place and fsyncs the directory. Once this returns
    /// the file is durable under its name; on failure the temporary file is
    /// removed and no file of the target name was made.
    pub fn commit(mut self, file: File) -> Result<PathBuf, Error> {
        file.sync_all()
            .map_err(|e| Error::io_at("fsync", &self.tmp, &e))?;
        drop(file);
        if self.target.exists() {
            return Err(Error::new(
                crate::ErrorKind::Format,
                format!(
                    "{} appeared meanwhile; it is not replaced",
                    self.target.display()
                ),
            ));
        }
        fs::rename(&self.tmp, &self.target).map_err(|e| {
            Error::io(format!("rename {} into place", self.tmp.display()), &e).with_path(&self.tmp)
        })?;
        self.committed = true;
        // The name is in place: a failed directory fsync leaves it there
        // (it may not survive a crash, so the caller must not rely on it).
        sync_dir(&self.dir)?;
        Ok(self.target.clone())
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Lists every `ROOT/CLUSTER/HOST` directory, sorted by cluster then host.
/// Files directly in ROOT or in a cluster directory are not hosts and are
/// passed over (see [`scan_root_strays`] to learn where they are).
pub fn scan_root(root: &Path) -> io::Result<Vec<HostDir>> {
    Ok(scan_root_strays(root)?.0)
}

/// [`scan_root`], with a root that does not exist yet holding no host.
pub fn scan_root_or_empty(root: &Path) -> Result<Vec<HostDir>, Error> {
    match scan_root(root) {
        Ok(hosts) => Ok(hosts),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io_at("list", root, &e)),
    }
}

/// A file where only directories belong, with the number of hosts that
/// come before it in name order.
pub type Stray = (PathBuf, usize);

/// [`scan_root`], and every file found where only directories belong (in
/// ROOT or in a cluster directory) with the number of hosts listed before
/// it in name order: the Go restore stops its scan at the first one.
pub fn scan_root_strays(root: &Path) -> io::Result<(Vec<HostDir>, Vec<Stray>)> {
    let mut hosts = Vec::new();
    let mut strays = Vec::new();
    for (cluster, cluster_path, is_dir) in sorted_entries(root)? {
        if !is_dir {
            strays.push((cluster_path, hosts.len()));
            continue;
        }
        for (host, path, is_dir) in sorted_entries(&cluster_path)? {
            if is_dir {
                hosts.push(HostDir {
                    cluster: cluster.clone(),
                    host,
                    path,
                });
            } else {
                strays.push((path, hosts.len()));
            }
        }
    }
    Ok((hosts, strays))
}

/// A directory's entries in name order: (name, path, is a directory).
fn sorted_entries(dir: &Path) -> io::Result<Vec<(Vec<u8>, PathBuf, bool)>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let is_dir = entry.file_type()?.is_dir();
        entries.push((entry.file_name().as_bytes().to_vec(), entry.path(), is_dir));
    }
    entries.sort();
    Ok(entries)
}

/// The files of one host directory, classified.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostListing {
    /// Snapshots with a numeric name, unsorted.
    pub snapshots: Vec<SnapshotEntry>,
    /// Snapshot-like names that are not numbers (`abc.bin`).
    pub bad_names: Vec<PathBuf>,
    /// `current.wal`, when present.
    pub wal: Option<PathBuf>,
    /// Sealed WAL segments, oldest first (by label, then k).
    pub sealed: Vec<PathBuf>,
    /// `<from>.bin.tmp` files with their number.
    pub temporaries: Vec<(PathBuf, i64)>,
    /// `wal-*.sealed.tmp` files left by a crash while trimming a segment.
    pub segment_temporaries: Vec<PathBuf>,
}

/// Reads and classifies a host directory. Sub-directories and other files
/// are ignored.
pub fn list_host_files(dir: &Path) -> io::Result<HostListing> {
    let mut files = HostListing::default();
    let mut sealed = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if entry.file_type()?.is_dir() {
            continue;
        }
        match classify(&entry.file_name()) {
            HostFileName::Wal => files.wal = Some(entry.path()),
            HostFileName::Snapshot {
                format,
                number: Some(number),
            } => files.snapshots.push(SnapshotEntry {
                path: entry.path(),
                number,
                format,
            }),
            HostFileName::Snapshot { number: None, .. } => files.bad_names.push(entry.path()),
            HostFileName::Sealed { label, k } => sealed.push((label, k, entry.path())),
            HostFileName::Temporary { number } => files.temporaries.push((entry.path(), number)),
            HostFileName::SegmentTemporary => files.segment_temporaries.push(entry.path()),
            HostFileName::Other => {}
        }
    }
    sealed.sort();
    files.sealed = sealed.into_iter().map(|(_, _, path)| path).collect();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_dir(root: &Path) -> HostDir {
        HostDir::new(root, b"cluster", b"host").unwrap()
    }

    #[test]
    fn creating_a_host_directory_names_the_directories_that_gained_entries() {
        let root = tempfile::tempdir().unwrap();
        let dir = host_dir(root.path());
        assert_eq!(
            dir.create().unwrap(),
            [root.path().join("cluster"), root.path().to_path_buf()]
        );
        assert!(dir.path.is_dir());
        assert_eq!(dir.create().unwrap(), [] as [PathBuf; 0]);
        let other = HostDir::new(root.path(), b"cluster", b"other").unwrap();
        assert_eq!(other.create().unwrap(), [root.path().join("cluster")]);
        assert!(HostDir::new(root.path(), b"..", b"host").is_err());
    }

    #[test]
    fn a_wal_is_opened_for_appending_created_new_cut_and_restarted() {
        let root = tempfile::tempdir().unwrap();
        let dir = host_dir(root.path());
        dir.create().unwrap();
        let mut file = dir.open_wal(WalOpen::CreateOrAppend).unwrap();
        file.write_all(b"headerrecords").unwrap();
        let again = dir.open_wal(WalOpen::CreateNew).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        // Appends go to the end, whatever the position.
        let mut file = dir.open_wal(WalOpen::CreateOrAppend).unwrap();
        file.write_all(b"+torn").unwrap();
        dir.cut_wal(&file, 13, SyncData::Now).unwrap();
        file.write_all(b"!").unwrap();
        assert_eq!(fs::read(dir.wal_path()).unwrap(), b"headerrecords!");
        dir.restart_wal(&mut file, b"head").unwrap();
        assert_eq!(fs::read(dir.wal_path()).unwrap(), b"head");
    }

    #[test]
    fn sealing_takes_the_first_free_segment_name() {
        let root = tempfile::tempdir().unwrap();
        let dir = host_dir(root.path());
        assert_eq!(dir.seal_wal(5).unwrap(), None);
        dir.create().unwrap();
        let mut sealed = Vec::new();
        for content in [b"one", b"two"] {
            fs::write(dir.wal_path(), content).unwrap();
            sealed.push(dir.seal_wal(5).unwrap().unwrap());
        }
        assert_eq!(sealed[0], dir.path.join(sealed_segment_name(5, 0)));
        assert_eq!(sealed[1], dir.path.join(sealed_segment_name(5, 1)));
        assert_eq!(fs::read(&sealed[1]).unwrap(), b"two");
        let listing = dir.list().unwrap();
        assert_eq!((listing.wal, listing.sealed), (None, sealed));
    }

    #[test]
    fn replace_and_remove_leave_no_temporary_and_report_what_went() {
        let root = tempfile::tempdir().unwrap();
        let dir = host_dir(root.path());
        let target = dir.path.join("1000.bin");
        dir.replace(&target, b"first").unwrap();
        dir.replace(&target, b"second").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(&dir.path)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["1000.bin"]);
        let missing = dir.path.join("missing");
        let removal = dir.remove([target.clone(), missing]);
        assert_eq!(removal.removed, [target]);
        assert!(removal.errors.is_empty());
    }

    #[test]
    fn a_staged_file_is_removed_unless_committed_and_never_replaces_one() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("archives/new");
        let (staged, mut file) = StagedFile::create(&dir, "a.parquet").unwrap();
        file.write_all(b"dropped").unwrap();
        drop(staged);
        assert!(!dir.join("a.parquet.tmp").exists());
        let (staged, mut file) = StagedFile::create(&dir, "a.parquet").unwrap();
        file.write_all(b"kept").unwrap();
        assert_eq!(staged.commit(file).unwrap(), dir.join("a.parquet"));
        assert_eq!(fs::read(dir.join("a.parquet")).unwrap(), b"kept");
        let refused = StagedFile::create(&dir, "a.parquet").unwrap_err();
        assert_eq!(refused.kind(), crate::ErrorKind::Format);
    }

    #[test]
    fn the_root_scan_lists_hosts_in_order_and_files_out_of_place() {
        let root = tempfile::tempdir().unwrap();
        for (cluster, host) in [("b", "h1"), ("a", "h2"), ("a", "h1")] {
            HostDir::new(root.path(), cluster.as_bytes(), host.as_bytes())
                .unwrap()
                .create_durably()
                .unwrap();
        }
        fs::write(root.path().join("a/stray"), b"").unwrap();
        let (hosts, strays) = scan_root_strays(root.path()).unwrap();
        let names: Vec<_> = hosts
            .iter()
            .map(|h| (h.cluster.clone(), h.host.clone()))
            .collect();
        assert_eq!(
            names,
            [
                (b"a".to_vec(), b"h1".to_vec()),
                (b"a".to_vec(), b"h2".to_vec()),
                (b"b".to_vec(), b"h1".to_vec())
            ]
        );
        assert_eq!(strays, [(root.path().join("a/stray"), 2)]);
        let missing = root.path().join("missing");
        assert!(scan_root_or_empty(&missing).unwrap().is_empty());
    }
}
