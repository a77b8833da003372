//! Known-answer tests: exact bytes computed outside this crate, and every
//! error kind of every decoder.
//!
//! The expected hex strings were computed independently with python3's
//! `struct` and `zlib.crc32`; the generating one-liner is next to each vector.

use ccwal::codec::json::{JsonError, decode_json_snapshot, encode_json_snapshot};
use ccwal::codec::snapshot::{
    Child, DecodeError, DecodeErrorKind, Field, Level, MAX_DEPTH, Metric, SNAPSHOT_MAGIC, Snapshot,
    decode_header, decode_snapshot, encode_snapshot,
};
use ccwal::codec::wal::{
    FILE_MAGIC, FileHeaderError, InnerField, MAX_PAYLOAD_LEN, MIN_PAYLOAD_LEN, OnDamage,
    RECORD_MAGIC, Record, RecordError, WalItem, WalReader, check_file_header, decode_record,
    encode_record, encoded_len, file_header,
};
use ccwal::codec::{FileKind, detect_kind};

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Frames `payload` as a record with a correct CRC, so that decoding gets
/// past the CRC check and reaches the payload parser.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = RECORD_MAGIC.to_le_bytes().to_vec();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out
}

/// Selector components of a decoded record, owned.
fn components(record: &Record<'_>) -> Vec<Vec<u8>> {
    record.selector.iter().map(<[u8]>::to_vec).collect()
}

// Generated with:
// python3 -c "import struct, zlib
// def rec(ts, name, sel, vbits):
//     p = struct.pack('<qH', ts, len(name)) + name + bytes([len(sel)]) \
//         + b''.join(bytes([len(s)])+s for s in sel) + struct.pack('<I', vbits)
//     return struct.pack('<II', 0xCC1DA7A1, len(p)) + p + struct.pack('<I', zlib.crc32(p))
// print(rec(1700000000, b'cpu_load', [], struct.unpack('<I', struct.pack('<f', 0.75))[0]).hex())
// print(rec(-1, b'mem_bw', [b'socket0', b'memctrl1'], 0x7FC00000).hex())
// print(rec(-2**63, b'', [b'cpu3'], 0x80000000).hex())"
const RECORD_CPU_LOAD: &str =
    "a1a71dcc1700000000f153650000000008006370755f6c6f6164000000403fe77761d5";
const RECORD_MEM_BW_NAN: &str = "a1a71dcc26000000ffffffffffffffff06006d656d5f62770207736f636b65\
                                 7430086d656d6374726c310000c07f7dd1f1bc";
const RECORD_EMPTY_NAME_NEG_ZERO: &str =
    "a1a71dcc140000000000000000000080000001046370753300000080df2e4bff";

struct KnownRecord {
    hex: &'static str,
    ts: i64,
    metric: &'static [u8],
    selector: &'static [&'static [u8]],
    value_bits: u32,
}

const KNOWN_RECORDS: [KnownRecord; 3] = [
    KnownRecord {
        hex: RECORD_CPU_LOAD,
        ts: 1_700_000_000,
        metric: b"cpu_load",
        selector: &[],
        value_bits: 0x3F40_0000, // 0.75f32
    },
    KnownRecord {
        hex: RECORD_MEM_BW_NAN,
        ts: -1,
        metric: b"mem_bw",
        selector: &[b"socket0", b"memctrl1"],
        value_bits: 0x7FC0_0000, // the canonical quiet NaN
    },
    KnownRecord {
        hex: RECORD_EMPTY_NAME_NEG_ZERO,
        ts: i64::MIN,
        metric: b"",
        selector: &[b"cpu3"],
        value_bits: 0x8000_0000, // -0.0
    },
];

#[test]
fn crc_is_crc32_ieee() {
    assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
}

#[test]
fn records_encode_to_known_bytes() {
    for known in &KNOWN_RECORDS {
        let mut out = vec![0xEE]; // encoding appends after what is there
        let len = encode_record(
            &mut out,
            known.ts,
            known.metric,
            known.selector,
            f32::from_bits(known.value_bits),
        )
        .unwrap();
        assert_eq!(&out[1..], hex(known.hex), "{}", known.hex);
        assert_eq!(out[0], 0xEE);
        assert_eq!(len, out.len() - 1);
        assert_eq!(len, encoded_len(known.metric, known.selector));
    }
}

#[test]
fn records_decode_from_known_bytes() {
    for known in &KNOWN_RECORDS {
        let bytes = hex(known.hex);
        let (record, len) = decode_record(&bytes).unwrap();
        assert_eq!(len, bytes.len());
        assert_eq!(record.ts, known.ts);
        assert_eq!(record.metric, known.metric);
        assert_eq!(components(&record), known.selector);
        assert_eq!(record.selector.len(), known.selector.len());
        assert_eq!(record.value_bits, known.value_bits);
        assert_eq!(record.value().to_bits(), known.value_bits);
    }
}

