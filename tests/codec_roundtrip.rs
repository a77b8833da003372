//! Round trips through every codec with generated input, compared by bits,
//! and the encoders' refusals.

use ccwal::codec::json::{decode_json_snapshot, encode_json_snapshot};
use ccwal::codec::snapshot::{
    Child, EncodeError, Level, MAX_DEPTH, Metric, Snapshot, SnapshotEncoder, SnapshotValue,
    decode_snapshot, encode_snapshot,
};
use ccwal::codec::wal::{
    OnDamage, WalItem, WalReader, check_file_header, decode_record, encode_record, encoded_len,
    file_header,
};
use ccwal::names::{MAX_METRIC_NAME_LEN, NameError, NameField};
use proptest::prelude::*;

/// A record as the test owns it.
#[derive(Debug, Clone, PartialEq)]
struct OwnedRecord {
    ts: i64,
    metric: Vec<u8>,
    selector: Vec<Vec<u8>>,
    value_bits: u32,
}

impl OwnedRecord {
    fn encode(&self, out: &mut Vec<u8>) -> usize {
        let value = f32::from_bits(self.value_bits);
        encode_record(out, self.ts, &self.metric, &self.selector, value).unwrap()
    }
}

fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MIN),
        Just(i64::MAX),
        Just(0),
        Just(-1),
        any::<i64>()
    ]
}

/// float32 bits: the special values often, any bit pattern (NaN payloads,
/// denormals) otherwise.
fn f32_bits() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(f32::NAN.to_bits()),
        Just(f32::INFINITY.to_bits()),
        Just(f32::NEG_INFINITY.to_bits()),
        Just((-0.0f32).to_bits()),
        Just(1),           // smallest denormal
        Just(0x807F_FFFF), // largest negative denormal
        Just(0xFFBF_FFFF), // a negative NaN with a payload
        Just(0x7F80_0001), // a signalling NaN
        any::<u32>(),
    ]
}

/// Selector components: mostly short random bytes; long ones are one
/// repeated byte, so that 255 × 255 bytes stay cheap to generate.
fn component() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..12),
        1 => (0..=255usize, any::<u8>()).prop_map(|(len, byte)| vec![byte; len]),
    ]
}

fn selector() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop_oneof![
        4 => prop::collection::vec(component(), 0..4),
        1 => prop::collection::vec(component(), 0..=255),
        1 => Just(vec![vec![0xA5; 255]; 255]),
    ]
}

fn record(selector: impl Strategy<Value = Vec<Vec<u8>>>) -> impl Strategy<Value = OwnedRecord> {
    let metric = prop_oneof![
        Just(Vec::new()),
        prop::collection::vec(any::<u8>(), 0..300),
        Just(b"\xff\xfe not UTF-8 \xc0".to_vec()),
    ];
    (timestamp(), metric, selector, f32_bits()).prop_map(|(ts, metric, selector, value_bits)| {
        OwnedRecord {
            ts,
            metric,
            selector,
            value_bits,
        }
    })
}

fn owned(record: &ccwal::codec::wal::Record<'_>) -> OwnedRecord {
    OwnedRecord {
        ts: record.ts,
        metric: record.metric.to_vec(),
        selector: record.selector.iter().map(<[u8]>::to_vec).collect(),
        value_bits: record.value_bits,
    }
}

