//! The Go metricstore's in-memory model that a restore rebuilds: per level
//! and metric, a chain of buffers ("chunks"), and the rule by which a write
//! lands in the newest one.

use std::collections::BTreeMap;

/// Capacity of a buffer created by a write (Go's `BufferCap`).
pub const NEW_CHUNK_CAPACITY: usize = 512;

/// Values a chunk created by a write has room for before it grows.
const NEW_CHUNK_VALUES: usize = 16;

/// One buffer of a metric's chain: `values[i]` is the sample at
/// `start + i * frequency` (NaN = missing).
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// Unix seconds of the chunk's start (Go's buffer start).
    pub start: i64,
    /// Seconds between two values.
    pub frequency: i64,
    /// Go's `cap(data)`: writes beyond it start a new chunk.
    pub capacity: usize,
    /// Loaded from a snapshot: the host must not write it to a snapshot
    /// again.
    pub archived: bool,
    /// The values, NaN for missing samples.
    pub values: Vec<f64>,
}

impl Chunk {
    /// Stores `value` in slot `index`, missing slots before it NaN.
    fn set(&mut self, index: usize, value: f64) {
        if index < self.values.len() {
            self.values[index] = value;
        } else {
            self.values.resize(index, f64::NAN);
            self.values.push(value);
        }
    }

    /// Go's `newBuffer(ts, freq)`: starts half a period before `ts`.
    fn new(ts: i64, frequency: i64) -> Chunk {
        Chunk::with_capacity(ts, frequency, NEW_CHUNK_CAPACITY)
    }

    fn with_capacity(ts: i64, frequency: i64, capacity: usize) -> Chunk {
        Chunk {
            start: ts - frequency / 2,
            frequency,
            capacity,
            archived: false,
            // A replayed chunk fills slot by slot: starting at 16 rather
            // than Vec's 4 saves two reallocations, which showed in the
            // replay's profile, for at most 96 unused bytes.
            values: Vec::with_capacity(capacity.min(NEW_CHUNK_VALUES)),
        }
    }
}

/// Why a write was not applied (Go ignores these during replay).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteRefused {
    /// Before the newest chunk's start (older chunks are not searched).
    BeforeStart,
    /// The chunk's frequency is not positive or the index overflows: Go
    /// would panic here; the write is refused instead.
    Unrepresentable,
}

/// Applies Go's `buffer.write` to a metric's chain (oldest first), creating
/// the first chunk with `frequency` when the chain is empty.
///
/// Inlined, with new chunks out of line: replay calls it for every record.
#[inline]
pub fn write(
    chain: &mut Vec<Chunk>,
    frequency: i64,
    ts: i64,
    value: f64,
) -> Result<(), WriteRefused> {
    let Some(head) = chain.last_mut() else {
        if frequency <= 0 {
            return Err(WriteRefused::Unrepresentable);
        }
        push_chunk(chain, ts, frequency, value);
        return Ok(());
    };
    if ts < head.start {
        return Err(WriteRefused::BeforeStart);
    }
    if head.frequency <= 0 {
        return Err(WriteRefused::Unrepresentable);
    }
    let offset = ts
        .checked_sub(head.start)
        .ok_or(WriteRefused::Unrepresentable)?;
    let len = head.values.len();
    let index = match (len as i64).checked_mul(head.frequency) {
        // The slot after the last value, as replay mostly writes: found
        // without the 64-bit division.
        Some(next) if offset >= next && offset - next < head.frequency => len,
        _ => (offset / head.frequency) as usize,
    };
    if index >= head.capacity {
        let frequency = head.frequency;
        push_chunk(chain, ts, frequency, value);
    } else {
        head.set(index, value);
    }
    Ok(())
}

/// Appends a new chunk for `ts` holding `value`.
#[inline(never)]
fn push_chunk(chain: &mut Vec<Chunk>, ts: i64, frequency: i64, value: f64) {
    let mut chunk = Chunk::new(ts, frequency);
    chunk.values.push(value);
    push(chain, chunk);
}

