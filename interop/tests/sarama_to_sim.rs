//! Sarama (Go), the client of the report prodsim was started for, against the
//! simulated broker on real TCP. Two idempotent AsyncProducers, each writing to
//! its own simulated cluster, are handed the same records: once as copies of
//! their own, once as one `*ProducerMessage` shared by both, which is what the
//! report did (one message pointer sent to two clusters). Each cluster's log is
//! judged with the same checker as inside the simulation.
//!
//! Sarama 1.22.1 keeps per-send state (partition, retries, flags, sequence
//! number, offset) in the caller's message, so the shared run breaks: prodsim
//! reports what a user would see (records failed with OUT_OF_ORDER_SEQUENCE_NUMBER,
//! acknowledgements that name the wrong offset, sends never resolved, a close that
//! never returns), and Go's race detector names the racing writes.
//!
//! Under the broker-side faults librdkafka survives (retriable errors, lost
//! responses), Sarama 1.22.1 with its own messages breaks too: after a lost
//! response (the connection closes after the write) its retries are refused with
//! OUT_OF_ORDER_SEQUENCE_NUMBER and hundreds of records fail, some of them
//! written. This matches Sarama's known "idempotent producer broken on broker
//! reconnect" (IBM/sarama#1430, reported on 1.23.0), found here by the checker
//! with no race involved.

mod common;

use common::judge::{self, ProducerReport};
use common::sarama::{run_producers, ProducerRun};
use common::SimCluster;
use sim::checker::Violation;
use std::collections::BTreeMap;
use std::time::Duration;

const RECORDS: usize = 2_000;

/// Runs `producers` producers, each against a cluster of its own (set up by
/// `prepare`); returns what Sarama did and, per cluster, the records stored and
/// the checker's violations.
fn run(
    producers: usize,
    share: bool,
    prepare: impl Fn(&SimCluster),
    deadline: Duration,
) -> (ProducerRun, Vec<(usize, Vec<Violation>)>) {
    let clusters: Vec<SimCluster> = (0..producers).map(|_| SimCluster::start(3, 6)).collect();
    clusters.iter().for_each(&prepare);
    let bootstraps: Vec<&str> = clusters.iter().map(|c| c.bootstrap.as_str()).collect();
    let run = run_producers(&bootstraps, RECORDS, share, deadline);
    let judged = clusters
        .into_iter()
        .enumerate()
        .map(|(p, cluster)| {
            let logs = cluster.stop();
            // Producer p (client id `producer-<p>`) is the only one that wrote
            // to cluster p.
            let mut only_p = run.reported.clone();
            for (q, producer) in only_p.producers.iter_mut().enumerate() {
                if q != p {
                    *producer = ProducerReport {
                        records: Vec::new(),
                        closed: true,
                    };
                }
            }
            let stored = logs.values().flatten().map(|b| b.records.len()).sum();
            (stored, judge::violations(&only_p, &logs, 1))
        })
        .collect();
    (run, judged)
}

/// Prints what the checker found per cluster, by kind.
fn summarize(judged: &[(usize, Vec<Violation>)]) {
    for (p, (stored, violations)) in judged.iter().enumerate() {
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for v in violations {
            *kinds.entry(format!("{:?}", v.kind)).or_default() += 1;
        }
        println!(
            "cluster {p}: {stored} of {RECORDS} records stored; violations by kind: {kinds:?}"
        );
        if let Some(first) = violations.first() {
            println!("  first: {first}");
        }
    }
}

#[test]
fn sarama_producers_with_their_own_messages_deliver_everything_once_in_order() {
    let (run, judged) = run(2, false, |_| {}, Duration::from_secs(60));
    assert_eq!(run.data_races, 0, "{}", run.stderr);
    assert_eq!(run.exit, Some(0), "sarama-producer failed:\n{}", run.stderr);
    assert_eq!(run.reported.unattributed, Vec::<String>::new());
    for (p, (stored, violations)) in judged.iter().enumerate() {
        assert!(
            violations.is_empty(),
            "cluster {p}: {}",
            judge::show(violations)
        );
        assert_eq!(*stored, RECORDS, "cluster {p}: every record stored once");
    }
}

#[test]
fn one_message_shared_by_two_sarama_producers_is_caught() {
    let (run, judged) = run(2, true, |_| {}, Duration::from_secs(15));
    println!(
        "Sarama, shared messages: exit {:?}, {} data races reported, {} outcomes naming no record",
        run.exit,
        run.data_races,
        run.reported.unattributed.len()
    );
    if let Some(panic) = run.stderr.lines().find(|l| l.starts_with("panic:")) {
        println!("Sarama panicked: {panic}");
    }
    summarize(&judged);
    assert!(
        judged.iter().any(|(_, v)| !v.is_empty()),
        "prodsim's checker found nothing wrong with two producers sharing messages"
    );
    assert!(
        run.data_races > 0,
        "Go's race detector saw no race on the shared messages:\n{}",
        run.stderr
    );
}

#[test]
fn sarama_1_22_idempotence_breaks_when_a_response_is_lost() {
    let (run, judged) = run(
        1,
        false,
        SimCluster::inject_retriable_errors_and_lost_responses,
        Duration::from_secs(60),
    );
    println!(
        "Sarama under retriable errors and lost responses: exit {:?}, {} data races",
        run.exit, run.data_races
    );
    summarize(&judged);
    assert_eq!(run.data_races, 0, "{}", run.stderr);
    let refused = judged[0]
        .1
        .iter()
        .filter(|v| v.detail.contains("out of order sequence number"))
        .count();
    assert!(
        refused > 0,
        "Sarama 1.22.1 survived lost responses: {}",
        judge::show(&judged[0].1)
    );
}