proptest! {
    #[test]
    fn wal_record_round_trips(expected in record(selector()), prefix in 0..3usize) {
        let mut out = vec![0x5A; prefix];
        let len = expected.encode(&mut out);
        prop_assert_eq!(len, out.len() - prefix);
        prop_assert_eq!(len, encoded_len(&expected.metric, &expected.selector));
        let (decoded, used) = decode_record(&out[prefix..]).unwrap();
        prop_assert_eq!(used, len);
        prop_assert_eq!(decoded.value().to_bits(), expected.value_bits);
        prop_assert_eq!(owned(&decoded), expected);
    }

    #[test]
    fn wal_sequences_read_back_in_order(
        records in prop::collection::vec(record(prop::collection::vec(component(), 0..3)), 0..24),
    ) {
        let mut wal = file_header().to_vec();
        let mut offsets = Vec::new();
        for r in &records {
            offsets.push(wal.len());
            r.encode(&mut wal);
        }
        let start = check_file_header(&wal).unwrap();
        for on_damage in [OnDamage::Stop, OnDamage::Resync] {
            let mut reader = WalReader::new(&wal, start, on_damage);
            let mut read = Vec::new();
            for item in reader.by_ref() {
                match item {
                    WalItem::Record { offset, record } => read.push((offset, owned(&record))),
                    damaged => prop_assert!(false, "unexpected {:?}", damaged),
                }
            }
            prop_assert_eq!(reader.position(), wal.len());
            let expected: Vec<_> = offsets.iter().copied().zip(records.iter().cloned()).collect();
            prop_assert_eq!(read, expected);
        }
    }
}

#[test]
fn wal_encoder_refuses_what_does_not_fit() {
    let mut out = b"kept".to_vec();
    let long_name = vec![b'm'; MAX_METRIC_NAME_LEN + 1];
    let none: &[&[u8]] = &[];
    assert_eq!(
        encode_record(&mut out, 1, &long_name, none, 1.0),
        Err(NameError::TooLong {
            field: NameField::Metric,
            len: 65536,
            max: 65535
        })
    );
    let too_many = vec![b"s".as_slice(); 256];
    assert_eq!(
        encode_record(&mut out, 1, b"m", &too_many, 1.0),
        Err(NameError::TooManySelectors { count: 256 })
    );
    let too_long = [b"ok".to_vec(), vec![b's'; 256]];
    assert_eq!(
        encode_record(&mut out, 1, b"m", &too_long, 1.0),
        Err(NameError::TooLong {
            field: NameField::Selector(1),
            len: 256,
            max: 255
        })
    );
    assert_eq!(out, b"kept");
    // The largest record that fits is written and read back.
    let name = vec![b'n'; MAX_METRIC_NAME_LEN];
    let selector = vec![vec![b's'; 255]; 255];
    let len = encode_record(&mut out, 9, &name, &selector, -0.0).unwrap();
    let (record, used) = decode_record(&out[4..]).unwrap();
    assert_eq!(used, len);
    assert_eq!(
        (record.metric, record.selector.len()),
        (name.as_slice(), 255)
    );
    assert_eq!(record.value_bits, 0x8000_0000);
}

/// A tree with its values replaced by `f(value)`: bits for comparison.
fn map_values<V, W>(level: &Level<V>, f: &impl Fn(&V) -> W) -> Level<W> {
    Level {
        metrics: level
            .metrics
            .iter()
            .map(|m| Metric {
                name: m.name.clone(),
                frequency: m.frequency,
                start: m.start,
                values: m.values.iter().map(f).collect(),
            })
            .collect(),
        children: level
            .children
            .iter()
            .map(|c| Child {
                name: c.name.clone(),
                level: map_values(&c.level, f),
            })
            .collect(),
    }
}

fn f32_tree_bits(level: &Level<f32>) -> Level<u32> {
    map_values(level, &|v: &f32| v.to_bits())
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..20)
}

fn metric<V: std::fmt::Debug + Clone + 'static>(
    value: impl Strategy<Value = V> + 'static,
) -> BoxedStrategy<Metric<V>> {
    let values = prop_oneof![Just(Vec::new()), prop::collection::vec(value, 0..40)];
    (name(), any::<i64>(), any::<i64>(), values)
        .prop_map(|(name, frequency, start, values)| Metric {
            name,
            frequency,
            start,
            values,
        })
        .boxed()
}

