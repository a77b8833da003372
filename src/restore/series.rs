//! The replay's map from a WAL record's series (metric name and selector,
//! as stored) to the level and metric it writes.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Where a series' records go: (level node, metric index), or `None` for a
/// metric not in the configuration.
pub(super) type Target = Option<(usize, usize)>;

/// FxHash (rustc's hasher): a series key is about 20 bytes and every record
/// looks one up, where SipHash's cost showed in the profile. Its flooding
/// resistance buys nothing here: the keys come from the host's own WAL,
/// and colliding keys could only slow that host's replay.
#[derive(Default)]
struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        match bytes.len() {
            0 => {}
            len @ 1..8 => {
                let mut padded = [0; 8];
                padded[..len].copy_from_slice(bytes);
                self.add(u64::from_le_bytes(padded));
            }
            len => {
                let mut at = 0;
                while at + 8 < len {
                    self.add(word(at));
                    at += 8;
                }
                // The last word overlaps the one before rather than be
                // copied into a padded one (the length is hashed too).
                self.add(word(len - 8));
            }
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // The product's high bits are the well-mixed ones; the table
        // indexes by the low bits.
        self.0.rotate_left(26)
    }
}

/// No series (`usize::MAX` as an index).
const NONE: usize = usize::MAX;

struct Series<'a> {
    key: &'a [u8],
    target: Target,
    /// The series whose record followed this one's last time.
    next: usize,
}

/// The series of one WAL file, keyed by [`Record::series_key`](crate::codec::wal::Record::series_key).
///
/// A collector sends a host's series in the same order every interval, so
/// each series remembers the one that followed it: one comparison with
/// that guess usually replaces the hash lookup.
pub(super) struct SeriesMap<'a> {
    index: HashMap<&'a [u8], usize, BuildHasherDefault<FxHasher>>,
    series: Vec<Series<'a>>,
    /// The series of the previous record.
    last: usize,
}

impl<'a> SeriesMap<'a> {
    pub(super) fn new() -> Self {
        SeriesMap {
            index: HashMap::default(),
            series: Vec::new(),
            last: NONE,
        }
    }

    /// The target of `key`, resolved by `resolve` the first time.
    pub(super) fn target(&mut self, key: &'a [u8], resolve: impl FnOnce() -> Target) -> Target {
        let guess = self.series.get(self.last).map_or(NONE, |s| s.next);
        let at = match self.series.get(guess) {
            Some(series) if series.key == key => guess,
            _ => {
                let at = *self.index.entry(key).or_insert_with(|| {
                    self.series.push(Series {
                        key,
                        target: resolve(),
                        next: NONE,
                    });
                    self.series.len() - 1
                });
                if let Some(last) = self.series.get_mut(self.last) {
                    last.next = at;
                }
                at
            }
        };
        self.last = at;
        self.series[at].target
    }
}
