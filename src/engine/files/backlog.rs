//! Records accepted but not in their file yet, per host, with the total
//! they hold, and the pool of emptied buffers the hosts' byte buffers come
//! from and go back to.

use crate::engine::tunables::BUFFER_POOL_BYTES;

/// Emptied host buffers (written backlogs, synced copies) kept for
/// whichever host needs one next: allocations are reused, so buffers do
/// not regrow byte by byte, without every host keeping its own.
#[derive(Default)]
pub(super) struct BufferPool {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

impl BufferPool {
    const MAX_BYTES: usize = BUFFER_POOL_BYTES;

    /// A buffer with no bytes (with the capacity of one given back, when
    /// there is one).
    pub fn take(&mut self) -> Vec<u8> {
        let buffer = self.buffers.pop().unwrap_or_default();
        self.bytes -= buffer.capacity();
        buffer
    }

    /// Keeps the buffer's allocation for a later `take`, unless the pool is
    /// full.
    pub fn give_back(&mut self, mut buffer: Vec<u8>) {
        if buffer.capacity() > 0 && self.bytes + buffer.capacity() <= Self::MAX_BYTES {
            buffer.clear();
            self.bytes += buffer.capacity();
            self.buffers.push(buffer);
        }
    }
}

/// A host's records waiting to be written: bytes and how many records.
#[derive(Default)]
struct Waiting {
    bytes: Vec<u8>,
    records: u64,
}

/// Each host's records accepted but not in its file yet (waiting to be
/// written with more, or after a failed write or fdatasync), in order, and
/// the bytes they hold in all.
#[derive(Default)]
pub(super) struct Backlog {
    hosts: Vec<Waiting>,
    bytes: usize,
}

impl Backlog {
    /// Makes room for the next host (hosts are numbered from 0 in order).
    pub fn add_host(&mut self) {
        self.hosts.push(Waiting::default());
    }

    /// The host's waiting bytes.
    pub fn bytes(&self, host: usize) -> &[u8] {
        &self.hosts[host].bytes
    }

    /// The host's waiting records.
    pub fn records(&self, host: usize) -> u64 {
        self.hosts[host].records
    }

    pub fn is_empty(&self, host: usize) -> bool {
        self.hosts[host].bytes.is_empty()
    }

    /// Bytes waiting, over all hosts.
    pub fn total_bytes(&self) -> usize {
        self.bytes
    }

    /// Appends `records` records, given as `slices`, to the host's backlog.
    pub fn keep<'a>(
        &mut self,
        host: usize,
        slices: impl IntoIterator<Item = &'a [u8]>,
        records: u64,
        pool: &mut BufferPool,
    ) {
        let waiting = &mut self.hosts[host];
        if waiting.bytes.capacity() == 0 {
            waiting.bytes = pool.take();
        }
        let before = waiting.bytes.len();
        for slice in slices {
            waiting.bytes.extend_from_slice(slice);
        }
        self.bytes += waiting.bytes.len() - before;
        waiting.records += records;
    }

    /// Puts `bytes` (records already counted as written, to be written
    /// again) ahead of the host's backlog.
    pub fn put_first(&mut self, host: usize, mut bytes: Vec<u8>) {
        let waiting = &mut self.hosts[host];
        self.bytes += bytes.len();
        bytes.append(&mut waiting.bytes);
        waiting.bytes = bytes;
    }

    /// Empties the host's backlog (written, or dropped with its file);
    /// returns the records it held. The buffer goes back to the pool, not
    /// kept: most hosts wait between writes, and a buffer kept per host
    /// would grow memory with the number of hosts rather than with the
    /// bytes waiting.
    pub fn clear(&mut self, host: usize, pool: &mut BufferPool) -> u64 {
        let waiting = &mut self.hosts[host];
        self.bytes -= waiting.bytes.len();
        pool.give_back(std::mem::take(&mut waiting.bytes));
        std::mem::replace(&mut waiting.records, 0)
    }

    /// Forgets the host's records (lost at close) but keeps its bytes
    /// counted until the store goes; returns how many there were.
    pub fn forget_records(&mut self, host: usize) -> u64 {
        std::mem::replace(&mut self.hosts[host].records, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_reuses_allocations_up_to_its_limit() {
        let mut pool = BufferPool::default();
        assert_eq!(pool.take().capacity(), 0);
        let mut buffer = Vec::with_capacity(1024);
        buffer.extend_from_slice(b"old bytes");
        pool.give_back(buffer);
        let reused = pool.take();
        assert!(reused.is_empty());
        assert_eq!(reused.capacity(), 1024);
        assert_eq!(pool.bytes, 0);
        pool.give_back(Vec::with_capacity(BufferPool::MAX_BYTES));
        // Full: a further buffer is freed, not kept.
        pool.give_back(Vec::with_capacity(1));
        assert_eq!(pool.buffers.len(), 1);
        assert_eq!(pool.bytes, BufferPool::MAX_BYTES);
    }

    #[test]
    fn the_backlog_keeps_records_in_order_and_counts_its_bytes() {
        let mut pool = BufferPool::default();
        let mut backlog = Backlog::default();
        backlog.add_host();
        backlog.add_host();
        backlog.keep(0, [&b"ab"[..], b"cd"], 2, &mut pool);
        backlog.keep(1, [&b"x"[..]], 1, &mut pool);
        backlog.keep(0, [&b"ef"[..]], 1, &mut pool);
        assert_eq!(backlog.bytes(0), b"abcdef");
        assert_eq!(backlog.records(0), 3);
        assert_eq!(backlog.total_bytes(), 7);
        // Bytes to write again go first; their records are not new.
        backlog.put_first(0, b"12".to_vec());
        assert_eq!(backlog.bytes(0), b"12abcdef");
        assert_eq!((backlog.records(0), backlog.total_bytes()), (3, 9));
        assert_eq!(backlog.clear(0, &mut pool), 3);
        assert!(backlog.is_empty(0));
        assert_eq!(backlog.total_bytes(), 1);
        // The emptied buffer went to the pool, for the next host in need.
        assert!(pool.take().capacity() >= 6);
        assert_eq!(backlog.forget_records(1), 1);
        assert_eq!((backlog.records(1), backlog.bytes(1)), (0, &b"x"[..]));
    }
}
