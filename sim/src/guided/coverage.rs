//! The coverage signature of one run: the set of protocol situations its
//! history shows, each a small tuple of buckets. Guided search keeps a fault
//! schedule when its run adds a situation no earlier run reached.
//!
//! What counts (docs/guided.md explains the choice):
//! - every batch attempt sent: (attempt, batches in flight, epoch bumps, leader moves);
//! - every batch attempt answered: the answer (offset, error code, no answer) with
//!   the same context;
//! - every Metadata answer (did a leader change, leader moves so far), every
//!   producer id granted (epoch bumps so far), every connection lost
//!   (unanswered requests), every failed send (what the error promises), every
//!   batch split, every fault by what it changed.
//!
//! Context is per producer and bucketed, so a run with many retries does not
//! count as new for each one: attempt 1, 2, 3-4, 5+; in flight 0, 1, 2, 3-5,
//! 6+; epoch bumps 0, 1, 2+; leader moves (leaders that changed in the
//! producer's Metadata answers) 0, 1, 2-3, 4+.

use crate::history::{Actor, FailKind, History, What};
use producer_core::TopicPartition;
use std::collections::{BTreeMap, BTreeSet};

/// The protocol context a request or answer happened in, bucketed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Context {
    /// Attempt number bucket (0: 1st, 1: 2nd, 2: 3rd-4th, 3: later).
    pub attempt: u8,
    /// Batches of this producer in flight, bucketed (0, 1, 2, 3-5, 6+).
    pub in_flight: u8,
    /// Epoch bumps of this producer so far (0, 1, 2+).
    pub epoch_bumps: u8,
    /// Leader changes this producer has seen (0, 1, 2-3, 4+).
    pub leader_moves: u8,
}

/// One protocol situation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feature {
    /// A batch attempt was sent.
    Sent(Context),
    /// A batch attempt ended: answer code (0 = offset, -1 = no answer).
    Answered(i16, Context),
    /// A Metadata answer: did a leader change, leader moves so far.
    Metadata(bool, u8),
    /// A producer id was granted after this many epoch bumps (bucketed).
    Identity(u8),
    /// A connection dropped with this many requests unanswered (0, 1, 2, 3-5, 6+).
    ConnectionLost(u8),
    /// A send failed: 0 too large, 1 closed, 2 not written, 3 maybe written.
    Failed(u8),
    /// A batch was split.
    Split,
    /// A fault was applied (what it changed, as its index; heal or not).
    Fault(u8, bool),
}

/// The coverage signature of a run.
pub type Signature = BTreeSet<Feature>;

fn bucket(n: u64, edges: &[u64]) -> u8 {
    edges.iter().take_while(|&&e| n >= e).count() as u8
}

fn attempt_bucket(a: u32) -> u8 {
    bucket(a as u64, &[2, 3, 5])
}

fn in_flight_bucket(n: u64) -> u8 {
    bucket(n, &[1, 2, 3, 6])
}

/// Per-producer state while reading the history.
#[derive(Default)]
struct ProducerView {
    in_flight: u64,
    epoch_bumps: u64,
    leader_moves: u64,
    leaders: BTreeMap<TopicPartition, Option<i32>>,
    /// Attempt number of each batch's latest attempt.
    attempts: BTreeMap<(TopicPartition, u64), u32>,
}

impl ProducerView {
    fn context(&self, attempt: u32) -> Context {
        Context {
            attempt: attempt_bucket(attempt),
            in_flight: in_flight_bucket(self.in_flight),
            epoch_bumps: bucket(self.epoch_bumps, &[1, 2]),
            leader_moves: bucket(self.leader_moves, &[1, 2, 4]),
        }
    }
}

fn fail_index(k: FailKind) -> u8 {
    match k {
        FailKind::TooLarge => 0,
        FailKind::ProducerClosed => 1,
        FailKind::NotWritten => 2,
        FailKind::MaybeWritten => 3,
    }
}

fn change_index(c: crate::faults::Change) -> u8 {
    use crate::faults::Change;
    match c {
        Change::Crash => 0,
        Change::Restart => 1,
        Change::Network => 2,
        Change::LeaderMove => 3,
        Change::Injection => 4,
        Change::Election => 5,
        Change::ProducersExpired => 6,
        Change::Nothing => 7,
    }
}

