//! The produce set against a naive reference model: for any sequence of adds,
//! `would_overflow` agrees with "encode the whole batch again and compare with the
//! limits", batches never pass their limits, and no record is split or lost.

use producer_core::batch::{BatchBuilder, ProducerStamp};
use producer_core::produce_set::{Limits, ProduceSet};
use producer_core::record::Record;
use producer_core::{Error, TopicPartition};
use proptest::prelude::*;
use tokio::time::{Duration, Instant};

/// Size of a batch holding `records`, computed the slow way: encode it all.
fn encoded_len(records: &[(Record, i64)]) -> usize {
    let mut b = BatchBuilder::new(0);
    for (r, ts) in records {
        b.push(r, *ts);
    }
    b.seal(ProducerStamp::NONE).map_or(0, |b| b.len())
}

fn arb_record() -> impl Strategy<Value = (Record, i64)> {
    let size = prop_oneof![
        Just(0usize),
        Just(1),
        0usize..64,
        100usize..400,
        900usize..1100
    ];
    (size, any::<bool>(), -200i64..200).prop_map(|(n, keyed, ts)| {
        let r = Record::new(vec![b'v'; n]);
        (if keyed { r.with_key("key") } else { r }, ts)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn would_overflow_agrees_with_a_naive_model(
        adds in prop::collection::vec((0i32..3, arb_record()), 1..60),
        batch_size in 70usize..3000,
        max_message_bytes in 68usize..2500,
        max_records in 1usize..8,
    ) {
        let limits = Limits {
            batch_size,
            max_message_bytes,
            max_request_size: 1 << 20,
            max_records,
            linger: Duration::from_millis(5),
            client_id: "p".into(),
        };
        let mut set = ProduceSet::new(limits);
        let now = Instant::now();
        // Model: per partition, the open batch's records, and the closed batches.
        let mut open: Vec<Vec<(Record, i64)>> = vec![Vec::new(); 3];
        let mut closed: Vec<Vec<Vec<u64>>> = vec![Vec::new(); 3];
        let mut open_ids: Vec<Vec<u64>> = vec![Vec::new(); 3];
        for (id, (p, (record, ts))) in adds.into_iter().enumerate() {
            let tp = TopicPartition::new("t", p);
            let pi = p as usize;
            let alone = encoded_len(&[(record.clone(), ts)]);
            let mut with = open[pi].clone();
            with.push((record.clone(), ts));
            let naive_overflow = !open[pi].is_empty()
                && (encoded_len(&with) > max_message_bytes
                    || encoded_len(&with) > batch_size
                    || open[pi].len() >= max_records);
            prop_assert_eq!(set.would_overflow(&tp, &record, ts).is_some(), naive_overflow);
            match set.add(&tp, &record, ts, now, id as u64, 0) {
                Err(Error::MessageTooLarge { size, limit }) => {
                    prop_assert!(alone > max_message_bytes);
                    prop_assert_eq!(size, alone);
                    prop_assert_eq!(limit, max_message_bytes);
                }
                Err(e) => prop_assert!(false, "unexpected error {e}"),
                Ok(appended) => {
                    prop_assert!(alone <= max_message_bytes);
                    prop_assert_eq!(appended.closed_previous.is_some(), naive_overflow);
                    if naive_overflow {
                        closed[pi].push(std::mem::take(&mut open_ids[pi]));
                        open[pi].clear();
                    }
                    open[pi].push((record, ts));
                    open_ids[pi].push(id as u64);
                }
            }
        }
        for (pi, ids) in open_ids.into_iter().enumerate() {
            if !ids.is_empty() {
                closed[pi].push(ids);
            }
        }
        for (pi, want) in closed.into_iter().enumerate() {
            let tp = TopicPartition::new("t", pi as i32);
            let mut got = Vec::new();
            while let Some(batch) = set.take_ready(&tp, now, true) {
                let accounted = batch.accounted;
                let bytes = batch.builder.seal(ProducerStamp::NONE).unwrap();
                prop_assert_eq!(accounted, bytes.len(), "accounted == encoded");
                prop_assert!(bytes.len() <= max_message_bytes);
                got.push(batch.send_ids);
            }
            prop_assert_eq!(got, want, "batches of partition {}", pi);
        }
        prop_assert_eq!(set.buffered_records(), 0);
        prop_assert_eq!(set.buffered_bytes(), 0);
    }
}
