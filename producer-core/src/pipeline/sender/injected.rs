//! The sender's side of the deep injected classes (`crate::bugs::DEEP`): each
//! hook leaves its input unchanged unless its bug is switched on *and* the
//! chain it needs has happened (an epoch bump, a batch sent two or three
//! times, a lost answer, a leader move). Without the `bug-injection` feature
//! every query is a `const fn` returning false and the hooks compile away.

use super::batches::SentBatch;
use super::policy::{Answer, Decision, Outcome};
use super::SenderState;
use crate::batch::ProducerStamp;
use crate::bugs::Bugs;
use crate::error::Error;
use crate::metadata::ClusterMetadata;
use crate::produce_set::TopicPartition;
use crate::wire::ErrorCode;

/// The stamp a retry gets after an epoch bump: `fresh`, except that
/// `veteran_retry_keeps_sequence` keeps the old base sequence of a batch
/// already sent twice.
pub(super) fn injected_restamp(
    bugs: Bugs,
    batch: &SentBatch,
    fresh: ProducerStamp,
) -> ProducerStamp {
    if bugs.veteran_retry_keeps_sequence() && batch.attempts >= 2 {
        ProducerStamp {
            base_sequence: batch.stamp.base_sequence,
            ..fresh
        }
    } else {
        fresh
    }
}

impl SenderState {
    /// The answer as the sender reads it: `out_of_order_retry_taken_as_duplicate`
    /// reads OUT_OF_ORDER_SEQUENCE_NUMBER on a batch sent three times or more,
    /// after a bump, as DUPLICATE_SEQUENCE_NUMBER.
    pub(super) fn injected_answer(&self, batch: &SentBatch, answer: Answer) -> Answer {
        match answer {
            Answer::Answered { code, .. }
                if self.config().bugs.out_of_order_retry_taken_as_duplicate()
                    && code == ErrorCode::OutOfOrderSequenceNumber
                    && batch.attempts >= 3
                    && self.idempotence.bumps() >= 1 =>
            {
                Answer::Answered {
                    code: ErrorCode::DuplicateSequenceNumber,
                    base_offset: -1,
                }
            }
            other => other,
        }
    }

    /// The policy's decision, except that `leader_chase_forgets_maybe_written`
    /// fails a maybe-written batch refused by NOT_LEADER_OR_FOLLOWER on its third
    /// attempt or later, after a bump, with that definite error.
    pub(super) fn injected_decision(
        &self,
        batch: &SentBatch,
        answer: Answer,
        mut decision: Decision,
    ) -> Decision {
        let refused_by_moving_leader = matches!(
            answer,
            Answer::Answered { code, .. } if code == ErrorCode::NotLeaderOrFollower
        );
        if self.config().bugs.leader_chase_forgets_maybe_written()
            && batch.maybe_written
            && batch.attempts >= 3
            && self.idempotence.bumps() >= 1
            && refused_by_moving_leader
        {
            let code = ErrorCode::NotLeaderOrFollower.code();
            decision.outcome = Outcome::Fail(Error::Broker { code });
        }
        decision
    }

    /// How a bump gives up a batch of unknown outcome: `unknown`, except that
    /// `second_bump_gives_up_as_unwritten` calls it timed out (a definite
    /// error) from the second bump on.
    pub(super) fn injected_give_up(&self, unknown: Error) -> Error {
        if self.config().bugs.second_bump_gives_up_as_unwritten() && self.idempotence.bumps() >= 1 {
            Error::Broker {
                code: ErrorCode::RequestTimedOut.code(),
            }
        } else {
            unknown
        }
    }

    /// The sequence counters a bump keeps: none, except that
    /// `second_bump_keeps_retry_sequences` keeps, from the second bump on,
    /// those of partitions whose queued retry was already restamped and sent
    /// three times.
    pub(super) fn injected_kept_sequences(&self) -> Vec<(TopicPartition, i32)> {
        if !self.config().bugs.second_bump_keeps_retry_sequences() || self.idempotence.bumps() == 0
        {
            return Vec::new();
        }
        self.partitions
            .iter()
            .filter(|(_, ps)| {
                ps.retry
                    .iter()
                    .any(|b| b.stamp.producer_epoch > 0 && b.attempts >= 3)
            })
            .map(|(tp, _)| (tp.clone(), self.idempotence.next_sequence(tp)))
            .collect()
    }

    /// The injected bugs that act when a Metadata answer moves a leader
    /// (`moved_veteran_retry_behind_newer`, `leader_move_drops_queued_retries`;
    /// both only after an epoch bump, on batches sent twice or more).
    pub(super) fn injected_leader_move(&mut self, merged: &ClusterMetadata) {
        let bugs = self.config().bugs;
        if self.idempotence.bumps() == 0
            || !(bugs.moved_veteran_retry_behind_newer() || bugs.leader_move_drops_queued_retries())
        {
            return;
        }
        let before = &self.metadata.view;
        for (tp, ps) in self.partitions.iter_mut() {
            let old = before.leader(&tp.topic, tp.partition);
            let new = merged.leader(&tp.topic, tp.partition);
            let veteran = ps.retry.front().is_some_and(|b| b.attempts >= 2);
            if bugs.moved_veteran_retry_behind_newer() && old != new && veteran {
                ps.behind_newer = true;
            }
            if bugs.leader_move_drops_queued_retries()
                && old.is_some()
                && new.is_some()
                && old != new
            {
                ps.retry.retain(|b| b.attempts < 2);
            }
        }
    }
}