#[test]
fn selector_encoded_form_is_the_raw_components() {
    let bytes = hex(RECORD_MEM_BW_NAN);
    let (record, _) = decode_record(&bytes).unwrap();
    assert_eq!(record.selector.as_encoded(), b"\x07socket0\x08memctrl1");
    assert_eq!(record.selector.iter().len(), 2);
    assert!(!record.selector.is_empty());
    assert_eq!(
        format!("{:?}", record.selector),
        r#"["socket0", "memctrl1"]"#
    );
}

#[test]
fn file_header_bytes() {
    assert_eq!(file_header(), [0x01, 0xA7, 0x1D, 0xCC]);
    assert_eq!(check_file_header(b""), Ok(0));
    assert_eq!(check_file_header(&file_header()), Ok(4));
    let mut wal = file_header().to_vec();
    wal.extend_from_slice(&hex(RECORD_CPU_LOAD));
    assert_eq!(check_file_header(&wal), Ok(4));
    assert_eq!(
        check_file_header(&[0x01, 0xA7]),
        Err(FileHeaderError::Truncated { len: 2 })
    );
    assert_eq!(
        check_file_header(&SNAPSHOT_MAGIC.to_le_bytes()),
        Err(FileHeaderError::BadMagic {
            found: SNAPSHOT_MAGIC
        })
    );
}

#[test]
fn detect_kind_of_each_format() {
    let mut wal = file_header().to_vec();
    assert_eq!(detect_kind(&wal), Some(FileKind::Wal));
    wal.extend_from_slice(&hex(RECORD_CPU_LOAD));
    assert_eq!(detect_kind(&wal), Some(FileKind::Wal));
    assert_eq!(
        detect_kind(&hex(SNAPSHOT_HEX)),
        Some(FileKind::BinarySnapshot)
    );
    assert_eq!(detect_kind(b"{}"), Some(FileKind::JsonSnapshot));
    assert_eq!(
        detect_kind(b" \n\t\r{\"from\":1}"),
        Some(FileKind::JsonSnapshot)
    );
    for other in [
        &b""[..],
        b"   ",
        b"[1]",
        b"\x01\xa7\x1d",
        b"null",
        &RECORD_MAGIC.to_le_bytes(),
    ] {
        assert_eq!(detect_kind(other), None, "{other:?}");
    }
}

#[test]
fn reader_walks_known_records() {
    let mut wal = file_header().to_vec();
    let mut offsets = Vec::new();
    for known in &KNOWN_RECORDS {
        offsets.push(wal.len());
        wal.extend_from_slice(&hex(known.hex));
    }
    let start = check_file_header(&wal).unwrap();
    for on_damage in [OnDamage::Stop, OnDamage::Resync] {
        let items: Vec<_> = WalReader::new(&wal, start, on_damage).collect();
        assert_eq!(items.len(), KNOWN_RECORDS.len());
        for ((item, known), offset) in items.iter().zip(&KNOWN_RECORDS).zip(&offsets) {
            match item {
                WalItem::Record { offset: at, record } => {
                    assert_eq!(at, offset);
                    assert_eq!(record.ts, known.ts);
                    assert_eq!(record.metric, known.metric);
                }
                damaged => panic!("unexpected {damaged:?}"),
            }
        }
    }
    let mut reader = WalReader::new(&wal, start, OnDamage::Stop);
    reader.by_ref().for_each(drop);
    assert_eq!(reader.position(), wal.len());
}

#[test]
fn strict_reader_stops_at_damage_and_keeps_position() {
    let mut wal = file_header().to_vec();
    wal.extend_from_slice(&hex(RECORD_CPU_LOAD));
    let good_end = wal.len();
    let damaged_at = wal.len();
    wal.extend_from_slice(&hex(RECORD_MEM_BW_NAN));
    wal[damaged_at + 20] ^= 0x01; // inside the payload: CRC mismatch
    wal.extend_from_slice(&hex(RECORD_EMPTY_NAME_NEG_ZERO));

    let mut strict = WalReader::new(&wal, 4, OnDamage::Stop);
    assert!(matches!(
        strict.next(),
        Some(WalItem::Record { offset: 4, .. })
    ));
    match strict.next() {
        Some(WalItem::Damaged { offset, len, error }) => {
            assert_eq!(offset, damaged_at);
            assert_eq!(len, wal.len() - damaged_at);
            assert_eq!(error.kind(), "crc_mismatch");
        }
        other => panic!("expected damage, got {other:?}"),
    }
    assert_eq!(strict.next(), None);
    assert_eq!(strict.position(), good_end);

    let resync: Vec<_> = WalReader::new(&wal, 4, OnDamage::Resync).collect();
    assert_eq!(resync.len(), 3);
    let third_at = damaged_at + hex(RECORD_MEM_BW_NAN).len();
    assert!(matches!(
        resync[1],
        WalItem::Damaged { offset, len, .. } if offset == damaged_at && offset + len == third_at
    ));
    assert!(matches!(resync[2], WalItem::Record { offset, .. } if offset == third_at));
}

