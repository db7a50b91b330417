//! Idempotent sequence numbers: under one producer id and epoch, a partition's
//! batches start at sequence 0 and run on without a gap, and a batch sent again
//! keeps the sequence it was first sent with. And the window that makes them
//! safe: no more produce requests in flight to one broker than `max_in_flight`
//! (at most 5 with idempotence, the batches a broker remembers). One tracker serves both the
//! producer's history (batches named by their first send id) and a log read on
//! its own (every stored batch is a new one).

use super::view::RunView;
use super::{CheckInput, Kind, Violation};
use crate::cluster::LogBatch;
use crate::history::{Actor, What};
use producer_core::idempotence::advance_sequence;
use producer_core::TopicPartition;
use std::collections::BTreeMap;

/// Sequence bookkeeping of one (producer id, epoch, partition).
#[derive(Default)]
struct SequenceRun {
    /// The base sequence and record count each named batch was first given.
    batches: BTreeMap<u64, (i32, usize)>,
    /// The sequence the next new batch must start at.
    next: i32,
    /// Sequence ranges of batches the producer split (the broker found them
    /// too large): their parts keep the range and may start anywhere in it.
    split: Vec<(i64, i64)>,
}

/// Tracks every (producer id, epoch, partition) seen.
#[derive(Default)]
pub(super) struct SequenceTracker {
    runs: BTreeMap<(i64, i16, TopicPartition), SequenceRun>,
}

impl SequenceTracker {
    /// A batch of `count` records stamped (`producer_id`, `epoch`, `base_sequence`)
    /// for `tp`. `identity` names the batch across attempts (`None`: always a new
    /// batch). Returns what is wrong with it, if anything.
    pub fn observe(
        &mut self,
        tp: &TopicPartition,
        (producer_id, epoch, base_sequence): (i64, i16, i32),
        count: usize,
        identity: Option<u64>,
    ) -> Option<String> {
        let run = self
            .runs
            .entry((producer_id, epoch, tp.clone()))
            .or_default();
        if let Some((first, _)) = identity.and_then(|id| run.batches.get(&id)) {
            return (*first != base_sequence).then(|| {
                format!("batch resent with sequence {base_sequence}, first sent with {first}")
            });
        }
        if let Some(id) = identity {
            run.batches.insert(id, (base_sequence, count));
        }
        let (start, end) = (base_sequence as i64, base_sequence as i64 + count as i64);
        if run.split.iter().any(|&(s, e)| s <= start && end <= e) {
            return None; // a part of a split batch, inside the range it keeps
        }
        let expected = run.next;
        run.next = advance_sequence(base_sequence, count);
        (base_sequence != expected).then(|| {
            format!(
                "batch starts at sequence {base_sequence} under producer id {producer_id} epoch {epoch}, expected {expected}"
            )
        })
    }

    /// The batch named `identity` of `tp` was split: its parts share its range.
    pub fn split(&mut self, tp: &TopicPartition, identity: u64) {
        let run = self
            .runs
            .iter_mut()
            .filter(|((_, _, t), run)| t == tp && run.batches.contains_key(&identity))
            .map(|(_, run)| run)
            .next_back();
        if let Some(run) = run {
            let (seq, count) = run.batches[&identity];
            run.split.push((seq as i64, seq as i64 + count as i64));
            // Its first part is sent under its identity with fewer records.
            run.batches.remove(&identity);
        }
    }
}

/// Sequence violations in the produce requests of every producer.
pub(super) fn check_requests(input: &CheckInput<'_>, view: &RunView, out: &mut Vec<Violation>) {
    let mut trackers: BTreeMap<u32, SequenceTracker> = BTreeMap::new();
    for e in &input.history.entries {
        let Actor::Producer(p) = e.who else { continue };
        let batches = match &e.what {
            What::RequestSent { batches, .. } => batches,
            What::BatchSplit {
                tp, first_send_id, ..
            } => {
                trackers.entry(p).or_default().split(tp, *first_send_id);
                continue;
            }
            _ => continue,
        };
        let Some(pv) = view.producers.get(p as usize) else {
            continue;
        };
        let tracker = trackers.entry(p).or_default();
        for b in batches.iter().filter(|b| b.stamp.0 >= 0) {
            if let Some(detail) =
                tracker.observe(&b.tp, b.stamp, b.send_ids.len(), Some(b.first_send_id))
            {
                out.push(
                    Violation::new(Kind::Sequence, e.at, detail)
                        .producer(p)
                        .tp(b.tp.clone())
                        .record(pv.record_of(b.first_send_id)),
                );
            }
        }
    }
}

