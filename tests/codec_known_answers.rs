//! Known-answer vectors. The expected bytes were computed independently of
//! this crate, with Python's struct and zlib.crc32, e.g. for `RECORD_1`:
//!
//! ```text
//! p = struct.pack('<qH', 1700000000, 8) + b'cpu_load' + bytes([0]) + struct.pack('<f', 0.75)
//! struct.pack('<II', 0xCC1DA7A1, len(p)) + p + struct.pack('<I', zlib.crc32(p))
//! ```

use ccwal::codec::json::{JsonError, decode_json_snapshot, encode_json_snapshot};
use ccwal::codec::snapshot::{
    Child, DecodeErrorKind, EncodeError, Field, Level, Metric, Snapshot, SnapshotEncoder,
    decode_header, decode_snapshot, encode_snapshot,
};
use ccwal::codec::wal::{self, InnerField, RecordError};
use ccwal::codec::{FileKind, detect_kind};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const NONE: &[&[u8]] = &[];
const RECORD_1: &str = "a1a71dcc1700000000f153650000000008006370755f6c6f6164000000403fe77761d5";
const RECORD_2: &str =
    "a1a71dcc20000000ffffffffffffffff00000207736f636b657430086d656d6374726c310000c07f31d22317";
const RECORD_3: &str = "a1a71dcc110000003c0000000000000001006d010000000080885bfbbe";
const SNAPSHOT_1: &str = "01005bcc6400000000000000c800000000000000010000000100610a000000000000005f0000000000\
                          0000020000000000803f0000c07f01000000010063010000000100623c000000000000005a00000000\
                          0000000000000000000000";
const SNAPSHOT_EMPTY: &str = "01005bcc000000000000000000000000000000000000000000000000";

#[test]
fn crc_check_value() {
    assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
}

#[test]
fn file_header_bytes() {
    assert_eq!(wal::file_header(), [0x01, 0xA7, 0x1D, 0xCC]);
    assert_eq!(
        wal::check_file_header(&[0x01, 0xA7, 0x1D, 0xCC, 0xA1]),
        Ok(4)
    );
    assert_eq!(wal::check_file_header(&[]), Ok(0));
    assert_eq!(
        wal::check_file_header(&[0x01, 0xA7]),
        Err(wal::FileHeaderError::Truncated { len: 2 })
    );
    assert_eq!(
        wal::check_file_header(&[0, 0, 0, 0]),
        Err(wal::FileHeaderError::BadMagic { found: 0 })
    );
}

#[test]
fn records_encode_to_known_bytes() {
    let mut out = Vec::new();
    assert_eq!(
        wal::encode_record(&mut out, 1_700_000_000, b"cpu_load", NONE, 0.75),
        Ok(35)
    );
    assert_eq!(out, unhex(RECORD_1));

    out.clear();
    let nan = f32::from_bits(0x7FC0_0000);
    wal::encode_record(
        &mut out,
        -1,
        b"",
        &[b"socket0".as_slice(), b"memctrl1"],
        nan,
    )
    .unwrap();
    assert_eq!(out, unhex(RECORD_2));

    out.clear();
    wal::encode_record(&mut out, 60, b"m", &[b""], -0.0).unwrap();
    assert_eq!(out, unhex(RECORD_3));
    assert_eq!(wal::encoded_len(b"m", &[b""]), out.len());
}

#[test]
fn records_decode_from_known_bytes() {
    let bytes = unhex(RECORD_2);
    let (record, len) = wal::decode_record(&bytes).unwrap();
    assert_eq!(len, bytes.len());
    assert_eq!(record.ts, -1);
    assert_eq!(record.metric, b"");
    assert_eq!(
        record.selector.iter().collect::<Vec<_>>(),
        vec![b"socket0".as_slice(), b"memctrl1"]
    );
    assert_eq!(record.value_bits, 0x7FC0_0000);
}

/// A record with a valid CRC around an arbitrary payload.
fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = wal::RECORD_MAGIC.to_le_bytes().to_vec();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out
}

fn payload(ts: i64, name_len: u16, rest: &[u8]) -> Vec<u8> {
    let mut p = ts.to_le_bytes().to_vec();
    p.extend_from_slice(&name_len.to_le_bytes());
    p.extend_from_slice(rest);
    p
}

