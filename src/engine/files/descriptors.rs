//! The open WAL descriptors of one shard's hosts: at most a budget of them
//! are open, the least recently used is closed to make room, and an open
//! that finds the process out of descriptors closes half of them and tries
//! once more.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::engine::stats::{Counters, bump};

/// The hosts' open files, indexed like the hosts, with least-recently-used
/// eviction.
pub(super) struct Descriptors {
    files: Vec<Option<File>>,
    /// Stamp of each host's last use.
    last_use: Vec<u64>,
    /// (host, stamp) in order of use; entries whose stamp is not the host's
    /// `last_use` are stale and skipped.
    lru: VecDeque<(usize, u64)>,
    clock: u64,
    open: usize,
    budget: usize,
    counters: Arc<Counters>,
}

fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

impl Descriptors {
    /// At most `budget` files open at once (at least one); the open count
    /// is published in `counters.open_files`.
    pub fn new(budget: usize, counters: Arc<Counters>) -> Self {
        Descriptors {
            files: Vec::new(),
            last_use: Vec::new(),
            lru: VecDeque::new(),
            clock: 0,
            open: 0,
            budget: budget.max(1),
            counters,
        }
    }

    /// Makes room for host `host` (hosts are numbered from 0 in order).
    pub fn add_host(&mut self) {
        self.files.push(None);
        self.last_use.push(0);
    }

    /// Whether the host's file is open; if so, it is marked as just used.
    pub fn touch_if_open(&mut self, host: usize) -> bool {
        let open = self.files[host].is_some();
        if open {
            self.touch(host);
        }
        open
    }

    /// The host's open file, if any (not counted as a use).
    pub fn file(&mut self, host: usize) -> Option<&mut File> {
        self.files[host].as_mut()
    }

    /// The host's open file, if any (not counted as a use).
    pub fn peek(&self, host: usize) -> Option<&File> {
        self.files[host].as_ref()
    }

    /// Closes files, least recently used first, until one more fits in the
    /// budget.
    pub fn make_room(&mut self) {
        while self.open >= self.budget && self.evict_one() {}
    }

    /// Keeps `file` open as the host's, marked as just used.
    pub fn insert(&mut self, host: usize, file: File) {
        if self.files[host].replace(file).is_none() {
            self.open += 1;
            bump(&self.counters.open_files, 1);
        }
        self.touch(host);
    }

    /// Closes the host's file, if open.
    pub fn close(&mut self, host: usize) {
        if self.files[host].take().is_some() {
            self.open -= 1;
            self.counters.open_files.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Closes every file.
    pub fn close_all(&mut self) {
        for host in 0..self.files.len() {
            self.close(host);
        }
    }

    /// Runs `open`; when the process is out of descriptors, closes half of
    /// the open files and tries once more.
    pub fn open_with_eviction(&mut self, open: impl Fn() -> io::Result<File>) -> io::Result<File> {
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

    fn touch(&mut self, host: usize) {
        self.clock += 1;
        self.last_use[host] = self.clock;
        self.lru.push_back((host, self.clock));
        if self.lru.len() > 4 * self.open.max(64) {
            let (files, last_use) = (&self.files, &self.last_use);
            self.lru
                .retain(|&(h, stamp)| last_use[h] == stamp && files[h].is_some());
        }
    }

    /// Closes the least recently used file; false when none is open.
    fn evict_one(&mut self) -> bool {
        while let Some((host, stamp)) = self.lru.pop_front() {
            if self.last_use[host] == stamp && self.files[host].is_some() {
                self.close(host);
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptors(budget: usize, hosts: usize) -> (Descriptors, tempfile::TempDir) {
        let mut descriptors = Descriptors::new(budget, Arc::new(Counters::default()));
        for _ in 0..hosts {
            descriptors.add_host();
        }
        (descriptors, tempfile::tempdir().unwrap())
    }

    fn open_file(dir: &tempfile::TempDir, host: usize) -> File {
        File::create(dir.path().join(format!("{host}"))).unwrap()
    }

    fn open_hosts(descriptors: &Descriptors) -> Vec<usize> {
        (0..descriptors.files.len())
            .filter(|&h| descriptors.peek(h).is_some())
            .collect()
    }

    #[test]
    fn the_least_recently_used_file_is_closed_to_stay_in_budget() {
        let (mut descriptors, dir) = descriptors(2, 3);
        for host in 0..2 {
            descriptors.make_room();
            descriptors.insert(host, open_file(&dir, host));
        }
        // Host 0 used after host 1: host 1 is the one to go.
        assert!(descriptors.touch_if_open(0));
        descriptors.make_room();
        descriptors.insert(2, open_file(&dir, 2));
        assert_eq!(open_hosts(&descriptors), [0, 2]);
        assert_eq!(descriptors.counters.open_files.load(Ordering::Relaxed), 2);
        descriptors.close_all();
        assert_eq!(open_hosts(&descriptors), [] as [usize; 0]);
        assert_eq!(descriptors.counters.open_files.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn stale_use_records_are_dropped_and_do_not_evict_a_file_in_use() {
        let (mut descriptors, dir) = descriptors(1, 2);
        descriptors.insert(0, open_file(&dir, 0));
        for _ in 0..1_000 {
            descriptors.touch_if_open(0);
        }
        // Compacted: the queue keeps a bounded number of stale stamps.
        assert!(
            descriptors.lru.len() <= 4 * 64 + 1,
            "{}",
            descriptors.lru.len()
        );
        descriptors.make_room();
        descriptors.insert(1, open_file(&dir, 1));
        assert_eq!(open_hosts(&descriptors), [1]);
        // Room for one more with a budget of one: the open file goes.
        descriptors.make_room();
        assert_eq!(open_hosts(&descriptors), [] as [usize; 0]);
        // With nothing open, making room ends at once.
        descriptors.make_room();
        assert!(descriptors.lru.is_empty());
    }

    #[test]
    fn running_out_of_descriptors_closes_half_of_the_files_and_retries_once() {
        let (mut descriptors, dir) = descriptors(8, 5);
        for host in 0..4 {
            descriptors.insert(host, open_file(&dir, host));
        }
        let attempts = std::cell::Cell::new(0);
        let emfile = || {
            attempts.set(attempts.get() + 1);
            Err(io::Error::from_raw_os_error(libc::EMFILE))
        };
        let error = descriptors.open_with_eviction(emfile).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::EMFILE));
        assert_eq!(attempts.get(), 2);
        assert_eq!(open_hosts(&descriptors), [2, 3]);
        // Another error is returned as it is, without closing anything.
        let denied = || Err(io::Error::from_raw_os_error(libc::EACCES));
        assert!(descriptors.open_with_eviction(denied).is_err());
        assert_eq!(open_hosts(&descriptors), [2, 3]);
        let file = descriptors.open_with_eviction(|| Ok(open_file(&dir, 4)));
        descriptors.insert(4, file.unwrap());
        assert_eq!(open_hosts(&descriptors), [2, 3, 4]);
    }
}
