//! Property-based round trips of the three formats; floats are compared by
//! their bits so NaN, −0.0 and denormals count.

use ccwal::codec::json::{decode_json_snapshot, encode_json_snapshot};
use ccwal::codec::snapshot::{
    Child, Level, Metric, Snapshot, SnapshotEncoder, decode_snapshot, encode_snapshot,
};
use ccwal::codec::wal::{self, WalItem, WalReader};
use proptest::prelude::*;

fn special_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        Just(f32::NAN),
        Just(f32::INFINITY),
        Just(f32::NEG_INFINITY),
        Just(-0.0f32),
        Just(f32::from_bits(1)),
        Just(f32::MIN_POSITIVE / 2.0),
        any::<f32>(),
    ]
}

fn special_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(-0.0f64),
        Just(f64::from_bits(1)),
        Just(f64::MAX),
        any::<f64>()
    ]
    .prop_filter("JSON cannot hold infinities", |v| !v.is_infinite())
}

fn name(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=max)
}

#[derive(Debug, Clone)]
struct Sample {
    ts: i64,
    metric: Vec<u8>,
    selector: Vec<Vec<u8>>,
    value: f32,
}

fn sample() -> impl Strategy<Value = Sample> {
    let ts = prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0i64), any::<i64>()];
    let selector = prop_oneof![
        4 => proptest::collection::vec(name(20), 0..4),
        1 => proptest::collection::vec(name(255), 0..=255),
    ];
    (ts, name(300), selector, special_f32()).prop_map(|(ts, metric, selector, value)| Sample {
        ts,
        metric,
        selector,
        value,
    })
}

fn level_of<V: std::fmt::Debug + Clone + 'static>(
    depth: u32,
    value: BoxedStrategy<V>,
) -> BoxedStrategy<Level<V>> {
    let metric = (
        name(12),
        any::<i64>(),
        any::<i64>(),
        proptest::collection::vec(value.clone(), 0..20),
    )
        .prop_map(|(name, frequency, start, values)| Metric {
            name,
            frequency,
            start,
            values,
        });
    let metrics = proptest::collection::vec(metric, 0..4);
    if depth == 0 {
        return metrics
            .prop_map(|metrics| Level {
                metrics,
                children: vec![],
            })
            .boxed();
    }
    let child =
        (name(8), level_of(depth - 1, value)).prop_map(|(name, level)| Child { name, level });
    (metrics, proptest::collection::vec(child, 0..3))
        .prop_map(|(metrics, children)| Level { metrics, children })
        .boxed()
}

fn level_f32(depth: u32) -> BoxedStrategy<Level<f32>> {
    level_of(depth, special_f32().boxed())
}

/// The tree with every value replaced by its bits, so equality is exact.
fn bits_of<V: Copy>(level: &Level<V>, to_bits: fn(V) -> u64) -> Level<u64> {
    Level {
        metrics: level
            .metrics
            .iter()
            .map(|m| Metric {
                name: m.name.clone(),
                frequency: m.frequency,
                start: m.start,
                values: m.values.iter().map(|&v| to_bits(v)).collect(),
            })
            .collect(),
        children: level
            .children
            .iter()
            .map(|c| Child {
                name: c.name.clone(),
                level: bits_of(&c.level, to_bits),
            })
            .collect(),
    }
}

fn f32_bits(v: f32) -> u64 {
    v.to_bits() as u64
}

fn widen(level: &Level<f32>) -> Level<f64> {
    Level {
        metrics: level
            .metrics
            .iter()
            .map(|m| Metric {
                name: m.name.clone(),
                frequency: m.frequency,
                start: m.start,
                values: m.values.iter().map(|&v| v as f64).collect(),
            })
            .collect(),
        children: level
            .children
            .iter()
            .map(|c| Child {
                name: c.name.clone(),
                level: widen(&c.level),
            })
            .collect(),
    }
}

/// JSON keys are unique strings: names are made UTF-8 and unique per level.
fn json_safe(level: Level<f64>) -> Level<f64> {
    let metrics = level
        .metrics
        .into_iter()
        .enumerate()
        .map(|(i, m)| Metric {
            name: format!("m{i}").into_bytes(),
            ..m
        })
        .collect();
    let children = level
        .children
        .into_iter()
        .enumerate()
        .map(|(i, c)| Child {
            name: format!("c{i}").into_bytes(),
            level: json_safe(c.level),
        })
        .collect();
    Level { metrics, children }
}

fn f64_json_tree() -> impl Strategy<Value = Level<f64>> {
    level_of(2, special_f64().boxed()).prop_map(json_safe)
}