/// The signature of one run's history.
pub fn signature(history: &History) -> Signature {
    let mut out = Signature::new();
    let mut views: BTreeMap<u32, ProducerView> = BTreeMap::new();
    for e in &history.entries {
        let p = match e.who {
            Actor::Producer(p) => p,
            Actor::World => {
                if let What::Fault { change, heal, .. } = &e.what {
                    out.insert(Feature::Fault(change_index(*change), *heal));
                }
                continue;
            }
        };
        let v = views.entry(p).or_default();
        match &e.what {
            What::RequestSent { batches, .. } => {
                for b in batches {
                    v.in_flight += 1;
                    v.attempts
                        .insert((b.tp.clone(), b.first_send_id), b.attempt);
                    out.insert(Feature::Sent(v.context(b.attempt)));
                }
            }
            What::AttemptEnded {
                tp,
                first_send_id,
                outcome,
            } => {
                let attempt = v
                    .attempts
                    .get(&(tp.clone(), *first_send_id))
                    .copied()
                    .unwrap_or(1);
                let code = match outcome {
                    Ok(_) => 0,
                    Err(Some(c)) => *c,
                    Err(None) => -1,
                };
                out.insert(Feature::Answered(code, v.context(attempt)));
                v.in_flight = v.in_flight.saturating_sub(1);
            }
            What::MetadataUpdated { leaders } => {
                let mut changed = false;
                for (tp, leader) in leaders {
                    if let Some(old) = v.leaders.insert(tp.clone(), *leader) {
                        if old != *leader {
                            changed = true;
                            v.leader_moves += 1;
                        }
                    }
                }
                out.insert(Feature::Metadata(
                    changed,
                    bucket(v.leader_moves, &[1, 2, 4]),
                ));
            }
            What::IdentityGranted { .. } => {
                out.insert(Feature::Identity(bucket(v.epoch_bumps, &[1, 2])));
            }
            What::EpochBumpStarted => v.epoch_bumps += 1,
            What::ConnectionLost { unanswered, .. } => {
                out.insert(Feature::ConnectionLost(in_flight_bucket(
                    *unanswered as u64,
                )));
            }
            What::Failed { kind, .. } => {
                out.insert(Feature::Failed(fail_index(*kind)));
            }
            What::BatchSplit { .. } => {
                out.insert(Feature::Split);
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_split_where_the_docs_say() {
        let got: Vec<u8> = (1..=7).map(attempt_bucket).collect();
        assert_eq!(got, [0, 1, 2, 2, 3, 3, 3]);
        let got: Vec<u8> = (0..=7).map(in_flight_bucket).collect();
        assert_eq!(got, [0, 1, 2, 3, 3, 3, 4, 4]);
    }

    #[test]
    fn a_retried_answer_is_a_different_feature_from_a_first_answer() {
        let mut h = History::default();
        let tp: TopicPartition = TopicPartition::new("t", 0);
        let attempt = |n: u32| crate::history::AttemptRecord {
            tp: tp.clone(),
            first_send_id: 7,
            send_ids: vec![7],
            stamp: (1, 0, 0),
            attempt: n,
            bytes: 70,
        };
        let at = std::time::Duration::ZERO;
        let who = Actor::Producer(0);
        for (n, outcome) in [(1, Err(Some(6))), (2, Ok(0))] {
            h.push(
                at,
                who,
                What::RequestSent {
                    broker: 0,
                    correlation_id: n as i32,
                    bytes: 100,
                    accounted: 100,
                    limit: 1000,
                    batches: vec![attempt(n)],
                },
            );
            h.push(
                at,
                who,
                What::AttemptEnded {
                    tp: tp.clone(),
                    first_send_id: 7,
                    outcome,
                },
            );
        }
        let s = signature(&h);
        let ctx = |attempt, in_flight| Context {
            attempt,
            in_flight,
            epoch_bumps: 0,
            leader_moves: 0,
        };
        assert!(s.contains(&Feature::Answered(6, ctx(0, 1))));
        assert!(s.contains(&Feature::Answered(0, ctx(1, 1))));
        assert!(s.contains(&Feature::Sent(ctx(1, 1))));
        assert_eq!(s.len(), 4, "{s:?}");
    }
}
