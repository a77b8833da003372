//! A bounded pool of threads writing many hosts' snapshots.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::{is_empty_snapshot, write_snapshot};
use crate::error::{Error, ErrorKind};

/// What happened to one host's snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Written {
        path: PathBuf,
        bytes: u64,
    },
    /// Nothing to write (no metric, no level): no file, as in Go.
    Empty,
    Failed(Error),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostOutcome {
    pub cluster: Vec<u8>,
    pub host: Vec<u8>,
    pub outcome: Outcome,
    pub duration: Duration,
}

struct Job {
    cluster: Vec<u8>,
    host: Vec<u8>,
    from: i64,
    bytes: Vec<u8>,
}

/// Writer threads behind a bounded queue: `submit` blocks while `queue`
/// snapshots wait, so memory stays bounded however many hosts there are.
pub struct SnapshotWriterPool {
    jobs: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
    outcomes: Arc<Mutex<Vec<HostOutcome>>>,
}

fn work(root: PathBuf, jobs: Receiver<Job>, outcomes: Arc<Mutex<Vec<HostOutcome>>>) {
    for job in jobs {
        let started = Instant::now();
        let outcome = if is_empty_snapshot(&job.bytes) {
            Outcome::Empty
        } else {
            match write_snapshot(&root, &job.cluster, &job.host, job.from, &job.bytes) {
                Ok(path) => Outcome::Written {
                    path,
                    bytes: job.bytes.len() as u64,
                },
                Err(e) => Outcome::Failed(e),
            }
        };
        let duration = started.elapsed();
        outcomes.lock().push(HostOutcome {
            cluster: job.cluster,
            host: job.host,
            outcome,
            duration,
        });
    }
}

impl SnapshotWriterPool {
    /// `workers` threads (at least one) writing below `root`; at most
    /// `queue` snapshots wait for a thread.
    pub fn new(root: PathBuf, workers: usize, queue: usize) -> Result<Self, Error> {
        let (jobs, receiver) = crossbeam_channel::bounded(queue.max(1));
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let mut pool = SnapshotWriterPool {
            jobs: Some(jobs),
            workers: Vec::new(),
            outcomes,
        };
        for index in 0..workers.max(1) {
            let (root, receiver, outcomes) =
                (root.clone(), receiver.clone(), pool.outcomes.clone());
            let worker = std::thread::Builder::new()
                .name(format!("ccwal-snapshot-{index}"))
                .spawn(move || work(root, receiver, outcomes))
                .map_err(|e| Error::io("start a snapshot writer thread", &e))?;
            pool.workers.push(worker);
        }
        Ok(pool)
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

    /// Waits for every submitted snapshot; returns their outcomes.
    pub fn finish(mut self) -> Vec<HostOutcome> {
        self.stop();
        std::mem::take(&mut *self.outcomes.lock())
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
