//! Compressed batches: filled from the ratio estimate, sealed compressed, and
//! split (before they are sent, or when the broker says MESSAGE_TOO_LARGE)
//! until every part fits; every record resolves once, memory goes back once.

use super::harness::{config, wire_batches, Harness, Sending, TOPIC};
use crate::compression::Compression;
use crate::error::{code, Error};
use crate::observe::Event;
use crate::record::Record;
use crate::Config;
use kafka_protocol::messages::ApiKey;
use std::sync::Arc;

fn zstd(batch_size: usize, max_message_bytes: usize) -> Config {
    Config {
        compression: Compression::Zstd { level: 3 },
        batch_size,
        max_message_bytes,
        ..config()
    }
}

/// `n` bytes that do not compress (a fixed xorshift stream per record).
fn noise(seed: u64, n: usize) -> Record {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let bytes: Vec<u8> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    Record::new(bytes)
}

/// Pretends many earlier batches of the topic compressed to `ratio`.
fn learn_ratio(h: &Harness, ratio: f64) {
    let mut accum = h.shared.accum();
    let topic: Arc<str> = accum.topic_name(TOPIC);
    for _ in 0..1000 {
        accum.produce_set.observe_ratio(&topic, ratio);
    }
    assert!((accum.produce_set.ratio(TOPIC) - ratio).abs() < 1e-9);
}

/// Answers every produce request NONE at consecutive offsets until none is left.
fn ack_everything(h: &mut Harness) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut next = 0i64;
    for _ in 0..1000 {
        h.step();
        if h.count(ApiKey::Produce) == 0 {
            h.advance(super::ms(10));
            if h.count(ApiKey::Produce) == 0 {
                break;
            }
        }
        let req = h.take(ApiKey::Produce);
        sizes.extend(batch_sizes(&req));
        h.answer_produce(&req, |b| {
            let at = next;
            next += i64::from(b.records);
            (code::NONE, at)
        });
    }
    sizes
}

/// Wire sizes and codecs of a produce request's batches.
fn batch_sizes(req: &super::harness::Sent) -> Vec<usize> {
    use kafka_protocol::protocol::Decodable;
    let decoded =
        kafka_protocol::messages::ProduceRequest::decode(&mut req.body.clone(), req.version)
            .expect("decodes");
    decoded
        .topic_data
        .iter()
        .flat_map(|t| &t.partition_data)
        .map(|p| {
            let b = p.records.as_ref().unwrap();
            assert_eq!(b[22] & 7, 4, "sealed with zstd");
            b.len()
        })
        .collect()
}

/// Walks the events as prodsim's checker does: each sealed batch's charge
/// goes back once, in full, unless a split handed it to its parts.
fn memory_released_once(events: &[Event]) {
    let mut charged = std::collections::BTreeMap::new();
    for e in events {
        match e {
            Event::BatchSealed {
                first_send_id,
                memory,
                ..
            } => {
                charged.insert(*first_send_id, *memory);
            }
            Event::BatchSplit { first_send_id, .. } => {
                charged.remove(first_send_id);
            }
            Event::MemoryReleased {
                first_send_id,
                bytes,
                ..
            } => assert_eq!(
                charged.remove(first_send_id),
                Some(*bytes),
                "#{first_send_id}"
            ),
            _ => {}
        }
    }
    assert!(charged.is_empty(), "never released: {charged:?}");
}

fn all_acked(records: &[Sending]) {
    for r in records {
        assert!(matches!(r.result(), Some(Ok(_))), "{:?}", r.result());
    }
}

#[test]
fn compressible_records_fill_a_batch_past_batch_size_uncompressed() {
    let mut h = Harness::started(zstd(4096, 1_000_000), &[0]);
    learn_ratio(&h, 0.1);
    let records: Vec<Sending> = (0..60).map(|_| h.send(0, &"a".repeat(500))).collect();
    h.advance(super::ms(10));
    let sizes = ack_everything(&mut h);
    all_acked(&records);
    assert!(
        sizes.len() < 8,
        "30 KB of records in few batches of a 4 KiB target: {sizes:?}"
    );
    assert!(sizes.iter().all(|&s| s <= 4096), "{sizes:?}");
    assert_eq!(h.counters(), (0, 0, 0));
}

