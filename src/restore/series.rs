//! The replay's map from a WAL record's series (metric name and selector,
//! as stored) to the level and metric it writes.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Where a series' records go: (level node, metric index), or `None` for a
/// metric not in the configuration.
pub(super) type Target = Option<(usize, usize)>;

/// A small multiply-and-fold hasher in the manner of foldhash: a series key
/// is about 20 bytes and every record looked one up, where SipHash's cost
/// showed in the profile. Folding the 128-bit product's high half into the
/// low one matters: FxHash's plain multiply left names that differ only in
/// their last bytes (`node_metric_00`, `_01`, ...) in one bucket. Flooding
/// resistance buys nothing here: the keys come from the host's own WAL and
/// the operator's configuration, and colliding keys could only slow the
/// restore.
#[derive(Default)]
pub(super) struct FoldHasher(u64);

impl FoldHasher {
    fn add(&mut self, word: u64) {
        let product = u128::from(self.0 ^ word) * 0x9e37_79b9_7f4a_7c15;
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

/// A `HashMap` hasher builder for [`FoldHasher`].
pub(super) type FoldBuildHasher = BuildHasherDefault<FoldHasher>;

impl Hasher for FoldHasher {
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
        self.0
    }
}

/// `a == b` for keys of about 20 bytes, by words: slice equality calls
/// memcmp, whose call cost showed in the profile.
fn same(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() || len < 8 {
        return a == b;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    let mut at = 0;
    while at + 8 < len {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    word(a, len - 8) == word(b, len - 8)
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
    index: HashMap<&'a [u8], usize, FoldBuildHasher>,
    series: Vec<Series<'a>>,
    /// The series of the previous record.
    last: usize,
}

impl<'a> SeriesMap<'a> {
    /// A map with room for `series` series.
    pub(super) fn with_capacity(series: usize) -> Self {
        SeriesMap {
            index: HashMap::with_capacity_and_hasher(series, FoldBuildHasher::default()),
            series: Vec::with_capacity(series),
            last: NONE,
        }
    }

    /// The number of series seen.
    pub(super) fn len(&self) -> usize {
        self.series.len()
    }

    /// The target of `key`, resolved by `resolve` the first time.
    #[inline]
    pub(super) fn target(&mut self, key: &'a [u8], resolve: impl FnOnce() -> Target) -> Target {
        let guess = self.series.get(self.last).map_or(NONE, |s| s.next);
        match self.series.get(guess) {
            Some(series) if same(series.key, key) => {
                self.last = guess;
                series.target
            }
            _ => self.find(key, resolve),
        }
    }

    /// [`SeriesMap::target`] when the guess is wrong: kept out of line so
    /// that the guess inlines into the replay loop.
    #[inline(never)]
    fn find(&mut self, key: &'a [u8], resolve: impl FnOnce() -> Target) -> Target {
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
        self.last = at;
        self.series[at].target
    }
}
