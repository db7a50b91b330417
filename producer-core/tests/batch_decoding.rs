//! Our RecordBatch v2 encoder against an independent decoder (kafka-protocol's),
//! and the exact-accounting promise: accounted bytes == encoded bytes.

use bytes::Bytes;
use kafka_protocol::records::{RecordBatchDecoder, TimestampType};
use producer_core::batch::{restamp, BatchBuilder, ProducerStamp};
use producer_core::record::{Header, Record};
use proptest::prelude::*;

fn arb_bytes(max: usize) -> impl Strategy<Value = Option<Bytes>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Bytes::new())),
        6 => prop::collection::vec(any::<u8>(), 0..max).prop_map(|v| Some(Bytes::from(v))),
    ]
}

/// Records with unique header keys (the decoder keeps headers in a map).
fn arb_record() -> impl Strategy<Value = Record> {
    (
        arb_bytes(40),
        arb_bytes(400),
        prop::collection::btree_map("[a-z]{0,6}", arb_bytes(20), 0..4),
        prop::option::of(-1_000_000i64..1_000_000_000_000),
    )
        .prop_map(|(key, value, headers, ts)| {
            let mut r = Record::empty().with_value(value).with_headers(
                headers
                    .into_iter()
                    .map(|(k, v)| Header::new(&k, v))
                    .collect(),
            );
            if let Some(k) = key {
                r = r.with_key(k);
            }
            if let Some(ts) = ts {
                r = r.with_timestamp(ts);
            }
            r
        })
}

fn arb_stamp() -> impl Strategy<Value = ProducerStamp> {
    prop_oneof![
        Just(ProducerStamp::NONE),
        (0i64..i64::MAX, 0i16..i16::MAX, 0i32..i32::MAX / 2).prop_map(|(p, e, s)| ProducerStamp {
            producer_id: p,
            producer_epoch: e,
            base_sequence: s,
        }),
    ]
}

fn encode(records: &[Record], stamp: ProducerStamp) -> (usize, Bytes) {
    let mut b = BatchBuilder::new(0);
    let mut accounted = b.len();
    for (i, r) in records.iter().enumerate() {
        let ts = r.timestamp().unwrap_or(1_700_000_000_000 + i as i64);
        accounted = b.size_with(r, ts);
        b.push(r, ts);
    }
    (accounted, b.seal(stamp).expect("non-empty batch"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn accounted_size_equals_encoded_size(records in prop::collection::vec(arb_record(), 1..40), stamp in arb_stamp()) {
        let (accounted, bytes) = encode(&records, stamp);
        prop_assert_eq!(accounted, bytes.len());
    }

    #[test]
    fn independent_decoder_reads_back_every_field(records in prop::collection::vec(arb_record(), 1..20), stamp in arb_stamp()) {
        let (_, bytes) = encode(&records, stamp);
        let mut buf = bytes.clone();
        let set = RecordBatchDecoder::decode(&mut buf).expect("decoder accepts our batch (CRC included)");
        prop_assert_eq!(set.version, 2);
        prop_assert_eq!(set.records.len(), records.len());
        for (i, (got, want)) in set.records.iter().zip(&records).enumerate() {
            prop_assert_eq!(got.offset, i as i64);
            prop_assert_eq!(got.timestamp, want.timestamp().unwrap_or(1_700_000_000_000 + i as i64));
            prop_assert_eq!(got.timestamp_type, TimestampType::Creation);
            prop_assert_eq!(got.key.as_ref(), want.key());
            prop_assert_eq!(got.value.as_ref(), want.value());
            prop_assert_eq!(got.producer_id, stamp.producer_id);
            prop_assert_eq!(got.producer_epoch, stamp.producer_epoch);
            // The decoder derives every record's sequence as base + offset delta, even for -1.
            let seq = stamp.base_sequence.wrapping_add(i as i32);
            prop_assert_eq!(got.sequence, seq);
            prop_assert!(!got.transactional && !got.control);
            prop_assert_eq!(got.headers.len(), want.headers().len());
            for h in want.headers() {
                let key = std::str::from_utf8(h.key()).unwrap();
                let v = got.headers.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v.clone());
                prop_assert_eq!(v, Some(h.value().cloned()), "header {}", key);
            }
        }
        let mut info_buf = bytes.clone();
        let info = RecordBatchDecoder::decode_batch_info(&mut info_buf).unwrap();
        prop_assert_eq!(info.len(), 1);
        prop_assert_eq!(info[0].record_count as usize, records.len());
        prop_assert_eq!(info[0].base_sequence, stamp.base_sequence);
    }

    #[test]
    fn restamped_batches_still_decode(records in prop::collection::vec(arb_record(), 1..8), stamp in arb_stamp()) {
        let (_, bytes) = encode(&records, ProducerStamp::NONE);
        let again = restamp(&bytes, stamp);
        let set = RecordBatchDecoder::decode(&mut again.clone()).expect("CRC recomputed");
        prop_assert_eq!(set.records[0].producer_id, stamp.producer_id);
    }
}

#[test]
fn a_flipped_byte_inside_the_crc_range_is_rejected() {
    let (_, bytes) = encode(&[Record::new("hello").with_key("k")], ProducerStamp::NONE);
    for pos in 21..bytes.len() {
        let mut bad = bytes.to_vec();
        bad[pos] ^= 0x40;
        let mut b = Bytes::from(bad);
        assert!(
            RecordBatchDecoder::decode(&mut b).is_err(),
            "flip at {pos} must fail the CRC"
        );
    }
}
