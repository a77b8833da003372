//! A bounded pool of threads writing many hosts' snapshots.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::{StagedSnapshot, is_empty_snapshot, stage_snapshot};
use crate::error::{Error, ErrorKind};
use crate::storage::{SyncData, sync_file_system};

/// What happened to one host's snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The snapshot is on disk.
    Written {
        /// The snapshot file written.
        path: PathBuf,
        /// Its size in bytes.
        bytes: u64,
    },
    /// Nothing to write (no metric, no level): no file, as in Go.
    Empty,
    /// The snapshot could not be written; the host's sealed segments stay.
    Failed(Error),
}

/// One host's snapshot outcome in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostOutcome {
    /// The host's cluster name.
    pub cluster: Vec<u8>,
    /// The host's name.
    pub host: Vec<u8>,
    /// What happened to its snapshot.
    pub outcome: Outcome,
    /// How long writing it took.
    pub duration: Duration,
}

struct Job {
    cluster: Vec<u8>,
    host: Vec<u8>,
    from: i64,
    bytes: Vec<u8>,
}

/// A host's result before the group commit.
enum Pending {
    Staged(StagedSnapshot, u64),
    Done(Outcome),
}

struct PendingHost {
    cluster: Vec<u8>,
    host: Vec<u8>,
    pending: Pending,
    duration: Duration,
}

impl PendingHost {
    /// The outcome of a host that has nothing staged.
    fn into_done(self) -> HostOutcome {
        let outcome = match self.pending {
            Pending::Done(outcome) => outcome,
            Pending::Staged(..) => unreachable!("only called without staged snapshots"),
        };
        HostOutcome {
            cluster: self.cluster,
            host: self.host,
            outcome,
            duration: self.duration,
        }
    }
}

/// Writer threads behind a bounded queue: `submit` blocks while `queue`
/// snapshots wait, so memory stays bounded however many hosts there are.
/// Snapshots are written to temporary files without an fsync each;
/// `finish` makes them durable with one syncfs, renames them into place
/// and syncs again — two flushes per checkpoint instead of two per host.
pub struct SnapshotWriterPool {
    root: PathBuf,
    jobs: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
    pending: Arc<Mutex<Vec<PendingHost>>>,
}

fn work(root: PathBuf, jobs: Receiver<Job>, pending: Arc<Mutex<Vec<PendingHost>>>) {
    for job in jobs {
        let started = Instant::now();
        let result = if is_empty_snapshot(&job.bytes) {
            Pending::Done(Outcome::Empty)
        } else {
            match stage_snapshot(
                &root,
                &job.cluster,
                &job.host,
                job.from,
                &job.bytes,
                SyncData::Later,
            ) {
                Ok(staged) => Pending::Staged(staged, job.bytes.len() as u64),
                Err(e) => Pending::Done(Outcome::Failed(e)),
            }
        };
        let duration = started.elapsed();
        pending.lock().push(PendingHost {
            cluster: job.cluster,
            host: job.host,
            pending: result,
            duration,
        });
    }
}

impl SnapshotWriterPool {
    /// `workers` threads (at least one) writing below `root`; at most
    /// `queue` snapshots wait for a thread.
    pub fn new(root: PathBuf, workers: usize, queue: usize) -> Result<Self, Error> {
        let (jobs, receiver) = crossbeam_channel::bounded(queue.max(1));
        let mut pool = SnapshotWriterPool {
            root: root.clone(),
            jobs: Some(jobs),
            workers: Vec::new(),
            pending: Arc::new(Mutex::new(Vec::new())),
        };
        for index in 0..workers.max(1) {
            let (root, receiver, pending) = (root.clone(), receiver.clone(), pool.pending.clone());
            let worker = std::thread::Builder::new()
                .name(format!("ccwal-snapshot-{index}"))
                .spawn(move || work(root, receiver, pending))
                .map_err(|e| Error::io("start a snapshot writer thread", &e))?;
            pool.workers.push(worker);
        }
        Ok(pool)
    }

    /// The root the snapshots are written below.
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// Queues a finished snapshot of `[from, ...]` for (cluster, host).
    /// Blocks while the queue is full.
    pub fn submit(
        &self,
        cluster: &[u8],
        host: &[u8],
        from: i64,
        bytes: Vec<u8>,
    ) -> Result<(), Error> {
        let job = Job {
            cluster: cluster.to_vec(),
            host: host.to_vec(),
            from,
            bytes,
        };
        self.jobs
            .as_ref()
            .expect("open until finish")
            .send(job)
            .map_err(|_| Error::new(ErrorKind::Closed, "the snapshot writers have stopped"))
    }

    /// Waits for every submitted snapshot, makes them durable and renames
    /// them into place (syncfs, renames, syncfs); returns their outcomes.
    /// Blocks.
    pub fn finish(mut self) -> Vec<HostOutcome> {
        self.stop();
        let pending = std::mem::take(&mut *self.pending.lock());
        if !pending
            .iter()
            .any(|p| matches!(p.pending, Pending::Staged(..)))
        {
            return pending.into_iter().map(PendingHost::into_done).collect();
        }
        let staged_durably = sync_file_system(&self.root);
        let outcomes: Vec<HostOutcome> = pending
            .into_iter()
            .map(|p| {
                let outcome = match (p.pending, &staged_durably) {
                    (Pending::Done(outcome), _) => outcome,
                    (Pending::Staged(staged, _), Err(e)) => {
                        staged.discard();
                        Outcome::Failed(e.clone())
                    }
                    (Pending::Staged(staged, bytes), Ok(())) => match staged.commit() {
                        Ok(path) => Outcome::Written { path, bytes },
                        Err(e) => Outcome::Failed(e),
                    },
                };
                HostOutcome {
                    cluster: p.cluster,
                    host: p.host,
                    outcome,
                    duration: p.duration,
                }
            })
            .collect();
        // The renames (directory entries) are durable only after this one.
        if let Err(e) = sync_file_system(&self.root) {
            return outcomes
                .into_iter()
                .map(|o| match o.outcome {
                    Outcome::Written { .. } => HostOutcome {
                        outcome: Outcome::Failed(e.clone()),
                        ..o
                    },
                    _ => o,
                })
                .collect();
        }
        outcomes
    }

    fn stop(&mut self) {
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl Drop for SnapshotWriterPool {
    fn drop(&mut self) {
        self.stop();
    }
}
