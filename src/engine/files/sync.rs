//! Making written records durable: the copy of every byte written since a
//! host's last good fdatasync, one fdatasync per file or one syncfs for
//! many, and the rewrite from that copy after a failed one (the kernel may
//! have dropped the dirty pages and cleared the error, so a failed sync is
//! never retried as if the data were safe).

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use super::HostFiles;
use super::backlog::BufferPool;
use crate::engine::stats::bump;
use crate::engine::tunables::SYNCFS_MIN_FILES;
use crate::error::Error;
use crate::storage::{self, FileSystemSync};

/// What the next sync must make durable: each host's bytes written since
/// its last good fdatasync (from its synced length to its length), kept as
/// a copy, with the hosts that have some and their total, and the
/// directories with new entries.
#[derive(Default)]
pub(super) struct Unsynced {
    copies: Vec<Vec<u8>>,
    /// Hosts whose copy is not empty (and possibly some whose copy was
    /// emptied since: they are skipped).
    waiting: Vec<usize>,
    bytes: usize,
    /// Directories with new entries (files, sub-directories) not yet
    /// fsynced: synced with the records, so a durability of `None` costs
    /// no fsync at all until `sync`.
    dirs: BTreeSet<PathBuf>,
    /// The root's file system, for syncs of many files at once; opened
    /// with the first file, before anything is written.
    file_system: Option<FileSystemSync>,
}

impl Unsynced {
    /// Makes room for the next host (hosts are numbered from 0 in order).
    pub fn add_host(&mut self) {
        self.copies.push(Vec::new());
    }

    pub fn is_empty(&self, host: usize) -> bool {
        self.copies[host].is_empty()
    }

    /// Bytes kept, over all hosts.
    pub fn total_bytes(&self) -> usize {
        self.bytes
    }

    /// Whether a sync has anything to do.
    pub fn any_waiting(&self) -> bool {
        !self.waiting.is_empty() || !self.dirs.is_empty()
    }

    /// Directories that gained an entry, to be fsynced with the records.
    pub fn add_dirs(&mut self, dirs: impl IntoIterator<Item = PathBuf>) {
        self.dirs.extend(dirs);
    }

    /// Opens the file system holding `root` for syncfs, unless it is open.
    /// Without it every sync is one fdatasync per file.
    pub fn open_file_system(&mut self, root: &Path) {
        if self.file_system.is_none() {
            self.file_system = FileSystemSync::open(root).ok();
        }
    }

    /// Appends what was just written to the host's file, given as
    /// `slices`, with no copy of it in between.
    pub fn add<'a>(
        &mut self,
        host: usize,
        slices: impl IntoIterator<Item = &'a [u8]>,
        pool: &mut BufferPool,
    ) {
        let copy = &mut self.copies[host];
        if copy.capacity() == 0 {
            *copy = pool.take();
        }
        let before = copy.len();
        for slice in slices {
            copy.extend_from_slice(slice);
        }
        if before == 0 && !copy.is_empty() {
            self.waiting.push(host);
        }
        self.bytes += copy.len() - before;
    }

    /// The host's file was started over with `header`: the copy holds only
    /// that.
    pub fn start_with(&mut self, host: usize, header: &[u8]) {
        let copy = &mut self.copies[host];
        self.bytes -= copy.len();
        copy.clear();
        copy.extend_from_slice(header);
        self.bytes += header.len();
        self.waiting.push(host);
    }

    /// The host's copy is no longer needed (synced, or its file deleted).
    /// Back to the pool, as a written backlog: memory follows the bytes
    /// kept.
    pub fn release(&mut self, host: usize, pool: &mut BufferPool) {
        let copy = std::mem::take(&mut self.copies[host]);
        self.bytes -= copy.len();
        pool.give_back(copy);
    }

    /// Takes the host's copy out, to be written again.
    fn take(&mut self, host: usize) -> Vec<u8> {
        let copy = std::mem::take(&mut self.copies[host]);
        self.bytes -= copy.len();
        copy
    }
}