#[test]
fn a_batch_that_compresses_worse_than_estimated_is_split_before_it_is_sent() {
    let limit_cfg = zstd(4096, 4096);
    let mut h = Harness::started(limit_cfg, &[0]);
    learn_ratio(&h, 0.1);
    let records: Vec<Sending> = (0..40).map(|i| h.send_record(0, noise(i, 700))).collect();
    h.advance(super::ms(10));
    let sizes = ack_everything(&mut h);
    all_acked(&records);
    let limit = h.shared.accum().produce_set.limits().batch_limit(TOPIC).0;
    assert!(
        sizes.iter().all(|&s| s <= limit),
        "no batch over {limit} on the wire: {sizes:?}"
    );
    let events = h.events();
    assert!(
        events.iter().any(|e| matches!(e, Event::BatchSplit { .. })),
        "split at seal"
    );
    assert!(
        h.shared.accum().produce_set.ratio(TOPIC) > 0.9,
        "the estimate moved up fast"
    );
    memory_released_once(&events);
    assert_eq!(h.counters(), (0, 0, 0), "memory and counters back to zero");
}

#[test]
fn message_too_large_splits_a_compressed_batch_into_renumbered_compressed_halves() {
    let mut h = Harness::started(zstd(1 << 20, 1_000_000), &[0]);
    h.warm_up(0);
    let records: Vec<Sending> = (0..6).map(|i| h.send_record(0, noise(i, 300))).collect();
    h.advance(super::ms(10));
    let whole = h.produce_answer(code::MESSAGE_TOO_LARGE, -1);
    assert_eq!((whole[0].base_sequence, whole[0].records), (1, 6));
    h.step();
    let first = h.take(ApiKey::Produce);
    let halves = wire_batches(&first);
    assert_eq!(batch_sizes(&first).len(), 1, "one half per request");
    assert_eq!((halves[0].base_sequence, halves[0].records), (1, 3));
    h.answer_produce(&first, |_| (code::NONE, 10));
    h.step();
    let second = h.take(ApiKey::Produce);
    let rest = wire_batches(&second);
    assert_eq!(
        (rest[0].base_sequence, rest[0].records),
        (4, 3),
        "renumbered"
    );
    batch_sizes(&second);
    h.answer_produce(&second, |_| (code::NONE, 13));
    h.step();
    let offsets: Vec<i64> = records.iter().map(Sending::offset).collect();
    assert_eq!(offsets, [10, 11, 12, 13, 14, 15]);
    assert_eq!(h.counters(), (0, 0, 0));
}

#[test]
fn a_single_record_still_too_large_compressed_fails_once_with_a_clear_error() {
    // The record's uncompressed batch fits the limit exactly; zstd's framing
    // makes the sealed batch a few bytes larger.
    let limit = 2000;
    let mut h = Harness::started(zstd(1 << 20, limit), &[0]);
    let probe = crate::batch::single_record_batch_len(&noise(9, 1000));
    let record = noise(9, 1000 + (limit - probe));
    assert_eq!(crate::batch::single_record_batch_len(&record), limit);
    let r = h.send_record(0, record);
    h.advance(super::ms(10));
    h.step();
    assert_eq!(h.count(ApiKey::Produce), 0, "never sent");
    match r.result() {
        Some(Err(Error::MessageTooLarge { size, limit: l })) => {
            assert!(size > l && l == limit, "{size} > {l}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.counters(), (0, 0, 0));
}

/// Found by the compression benchmark (a 1 MiB batch size stalled ~1 in 2
/// runs until the delivery timeout): a batch filled while the ratio estimate
/// was low counts as much larger once another partition's batch moves the
/// estimate up; if it no longer fits an empty request by that estimate it
/// must still go (sealed, it is split if it really is too large), not wait
/// for a request it never fits.
#[test]
fn a_batch_the_risen_estimate_says_no_request_fits_still_goes() {
    let config = Config {
        linger: super::ms(50),
        max_request_size: 20_000,
        ..zstd(16_000, 20_000)
    };
    let mut h = Harness::started(config, &[0, 0]);
    learn_ratio(&h, 0.05);
    let noisy = h.send_record(1, noise(1, 8_000));
    h.advance(super::ms(10));
    let text: Vec<Sending> = (0..100)
        .map(|_| h.send(0, &"compressible ".repeat(80)))
        .collect();
    assert!(
        h.shared
            .accum()
            .produce_set
            .next_batch_len(&crate::produce_set::TopicPartition::new(TOPIC, 0))
            < Some(20_000)
    );
    h.advance(super::ms(40));
    let sizes = ack_everything(&mut h);
    assert!(
        h.shared.accum().produce_set.ratio(TOPIC) > 0.5,
        "the estimate rose"
    );
    all_acked(&text);
    all_acked(std::slice::from_ref(&noisy));
    assert!(sizes.iter().all(|&s| s <= 20_000), "{sizes:?}");
    assert_eq!(h.counters(), (0, 0, 0));
}
