//! Exhaustive damage on small inputs: every single-byte flip and every
//! truncation of a WAL and of a snapshot.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ccwal::codec::snapshot::{
    Child, DecodeErrorKind, Level, Metric, Snapshot, decode_snapshot, encode_snapshot,
};
use ccwal::codec::wal::{
    FileHeaderError, OnDamage, RECORD_MAGIC, WalItem, WalReader, check_file_header, encode_record,
    file_header,
};

const FLIPS: [u8; 3] = [0x01, 0x80, 0xFF];

/// A record as the test owns it.
#[derive(Debug, Clone, PartialEq)]
struct OwnedRecord {
    ts: i64,
    metric: Vec<u8>,
    selector: Vec<Vec<u8>>,
    value_bits: u32,
}

/// What a reader yields, owned.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Record(usize, OwnedRecord),
    Damaged(usize, usize),
}

fn read_all(wal: &[u8], on_damage: OnDamage) -> Vec<Item> {
    WalReader::new(wal, 4.min(wal.len()), on_damage)
        .map(|item| match item {
            WalItem::Record { offset, record } => Item::Record(
                offset,
                OwnedRecord {
                    ts: record.ts,
                    metric: record.metric.to_vec(),
                    selector: record.selector.iter().map(<[u8]>::to_vec).collect(),
                    value_bits: record.value_bits,
                },
            ),
            WalItem::Damaged { offset, len, .. } => Item::Damaged(offset, len),
        })
        .collect()
}

/// A file header and six records with selectors; one metric name holds the
/// record magic, so that resynchronisation meets a false start.
fn small_wal() -> (Vec<u8>, Vec<(usize, OwnedRecord)>) {
    let mut magic_name = b"has".to_vec();
    magic_name.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
    let records = [
        (
            1_700_000_000,
            b"cpu_load".to_vec(),
            vec![],
            0.75f32.to_bits(),
        ),
        (
            1_700_000_001,
            b"flops_any".to_vec(),
            vec![b"cpu3".to_vec()],
            12.5f32.to_bits(),
        ),
        (
            1_700_000_002,
            b"mem_bw".to_vec(),
            vec![b"socket0".to_vec(), b"memctrl1".to_vec()],
            f32::NAN.to_bits(),
        ),
        (-5, magic_name, vec![b"cpu0".to_vec()], (-0.0f32).to_bits()),
        (
            1_700_000_003,
            b"".to_vec(),
            vec![b"".to_vec(), b"x".to_vec()],
            1,
        ),
        (
            i64::MAX,
            b"net_bw".to_vec(),
            vec![b"ib0".to_vec()],
            f32::INFINITY.to_bits(),
        ),
    ];
    let mut wal = file_header().to_vec();
    let mut expected = Vec::new();
    for (ts, metric, selector, value_bits) in records {
        let offset = wal.len();
        encode_record(&mut wal, ts, &metric, &selector, f32::from_bits(value_bits)).unwrap();
        expected.push((
            offset,
            OwnedRecord {
                ts,
                metric,
                selector,
                value_bits,
            },
        ));
    }
    (wal, expected)
}

fn records(expected: &[(usize, OwnedRecord)]) -> Vec<Item> {
    expected
        .iter()
        .map(|(offset, r)| Item::Record(*offset, r.clone()))
        .collect()
}

#[test]
fn wal_every_byte_flip() {
    let (wal, expected) = small_wal();
    assert_eq!(read_all(&wal, OnDamage::Stop), records(&expected));
    let ends: Vec<usize> = expected
        .iter()
        .skip(1)
        .map(|(o, _)| *o)
        .chain([wal.len()])
        .collect();
    for at in 0..wal.len() {
        for mask in FLIPS {
            let mut damaged = wal.clone();
            damaged[at] ^= mask;
            let context = format!("byte {at} ^ {mask:#04x}");
            if at < 4 {
                let found = u32::from_le_bytes(damaged[..4].try_into().unwrap());
                assert_eq!(
                    check_file_header(&damaged),
                    Err(FileHeaderError::BadMagic { found }),
                    "{context}"
                );
                // The records themselves are intact.
                assert_eq!(
                    read_all(&damaged, OnDamage::Stop),
                    records(&expected),
                    "{context}"
                );
                continue;
            }
            // The record that holds the flipped byte is lost; with a single
            // byte changed no other record can be mistaken for a valid one.
            let hit = expected
                .iter()
                .rposition(|(offset, _)| *offset <= at)
                .unwrap();
            let hit_offset = expected[hit].0;

            let mut strict = records(&expected[..hit]);
            strict.push(Item::Damaged(hit_offset, damaged.len() - hit_offset));
            assert_eq!(
                read_all(&damaged, OnDamage::Stop),
                strict,
                "strict, {context}"
            );

            let mut resync = records(&expected);
            resync[hit] = Item::Damaged(hit_offset, ends[hit] - hit_offset);
            assert_eq!(
                read_all(&damaged, OnDamage::Resync),
                resync,
                "resync, {context}"
            );
        }
    }
}

