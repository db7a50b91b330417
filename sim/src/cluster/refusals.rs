//! Injected refusals that describe the partition, not the batch.
//!
//! An injected NOT_LEADER_OR_FOLLOWER (or another code that says what state
//! the partition is in: no leader, too few replicas, unknown, a storage
//! error) stands for a moment when the broker could not take *any* write to
//! the partition. On a real Kafka the batches a client had already pipelined
//! behind the refused one meet the same state and are refused too. Refusing
//! only the one request would let the next pipelined batch through while its
//! predecessor was not written: for a producer the broker holds no state for
//! yet, Kafka accepts any first sequence (KIP-360), so that opens a hole the
//! client can never fill. A correct client (the Java client with its default
//! settings) then retries the refused batch until it expires, and the
//! verdict blames it for a gap a real broker would not have made.
//!
//! So a refusal holds for the same producer id and epoch on the partition:
//! later sequences are refused with the same code until the refused sequence
//! comes back (the client retries in order, as it must), the epoch changes,
//! or [`REFUSAL_HOLDS`] passes. Per-batch codes (a corrupt or oversized batch,
//! an invalid record) refuse only their batch, as Kafka does.

use producer_core::error::code;
use producer_core::TopicPartition;
use std::collections::BTreeMap;
use std::time::Duration;

/// The longest a refused partition state lasts for one producer: long enough
/// to cover what a client had in flight, short enough that a client that
/// abandons a sequence is not refused for ever.
pub const REFUSAL_HOLDS: Duration = Duration::from_secs(1);

/// Whether an injected refusal `code` describes the partition's state (and so
/// holds for the batches behind the refused one) rather than one batch.
pub fn describes_partition(c: i16) -> bool {
    matches!(
        c,
        code::UNKNOWN_TOPIC_OR_PARTITION
            | code::LEADER_NOT_AVAILABLE
            | code::NOT_LEADER_OR_FOLLOWER
            | code::NOT_ENOUGH_REPLICAS
            | code::KAFKA_STORAGE_ERROR
    )
}

/// The batch a refusal is about: its producer id, epoch and first sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchId {
    /// Producer id (negative: none, and no refusal holds).
    pub producer_id: i64,
    /// Producer epoch.
    pub epoch: i16,
    /// First sequence.
    pub sequence: i32,
}

#[derive(Clone, Copy, Debug)]
struct Refusal {
    epoch: i16,
    sequence: i32,
    code: i16,
    until: Duration,
}

/// Refusals that still hold, per partition and producer id.
#[derive(Clone, Debug, Default)]
pub struct Refusals {
    holding: BTreeMap<(TopicPartition, i64), Refusal>,
}

/// `later` comes after `earlier` in sequence order (Kafka's sequences wrap
/// from `i32::MAX` to 0).
fn after(later: i32, earlier: i32) -> bool {
    let span = i64::from(i32::MAX) + 1;
    let d = (i64::from(later) - i64::from(earlier)).rem_euclid(span);
    d > 0 && d < span / 2
}

impl Refusals {
    /// Starts a refusal of `code` at `now` for `batch` and the batches behind
    /// it, when the code describes the partition and the batch has a
    /// producer id.
    pub fn begin(&mut self, tp: &TopicPartition, batch: BatchId, c: i16, now: Duration) {
        if batch.producer_id < 0 || !describes_partition(c) {
            return;
        }
        let refusal = Refusal {
            epoch: batch.epoch,
            sequence: batch.sequence,
            code: c,
            until: now + REFUSAL_HOLDS,
        };
        self.holding
            .insert((tp.clone(), batch.producer_id), refusal);
    }

    /// The code that still refuses `batch` at `now`, if a refusal holds for
    /// it; a batch that ends the refusal (the refused sequence or an earlier
    /// one, another epoch, or after the refusal's time) removes it.
    pub fn holds(&mut self, tp: &TopicPartition, batch: BatchId, now: Duration) -> Option<i16> {
        if batch.producer_id < 0 {
            return None;
        }
        let key = (tp.clone(), batch.producer_id);
        let r = *self.holding.get(&key)?;
        if r.epoch == batch.epoch && now <= r.until && after(batch.sequence, r.sequence) {
            return Some(r.code);
        }
        self.holding.remove(&key);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    fn id(producer_id: i64, epoch: i16, sequence: i32) -> BatchId {
        BatchId {
            producer_id,
            epoch,
            sequence,
        }
    }

    const AT: Duration = Duration::from_millis(100);

    #[test]
    fn later_sequences_of_the_producer_are_refused_until_the_refused_one_returns() {
        let mut r = Refusals::default();
        r.begin(&tp(), id(7, 0, 0), code::NOT_LEADER_OR_FOLLOWER, AT);
        for seq in [17, 34, 51] {
            assert_eq!(
                r.holds(&tp(), id(7, 0, seq), AT),
                Some(code::NOT_LEADER_OR_FOLLOWER)
            );
        }
        assert_eq!(r.holds(&tp(), id(7, 0, 0), AT), None, "the retry passes");
        assert_eq!(r.holds(&tp(), id(7, 0, 17), AT), None, "and ends it");
    }

    #[test]
    fn other_producers_partitions_epochs_and_late_batches_are_not_refused() {
        let mut r = Refusals::default();
        r.begin(&tp(), id(7, 0, 5), code::NOT_ENOUGH_REPLICAS, AT);
        assert_eq!(r.holds(&tp(), id(8, 0, 9), AT), None);
        assert_eq!(r.holds(&TopicPartition::new("t", 1), id(7, 0, 9), AT), None);
        assert_eq!(r.holds(&tp(), id(7, 0, 9), AT + REFUSAL_HOLDS), Some(19));
        let late = AT + REFUSAL_HOLDS + Duration::from_millis(1);
        assert_eq!(r.holds(&tp(), id(7, 0, 9), late), None);
        r.begin(&tp(), id(7, 0, 5), code::NOT_ENOUGH_REPLICAS, AT);
        assert_eq!(r.holds(&tp(), id(7, 1, 0), AT), None, "a new epoch ends it");
        assert_eq!(r.holds(&tp(), id(7, 0, 9), AT), None);
    }

    #[test]
    fn per_batch_codes_and_batches_without_a_producer_id_refuse_only_themselves() {
        let mut r = Refusals::default();
        for c in [
            code::CORRUPT_MESSAGE,
            code::MESSAGE_TOO_LARGE,
            code::INVALID_RECORD,
        ] {
            r.begin(&tp(), id(7, 0, 0), c, AT);
            assert_eq!(r.holds(&tp(), id(7, 0, 17), AT), None, "code {c}");
        }
        r.begin(&tp(), id(-1, -1, -1), code::NOT_LEADER_OR_FOLLOWER, AT);
        assert_eq!(r.holds(&tp(), id(-1, -1, -1), AT), None);
    }

    #[test]
    fn sequence_order_wraps() {
        assert!(after(0, i32::MAX));
        assert!(after(17, 0));
        assert!(!after(0, 17));
        assert!(!after(5, 5));
    }
}