#[test]
fn trailing_bytes_inside_a_payload_are_ignored() {
    let plain = hex(RECORD_CPU_LOAD);
    let mut payload = plain[8..plain.len() - 4].to_vec();
    let (expected, _) = decode_record(&plain).unwrap();
    payload.extend_from_slice(b"future fields");
    let framed = frame(&payload);
    let (record, len) = decode_record(&framed).unwrap();
    assert_eq!(len, framed.len());
    assert_eq!(record, expected);
}

#[test]
#[cfg_attr(miri, ignore = "a CRC over 1 MiB: minutes under Miri")]
fn payload_length_limits_are_inclusive() {
    // The smallest payload: ts, empty name, no selector, value.
    let minimal = frame(&[0; MIN_PAYLOAD_LEN as usize]);
    let (record, _) = decode_record(&minimal).unwrap();
    assert_eq!(
        (
            record.ts,
            record.metric,
            record.selector.len(),
            record.value_bits
        ),
        (0, &b""[..], 0, 0)
    );
    // The largest: a valid record padded with ignored bytes.
    let mut payload = hex(RECORD_CPU_LOAD)[8..8 + 0x17].to_vec();
    payload.resize(MAX_PAYLOAD_LEN as usize, 0xAB);
    let largest = frame(&payload);
    assert_eq!(decode_record(&largest).unwrap().1, largest.len());
}

fn record_error(bytes: &[u8]) -> RecordError {
    decode_record(bytes).expect_err("must not decode")
}

#[test]
fn record_error_bad_magic() {
    let mut bytes = hex(RECORD_CPU_LOAD);
    bytes[0] = 0xA0;
    assert_eq!(
        record_error(&bytes),
        RecordError::BadMagic { found: 0xCC1D_A7A0 }
    );
    // Known as soon as four bytes are there.
    assert_eq!(
        record_error(&bytes[..5]),
        RecordError::BadMagic { found: 0xCC1D_A7A0 }
    );
    assert_eq!(
        record_error(&FILE_MAGIC.to_le_bytes()),
        RecordError::BadMagic { found: FILE_MAGIC }
    );
    assert_eq!(record_error(&bytes).kind(), "bad_magic");
}

#[test]
fn record_error_truncated() {
    let bytes = hex(RECORD_CPU_LOAD);
    for cut in 0..8 {
        assert_eq!(
            record_error(&bytes[..cut]),
            RecordError::Truncated {
                needed: 8,
                available: cut
            },
            "cut at {cut}"
        );
    }
    for cut in 8..bytes.len() {
        assert_eq!(
            record_error(&bytes[..cut]),
            RecordError::Truncated {
                needed: bytes.len(),
                available: cut
            },
            "cut at {cut}"
        );
    }
    assert_eq!(record_error(&bytes[..9]).kind(), "truncated");
}

#[test]
fn record_error_payload_too_large() {
    let mut bytes = RECORD_MAGIC.to_le_bytes().to_vec();
    bytes.extend_from_slice(&(MAX_PAYLOAD_LEN + 1).to_le_bytes());
    assert_eq!(
        record_error(&bytes),
        RecordError::PayloadTooLarge {
            len: MAX_PAYLOAD_LEN + 1
        }
    );
    bytes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        record_error(&bytes),
        RecordError::PayloadTooLarge { len: u32::MAX }
    );
    assert_eq!(record_error(&bytes).kind(), "payload_too_large");
}

#[test]
fn record_error_payload_too_short() {
    for len in 0..MIN_PAYLOAD_LEN {
        // Correctly framed and checksummed, but too short to hold a record.
        let bytes = frame(&vec![0; len as usize]);
        assert_eq!(record_error(&bytes), RecordError::PayloadTooShort { len });
    }
    assert_eq!(record_error(&frame(&[])).kind(), "payload_too_short");
}

#[test]
fn record_error_crc_mismatch() {
    let mut bytes = hex(RECORD_CPU_LOAD);
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    // The stored CRC of the vector is 0xD56177E7 (zlib.crc32 of its payload).
    assert_eq!(
        record_error(&bytes),
        RecordError::CrcMismatch {
            stored: 0x5561_77E7,
            computed: 0xD561_77E7
        }
    );
    let mut bytes = hex(RECORD_CPU_LOAD);
    bytes[10] ^= 0x01; // a payload byte
    assert!(matches!(
        record_error(&bytes),
        RecordError::CrcMismatch {
            stored: 0xD561_77E7,
            ..
        }
    ));
    assert_eq!(record_error(&bytes).kind(), "crc_mismatch");
}

/// Builds a payload from a timestamp and raw bytes after it.
fn payload(after_ts: &[u8]) -> Vec<u8> {
    let mut p = 7i64.to_le_bytes().to_vec();
    p.extend_from_slice(after_ts);
    p
}