/// Sequence violations in the stored batches alone, and the duplicates they
/// prove: under one producer id and epoch, a sequence number stored twice in a
/// partition is one record written twice (whatever its content; equal
/// payloads under different sequences prove nothing).
pub(super) fn check_log(tp: &TopicPartition, batches: &[LogBatch], out: &mut Vec<Violation>) {
    let mut tracker = SequenceTracker::default();
    // (producer id, epoch) -> stored sequence ranges: first -> (last, base offset).
    let mut stored: BTreeMap<(i64, i16), BTreeMap<i64, (i64, i64)>> = BTreeMap::new();
    for b in batches.iter().filter(|b| b.producer_id >= 0) {
        let stamp = (b.producer_id, b.producer_epoch, b.base_sequence);
        let v = |kind, detail: String| {
            Violation::new(
                kind,
                b.appended_at,
                format!("client `{}`: {detail}", b.client_id),
            )
            .producer(super::view::producer_of(&b.client_id))
            .tp(tp.clone())
            .offset(b.base_offset)
        };
        let ranges = stored.entry((b.producer_id, b.producer_epoch)).or_default();
        let (first, last) = (
            b.base_sequence as i64,
            b.base_sequence as i64 + b.records.len().max(1) as i64 - 1,
        );
        // Sequences wrap after i32::MAX: the part past it starts again at 0.
        let wrap = i32::MAX as i64 + 1;
        let parts = if last >= wrap {
            vec![(first, wrap - 1), (0, last - wrap)]
        } else {
            vec![(first, last)]
        };
        let mut twice = None;
        for &(f, l) in &parts {
            let before = ranges.range(..=l).next_back();
            if let Some((&sf, &(sl, offset))) = before.filter(|(_, (sl, _))| *sl >= f) {
                twice = Some((sf.max(f), sl.min(l), offset));
            }
        }
        if let Some((f, l, offset)) = twice {
            out.push(v(
                Kind::Duplicate,
                format!(
                    "sequences {f}..={l} under producer id {} epoch {} stored again (first in the batch at offset {offset})",
                    b.producer_id, b.producer_epoch
                ),
            ));
        }
        for (f, l) in parts {
            ranges.entry(f).or_insert((l, b.base_offset));
        }
        if twice.is_some() {
            continue; // the sequences it repeats were judged with their first copy
        }
        if let Some(detail) = tracker.observe(tp, stamp, b.records.len(), None) {
            out.push(v(Kind::Sequence, detail));
        }
    }
}

/// Produce requests in flight per broker never exceed the producer's limit.
/// A request is in flight from its `RequestSent` until every batch in it ended
/// its attempt (answered, refused or lost).
pub(super) fn check_in_flight(input: &CheckInput<'_>, out: &mut Vec<Violation>) {
    // Per producer: batch (first send id) -> its request; request -> batches left.
    let mut request_of: BTreeMap<(u32, u64), u64> = BTreeMap::new();
    let mut left: BTreeMap<u64, (u32, i32, usize)> = BTreeMap::new();
    let mut in_flight: BTreeMap<(u32, i32), usize> = BTreeMap::new();
    let mut reported: std::collections::BTreeSet<(u32, i32)> = Default::default();
    for (n, e) in input.history.entries.iter().enumerate() {
        let Actor::Producer(p) = e.who else { continue };
        let Some(facts) = input.producers.get(p as usize) else {
            continue;
        };
        match &e.what {
            What::RequestSent {
                broker, batches, ..
            } => {
                let id = n as u64;
                for b in batches {
                    request_of.insert((p, b.first_send_id), id);
                }
                left.insert(id, (p, *broker, batches.len()));
                let count = in_flight.entry((p, *broker)).or_default();
                *count += 1;
                let limit = if facts.idempotent {
                    facts.max_in_flight.min(5)
                } else {
                    facts.max_in_flight
                };
                if *count > limit && reported.insert((p, *broker)) {
                    out.push(
                        Violation::new(
                            Kind::InFlight,
                            e.at,
                            format!(
                                "{count} produce requests in flight to broker {broker}, over the limit {limit}{}",
                                if facts.idempotent { " (idempotence: the broker remembers 5 batches)" } else { "" }
                            ),
                        )
                        .producer(p),
                    );
                }
            }
            What::AttemptEnded { first_send_id, .. } => {
                let Some(id) = request_of.remove(&(p, *first_send_id)) else {
                    continue;
                };
                if let Some((q, broker, n)) = left.get_mut(&id) {
                    *n -= 1;
                    if *n == 0 {
                        let key = (*q, *broker);
                        left.remove(&id);
                        if let Some(c) = in_flight.get_mut(&key) {
                            *c = c.saturating_sub(1);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}