/// Random trees: at most 4 levels below the host, a few entries per level.
fn level<V: std::fmt::Debug + Clone + 'static>(
    value: impl Strategy<Value = V> + 'static,
) -> impl Strategy<Value = Level<V>> {
    let metrics = prop::collection::vec(metric(value), 0..4).boxed();
    let leaf = metrics.clone().prop_map(|metrics| Level {
        metrics,
        children: Vec::new(),
    });
    leaf.prop_recursive(4, 48, 4, move |inner| {
        let children = prop::collection::vec(
            (name(), inner).prop_map(|(name, level)| Child { name, level }),
            0..4,
        );
        (metrics.clone(), children).prop_map(|(metrics, children)| Level { metrics, children })
    })
}

fn snapshot<V: std::fmt::Debug + Clone + 'static>(
    value: impl Strategy<Value = V> + 'static,
) -> impl Strategy<Value = Snapshot<V>> {
    (any::<i64>(), any::<i64>(), level(value)).prop_map(|(from, to, root)| Snapshot {
        from,
        to,
        root,
    })
}

/// float64 values JSON can hold: NaN (as null), −0.0, denormals, any finite
/// bit pattern; no infinities.
fn json_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(-0.0),
        Just(f64::from_bits(1)),
        Just(-f64::MIN_POSITIVE / 3.0),
        Just(f64::MAX),
        Just(f64::MIN),
        any::<u64>()
            .prop_map(f64::from_bits)
            .prop_filter("finite or NaN", |v| !v.is_infinite()),
    ]
}

/// Comparable JSON values: NaN has no bits worth keeping (it is `null`).
fn json_bits(v: &f64) -> Option<u64> {
    (!v.is_nan()).then_some(v.to_bits())
}

/// A JSON-representable tree: UTF-8 names, unique per level, in the sorted
/// order the decoder returns them.
fn json_level() -> impl Strategy<Value = Level<f64>> {
    let metric = (
        any::<i64>(),
        any::<i64>(),
        prop::collection::vec(json_f64(), 0..20),
    );
    let metrics = prop::collection::btree_map(".{0,8}", metric, 0..4)
        .prop_map(|metrics| {
            metrics
                .into_iter()
                .map(|(name, (frequency, start, values))| Metric {
                    name: name.into_bytes(),
                    frequency,
                    start,
                    values,
                })
                .collect::<Vec<_>>()
        })
        .boxed();
    let leaf = metrics.clone().prop_map(|metrics| Level {
        metrics,
        children: Vec::new(),
    });
    leaf.prop_recursive(3, 24, 3, move |inner| {
        let children = prop::collection::btree_map(".{0,8}", inner, 0..3).prop_map(|c| {
            c.into_iter()
                .map(|(name, level)| Child {
                    name: name.into_bytes(),
                    level,
                })
                .collect()
        });
        (metrics.clone(), children).prop_map(|(metrics, children)| Level { metrics, children })
    })
}

proptest! {
    #[test]
    fn snapshot_round_trips(expected in snapshot(f32_bits().prop_map(f32::from_bits)), prefix in 0..3usize) {
        let mut out = vec![0xC3; prefix];
        let len = encode_snapshot(&expected, &mut out).unwrap();
        prop_assert_eq!(len, out.len() - prefix);
        let (decoded, used) = decode_snapshot(&out[prefix..]).unwrap();
        prop_assert_eq!(used, len);
        prop_assert_eq!((decoded.from, decoded.to), (expected.from, expected.to));
        prop_assert_eq!(f32_tree_bits(&decoded.root), f32_tree_bits(&expected.root));
    }

    #[test]
    fn f64_input_encodes_as_the_narrowed_tree(wide in snapshot(any::<u64>().prop_map(f64::from_bits))) {
        let narrowed = Snapshot {
            from: wide.from,
            to: wide.to,
            root: map_values(&wide.root, &|v: &f64| *v as f32),
        };
        let (mut from_wide, mut from_narrow) = (Vec::new(), Vec::new());
        encode_snapshot(&wide, &mut from_wide).unwrap();
        encode_snapshot(&narrowed, &mut from_narrow).unwrap();
        prop_assert_eq!(from_wide, from_narrow);
    }

    #[test]
    fn json_round_trips(from in any::<i64>(), to in any::<i64>(), root in json_level()) {
        let expected = Snapshot { from, to, root };
        let text = encode_json_snapshot(&expected).unwrap();
        let decoded = decode_json_snapshot(&text).unwrap();
        prop_assert_eq!((decoded.from, decoded.to), (from, to));
        prop_assert_eq!(map_values(&decoded.root, &json_bits), map_values(&expected.root, &json_bits));
    }
}