#[test]
fn record_error_inner_length_overflow() {
    let overflow = |field| RecordError::InnerLengthOverflow { field };
    let cases: [(&str, Vec<u8>, RecordError); 6] = [
        // name_len 100, only 5 bytes follow.
        (
            "metric name",
            payload(b"\x64\x00abcde"),
            overflow(InnerField::MetricName),
        ),
        // A 5-byte name that ends the payload: no room for the count.
        (
            "selector count",
            payload(b"\x05\x00abcde"),
            overflow(InnerField::SelectorCount),
        ),
        // One selector whose length byte is missing.
        (
            "selector[0] length",
            payload(b"\x04\x00abcd\x01"),
            overflow(InnerField::Selector(0)),
        ),
        // Two selectors; the second says 9 bytes, 4 follow.
        (
            "selector[1] bytes",
            payload(b"\x00\x00\x02\x01a\x09bcde"),
            overflow(InnerField::Selector(1)),
        ),
        // Name and an empty selector, then three of the four value bytes.
        (
            "value",
            payload(b"\x02\x00ab\x00\x01\x02\x03"),
            overflow(InnerField::Value),
        ),
        // 255 selectors claimed, the payload has room for a few.
        (
            "selector[4]",
            payload(b"\x00\x00\xff\x00\x00\x00\x00"),
            overflow(InnerField::Selector(4)),
        ),
    ];
    for (what, payload, expected) in cases {
        assert!(
            payload.len() >= MIN_PAYLOAD_LEN as usize,
            "{what}: payload too short to test"
        );
        assert_eq!(record_error(&frame(&payload)), expected, "{what}");
        assert_eq!(expected.kind(), "inner_length_overflow");
    }
}

#[test]
fn record_errors_display() {
    let shown = [
        (
            RecordError::BadMagic { found: 1 },
            "bad record magic 0x00000001 (expected 0xCC1DA7A1)",
        ),
        (
            RecordError::InnerLengthOverflow {
                field: InnerField::Selector(2),
            },
            "selector[2] runs past the end of the payload",
        ),
        (
            RecordError::CrcMismatch {
                stored: 1,
                computed: 2,
            },
            "CRC mismatch: stored 0x00000001, computed 0x00000002",
        ),
    ];
    for (error, text) in shown {
        assert_eq!(error.to_string(), text);
    }
}

// Generated with:
// python3 -c "import struct
// def name(n): return struct.pack('<H', len(n)) + n
// def metric(n, f, s, vals): return name(n) + struct.pack('<qqI', f, s, len(vals)) \
//     + b''.join(struct.pack('<I', v) for v in vals)
// def level(ms, cs): return struct.pack('<I', len(ms)) + b''.join(ms) \
//     + struct.pack('<I', len(cs)) + b''.join(name(n)+l for n,l in cs)
// f32 = lambda x: struct.unpack('<I', struct.pack('<f', x))[0]
// core = level([metric(b'flops', 60, 1, [f32(1.0)])], [])
// root = level([metric(b'cpu_load', 60, 1699999970, [f32(0.5), 0x7FC00000]),
//               metric(b'x', 10, 0, [])],
//              [(b'cpu0', level([], [(b'core', core)])), (b'empty', level([], []))])
// print(struct.pack('<Iqq', 0xCC5B0001, 1700000000, 1700043200).hex() + root.hex())"
const SNAPSHOT_HEX: &str = "01005bcc00f1536500000000c0995465000000000200000008006370755f6c6f61643c0000000000\
    0000e2f0536500000000020000000000003f0000c07f0100780a0000000000000000000000000000\
    00000000000200000004006370753000000000010000000400636f7265010000000500666c6f7073\
    3c000000000000000100000000000000010000000000803f000000000500656d7074790000000000\
    000000";

fn known_snapshot() -> Snapshot<f32> {
    let metric = |name: &[u8], frequency, start, values: Vec<f32>| Metric {
        name: name.to_vec(),
        frequency,
        start,
        values,
    };
    let child = |name: &[u8], level| Child {
        name: name.to_vec(),
        level,
    };
    let core = Level {
        metrics: vec![metric(b"flops", 60, 1, vec![1.0])],
        children: vec![],
    };
    Snapshot {
        from: 1_700_000_000,
        to: 1_700_043_200,
        root: Level {
            metrics: vec![
                metric(
                    b"cpu_load",
                    60,
                    1_699_999_970,
                    vec![0.5, f32::from_bits(0x7FC0_0000)],
                ),
                metric(b"x", 10, 0, vec![]),
            ],
            children: vec![
                child(
                    b"cpu0",
                    Level {
                        metrics: vec![],
                        children: vec![child(b"core", core)],
                    },
                ),
                child(b"empty", Level::default()),
            ],
        },
    }
}

/// Compares two trees by value bits (NaN != NaN under `PartialEq`).
fn assert_same_tree(a: &Level<f32>, b: &Level<f32>) {
    assert_eq!(a.metrics.len(), b.metrics.len());
    for (x, y) in a.metrics.iter().zip(&b.metrics) {
        assert_eq!(
            (&x.name, x.frequency, x.start),
            (&y.name, y.frequency, y.start)
        );
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&x.values),
            bits(&y.values),
            "{:?}",
            String::from_utf8_lossy(&x.name)
        );
    }
    assert_eq!(a.children.len(), b.children.len());
    for (x, y) in a.children.iter().zip(&b.children) {
        assert_eq!(x.name, y.name);
        assert_same_tree(&x.level, &y.level);
    }
}