impl HostFiles {
    /// fdatasync of every file written since the last call (files closed
    /// meanwhile are reopened for it) and of new directory entries; one
    /// syncfs instead when [`SYNCFS_MIN_FILES`] or more files wait. A host
    /// whose fdatasync fails is rewritten from its copy at the next retry.
    pub fn sync(&mut self) -> Result<(), Error> {
        if self.unsynced.waiting.len() >= SYNCFS_MIN_FILES && self.unsynced.file_system.is_some() {
            return self.sync_file_system();
        }
        let mut first_error = self.sync_dirs().err();
        for host in std::mem::take(&mut self.unsynced.waiting) {
            if self.unsynced.is_empty(host) {
                continue;
            }
            if let Err(error) = self.sync_host(host) {
                first_error.get_or_insert(error);
                if !self.unsynced.is_empty(host) {
                    self.unsynced.waiting.push(host);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Makes the host's file durable: written backlog, fdatasync (reopening
    /// the file if it was evicted), new directory entries.
    pub(super) fn sync_host(&mut self, host: usize) -> Result<(), Error> {
        self.write_backlog(host)?;
        if self.unsynced.is_empty(host) {
            return Ok(());
        }
        let path = self.hosts[host].dir.wal_path();
        let result = match self.descriptors.peek(host) {
            Some(file) => file.sync_data(),
            None => match self.descriptors.open_with_eviction(|| File::open(&path)) {
                Ok(file) => file.sync_data(),
                // The data is still in the page cache: retry the sync later.
                Err(e) => return Err(Error::io_at("open", &path, &e)),
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
        if !self.backlog.is_empty(host) {
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
        self.unsynced.release(host, &mut self.pool);
    }

    /// After a failed fdatasync nothing written since the last good one can
    /// be trusted: cut the file back to the synced length and queue the
    /// kept copy to be written again, ahead of the backlog.
    pub(super) fn rewrite_after_failed_sync(&mut self, host: usize) {
        self.descriptors.close(host);
        let again = self.unsynced.take(host);
        self.backlog.put_first(host, again);
        let h = &mut self.hosts[host];
        h.len = h.synced_len;
        h.must_cut = true;
        if h.len == 0 {
            // The header is in the copy: write it again like the records.
            h.checked = true;
        }
    }

    pub(super) fn sync_dirs(&mut self) -> Result<(), Error> {
        let mut first_error = None;
        for dir in std::mem::take(&mut self.unsynced.dirs) {
            bump(&self.counters.fsyncs, 1);
            if let Err(e) = storage::sync_dir(&dir) {
                first_error.get_or_insert(e);
                self.unsynced.dirs.insert(dir);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// [`HostFiles::sync`] with one syncfs: writes the waiting records of
    /// the hosts to sync, then flushes the file system, directories
    /// included. When it fails, every one of those hosts is rewritten from
    /// its copy, as after a failed fdatasync (the error may have hit any).
    fn sync_file_system(&mut self) -> Result<(), Error> {
        let hosts = std::mem::take(&mut self.unsynced.waiting);
        let mut first_error = None;
        for &host in &hosts {
            if let Err(error) = self.write_backlog(host) {
                first_error.get_or_insert(error);
            }
        }
        bump(&self.counters.fsyncs, 1);
        let synced = self
            .unsynced
            .file_system
            .as_ref()
            .expect("checked by sync")
            .sync();
        for host in hosts {
            if self.unsynced.is_empty(host) {
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
            Ok(()) => self.unsynced.dirs.clear(),
            Err(error) => {
                self.publish_gauges();
                first_error = Some(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copies_count_their_bytes_and_list_each_host_to_sync_once() {
        let mut pool = BufferPool::default();
        let mut unsynced = Unsynced::default();
        unsynced.add_host();
        unsynced.add_host();
        assert!(!unsynced.any_waiting());
        unsynced.add(1, [&b"ab"[..], b"c"], &mut pool);
        unsynced.add(1, [&b"d"[..]], &mut pool);
        unsynced.add(0, [&b""[..]], &mut pool);
        assert_eq!(unsynced.waiting, [1]);
        assert_eq!(unsynced.total_bytes(), 4);
        assert!(unsynced.is_empty(0));
        unsynced.start_with(0, b"HDR!");
        assert_eq!(
            (unsynced.waiting.clone(), unsynced.total_bytes()),
            (vec![1, 0], 8)
        );
        assert_eq!(unsynced.take(1), b"abcd");
        assert_eq!(unsynced.total_bytes(), 4);
        unsynced.release(0, &mut pool);
        assert_eq!(unsynced.total_bytes(), 0);
        assert!(unsynced.is_empty(0) && unsynced.is_empty(1));
        // A new directory entry alone is something to sync.
        unsynced.waiting.clear();
        unsynced.add_dirs([PathBuf::from("/new")]);
        assert!(unsynced.any_waiting());
    }
}
