//! The trace encoding's pinned bytes and the reference XXH3 values.

use super::*;
use std::sync::Arc;
use xxhash_rust::xxh3::xxh3_64;

/// XXH3-64 of known inputs, as the reference C library (libxxhash 0.8.1,
/// `XXH3_64bits`) computes them: the crate implements the specified function.
#[test]
fn xxh3_is_the_reference_function() {
    assert_eq!(xxh3_64(b""), 0x2d06_8005_38d3_94c2);
    assert_eq!(xxh3_64(b"prodsim"), PRODSIM_XXH3);
    let mut streamed = Xxh3Default::new();
    for chunk in b"prodsim".chunks(3) {
        streamed.put(chunk);
    }
    assert_eq!(streamed.digest(), PRODSIM_XXH3, "streaming = one shot");
}

/// `XXH3_64bits("prodsim")`, by the reference C library (0.8.1).
const PRODSIM_XXH3: u64 = 0xf9b3_7794_535a_328c;

fn encoded(f: impl FnOnce(&mut Encoder<Vec<u8>>)) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    f(&mut e);
    e.into_sink()
}

#[test]
fn primitives_are_fixed_width_little_endian() {
    assert_eq!(encoded(|e| e.u8(0xab)), [0xab]);
    assert_eq!(encoded(|e| e.bool(true)), [1]);
    assert_eq!(encoded(|e| e.i16(-2)), [0xfe, 0xff]);
    assert_eq!(encoded(|e| e.i32(1)), [1, 0, 0, 0]);
    assert_eq!(encoded(|e| e.u32(0x0102_0304)), [4, 3, 2, 1]);
    assert_eq!(encoded(|e| e.i64(-1)), [0xff; 8]);
    assert_eq!(encoded(|e| e.usize(258)), [2, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        encoded(|e| e.duration(Duration::new(1, 2))),
        [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0]
    );
    assert_eq!(
        encoded(|e| e.str("ab")),
        [2, 0, 0, 0, 0, 0, 0, 0, b'a', b'b']
    );
    assert_eq!(encoded(|e| e.opt_bytes(None)), [0]);
    assert_eq!(
        encoded(|e| e.opt_bytes(Some(b""))),
        [1, 0, 0, 0, 0, 0, 0, 0, 0]
    );
}

/// A hand-built history and log, and their encoding written out by hand.
/// If this fails after a deliberate change of the encoding, update the
/// module documentation, these bytes and hash, the version in the prefix,
/// and the pins in tests/trace_hash_pinned.rs, and say so in the commit.
#[test]
fn a_small_trace_encodes_to_the_specified_bytes() {
    let mut history = History::default();
    history.push(
        Duration::from_millis(5),
        Actor::Producer(0),
        What::Send {
            index: 0,
            send_id: Some(1),
            partition: Some(2),
            digest: 0x1122_3344_5566_7788,
            batch_len: 70,
        },
    );
    history.push(
        Duration::new(1, 0),
        Actor::World,
        What::Fault {
            description: "x".into(),
            change: Change::Crash,
            heal: false,
        },
    );
    history.push(
        Duration::from_millis(7),
        Actor::Producer(0),
        What::AttemptEnded {
            tp: TopicPartition::new("t", 2),
            first_send_id: 1,
            outcome: Err(None),
        },
    );
    history.push(
        Duration::from_millis(9),
        Actor::Producer(0),
        What::Failed {
            index: 0,
            error: "any text: left out".into(),
            kind: FailKind::MaybeWritten,
        },
    );
    let batch = LogBatch {
        base_offset: 0,
        client_id: Arc::from("p"),
        producer_id: 3,
        producer_epoch: 0,
        base_sequence: 0,
        leader: 1,
        appended_at: Duration::from_millis(6),
        bytes: 70,
        request_bytes: 120,
        records: vec![LogRecord {
            offset: 0,
            key: None,
            value: Some(bytes::Bytes::from_static(b"v")),
            headers: vec![("h".into(), None)],
            timestamp: -1,
        }],
    };
    let logs = [("t".to_string(), 2, vec![batch])];
    let logs = || logs.iter().map(|(t, p, b)| (t.as_str(), *p, b.as_slice()));

    #[rustfmt::skip]
    let expected: Vec<u8> = [
        &b"prodsim-trace/1"[..],
        &[4, 0, 0, 0, 0, 0, 0, 0],                    // 4 entries
        // at 5 ms, producer 0, Send
        &[0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x4b, 0x4c, 0x00],
        &[0x00, 0, 0, 0, 0],
        &[0x00],                                       // tag Send
        &[0, 0, 0, 0, 0, 0, 0, 0],                     // index 0
        &[1, 1, 0, 0, 0, 0, 0, 0, 0],                  // send_id Some(1)
        &[1, 2, 0, 0, 0],                              // partition Some(2)
        &[0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11], // digest
        &[70, 0, 0, 0, 0, 0, 0, 0],                    // batch_len
        // at 1 s, world, Fault "x" Crash, not a heal
        &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        &[0x01],
        &[0x13, 1, 0, 0, 0, 0, 0, 0, 0, b'x', 0x00, 0x00],
        // at 7 ms, producer 0, AttemptEnded t/2 #1 no answer
        &[0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0xcf, 0x6a, 0x00],
        &[0x00, 0, 0, 0, 0],
        &[0x08, 1, 0, 0, 0, 0, 0, 0, 0, b't', 2, 0, 0, 0],
        &[1, 0, 0, 0, 0, 0, 0, 0],                     // first_send_id
        &[0x01, 0x00],                                 // Err(None)
        // at 9 ms, producer 0, Failed #0 MaybeWritten (text left out)
        &[0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x54, 0x89, 0x00],
        &[0x00, 0, 0, 0, 0],
        &[0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0x03],
        // logs: 1 partition, t/2, 1 batch
        &[1, 0, 0, 0, 0, 0, 0, 0],
        &[1, 0, 0, 0, 0, 0, 0, 0, b't', 2, 0, 0, 0],
        &[1, 0, 0, 0, 0, 0, 0, 0],
        &[0, 0, 0, 0, 0, 0, 0, 0],                     // base_offset
        &[1, 0, 0, 0, 0, 0, 0, 0, b'p'],               // client_id
        &[3, 0, 0, 0, 0, 0, 0, 0],                     // producer_id
        &[0, 0],                                       // epoch
        &[0, 0, 0, 0],                                 // base_sequence
        &[1, 0, 0, 0],                                 // leader
        &[0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x8d, 0x5b, 0x00], // appended_at 6 ms
        &[70, 0, 0, 0, 0, 0, 0, 0],                    // bytes
        &[120, 0, 0, 0, 0, 0, 0, 0],                   // request_bytes
        &[1, 0, 0, 0, 0, 0, 0, 0],                     // 1 record
        &[0, 0, 0, 0, 0, 0, 0, 0],                     // offset
        &[0x00],                                       // key None
        &[1, 1, 0, 0, 0, 0, 0, 0, 0, b'v'],            // value "v"
        &[1, 0, 0, 0, 0, 0, 0, 0],                     // 1 header
        &[1, 0, 0, 0, 0, 0, 0, 0, b'h', 0x00],         // "h" = None
        &[0xff; 8],                                    // timestamp -1
    ]
    .concat();

    let bytes = encoded(|e| e.trace(&history, logs()));
    assert_eq!(
        bytes, expected,
        "the trace encoding changed (see this test's comment)"
    );
    assert_eq!(trace_hash(&history, logs()), xxh3_64(&expected));
    assert_eq!(
        trace_hash(&history, logs()),
        SMALL_TRACE_HASH,
        "the trace hash of the hand-built trace changed (see this test's comment)"
    );
}

/// `XXH3_64bits` of the bytes above, by the reference C library (0.8.1).
const SMALL_TRACE_HASH: u64 = 0x835b_748c_043f_1a2a;

#[test]
fn a_record_digest_encodes_to_the_specified_bytes() {
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        &b"prodsim-record/1"[..],
        &[1, 1, 0, 0, 0, 0, 0, 0, 0, b'k'],            // key "k"
        &[0x00],                                       // value None
        &[1, 0, 0, 0, 0, 0, 0, 0, b'h', 1, 1, 0, 0, 0, 0, 0, 0, 0, b'w'], // h = "w"
    ]
    .concat();
    let headers = [(&b"h"[..], Some(&b"w"[..]))];
    let bytes = encoded(|e| encode_record(e, Some(b"k"), None, headers.into_iter()));
    assert_eq!(bytes, expected);
    let d = digest_parts(Some(b"k"), None, headers.into_iter());
    assert_eq!(d, xxh3_64(&expected));
    assert_eq!(
        d, RECORD_DIGEST,
        "the record digest changed (see a_small_trace_encodes_to_the_specified_bytes)"
    );
    assert_ne!(
        digest_parts(Some(b"k"), None, std::iter::empty()),
        digest_parts(None, Some(b"k"), std::iter::empty())
    );
}

/// `XXH3_64bits` of the bytes above, by the reference C library (0.8.1).
const RECORD_DIGEST: u64 = 0xc8ac_71ef_099f_c6b5;
