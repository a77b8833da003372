//! A snapshot's levels as the restore reads them. A binary snapshot's names
//! and values stay in the file's bytes: a metric's values are widened to
//! f64 straight from the read buffer into the chunk that keeps them, with no
//! float32 copy in between, which was half of what a restore allocated.

use crate::codec::snapshot::{self, DecodeError, Level, SnapshotVisitor, ValuesRef};

/// A metric's values: as a binary snapshot stores them, or as the JSON
/// decoder produced them.
#[derive(Clone, Copy)]
pub(super) enum Values<'a> {
    Stored(ValuesRef<'a>),
    Decoded(&'a [f64]),
}

impl Values<'_> {
    pub(super) fn len(&self) -> usize {
        match self {
            Values::Stored(values) => values.len(),
            Values::Decoded(values) => values.len(),
        }
    }

    /// The values as f64, in an allocation of exactly their number.
    pub(super) fn to_f64_vec(self) -> Vec<f64> {
        match self {
            Values::Stored(values) => {
                let mut out = Vec::with_capacity(values.len());
                values.extend_f64(&mut out);
                out
            }
            Values::Decoded(values) => values.to_vec(),
        }
    }
}

pub(super) struct MetricView<'a> {
    pub(super) name: &'a [u8],
    pub(super) frequency: i64,
    pub(super) start: i64,
    pub(super) values: Values<'a>,
}

/// One level, in file order (names may repeat: the caller decides which
/// occurrence counts).
#[derive(Default)]
pub(super) struct LevelView<'a> {
    pub(super) metrics: Vec<MetricView<'a>>,
    pub(super) children: Vec<(&'a [u8], LevelView<'a>)>,
}

impl<'a> LevelView<'a> {
    /// A binary snapshot's tree, borrowed from `input`. The whole file is
    /// validated first, as [`snapshot::walk_snapshot`] does.
    pub(super) fn binary(input: &'a [u8]) -> Result<LevelView<'a>, DecodeError> {
        let mut builder = ViewBuilder {
            stack: Vec::new(),
            root: LevelView::default(),
        };
        snapshot::walk_snapshot(input, &mut builder)?;
        Ok(builder.root)
    }

    /// A decoded JSON snapshot's tree.
    pub(super) fn json(level: &'a Level<f64>) -> LevelView<'a> {
        LevelView {
            metrics: level
                .metrics
                .iter()
                .map(|m| MetricView {
                    name: &m.name,
                    frequency: m.frequency,
                    start: m.start,
                    values: Values::Decoded(&m.values),
                })
                .collect(),
            children: level
                .children
                .iter()
                .map(|c| (c.name.as_slice(), LevelView::json(&c.level)))
                .collect(),
        }
    }
}

struct ViewBuilder<'a> {
    /// The levels entered and not yet left, with their names.
    stack: Vec<(&'a [u8], LevelView<'a>)>,
    root: LevelView<'a>,
}

impl<'a> ViewBuilder<'a> {
    fn current(&mut self) -> &mut LevelView<'a> {
        match self.stack.last_mut() {
            Some((_, level)) => level,
            None => &mut self.root,
        }
    }
}

impl<'a> SnapshotVisitor<'a> for ViewBuilder<'a> {
    fn metric(&mut self, name: &'a [u8], frequency: i64, start: i64, values: ValuesRef<'a>) {
        let metric = MetricView {
            name,
            frequency,
            start,
            values: Values::Stored(values),
        };
        self.current().metrics.push(metric);
    }

    fn enter_child(&mut self, name: &'a [u8]) {
        self.stack.push((name, LevelView::default()));
    }

    fn leave_child(&mut self) {
        let child = self.stack.pop().expect("balanced by the walker");
        self.current().children.push(child);
    }
}
