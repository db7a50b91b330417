//! Acknowledgements and failures: an acked record sits at the offset it was
//! acked at, in the partition it was sent to, and no other record was acked
//! there; a scenario that expects every send acked sees no failure; the
//! caller's records are never changed.

use super::view::{Resolution, RunView};
use super::{CheckInput, Kind, Violation};
use crate::history::{Actor, FailKind, What};
use producer_core::TopicPartition;
use std::collections::BTreeMap;

/// Violations in how sends were acknowledged or failed.
pub(super) fn check(input: &CheckInput<'_>, view: &RunView, out: &mut Vec<Violation>) {
    let mut ack_targets: BTreeMap<(TopicPartition, i64), (u32, usize)> = BTreeMap::new();
    for (p, pv) in view.producers.iter().enumerate() {
        let p = p as u32;
        let facts = &input.producers[p as usize];
        for (i, s) in pv.sends.iter().enumerate() {
            let tp = s.partition.map(|q| TopicPartition::new(input.topic, q));
            for (at, r) in &s.resolutions {
                let v =
                    |kind, detail: String| Violation::new(kind, *at, detail).producer(p).record(i);
                match r {
                    Resolution::Acked { partition, offset } => {
                        let atp = TopicPartition::new(input.topic, *partition);
                        let v = |kind, detail| v(kind, detail).tp(atp.clone()).offset(*offset);
                        if s.partition != Some(*partition) {
                            out.push(v(
                                Kind::OffsetMismatch,
                                format!(
                                    "acked on partition {partition} but sent to partition {}",
                                    s.partition.map_or("none".to_string(), |q| q.to_string())
                                ),
                            ));
                        }
                        if *offset < 0 {
                            out.extend(
                                unknown_offset(view, p, &atp, s.digest, *offset)
                                    .map(|(k, d)| v(k, d)),
                            );
                            continue;
                        }
                        match view.stored.get(&atp).and_then(|log| log.get(offset)) {
                            None => out.push(v(
                                Kind::Lost,
                                "acknowledged, but the log has no record at this offset".into(),
                            )),
                            Some(st) if st.producer != Some(p) || st.digest != s.digest => out
                                .push(v(
                                    Kind::OffsetMismatch,
                                    format!(
                                        "acknowledged offset holds {} record",
                                        match st.producer {
                                            Some(q) if q == p => "another".to_string(),
                                            Some(q) => format!("producer-{q}'s"),
                                            None => "an unknown client's".to_string(),
                                        }
                                    ),
                                )),
                            Some(_) => {}
                        }
                        if let Some((q, j)) = ack_targets.insert((atp.clone(), *offset), (p, i)) {
                            out.push(v(
                                Kind::OffsetMismatch,
                                format!(
                                    "producer-{q} record #{j} was acknowledged at the same offset"
                                ),
                            ));
                        }
                    }
                    Resolution::Failed { error, kind } => {
                        // A too-large failure is judged by the accounting rules,
                        // a send after close by the lifecycle rules.
                        let judged_elsewhere = *kind == FailKind::TooLarge || s.after_close;
                        if input.all_acked && !judged_elsewhere && s.batch_len <= facts.batch_limit
                        {
                            out.push(v(Kind::NotAcked, format!("failed: {error}")).tp(tp.clone()));
                        }
                    }
                }
            }
        }
    }
    mutated(input, out);
}

/// An acknowledgement without an offset (-1, as Kafka's clients report a
/// DUPLICATE_SEQUENCE_NUMBER answer): the record must be in that partition's log.
/// Any other negative offset is not an offset at all.
fn unknown_offset(
    view: &RunView,
    p: u32,
    tp: &TopicPartition,
    digest: u64,
    offset: i64,
) -> Option<(Kind, String)> {
    if offset != -1 {
        return Some((
            Kind::OffsetMismatch,
            format!("acknowledged at offset {offset}, which no log has"),
        ));
    }
    let present = view
        .written
        .get(&(p, tp.clone()))
        .is_some_and(|log| log.iter().any(|(d, _, _)| *d == digest));
    (!present).then(|| {
        (
            Kind::Lost,
            "acknowledged without an offset, but this partition's log does not hold it".into(),
        )
    })
}

/// Records the caller handed over that changed.
fn mutated(input: &CheckInput<'_>, out: &mut Vec<Violation>) {
    for e in &input.history.entries {
        if let (Actor::Producer(p), What::RecordMutated { index }) = (e.who, &e.what) {
            out.push(
                Violation::new(
                    Kind::Mutated,
                    e.at,
                    "the record differs from the one handed to send",
                )
                .producer(p)
                .record(*index),
            );
        }
    }
}