#[test]
fn each_record_error_kind() {
    let good = unhex(RECORD_1);
    let err = |bytes: &[u8]| wal::decode_record(bytes).unwrap_err();

    let mut bad_magic = good.clone();
    bad_magic[0] = 0;
    assert_eq!(
        err(&bad_magic),
        RecordError::BadMagic { found: 0xCC1D_A700 }
    );
    assert_eq!(
        err(&good[..6]),
        RecordError::Truncated {
            needed: 8,
            available: 6
        }
    );
    assert_eq!(
        err(&good[..good.len() - 1]),
        RecordError::Truncated {
            needed: 35,
            available: 34
        }
    );

    let mut too_large = good.clone();
    too_large[4..8].copy_from_slice(&(wal::MAX_PAYLOAD_LEN + 1).to_le_bytes());
    assert_eq!(
        err(&too_large),
        RecordError::PayloadTooLarge { len: (1 << 20) + 1 }
    );
    assert_eq!(
        err(&framed(&[0; 14])),
        RecordError::PayloadTooShort { len: 14 }
    );

    let mut bad_crc = good.clone();
    bad_crc[12] ^= 1;
    assert!(matches!(err(&bad_crc), RecordError::CrcMismatch { .. }));

    let name_overflow = framed(&payload(1, 200, &[0, 0, 0, 0, 0]));
    assert_eq!(
        err(&name_overflow),
        RecordError::InnerLengthOverflow {
            field: InnerField::MetricName
        }
    );
    // The name fills the payload: no byte left for the selector count.
    let count_overflow = framed(&payload(1, 5, b"abcde"));
    assert_eq!(
        err(&count_overflow),
        RecordError::InnerLengthOverflow {
            field: InnerField::SelectorCount
        }
    );
    let selector_overflow = framed(&payload(1, 0, &[1, 9, b'x', 0, 0, 0]));
    assert_eq!(
        err(&selector_overflow),
        RecordError::InnerLengthOverflow {
            field: InnerField::Selector(0)
        }
    );
    let value_overflow = framed(&payload(1, 2, &[b'a', b'b', 0, 0, 0]));
    assert_eq!(
        err(&value_overflow),
        RecordError::InnerLengthOverflow {
            field: InnerField::Value
        }
    );
}

#[test]
fn bytes_after_the_value_are_ignored() {
    let mut p = payload(7, 1, b"m");
    p.extend_from_slice(&[0, 0, 0, 0x80, 0x3F, 0xDE, 0xAD]);
    let bytes = framed(&p);
    let (record, len) = wal::decode_record(&bytes).unwrap();
    assert_eq!(len, bytes.len());
    assert_eq!(
        (record.ts, record.metric, record.value()),
        (7, b"m".as_slice(), 1.0)
    );
}

#[test]
fn overlong_names_are_refused_not_truncated() {
    let mut out = Vec::new();
    assert!(wal::encode_record(&mut out, 0, &vec![b'm'; 65536], NONE, 1.0).is_err());
    assert!(wal::encode_record(&mut out, 0, b"m", &vec![b"s".as_slice(); 256], 1.0).is_err());
    assert!(wal::encode_record(&mut out, 0, b"m", &[vec![b's'; 256]], 1.0).is_err());
    assert!(out.is_empty());
}

fn snapshot_1() -> Snapshot<f32> {
    Snapshot {
        from: 100,
        to: 200,
        root: Level {
            metrics: vec![Metric {
                name: b"a".to_vec(),
                frequency: 10,
                start: 95,
                values: vec![1.0, f32::from_bits(0x7FC0_0000)],
            }],
            children: vec![Child {
                name: b"c".to_vec(),
                level: Level {
                    metrics: vec![Metric {
                        name: b"b".to_vec(),
                        frequency: 60,
                        start: 90,
                        values: vec![],
                    }],
                    children: vec![],
                },
            }],
        },
    }
}

#[test]
fn snapshots_encode_to_known_bytes() {
    let mut out = Vec::new();
    encode_snapshot(&snapshot_1(), &mut out).unwrap();
    assert_eq!(out, unhex(SNAPSHOT_1));

    out.clear();
    encode_snapshot(
        &Snapshot::<f32> {
            from: 0,
            to: 0,
            root: Level::default(),
        },
        &mut out,
    )
    .unwrap();
    assert_eq!(out, unhex(SNAPSHOT_EMPTY));
}

#[test]
fn snapshots_decode_from_known_bytes() {
    let bytes = unhex(SNAPSHOT_1);
    let (snap, used) = decode_snapshot(&bytes).unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!((snap.from, snap.to), (100, 200));
    assert_eq!(snap.root.metrics[0].values[1].to_bits(), 0x7FC0_0000);
    assert_eq!(snap.root.children[0].level.metrics[0].name, b"b");
    assert_eq!(decode_header(&bytes), Ok((100, 200)));
}

#[test]
fn each_snapshot_error_kind() {
    let bytes = unhex(SNAPSHOT_1);
    let kind = |b: &[u8]| decode_snapshot(b).unwrap_err().kind;
    let mut bad = bytes.clone();
    bad[0] = 2;
    assert_eq!(kind(&bad), DecodeErrorKind::BadMagic { found: 0xCC5B_0002 });
    assert_eq!(
        kind(&bytes[..10]),
        DecodeErrorKind::Truncated(Field::Header)
    );
    assert_eq!(
        kind(&bytes[..bytes.len() - 1]),
        DecodeErrorKind::Truncated(Field::ChildCount)
    );
    let mut huge_values = bytes.clone();
    huge_values[43..47].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = decode_snapshot(&huge_values).unwrap_err();
    assert_eq!(err.offset, 43);
    assert!(matches!(
        err.kind,
        DecodeErrorKind::CountTooLarge {
            field: Field::ValueCount,
            count: u32::MAX,
            ..
        }
    ));
    let mut huge_metrics = bytes.clone();
    huge_metrics[20..24].copy_from_slice(&1_000_000u32.to_le_bytes());
    assert!(matches!(
        kind(&huge_metrics),
        DecodeErrorKind::CountTooLarge {
            field: Field::MetricCount,
            ..
        }
    ));

    // 600 nested empty children: deeper than any real tree, refused.
    let mut deep = unhex(SNAPSHOT_EMPTY)[..20].to_vec();
    for _ in 0..600 {
        deep.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
    }
    deep.extend_from_slice(&[0; 8 * 601]);
    assert_eq!(kind(&deep), DecodeErrorKind::TooDeep);
}