#[test]
fn wal_every_truncation() {
    let (wal, expected) = small_wal();
    for cut in 0..wal.len() {
        let truncated = &wal[..cut];
        match cut {
            0 => assert_eq!(check_file_header(truncated), Ok(0)),
            1..4 => assert_eq!(
                check_file_header(truncated),
                Err(FileHeaderError::Truncated { len: cut })
            ),
            _ => assert_eq!(check_file_header(truncated), Ok(4)),
        }
        let complete: Vec<_> = expected
            .iter()
            .take_while(|(offset, r)| *offset + encoded(r) <= cut)
            .cloned()
            .collect();
        let mut items = records(&complete);
        let read_to = complete.last().map_or(4.min(cut), |(o, r)| o + encoded(r));
        if read_to < cut {
            items.push(Item::Damaged(read_to, cut - read_to));
        }
        for on_damage in [OnDamage::Stop, OnDamage::Resync] {
            assert_eq!(
                read_all(truncated, on_damage),
                items,
                "cut at {cut}, {on_damage:?}"
            );
        }
        let mut reader = WalReader::new(truncated, 4.min(cut), OnDamage::Stop);
        reader.by_ref().for_each(drop);
        assert_eq!(reader.position(), read_to, "cut at {cut}");
    }
}

fn encoded(record: &OwnedRecord) -> usize {
    ccwal::codec::wal::encoded_len(&record.metric, &record.selector)
}