#[test]
fn snapshot_encodes_to_known_bytes() {
    let mut out = b"prefix".to_vec();
    let len = encode_snapshot(&known_snapshot(), &mut out).unwrap();
    assert_eq!(&out[..6], b"prefix");
    assert_eq!(len, out.len() - 6);
    assert_eq!(out[6..], hex(SNAPSHOT_HEX));
}

#[test]
fn snapshot_decodes_from_known_bytes() {
    let bytes = hex(SNAPSHOT_HEX);
    let (snapshot, len) = decode_snapshot(&bytes).unwrap();
    assert_eq!(len, bytes.len());
    let expected = known_snapshot();
    assert_eq!((snapshot.from, snapshot.to), (expected.from, expected.to));
    assert_same_tree(&snapshot.root, &expected.root);
    assert_eq!(decode_header(&bytes), Ok((1_700_000_000, 1_700_043_200)));
}

#[test]
fn snapshot_bytes_after_the_tree_are_not_read() {
    let mut bytes = hex(SNAPSHOT_HEX);
    let tree_len = bytes.len();
    bytes.extend_from_slice(b"\xffgarbage");
    let (snapshot, len) = decode_snapshot(&bytes).unwrap();
    assert_eq!(len, tree_len);
    assert_same_tree(&snapshot.root, &known_snapshot().root);
}

fn snapshot_error(bytes: &[u8]) -> DecodeError {
    decode_snapshot(bytes).expect_err("must not decode")
}

#[test]
fn snapshot_error_bad_magic() {
    let mut bytes = hex(SNAPSHOT_HEX);
    bytes[3] = 0xCD;
    let error = DecodeError {
        offset: 0,
        kind: DecodeErrorKind::BadMagic { found: 0xCD5B_0001 },
    };
    assert_eq!(snapshot_error(&bytes), error);
    assert_eq!(decode_header(&bytes), Err(error));
    assert_eq!(error.kind_name(), "bad_magic");
    // A WAL is not a snapshot.
    assert_eq!(
        snapshot_error(&file_header()).kind,
        DecodeErrorKind::BadMagic { found: FILE_MAGIC }
    );
}

/// The known snapshot's header followed by `body`.
fn with_header(body: &[u8]) -> Vec<u8> {
    let mut bytes = hex(SNAPSHOT_HEX)[..20].to_vec();
    bytes.extend_from_slice(body);
    bytes
}

#[test]
fn snapshot_error_truncated_in_each_field() {
    let le32 = |v: u32| v.to_le_bytes();
    let cat = |parts: &[&[u8]]| parts.concat();
    // Every count passes its plausibility check (count × minimum entry size
    // fits), so each input reaches the field that is cut. (input, offset of
    // the cut field, field)
    let cases = [
        (hex(SNAPSHOT_HEX)[..0].to_vec(), 0, Field::Header),
        (hex(SNAPSHOT_HEX)[..3].to_vec(), 0, Field::Header),
        (hex(SNAPSHOT_HEX)[..10].to_vec(), 4, Field::Header),
        (hex(SNAPSHOT_HEX)[..19].to_vec(), 12, Field::Header),
        (with_header(&[1, 0]), 20, Field::MetricCount),
        // One metric whose name claims 65535 bytes.
        (
            with_header(&cat(&[&le32(1), &[0xFF, 0xFF], &[0; 20]])),
            26,
            Field::MetricName,
        ),
        // A 10-byte name, a frequency, two bytes of the start.
        (
            with_header(&cat(&[&le32(1), &[10, 0], &[b'n'; 10], &[0; 10]])),
            44,
            Field::MetricHeader,
        ),
        // A 2-byte name, frequency, start, two bytes of the value count.
        (
            with_header(&cat(&[&le32(1), &[2, 0], b"ab", &[0; 16], &[0; 2]])),
            44,
            Field::ValueCount,
        ),
        (
            with_header(&cat(&[&le32(0), &[0; 2]])),
            24,
            Field::ChildCount,
        ),
        // One child whose name claims 65535 bytes.
        (
            with_header(&cat(&[&le32(0), &le32(1), &[0xFF, 0xFF], &[0; 8]])),
            30,
            Field::ChildName,
        ),
        // The same inside the known snapshot's "cpu0" level.
        (
            cat(&[&hex(SNAPSHOT_HEX)[..99], &le32(1), &[0xFF, 0xFF], &[0; 8]]),
            105,
            Field::ChildName,
        ),
    ];
    for (input, offset, field) in cases {
        let error = snapshot_error(&input);
        assert_eq!(
            error,
            DecodeError {
                offset,
                kind: DecodeErrorKind::Truncated(field)
            },
            "{field} in {input:02x?}"
        );
        assert_eq!(error.kind_name(), "truncated");
    }
    assert_eq!(
        decode_header(&hex(SNAPSHOT_HEX)[..19]),
        Err(DecodeError {
            offset: 12,
            kind: DecodeErrorKind::Truncated(Field::Header)
        })
    );
}