#[test]
fn encoder_refusals_leave_it_usable() {
    let mut out = Vec::new();
    let mut encoder = SnapshotEncoder::new(&mut out, 1, 2);
    let long = vec![b'n'; 65536];
    assert!(matches!(
        encoder.metric(&long, 1, 1, &[1.0f32]),
        Err(EncodeError::NameTooLong { .. })
    ));
    assert_eq!(
        encoder.end_child(),
        Err(EncodeError::Unbalanced { open_children: 0 })
    );
    encoder.metric(b"a", 10, 95, &[1.0f64, f64::NAN]).unwrap();
    encoder.begin_child(b"c").unwrap();
    encoder.metric(b"b", 60, 90, &[] as &[f32]).unwrap();
    encoder.end_child().unwrap();
    assert_eq!(
        encoder.metric(b"late", 1, 1, &[1.0f32]),
        Err(EncodeError::MetricAfterChild)
    );
    encoder.finish().unwrap();
    let mut expected = unhex(SNAPSHOT_1);
    expected[4..12].copy_from_slice(&1i64.to_le_bytes());
    expected[12..20].copy_from_slice(&2i64.to_le_bytes());
    assert_eq!(out, expected);

    let mut out = Vec::new();
    let mut encoder = SnapshotEncoder::new(&mut out, 1, 2);
    encoder.begin_child(b"open").unwrap();
    assert_eq!(
        encoder.finish(),
        Err(EncodeError::Unbalanced { open_children: 1 })
    );
}

#[test]
fn detect_each_kind() {
    assert_eq!(detect_kind(&unhex("01a71dcc")), Some(FileKind::Wal));
    assert_eq!(
        detect_kind(&unhex(SNAPSHOT_EMPTY)),
        Some(FileKind::BinarySnapshot)
    );
    assert_eq!(
        detect_kind(b"  \n{\"from\":1}"),
        Some(FileKind::JsonSnapshot)
    );
    assert_eq!(detect_kind(b""), None);
    assert_eq!(detect_kind(b"hello"), None);
}

#[test]
fn json_as_go_writes_it() {
    let text = br#"{"from":100,"to":200,
        "metrics":{"load":{"frequency":60,"start":70,"data":[1.5,null,2]},
                   "dup":{"frequency":1,"start":1,"data":[1]},
                   "dup":{"frequency":2,"start":2,"data":[2]},
                   "none":{"frequency":10,"start":5,"data":null}},
        "children":{"cpu0":{"from":100,"to":200,"metrics":null,"children":null},
                    "cpu1":{}}}"#;
    let snap = decode_json_snapshot(text).unwrap();
    assert_eq!((snap.from, snap.to), (100, 200));
    let metric = |name: &[u8]| snap.root.metrics.iter().find(|m| m.name == name).unwrap();
    let load = metric(b"load");
    assert_eq!((load.frequency, load.start, load.values.len()), (60, 70, 3));
    assert!(load.values[1].is_nan());
    assert_eq!(load.values[2], 2.0);
    assert_eq!(
        metric(b"dup").frequency,
        2,
        "the last duplicate key wins, as in Go"
    );
    assert!(metric(b"none").values.is_empty());
    assert_eq!(snap.root.children.len(), 2);
    assert!(
        snap.root
            .children
            .iter()
            .all(|c| c.level.metrics.is_empty() && c.level.children.is_empty())
    );
    assert!(matches!(
        decode_json_snapshot(b"{\"from\":\"x\"}"),
        Err(JsonError::Syntax(_))
    ));
}

#[test]
fn json_encoder_refusals() {
    let with_values = |name: &[u8], values: Vec<f64>| Snapshot {
        from: 0,
        to: 0,
        root: Level {
            metrics: vec![Metric {
                name: name.to_vec(),
                frequency: 1,
                start: 0,
                values,
            }],
            children: vec![],
        },
    };
    assert!(matches!(
        encode_json_snapshot(&with_values(b"m", vec![1.0, f64::INFINITY])),
        Err(JsonError::NonFinite { index: 1, .. })
    ));
    assert!(matches!(
        encode_json_snapshot(&with_values(b"\xff", vec![1.0])),
        Err(JsonError::NonUtf8Name { .. })
    ));
    let text = encode_json_snapshot(&with_values(b"m", vec![0.5, f64::NAN])).unwrap();
    assert_eq!(
        String::from_utf8(text).unwrap(),
        r#"{"from":0,"to":0,"metrics":{"m":{"frequency":1,"start":0,"data":[0.5,null]}},"children":{}}"#
    );
}
