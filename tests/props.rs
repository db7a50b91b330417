//! Property tests: generated worlds (2..=6 producers with their own settings,
//! records on the size limits, shared / cloned / mixed records, faults drawn from
//! a simulation seed) and the invariants that must hold in every one of them.
//!
//! `PROPTEST_CASES` sets the number of cases (default 128 per world property, 256
//! for the produce-set model; a few seconds in all on 2 cores) and
//! `PROPTEST_RNG_SEED` fixes proptest's own seed. A failure prints the shrunk world (producers,
//! records with their sizes, sim seed), the violations and how to replay; it is
//! saved in `tests/props.proptest-regressions`, which is committed, so it replays
//! first in every later `cargo test`.

use producer_core::batch::{single_record_batch_len, BatchBuilder, ProducerStamp};
use producer_core::clock::Instant;
use producer_core::produce_set::{Limits, ProduceSet};
use producer_core::record::Record;
use producer_core::{Error, TopicPartition};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use sim::checker::Kind;
use sim::history::What;
use sim::scenario::Sharing;
use sim::strategies::{prop_world, PropWorld};
use sim::RunReport;
use std::collections::BTreeMap;
use std::time::Duration;

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn config(default: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(default),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/props.proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// What a failing property prints besides the shrunk world.
fn explain(report: &RunReport, what: &str) -> String {
    let mut s = format!(
        "{what}\nsim seed {}, trace hash 0x{:016x}\n",
        report.seed,
        report.trace_hash()
    );
    for v in report.verdict.violations.iter().take(10) {
        s += &format!("  {v}\n");
    }
    s +=
        "replay: cargo test --release --test props (the regression file replays this case first)\n";
    s
}

fn violations_of(report: &RunReport, kinds: &[Kind]) -> Vec<String> {
    report
        .verdict
        .violations
        .iter()
        .filter(|v| kinds.contains(&v.kind))
        .map(|v| v.to_string())
        .collect()
}

proptest! {
    #![proptest_config(config(128))]

    /// The same workload and seed, with the records shared, deep-cloned or mixed,
    /// must give the same history and the same logs: a producer that writes into
    /// the caller's record (Sarama #1969) makes shared runs diverge.
    #[test]
    fn shared_and_cloned_runs_are_identical(world in prop_world(16, 4)) {
        let shared = world.run_as(Sharing::Shared);
        let cloned = world.run_as(Sharing::Cloned);
        let mixed = world.run_as(Sharing::Mixed);
        prop_assert_eq!(shared.trace_hash(), cloned.trace_hash(), "{}", explain(&shared, "shared and cloned runs differ"));
        prop_assert_eq!(shared.trace_hash(), mixed.trace_hash(), "{}", explain(&mixed, "shared and mixed runs differ"));
        prop_assert!(shared.logs == cloned.logs, "{}", explain(&shared, "logs differ"));
    }

    /// Sending never changes a record, and shared records still share buffers
    /// after the run (deep clones never do).
    #[test]
    fn records_are_never_changed_by_sending(world in prop_world(16, 3)) {
        let original = world.materialize();
        for sharing in [Sharing::Shared, Sharing::Cloned] {
            let report = world.run_as(sharing);
            prop_assert!(
                !report.history.entries.iter().any(|e| matches!(e.what, What::RecordMutated { .. })),
                "{}", explain(&report, "a record changed")
            );
            for held in &report.records {
                for (i, r) in held.iter().enumerate() {
                    prop_assert_eq!(r, &original[i], "record #{} changed", i);
                    let shares = r.shares_buffers_with(&report.records[0][i]);
                    match sharing {
                        Sharing::Shared => prop_assert!(shares, "shared record #{} no longer shares buffers", i),
                        _ if !std::ptr::eq(held, &report.records[0]) && r.payload_len() > 0 => {
                            prop_assert!(!shares, "cloned record #{} shares buffers", i)
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// Every batch: accounted == encoded, within max_message_bytes; every
    /// request: accounted == encoded, within max_request_size; every record in
    /// exactly one batch; a record too large for any batch fails alone with
    /// MessageTooLarge, and only such records do.
    #[test]
    fn accounting_is_exact_and_limits_hold(world in prop_world(24, 3)) {
        let report = world.run();
        let bad = violations_of(&report, &[Kind::Accounting, Kind::Corrupt]);
        prop_assert!(bad.is_empty(), "{}", explain(&report, "accounting broken"));
        for p in 0..world.producers.len() as u32 {
            // send id -> the batch (first send id) that carried it, over all attempts.
            let mut batch_of: BTreeMap<u64, u64> = BTreeMap::new();
            for e in report.history.entries.iter().filter(|e| e.who == sim::history::Actor::Producer(p)) {
                if let What::RequestSent { batches, .. } = &e.what {
                    for b in batches {
                        prop_assert_eq!(b.send_ids[0], b.first_send_id);
                        for id in &b.send_ids {
                            let first = *batch_of.entry(*id).or_insert(b.first_send_id);
                            prop_assert_eq!(first, b.first_send_id, "send {} of producer-{} in two batches", id, p);
                        }
                    }
                }
            }
        }
    }

    /// Every send resolves exactly once; flush and close return; the counters
    /// (unresolved records, buffered bytes, requests in flight) are zero at close.
    #[test]
    fn every_send_resolves_once_and_close_finishes(world in prop_world(24, 4)) {
        let report = world.run();
        prop_assert!(report.finished && report.error.is_none(), "{}", explain(&report, "the run did not finish"));
        let bad = violations_of(&report, &[Kind::Unresolved, Kind::ResolvedTwice, Kind::Accounting, Kind::Lifecycle]);
        prop_assert!(bad.is_empty(), "{}", explain(&report, "liveness or counters broken"));
        let closed = report.history.entries.iter().filter(|e| matches!(e.what, What::Closed { .. })).count();
        prop_assert_eq!(closed, world.producers.len());
    }

    /// Idempotent producers: no duplicate, no reordering per producer and
    /// partition, under any generated faults. Every producer: no acknowledged
    /// record lost, no acknowledgement naming another record, nothing phantom.
    #[test]
    fn no_loss_and_idempotent_producers_never_duplicate_or_reorder(world in prop_world(24, 6)) {
        let report = world.run();
        let bad = violations_of(
            &report,
            &[Kind::Lost, Kind::OffsetMismatch, Kind::Phantom, Kind::Duplicate, Kind::Reorder, Kind::FailedButWritten],
        );
        prop_assert!(bad.is_empty(), "{}", explain(&report, "delivery guarantees broken"));
    }
}

/// Size of a batch holding `records`, computed the slow way: encode it all.
fn encoded_len(records: &[(Record, i64)]) -> usize {
    let mut b = BatchBuilder::new(0);
    for (r, ts) in records {
        b.push(r, *ts);
    }
    b.seal(ProducerStamp::NONE).map_or(0, |b| b.len())
}

fn model_record() -> impl Strategy<Value = (Record, i64)> {
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
    #![proptest_config(config(256))]

    /// The produce set, without any network, against a naive model: for any
    /// sequence of adds, `would_overflow` agrees with "encode the whole batch again
    /// and compare with the limits"; batches never pass their limits; no record is
    /// split or lost; an oversize record fails alone.
    #[test]
    fn produce_set_agrees_with_a_naive_model(
        adds in prop::collection::vec((0i32..3, model_record()), 1..60),
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
            compression: Default::default(),
            bugs: Default::default(),
        };
        let mut set = ProduceSet::new(limits);
        let now = Instant::START;
        let mut open: Vec<Vec<(Record, i64)>> = vec![Vec::new(); 3];
        let mut closed: Vec<Vec<Vec<u64>>> = vec![Vec::new(); 3];
        let mut open_ids: Vec<Vec<u64>> = vec![Vec::new(); 3];
        for (id, (p, (record, ts))) in adds.into_iter().enumerate() {
            let tp = TopicPartition::new("t", p);
            let pi = p as usize;
            let alone = single_record_batch_len(&record);
            let mut with = open[pi].clone();
            with.push((record.clone(), ts));
            let naive_overflow = !open[pi].is_empty()
                && (encoded_len(&with) > max_message_bytes
                    || encoded_len(&with) > batch_size
                    || open[pi].len() >= max_records);
            prop_assert_eq!(set.would_overflow(&tp, &record, ts).is_some(), naive_overflow);
            match set.add(&tp, &record, ts, now, id as u64) {
                Err(Error::MessageTooLarge { size, limit }) => {
                    prop_assert!(alone > max_message_bytes);
                    prop_assert_eq!(size, alone);
                    prop_assert_eq!(limit, max_message_bytes);
                }
                Err(e) => prop_assert!(false, "unexpected error {}", e),
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

/// A PropWorld is a valid scenario whatever the strategy draws.
#[test]
fn generated_worlds_are_valid_scenarios() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..200 {
        let world: PropWorld = prop_world(24, 6).new_tree(&mut runner).unwrap().current();
        let _ = world.scenario();
    }
}