#[test]
fn snapshot_error_count_too_large() {
    let bytes = hex(SNAPSHOT_HEX);
    // Cut inside the first metric: the two metrics no longer fit.
    assert_eq!(
        snapshot_error(&bytes[..58]),
        DecodeError {
            offset: 20,
            kind: DecodeErrorKind::CountTooLarge {
                field: Field::MetricCount,
                count: 2,
                remaining: 34
            },
        }
    );
    // A value count one too large for the bytes that follow.
    let mut values = with_header(&1u32.to_le_bytes());
    values.extend_from_slice(&[1, 0, b'm']);
    values.extend_from_slice(&[0; 16]);
    values.extend_from_slice(&3u32.to_le_bytes());
    values.extend_from_slice(&[0; 11]);
    assert_eq!(
        snapshot_error(&values),
        DecodeError {
            offset: 43,
            kind: DecodeErrorKind::CountTooLarge {
                field: Field::ValueCount,
                count: 3,
                remaining: 11
            },
        }
    );
    // Each count of the known snapshot set to u32::MAX: (offset, field).
    let counts = [
        (20, Field::MetricCount),
        (50, Field::ValueCount),
        (85, Field::ChildCount),
    ];
    for (at, field) in counts {
        let mut damaged = bytes.clone();
        damaged[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let error = snapshot_error(&damaged);
        let remaining = bytes.len() - at - 4;
        assert_eq!(
            error,
            DecodeError {
                offset: at,
                kind: DecodeErrorKind::CountTooLarge {
                    field,
                    count: u32::MAX,
                    remaining
                },
            },
            "{field}"
        );
        assert_eq!(error.kind_name(), "count_too_large");
    }
    // A metric count just one too large for the 22-byte minimum metric.
    let mut tiny = with_header(&1u32.to_le_bytes());
    tiny.extend_from_slice(&[0; 21]);
    assert!(matches!(
        snapshot_error(&tiny).kind,
        DecodeErrorKind::CountTooLarge {
            field: Field::MetricCount,
            count: 1,
            remaining: 21
        }
    ));
}

/// A snapshot whose host level has a chain of `depth` nested, empty,
/// unnamed children, built by hand.
fn nested(depth: usize) -> Vec<u8> {
    let mut bytes = with_header(&[]);
    for _ in 0..depth {
        bytes.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0, 0, 0]); // no metrics, one child ""
    }
    bytes.extend_from_slice(&[0; 8]);
    bytes
}

#[test]
fn snapshot_error_too_deep() {
    let deepest = nested(MAX_DEPTH);
    let (snapshot, len) = decode_snapshot(&deepest).unwrap();
    assert_eq!(len, deepest.len());
    let mut level = &snapshot.root;
    for _ in 0..MAX_DEPTH {
        assert_eq!(level.children.len(), 1);
        level = &level.children[0].level;
    }
    assert!(level.children.is_empty());
    // The deepest snapshot accepted can be written again.
    let mut again = Vec::new();
    encode_snapshot(&snapshot, &mut again).unwrap();
    assert_eq!(again, deepest);

    let too_deep = nested(MAX_DEPTH + 1);
    let error = snapshot_error(&too_deep);
    assert_eq!(
        error,
        DecodeError {
            offset: 20 + 10 * (MAX_DEPTH + 1),
            kind: DecodeErrorKind::TooDeep
        }
    );
    assert_eq!(error.kind_name(), "too_deep");
}

#[test]
fn snapshot_errors_display() {
    let error = DecodeError {
        offset: 50,
        kind: DecodeErrorKind::CountTooLarge {
            field: Field::ValueCount,
            count: 2,
            remaining: 4,
        },
    };
    assert_eq!(
        error.to_string(),
        "value count 2 cannot fit the 4 bytes that remain at offset 50"
    );
    let error = DecodeError {
        offset: 9,
        kind: DecodeErrorKind::Truncated(Field::ChildName),
    };
    assert_eq!(
        error.to_string(),
        "snapshot truncated in child name at offset 9"
    );
}

/// A legacy file as Go's encoding/json would accept it: `null` values,
/// missing and null members, repeated per-level from/to, nested children.
const GO_JSON: &str = r#"{
  "from": 1700000000, "to": 1700043200,
  "metrics": {
    "cpu_load": {"frequency": 60, "start": 1699999970, "data": [0.5, null, 1e-310, -0.0, 3]},
    "mem_bw": {"frequency": 60, "start": 1699999970, "data": null},
    "flops_any": {"frequency": 60, "start": 1699999970}
  },
  "children": {
    "cpu0": {"from": 1700000000, "to": 1700043200, "metrics": null,
             "children": {"core": {"metrics": {"ipc": {"frequency": 10, "start": 5, "data": [1.25]}}}}},
    "socket0": {"from": 0, "to": 0, "metrics": {}, "children": null},
    "bare": {}
  }
}"#;