thread_local! {
    /// Largest single allocation on this thread since the last reset.
    static LARGEST_ALLOCATION: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, noting the largest request per thread, so that a
/// decoder trusting a damaged count would be caught even if it did not fail.
struct Measuring;

// SAFETY: forwards every call unchanged to the system allocator.
unsafe impl GlobalAlloc for Measuring {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: the caller upholds `realloc`'s contract, which we pass on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn note(size: usize) {
    // `try_with`: the slot may be gone while the thread shuts down.
    let _ = LARGEST_ALLOCATION.try_with(|largest| largest.set(largest.get().max(size)));
}

#[global_allocator]
static ALLOCATOR: Measuring = Measuring;

/// Decodes and returns the result with the largest allocation made.
fn measured_decode(
    input: &[u8],
) -> (
    Result<(Snapshot<f32>, usize), ccwal::codec::snapshot::DecodeError>,
    usize,
) {
    LARGEST_ALLOCATION.with(|largest| largest.set(0));
    let result = decode_snapshot(input);
    (result, LARGEST_ALLOCATION.with(Cell::get))
}

/// Builds snapshot bytes by hand and remembers which bytes are structure
/// (counts and name lengths) rather than content.
#[derive(Default)]
struct Builder {
    bytes: Vec<u8>,
    structural: Vec<bool>,
}

impl Builder {
    fn put(&mut self, bytes: &[u8], structural: bool) {
        self.bytes.extend_from_slice(bytes);
        self.structural.resize(self.bytes.len(), structural);
    }

    fn name(&mut self, name: &[u8]) {
        self.put(&(name.len() as u16).to_le_bytes(), true);
        self.put(name, false);
    }

    fn level(&mut self, level: &Level<f32>) {
        self.put(&(level.metrics.len() as u32).to_le_bytes(), true);
        for m in &level.metrics {
            self.name(&m.name);
            self.put(&m.frequency.to_le_bytes(), false);
            self.put(&m.start.to_le_bytes(), false);
            self.put(&(m.values.len() as u32).to_le_bytes(), true);
            for v in &m.values {
                self.put(&v.to_le_bytes(), false);
            }
        }
        self.put(&(level.children.len() as u32).to_le_bytes(), true);
        for c in &level.children {
            self.name(&c.name);
            self.level(&c.level);
        }
    }
}

fn small_snapshot() -> Snapshot<f32> {
    let metric = |name: &[u8], start, values: &[f32]| Metric {
        name: name.to_vec(),
        frequency: 60,
        start,
        values: values.to_vec(),
    };
    let child = |name: &[u8], level| Child {
        name: name.to_vec(),
        level,
    };
    Snapshot {
        from: 1_700_000_000,
        to: 1_700_043_200,
        root: Level {
            metrics: vec![
                metric(b"cpu_load", 1_699_999_970, &[0.5, f32::NAN, 1.0, -0.0]),
                metric(b"x", 0, &[]),
            ],
            children: vec![
                child(
                    b"cpu0",
                    Level {
                        metrics: vec![],
                        children: vec![child(
                            b"core",
                            Level {
                                metrics: vec![metric(b"ipc", 5, &[1.0, 2.0])],
                                children: vec![],
                            },
                        )],
                    },
                ),
                child(b"empty", Level::default()),
                child(
                    b"socket0",
                    Level {
                        metrics: vec![metric(b"mem_bw", 7, &[3.0, 4.0, 5.0])],
                        children: vec![],
                    },
                ),
            ],
        },
    }
}

/// The tree without its values' contents: names, counts and nesting.
fn shape(level: &Level<f32>) -> Level<()> {
    Level {
        metrics: level
            .metrics
            .iter()
            .map(|m| Metric {
                name: vec![0; m.name.len()],
                frequency: 0,
                start: 0,
                values: vec![(); m.values.len()],
            })
            .collect(),
        children: level
            .children
            .iter()
            .map(|c| Child {
                name: vec![0; c.name.len()],
                level: shape(&c.level),
            })
            .collect(),
    }
}

fn re_encoded(snapshot: &Snapshot<f32>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_snapshot(snapshot, &mut out).unwrap();
    out
}

#[test]
fn snapshot_every_byte_flip() {
    let original = small_snapshot();
    let mut builder = Builder::default();
    builder.put(&ccwal::codec::snapshot::SNAPSHOT_MAGIC.to_le_bytes(), true);
    builder.put(&original.from.to_le_bytes(), false);
    builder.put(&original.to.to_le_bytes(), false);
    builder.level(&original.root);
    let Builder { bytes, structural } = builder;
    assert_eq!(
        re_encoded(&original),
        bytes,
        "the hand-built bytes are the encoder's"
    );
    // Whatever a damaged count says, nothing larger than a few times the
    // input is ever allocated at once.
    let allocation_bound = 16 * bytes.len();

    for at in 0..bytes.len() {
        for mask in FLIPS {
            let mut damaged = bytes.clone();
            damaged[at] ^= mask;
            let context = format!("byte {at} ^ {mask:#04x}");
            let (result, largest) = measured_decode(&damaged);
            assert!(
                largest <= allocation_bound,
                "{context}: allocated {largest} bytes"
            );
            match result {
                Ok((decoded, used)) => {
                    // Whatever decodes is exactly what the bytes say.
                    assert_eq!(re_encoded(&decoded), damaged[..used], "{context}");
                    if !structural[at] {
                        assert_eq!(used, bytes.len(), "{context}");
                        assert_eq!(shape(&decoded.root), shape(&original.root), "{context}");
                    }
                }
                Err(error) => {
                    assert!(
                        structural[at],
                        "{context}: content damage must decode: {error}"
                    );
                    let expected_kind = match error.kind {
                        DecodeErrorKind::BadMagic { .. } => at < 4,
                        DecodeErrorKind::Truncated(_) | DecodeErrorKind::CountTooLarge { .. } => {
                            at >= 4
                        }
                        DecodeErrorKind::TooDeep => false,
                    };
                    assert!(expected_kind, "{context}: {error}");
                }
            }
        }
    }
}

#[test]
fn snapshot_every_truncation() {
    let bytes = re_encoded(&small_snapshot());
    for cut in 0..bytes.len() {
        let (result, largest) = measured_decode(&bytes[..cut]);
        assert!(
            largest <= 16 * bytes.len(),
            "cut at {cut}: allocated {largest} bytes"
        );
        let error = result.expect_err("a truncated snapshot must not decode");
        assert!(
            matches!(
                error.kind,
                DecodeErrorKind::Truncated(_) | DecodeErrorKind::CountTooLarge { .. }
            ),
            "cut at {cut}: {error}"
        );
        assert!(error.offset <= cut, "cut at {cut}: {error}");
    }
}