fn sorted(mut level: Level<u64>) -> Level<u64> {
    level.metrics.sort_by(|a, b| a.name.cmp(&b.name));
    level.children.sort_by(|a, b| a.name.cmp(&b.name));
    level.children = level
        .children
        .into_iter()
        .map(|c| Child {
            name: c.name,
            level: sorted(c.level),
        })
        .collect();
    level
}

proptest! {
    #[test]
    fn wal_records_round_trip(s in sample()) {
        let mut out = vec![0xEE; 3];
        let len = wal::encode_record(&mut out, s.ts, &s.metric, &s.selector, s.value).unwrap();
        prop_assert_eq!(len, out.len() - 3);
        prop_assert_eq!(len, wal::encoded_len(&s.metric, &s.selector));
        let (record, used) = wal::decode_record(&out[3..]).unwrap();
        prop_assert_eq!(used, len);
        prop_assert_eq!(record.ts, s.ts);
        prop_assert_eq!(record.metric, &s.metric[..]);
        prop_assert_eq!(record.selector.iter().collect::<Vec<_>>(), s.selector.iter().map(|c| &c[..]).collect::<Vec<_>>());
        prop_assert_eq!(record.value_bits, s.value.to_bits());
    }

    #[test]
    fn wal_files_read_back_in_order(samples in proptest::collection::vec(sample(), 0..20)) {
        let mut file = wal::file_header().to_vec();
        let mut offsets = Vec::new();
        for s in &samples {
            offsets.push(file.len());
            wal::encode_record(&mut file, s.ts, &s.metric, &s.selector, s.value).unwrap();
        }
        let start = wal::check_file_header(&file).unwrap();
        for resync in [false, true] {
            let items: Vec<_> = WalReader::new(&file, start, resync).collect();
            prop_assert_eq!(items.len(), samples.len());
            for ((item, s), offset) in items.iter().zip(&samples).zip(&offsets) {
                match item {
                    WalItem::Record { offset: at, record } => {
                        prop_assert_eq!(at, offset);
                        prop_assert_eq!(record.ts, s.ts);
                        prop_assert_eq!(record.value_bits, s.value.to_bits());
                    }
                    WalItem::Damaged { .. } => prop_assert!(false, "no damage in a clean file"),
                }
            }
        }
    }

    #[test]
    fn snapshots_round_trip(from in any::<i64>(), to in any::<i64>(), root in level_f32(3)) {
        let snapshot = Snapshot { from, to, root };
        let mut out = Vec::new();
        let len = encode_snapshot(&snapshot, &mut out).unwrap();
        prop_assert_eq!(len, out.len());
        let (decoded, used) = decode_snapshot(&out).unwrap();
        prop_assert_eq!(used, out.len());
        prop_assert_eq!((decoded.from, decoded.to), (from, to));
        prop_assert_eq!(bits_of(&decoded.root, f32_bits), bits_of(&snapshot.root, f32_bits));
    }

    #[test]
    fn f64_input_encodes_as_the_narrowed_tree(root in level_f32(2)) {
        let wide = widen(&root);
        let mut narrow_bytes = Vec::new();
        encode_snapshot(&Snapshot { from: 1, to: 2, root }, &mut narrow_bytes).unwrap();
        let mut wide_bytes = Vec::new();
        encode_snapshot(&Snapshot { from: 1, to: 2, root: wide }, &mut wide_bytes).unwrap();
        prop_assert_eq!(narrow_bytes, wide_bytes);
    }

    #[test]
    fn json_round_trips(from in any::<i64>(), to in any::<i64>(), root in f64_json_tree()) {
        let snapshot = Snapshot { from, to, root };
        let text = encode_json_snapshot(&snapshot).unwrap();
        let decoded = decode_json_snapshot(&text).unwrap();
        prop_assert_eq!((decoded.from, decoded.to), (from, to));
        // NaN comes back as the canonical NaN; compare NaN-ness, else bits.
        let canon = |v: f64| if v.is_nan() { f64::NAN.to_bits() } else { v.to_bits() };
        prop_assert_eq!(sorted(bits_of(&decoded.root, canon)), sorted(bits_of(&snapshot.root, canon)));
    }
}

#[test]
fn deepest_accepted_nesting_round_trips() {
    let mut out = Vec::new();
    let mut encoder = SnapshotEncoder::new(&mut out, 0, 0);
    for depth in 0..255 {
        encoder.metric(b"m", 1, depth, &[depth as f32]).unwrap();
        encoder.begin_child(&[b'c'; 255]).unwrap();
    }
    for _ in 0..255 {
        encoder.end_child().unwrap();
    }
    encoder.finish().unwrap();
    let (snap, _) = decode_snapshot(&out).unwrap();
    let mut level = &snap.root;
    for depth in 0..255 {
        assert_eq!(level.metrics[0].values, vec![depth as f32]);
        level = &level.children[0].level;
    }
    assert!(level.metrics.is_empty() && level.children.is_empty());
}