fn f64_bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn json_decodes_a_go_style_file() {
    let snapshot = decode_json_snapshot(GO_JSON.as_bytes()).unwrap();
    assert_eq!((snapshot.from, snapshot.to), (1_700_000_000, 1_700_043_200));
    let root = &snapshot.root;
    let names: Vec<_> = root.metrics.iter().map(|m| m.name.as_slice()).collect();
    assert_eq!(names, [&b"cpu_load"[..], b"flops_any", b"mem_bw"]);
    let cpu_load = &root.metrics[0];
    assert_eq!((cpu_load.frequency, cpu_load.start), (60, 1_699_999_970));
    assert_eq!(cpu_load.values.len(), 5);
    assert_eq!(cpu_load.values[0], 0.5);
    assert!(cpu_load.values[1].is_nan());
    assert_eq!(cpu_load.values[2].to_bits(), 1e-310f64.to_bits());
    assert_eq!(cpu_load.values[3].to_bits(), (-0.0f64).to_bits());
    assert_eq!(cpu_load.values[4], 3.0);
    assert!(root.metrics[1].values.is_empty());
    assert!(root.metrics[2].values.is_empty());

    let children: Vec<_> = root.children.iter().map(|c| c.name.as_slice()).collect();
    assert_eq!(children, [&b"bare"[..], b"cpu0", b"socket0"]);
    assert_eq!(root.children[0].level, Level::default());
    let cpu0 = &root.children[1].level;
    assert!(cpu0.metrics.is_empty());
    let core = &cpu0.children[0];
    assert_eq!(core.name, b"core");
    assert_eq!(core.level.metrics[0].name, b"ipc");
    assert_eq!(f64_bits(&core.level.metrics[0].values), f64_bits(&[1.25]));
    assert_eq!(root.children[2].level, Level::default());
}

#[test]
fn json_numbers_are_correctly_rounded() {
    // python3 -c "import struct; print(struct.unpack('<Q', struct.pack('<d',
    //     1.3316763234024481e-220))[0])" gives 1317322116919101983; a
    // fast-path parser lands one ulp below.
    let input = br#"{"metrics": {"m": {"data": [1.3316763234024481e-220]}}}"#;
    let snapshot = decode_json_snapshot(input).unwrap();
    assert_eq!(
        snapshot.root.metrics[0].values[0].to_bits(),
        1_317_322_116_919_101_983
    );
}

#[test]
fn json_duplicate_keys_keep_the_last() {
    let input = br#"{"from": 1, "to": 2, "from": 3,
        "metrics": {"a": {"frequency": 1, "start": 1, "data": [1]},
                    "a": {"frequency": 60, "start": 2, "data": [2, null], "data": [4]}},
        "children": {"c": {"metrics": {"x": {"data": [1]}}}, "c": {}}}"#;
    let snapshot = decode_json_snapshot(input).unwrap();
    assert_eq!((snapshot.from, snapshot.to), (3, 2));
    assert_eq!(snapshot.root.metrics.len(), 1);
    let a = &snapshot.root.metrics[0];
    assert_eq!((a.frequency, a.start), (60, 2));
    assert_eq!(f64_bits(&a.values), f64_bits(&[4.0]));
    assert_eq!(snapshot.root.children.len(), 1);
    assert_eq!(snapshot.root.children[0].level, Level::default());
}

#[test]
fn json_keys_match_fields_as_in_go() {
    // Go matches keys case-insensitively (by Unicode upper-casing: "ſ" is an
    // "s"), treats null as "no change" for numbers and skips unknown keys.
    let input = r#"{"FROM": 5, "To": 6, "from": null, "version": [1, {"x": 2}],
        "Metrics": {"m": {"FREQUENCY": 60, "ſtart": 7, "Data": [1], "start": null}},
        "CHILDREN": {"c": {"metrıcs": {"n": {"data": []}}}}}"#;
    let snapshot = decode_json_snapshot(input.as_bytes()).unwrap();
    assert_eq!((snapshot.from, snapshot.to), (5, 6));
    let m = &snapshot.root.metrics[0];
    assert_eq!(
        (m.name.as_slice(), m.frequency, m.start),
        (&b"m"[..], 60, 7)
    );
    assert_eq!(f64_bits(&m.values), f64_bits(&[1.0]));
    let c = &snapshot.root.children[0];
    assert_eq!(c.level.metrics[0].name, b"n");
    // Not a case variant of a field name (the last has a Greek omicron): skipped.
    let other = "{\"from_\": 1, \"fromm\": 2, \"t\": 3, \"fr\u{3bf}m\": 4}";
    let other = decode_json_snapshot(other.as_bytes()).unwrap();
    assert_eq!((other.from, other.to), (0, 0));
}