/// A chain of `depth` nested children below the host, with a metric on
/// every 50th level.
fn chain(depth: usize) -> Snapshot<f32> {
    let mut level = Level::default();
    for d in (0..depth).rev() {
        let mut parent = Level::default();
        if d % 50 == 0 {
            parent.metrics.push(Metric {
                name: format!("m{d}").into_bytes(),
                frequency: 60,
                start: d as i64,
                values: vec![d as f32, f32::NAN, -0.0],
            });
        }
        parent.children.push(Child {
            name: format!("c{d}").into_bytes(),
            level,
        });
        level = parent;
    }
    Snapshot {
        from: 1,
        to: 2,
        root: level,
    }
}

#[test]
fn deep_snapshots_round_trip() {
    for depth in [255, MAX_DEPTH] {
        let expected = chain(depth);
        let mut out = Vec::new();
        encode_snapshot(&expected, &mut out).unwrap();
        let (decoded, _) = decode_snapshot(&out).unwrap();
        assert_eq!(
            f32_tree_bits(&decoded.root),
            f32_tree_bits(&expected.root),
            "depth {depth}"
        );
    }
    let mut out = b"kept".to_vec();
    assert_eq!(
        encode_snapshot(&chain(MAX_DEPTH + 1), &mut out),
        Err(EncodeError::TooDeep)
    );
    assert_eq!(out, b"kept");
}

fn values(n: usize) -> Vec<f32> {
    (0..n).map(|i| i as f32).collect()
}

#[test]
fn encoder_refusals_leave_the_buffer_unchanged_and_usable() {
    let mut out = Vec::new();
    let mut encoder = SnapshotEncoder::new(&mut out, 10, 20);
    let long = vec![b'n'; MAX_METRIC_NAME_LEN + 1];
    assert_eq!(
        encoder.metric(&long, 60, 0, &values(3)),
        Err(EncodeError::NameTooLong {
            field: NameField::Metric,
            len: 65536
        })
    );
    assert_eq!(
        encoder.end_child(),
        Err(EncodeError::Unbalanced { open_children: 0 })
    );
    encoder.metric(b"a", 60, 0, &values(2)).unwrap();
    assert_eq!(
        encoder.begin_child(&long),
        Err(EncodeError::NameTooLong {
            field: NameField::Child,
            len: 65536
        })
    );
    encoder.metric(b"b", 60, 0, &values(0)).unwrap();
    encoder.begin_child(b"c").unwrap();
    encoder.metric(b"in c", 10, 5, &values(1)).unwrap();
    encoder.end_child().unwrap();
    assert_eq!(
        encoder.metric(b"late", 60, 0, &values(1)),
        Err(EncodeError::MetricAfterChild)
    );
    encoder.begin_child(b"d").unwrap();
    encoder.end_child().unwrap();
    encoder.finish().unwrap();

    // Exactly what the same tree encodes to without the refused calls.
    let metric = |name: &[u8], frequency, start, n| Metric {
        name: name.to_vec(),
        frequency,
        start,
        values: values(n),
    };
    let expected = Snapshot {
        from: 10,
        to: 20,
        root: Level {
            metrics: vec![metric(b"a", 60, 0, 2), metric(b"b", 60, 0, 0)],
            children: vec![
                Child {
                    name: b"c".to_vec(),
                    level: Level {
                        metrics: vec![metric(b"in c", 10, 5, 1)],
                        children: vec![],
                    },
                },
                Child {
                    name: b"d".to_vec(),
                    level: Level::default(),
                },
            ],
        },
    };
    let mut direct = Vec::new();
    encode_snapshot(&expected, &mut direct).unwrap();
    assert_eq!(out, direct);
}