/// Appends `chunk` to `chain`, the first one in an allocation of its own
/// size: most chains hold one or two chunks, and Vec's first step (room
/// for four, 224 bytes) was most of a short replayed series' memory.
pub(super) fn push(chain: &mut Vec<Chunk>, chunk: Chunk) {
    if chain.is_empty() {
        chain.reserve_exact(1);
    }
    chain.push(chunk);
}

/// [`write()`], except that a sample older than the newest chunk is not
/// refused: it goes into the older chunk whose slots cover it, or into a
/// new chunk inserted in time order (capped so it ends where the next one
/// starts). A live store that took a backfilled sample before newer ones
/// holds it this way; a restore that replays it after a snapshot of newer
/// data must too.
#[inline]
pub fn write_anywhere(
    chain: &mut Vec<Chunk>,
    frequency: i64,
    ts: i64,
    value: f64,
) -> Result<(), WriteRefused> {
    match chain.last() {
        Some(head) if ts < head.start => write_before_head(chain, ts, value),
        _ => write(chain, frequency, ts, value),
    }
}

/// [`write_anywhere`] of a sample older than the newest chunk's start.
#[inline(never)]
fn write_before_head(chain: &mut Vec<Chunk>, ts: i64, value: f64) -> Result<(), WriteRefused> {
    // The chunks after `at` start later than `ts`.
    let at = chain.partition_point(|c| c.start <= ts);
    let next_start = chain[at].start;
    if let Some(chunk) = at.checked_sub(1).map(|i| &mut chain[i]) {
        if chunk.frequency <= 0 {
            return Err(WriteRefused::Unrepresentable);
        }
        let index = ((ts - chunk.start) / chunk.frequency) as usize;
        if index < chunk.capacity {
            chunk.set(index, value);
            return Ok(());
        }
    }
    let frequency = chain[at].frequency;
    if frequency <= 0 {
        return Err(WriteRefused::Unrepresentable);
    }
    let room = (next_start - (ts - frequency / 2)) / frequency;
    let capacity = room.clamp(1, NEW_CHUNK_CAPACITY as i64) as usize;
    let mut chunk = Chunk::with_capacity(ts, frequency, capacity);
    chunk.values.push(value);
    chain.insert(at, chunk);
    Ok(())
}

/// Each metric's chain of chunks, by metric name.
pub type MetricChains = BTreeMap<Vec<u8>, Vec<Chunk>>;

/// A level of a restored host: the host itself or a selector below it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RestoredLevel {
    /// Each configured metric's chain of chunks, oldest first.
    pub metrics: MetricChains,
    /// The child levels by name.
    pub children: BTreeMap<Vec<u8>, RestoredLevel>,
}

impl RestoredLevel {
    /// The level at `path` below this one, created as needed (Go's
    /// `findLevelOrCreate`).
    pub fn level_mut<'a, I: IntoIterator<Item = &'a [u8]>>(
        &mut self,
        path: I,
    ) -> &mut RestoredLevel {
        path.into_iter().fold(self, |level, name| {
            level.children.entry(name.to_vec()).or_default()
        })
    }

    /// [`RestoredLevel::walk`], taking the levels apart instead of
    /// borrowing them: each level's metrics with its path, in path order.
    pub fn into_levels(self) -> Vec<(Vec<Vec<u8>>, MetricChains)> {
        let mut out = Vec::new();
        let mut stack = vec![(Vec::new(), self)];
        while let Some((path, level)) = stack.pop() {
            for (name, child) in level.children.into_iter().rev() {
                let mut child_path = path.clone();
                child_path.push(name);
                stack.push((child_path, child));
            }
            out.push((path, level.metrics));
        }
        out
    }

