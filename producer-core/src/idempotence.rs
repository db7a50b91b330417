//! Idempotent-producer state: producer id, epoch and per-partition sequences.
//!
//! Sequence numbers are assigned when a batch is first drained and kept across
//! retries. When a batch's fate becomes unknown or a sequence hole appears, the
//! producer bumps its epoch (KIP-360) and every partition restarts at sequence 0.
//! This module is pure state; the pipeline decides when to call it.

use crate::batch::ProducerStamp;
use crate::bugs::Bugs;
use crate::produce_set::TopicPartition;
use std::collections::BTreeMap;

/// The producer's identity as the brokers know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// Idempotence is off: batches carry `-1` everywhere.
    Disabled,
    /// No producer id yet (or a bump is under way).
    Pending,
    /// The id and epoch to stamp on batches.
    Ready {
        /// Producer id.
        producer_id: i64,
        /// Producer epoch.
        epoch: i16,
    },
}

/// Producer id, epoch and the next sequence of every partition.
#[derive(Debug)]
pub struct Idempotence {
    identity: Identity,
    last: Option<(i64, i16)>,
    next_sequence: BTreeMap<TopicPartition, i32>,
    bump_needed: bool,
    /// Epoch bumps begun so far.
    bumps: u32,
    /// Injected bugs (`sequence_not_reset_on_bump` keeps sequences across a bump).
    bugs: Bugs,
}

/// Adds `count` to a sequence number, wrapping after `i32::MAX` to 0 as Kafka does.
pub fn advance_sequence(seq: i32, count: usize) -> i32 {
    ((seq as i64 + count as i64) % (i32::MAX as i64 + 1)) as i32
}

impl Idempotence {
    /// Fresh state; `enabled` is the config's `idempotence`.
    pub fn new(enabled: bool) -> Self {
        Idempotence {
            identity: if enabled {
                Identity::Pending
            } else {
                Identity::Disabled
            },
            last: None,
            next_sequence: BTreeMap::new(),
            bump_needed: false,
            bumps: 0,
            bugs: Bugs::default(),
        }
    }

    /// This state with injected bugs (see [`crate::bugs`]).
    pub fn with_bugs(mut self, bugs: Bugs) -> Self {
        self.bugs = bugs;
        self
    }

    /// True when idempotence is on.
    pub fn enabled(&self) -> bool {
        self.identity != Identity::Disabled
    }

    /// The current identity.
    pub fn identity(&self) -> Identity {
        self.identity
    }

    /// True when batches may be stamped and sent.
    pub fn is_ready(&self) -> bool {
        match self.identity {
            Identity::Disabled => true,
            Identity::Ready { .. } => !self.bump_needed,
            Identity::Pending => false,
        }
    }

    /// The id and epoch last granted, to ask the broker for a bump of exactly these.
    pub fn last_granted(&self) -> Option<(i64, i16)> {
        self.last
    }

    /// Records that sequences can no longer be trusted: no batch may be sent until
    /// [`Self::begin_bump`] and a new identity.
    pub fn request_bump(&mut self) {
        if self.enabled() {
            self.bump_needed = true;
        }
    }

    /// True when a bump was requested and has not started.
    pub fn bump_needed(&self) -> bool {
        self.bump_needed
    }

    /// Starts a bump: the identity becomes pending and every sequence restarts at 0.
    pub fn begin_bump(&mut self) {
        if self.enabled() {
            self.bumps += 1;
            self.bump_needed = false;
            self.identity = Identity::Pending;
            if !self.bugs.sequence_not_reset_on_bump() {
                self.next_sequence.clear();
            }
        }
    }

    /// Installs the identity a broker granted.
    pub fn granted(&mut self, producer_id: i64, epoch: i16) {
        if self.enabled() {
            self.identity = Identity::Ready { producer_id, epoch };
            self.last = Some((producer_id, epoch));
        }
    }

    /// The stamp for a new attempt of a batch of `count` records to `tp`, which
    /// takes the next sequence numbers. `None` when not ready.
    pub fn next_stamp(&mut self, tp: &TopicPartition, count: usize) -> Option<ProducerStamp> {
        match self.identity {
            Identity::Disabled => Some(ProducerStamp::NONE),
            Identity::Pending => None,
            Identity::Ready { producer_id, epoch } => {
                if self.bump_needed {
                    return None;
                }
                let seq = self.next_sequence.entry(tp.clone()).or_insert(0);
                let base = *seq;
                *seq = advance_sequence(base, count);
                Some(ProducerStamp {
                    producer_id,
                    producer_epoch: epoch,
                    base_sequence: base,
                })
            }
        }
    }

    /// Epoch bumps begun so far.
    pub fn bumps(&self) -> u32 {
        self.bumps
    }

    /// The next sequence of `tp` (0 when it has none yet).
    pub fn next_sequence(&self, tp: &TopicPartition) -> i32 {
        self.next_sequence.get(tp).copied().unwrap_or(0)
    }

    /// Sets the next sequence of `tp` (only the injected
    /// `second_bump_keeps_retry_sequences` does).
    pub(crate) fn keep_sequence(&mut self, tp: &TopicPartition, next: i32) {
        self.next_sequence.insert(tp.clone(), next);
    }

    /// True when a batch stamped `stamp` can be sent again unchanged: it belongs to
    /// the current identity (or idempotence is off).
    pub fn is_current(&self, stamp: &ProducerStamp) -> bool {
        match self.identity {
            Identity::Disabled => true,
            Identity::Pending => false,
            Identity::Ready { producer_id, epoch } => {
                stamp.producer_id == producer_id && stamp.producer_epoch == epoch
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_advance_per_partition_and_restart_after_a_bump() {
        let mut s = Idempotence::new(true);
        let a = TopicPartition::new("t", 0);
        let b = TopicPartition::new("t", 1);
        assert_eq!(s.next_stamp(&a, 3), None, "no id yet");
        s.granted(7, 0);
        assert_eq!(s.next_stamp(&a, 3).unwrap().base_sequence, 0);
        assert_eq!(s.next_stamp(&a, 2).unwrap().base_sequence, 3);
        assert_eq!(s.next_stamp(&b, 1).unwrap().base_sequence, 0);
        let old = ProducerStamp {
            producer_id: 7,
            producer_epoch: 0,
            base_sequence: 0,
        };
        assert!(s.is_current(&old));
        s.request_bump();
        assert!(!s.is_ready());
        assert_eq!(
            s.next_stamp(&a, 1),
            None,
            "nothing is stamped while a bump is due"
        );
        s.begin_bump();
        s.granted(7, 1);
        assert!(!s.is_current(&old));
        let st = s.next_stamp(&a, 1).unwrap();
        assert_eq!((st.producer_epoch, st.base_sequence), (1, 0));
        assert_eq!(s.last_granted(), Some((7, 1)));
    }

    #[test]
    fn sequences_wrap_like_kafka() {
        assert_eq!(advance_sequence(i32::MAX, 1), 0);
        assert_eq!(advance_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(advance_sequence(5, 10), 15);
    }

    #[test]
    fn disabled_stamps_minus_one() {
        let mut s = Idempotence::new(false);
        assert_eq!(
            s.next_stamp(&TopicPartition::new("t", 0), 4),
            Some(ProducerStamp::NONE)
        );
        s.request_bump();
        assert!(s.is_ready());
    }
}