#[test]
fn json_repeated_maps_merge_and_null_empties() {
    let input = br#"{"metrics": {"a": {"data": [1]}, "b": {"data": [2]}},
                     "metrics": {"b": {"data": [3]}, "c": {"data": null}},
                     "children": {"x": {}}, "children": null, "children": {"y": {}}}"#;
    let snapshot = decode_json_snapshot(input).unwrap();
    let metrics: Vec<_> = snapshot
        .root
        .metrics
        .iter()
        .map(|m| (m.name.as_slice(), f64_bits(&m.values)))
        .collect();
    assert_eq!(
        metrics,
        [
            (&b"a"[..], f64_bits(&[1.0])),
            (b"b", f64_bits(&[3.0])),
            (b"c", vec![])
        ]
    );
    let children: Vec<_> = snapshot
        .root
        .children
        .iter()
        .map(|c| c.name.as_slice())
        .collect();
    assert_eq!(children, [b"y"]);
}

#[test]
fn json_decode_errors() {
    let bad: [&[u8]; 11] = [
        b"",
        b"[]",
        b"[1, 2, null, null]",
        b"null",
        b"{\"metrics\": {\"a\": null}}",
        b"{\"metrics\": {\"a\": {\"data\": [1e400]}}}",
        b"{\"from\": 9223372036854775808}",
        b"{\"from\": \"1\"}",
        b"{\"metrics\": {\"a\": {\"data\": [\"1\"]}}}",
        b"{\"metrics\": {\"a\": {\"frequency\": 60.5}}}",
        b"{\"from\": 1",
    ];
    for input in bad {
        assert!(
            matches!(decode_json_snapshot(input), Err(JsonError::Syntax(_))),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn json_encodes_known_text() {
    let snapshot = Snapshot {
        from: 1,
        to: 2,
        root: Level {
            metrics: vec![
                Metric {
                    name: b"z".to_vec(),
                    frequency: 60,
                    start: 0,
                    values: vec![0.5, f64::NAN, -0.0],
                },
                Metric {
                    name: b"a".to_vec(),
                    frequency: 10,
                    start: -5,
                    values: vec![],
                },
            ],
            children: vec![Child {
                name: b"c".to_vec(),
                level: Level::default(),
            }],
        },
    };
    let text = encode_json_snapshot(&snapshot).unwrap();
    assert_eq!(
        String::from_utf8(text).unwrap(),
        r#"{"from":1,"to":2,"metrics":{"a":{"frequency":10,"start":-5,"data":[]},"#.to_string()
            + r#""z":{"frequency":60,"start":0,"data":[0.5,null,-0.0]}},"#
            + r#""children":{"c":{"from":1,"to":2,"metrics":{},"children":{}}}}"#
    );
}

#[test]
fn json_encode_refuses_infinity() {
    for inf in [f64::INFINITY, f64::NEG_INFINITY] {
        let child = Child {
            name: b"cpu0".to_vec(),
            level: Level {
                metrics: vec![Metric {
                    name: b"m".to_vec(),
                    frequency: 1,
                    start: 0,
                    values: vec![1.0, f64::NAN, inf],
                }],
                children: vec![],
            },
        };
        let snapshot = Snapshot {
            from: 0,
            to: 0,
            root: Level {
                metrics: vec![],
                children: vec![child],
            },
        };
        match encode_json_snapshot(&snapshot) {
            Err(JsonError::NonFinite { metric, index }) => {
                assert_eq!((metric.as_str(), index), ("m", 2))
            }
            other => panic!("expected NonFinite, got {other:?}"),
        }
    }
}

#[test]
fn json_encode_refuses_duplicate_names() {
    let metric = |name: &[u8]| Metric {
        name: name.to_vec(),
        frequency: 1,
        start: 0,
        values: vec![1.0],
    };
    let child = |name: &[u8]| Child {
        name: name.to_vec(),
        level: Level::default(),
    };
    let metrics = Level {
        metrics: vec![metric(b"a"), metric(b"b"), metric(b"a")],
        children: vec![],
    };
    let children = Level {
        metrics: vec![metric(b"a")],
        children: vec![child(b"a"), child(b"c"), child(b"c")],
    };
    for (root, duplicate) in [(metrics, "a"), (children, "c")] {
        match encode_json_snapshot(&Snapshot {
            from: 0,
            to: 0,
            root,
        }) {
            Err(JsonError::DuplicateName { name }) => assert_eq!(name, duplicate),
            other => panic!("expected DuplicateName, got {other:?}"),
        }
    }
}

#[test]
fn json_encode_refuses_non_utf8_names() {
    let bad_name = b"cpu\xff".to_vec();
    let metric = |name: Vec<u8>| Metric {
        name,
        frequency: 1,
        start: 0,
        values: vec![1.0],
    };
    let as_metric = Snapshot {
        from: 0,
        to: 0,
        root: Level {
            metrics: vec![metric(bad_name.clone())],
            children: vec![],
        },
    };
    let as_child = Snapshot {
        from: 0,
        to: 0,
        root: Level {
            metrics: vec![metric(b"ok".to_vec())],
            children: vec![Child {
                name: bad_name.clone(),
                level: Level::default(),
            }],
        },
    };
    for snapshot in [as_metric, as_child] {
        match encode_json_snapshot(&snapshot) {
            Err(JsonError::NonUtf8Name { name }) => assert_eq!(name, bad_name),
            other => panic!("expected NonUtf8Name, got {other:?}"),
        }
    }
}