#[test]
fn finish_with_open_children_writes_nothing() {
    let mut out = Vec::new();
    let mut encoder = SnapshotEncoder::new(&mut out, 0, 0);
    encoder.begin_child(b"a").unwrap();
    encoder.begin_child(b"b").unwrap();
    let error = encoder.finish().unwrap_err();
    assert_eq!(error, EncodeError::Unbalanced { open_children: 2 });
    // The failed finish added nothing: the header, the host's metric count
    // and (not yet patched) child count, "a" and its two counts, "b" and its
    // metric count.
    let mut expected = out[..20].to_vec();
    for part in [&[0; 8][..], b"\x01\x00a", &[0; 8], b"\x01\x00b", &[0; 4]] {
        expected.extend_from_slice(part);
    }
    assert_eq!(out, expected);
}

#[test]
fn too_deep_is_refused_and_the_encoder_goes_on() {
    let mut out = Vec::new();
    let mut encoder = SnapshotEncoder::new(&mut out, 0, 0);
    for _ in 0..MAX_DEPTH {
        encoder.begin_child(b"").unwrap();
    }
    assert_eq!(encoder.begin_child(b"x"), Err(EncodeError::TooDeep));
    encoder.metric(b"deepest", 1, 2, &[3.0f32]).unwrap();
    for _ in 0..MAX_DEPTH {
        encoder.end_child().unwrap();
    }
    encoder.finish().unwrap();
    let (decoded, _) = decode_snapshot(&out).unwrap();
    let mut level = &decoded.root;
    for _ in 0..MAX_DEPTH {
        assert_eq!(level.children.len(), 1);
        level = &level.children[0].level;
    }
    assert_eq!(level.metrics[0].name, b"deepest");
    assert!(level.children.is_empty());
}

/// A value type of size zero: a slice of more than u32::MAX of them costs
/// no memory.
#[derive(Clone, Copy)]
struct Weightless;

impl SnapshotValue for Weightless {
    fn to_f32(self) -> f32 {
        0.0
    }
}

#[cfg(target_pointer_width = "64")]
#[test]
fn too_many_values_are_refused_before_anything_is_reserved() {
    const TOO_MANY: usize = u32::MAX as usize + 1;
    let values: &[Weightless] = &[Weightless; TOO_MANY];
    let mut out = Vec::new();
    let mut encoder = SnapshotEncoder::new(&mut out, 0, 0);
    assert_eq!(
        encoder.metric(b"m", 1, 0, values),
        Err(EncodeError::TooManyValues { len: TOO_MANY })
    );
    encoder.metric(b"m", 1, 0, &values[..3]).unwrap();
    encoder.finish().unwrap();
    let (decoded, _) = decode_snapshot(&out).unwrap();
    assert_eq!(decoded.root.metrics[0].values, [0.0; 3]);
}

#[test]
fn encode_snapshot_failure_leaves_out_as_it_was() {
    let mut tree = chain(3);
    tree.root.children[0].level.children[0].name = vec![b'x'; MAX_METRIC_NAME_LEN + 1];
    let mut out = b"kept".to_vec();
    assert_eq!(
        encode_snapshot(&tree, &mut out),
        Err(EncodeError::NameTooLong {
            field: NameField::Child,
            len: 65536
        })
    );
    assert_eq!(out, b"kept");
}