    /// Every level below and including this one with its path, in path
    /// order (the host level's path is empty).
    pub fn walk(&self) -> Vec<(Vec<Vec<u8>>, &RestoredLevel)> {
        let mut out = Vec::new();
        let mut stack = vec![(Vec::new(), self)];
        while let Some((path, level)) = stack.pop() {
            for (name, child) in level.children.iter().rev() {
                let mut child_path = path.clone();
                child_path.push(name.clone());
                stack.push((child_path, child));
            }
            out.push((path, level));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(values: &[f64]) -> Vec<u64> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn go_write_rule() {
        let mut chain = Vec::new();
        write(&mut chain, 60, 1000, 1.0).unwrap();
        assert_eq!(
            (chain[0].start, chain[0].capacity, chain[0].archived),
            (970, 512, false)
        );
        write(&mut chain, 60, 1000 + 180, 2.0).unwrap(); // index 3: NaN fill
        assert_eq!(
            bits(&chain[0].values),
            bits(&[1.0, f64::NAN, f64::NAN, 2.0])
        );
        write(&mut chain, 60, 1000 + 60, 5.0).unwrap(); // overwrite a gap
        write(&mut chain, 60, 1000, 9.0).unwrap(); // duplicate: last write wins
        assert_eq!(bits(&chain[0].values), bits(&[9.0, 5.0, f64::NAN, 2.0]));
        assert_eq!(
            write(&mut chain, 60, 969, 1.0),
            Err(WriteRefused::BeforeStart)
        );
        write(&mut chain, 60, 970 + 512 * 60, 7.0).unwrap(); // past capacity
        assert_eq!(chain.len(), 2);
        assert_eq!(
            (chain[1].start, chain[1].values.clone()),
            (970 + 512 * 60 - 30, vec![7.0])
        );
        // Older chunks are not searched.
        assert_eq!(
            write(&mut chain, 60, 1000, 1.0),
            Err(WriteRefused::BeforeStart)
        );
    }

    #[test]
    fn snapshot_chunks_are_full_at_their_length() {
        let mut chain = vec![Chunk {
            start: 0,
            frequency: 10,
            capacity: 2,
            archived: true,
            values: vec![1.0, 2.0],
        }];
        write(&mut chain, 60, 20, 3.0).unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(
            (chain[1].start, chain[1].frequency),
            (15, 10),
            "the chunk's frequency, not the config's"
        );
        let mut empty = vec![Chunk {
            start: 0,
            frequency: 10,
            capacity: 0,
            archived: true,
            values: vec![],
        }];
        write(&mut empty, 10, 5, 1.0).unwrap();
        assert_eq!(empty.len(), 2);
        let mut zero = vec![Chunk {
            start: 0,
            frequency: 0,
            capacity: 4,
            archived: true,
            values: vec![],
        }];
        assert_eq!(
            write(&mut zero, 10, 5, 1.0),
            Err(WriteRefused::Unrepresentable)
        );
    }

    #[test]
    fn write_anywhere_puts_older_samples_where_they_belong() {
        // A snapshot's chunk of 4 slots from 1000, then a chunk from 2000.
        let chunk = |start, values: Vec<f64>| Chunk {
            start,
            frequency: 10,
            capacity: 4,
            archived: true,
            values,
        };
        let mut chain = vec![chunk(1000, vec![1.0]), chunk(2000, vec![2.0])];
        // Go's rule refuses both; write_anywhere does not.
        assert_eq!(
            write(&mut chain, 10, 1020, 3.0),
            Err(WriteRefused::BeforeStart)
        );
        // Into a free slot of the older chunk (NaN in between).
        write_anywhere(&mut chain, 10, 1020, 3.0).unwrap();
        assert!(chain[0].values[1].is_nan());
        assert_eq!(chain[0].values[2], 3.0);
        // Past that chunk's capacity: a new chunk between the two, capped
        // so it ends where the next one starts.
        write_anywhere(&mut chain, 10, 1985, 4.0).unwrap();
        assert_eq!(chain.len(), 3);
        assert_eq!((chain[1].start, chain[1].capacity), (1980, 2));
        assert_eq!(chain[1].values, vec![4.0]);
        // Before every chunk: a new first chunk.
        write_anywhere(&mut chain, 10, 500, 5.0).unwrap();
        assert_eq!((chain[0].start, chain[0].values.clone()), (495, vec![5.0]));
        // At or after the newest chunk's start: Go's rule.
        write_anywhere(&mut chain, 10, 2010, 6.0).unwrap();
        assert_eq!(chain.last().unwrap().values, vec![2.0, 6.0]);
        let starts: Vec<i64> = chain.iter().map(|c| c.start).collect();
        assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
    }
}
