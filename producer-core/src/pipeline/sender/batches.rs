//! Batches after they leave the produce set: the per-partition state that keeps
//! retries in order, and the index of every unresolved batch the sender holds.

use crate::batch::ProducerStamp;
use crate::clock::Instant;
use crate::delivery::BatchCompletion;
use crate::produce_set::TopicPartition;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// A sealed batch owned by the sender: in flight or waiting to be sent again.
#[derive(Debug)]
pub(crate) struct SentBatch {
    /// Where it goes.
    pub tp: TopicPartition,
    /// The encoded RecordBatch, exactly as it goes on the wire.
    pub bytes: Bytes,
    /// Its exact size before compression (`bytes.len()` without).
    pub uncompressed: usize,
    /// Producer id, epoch and base sequence in its header (to tell whether a
    /// retry must be restamped after an epoch bump).
    pub stamp: ProducerStamp,
    /// The producer's send id of each record: the first is the batch's identity.
    pub send_ids: Arc<[u64]>,
    /// Shared with the records' delivery futures.
    pub completion: Arc<BatchCompletion>,
    /// This batch's records are `first_index..` of `completion` (0 unless it is
    /// a part of a split batch).
    pub first_index: u32,
    /// A part of a split batch: it resolves only its own records of the
    /// completion.
    pub split_part: bool,
    /// Buffer memory charged for it, returned when the sender drops it.
    pub memory: usize,
    /// When its first record arrived: `delivery_timeout` counts from here.
    pub created: Instant,
    /// Attempts sent so far.
    pub attempts: u32,
    /// Some attempt got no definite answer: the broker may hold this batch.
    pub maybe_written: bool,
    /// Already resolved (its delivery timeout passed while it was in flight);
    /// the answer that comes back is only bookkeeping.
    pub resolved: bool,
}

impl SentBatch {
    /// A retry, or the first batch of an epoch: it goes out alone on its
    /// partition (see [`PartitionState::solo_in_flight`]). Asked after the
    /// attempt is counted.
    pub fn must_travel_alone(&self) -> bool {
        self.attempts > 1 || self.stamp.base_sequence == 0
    }

    /// The batch's identity: the send id of its first record.
    pub fn first_send_id(&self) -> u64 {
        self.send_ids[0]
    }

    /// Its records' range in the shared completion (all of it unless split).
    pub fn range(&self) -> (u32, u32) {
        if self.split_part {
            (self.first_index, self.send_ids.len() as u32)
        } else {
            crate::delivery::ALL
        }
    }
}

/// Ordering state of one partition.
///
/// Batches of a partition are in flight to one broker at a time. When an attempt
/// fails, the partition stops sending (`window_failed`) until every batch of the
/// window has answered; the failed ones then go out again first, in their
/// original order. This is what keeps retries from overtaking newer batches.
#[derive(Debug, Default)]
pub(crate) struct PartitionState {
    /// Batches to send again, in send order, before anything newer.
    pub retry: VecDeque<SentBatch>,
    /// Attempts of this partition's batches in flight.
    pub in_flight: usize,
    /// The broker those attempts went to: a partition never has batches in
    /// flight to two brokers (after a leader move, the old window drains first).
    pub in_flight_broker: Option<i32>,
    /// An attempt of the current window failed: send nothing until the window
    /// has drained, so the retry goes out before newer batches.
    pub window_failed: bool,
    /// The retry backoff: nothing of this partition goes out before it.
    pub backoff_until: Option<Instant>,
    /// A batch that must travel alone is in flight, and nothing else of this
    /// partition goes out until it is answered: a batch sent again (as the Java
    /// client does, `RecordAccumulator`: "this effectively reduces our in flight
    /// request count to 1"), and the first batch of an epoch (sequence 0). Else
    /// a newer batch can be written first: a broker accepts any first sequence
    /// from a producer it does not know (KIP-360), so if sequence 0 fails
    /// without being written, sequence 1 becomes the partition's first.
    pub solo_in_flight: bool,
    /// Injected `moved_veteran_retry_behind_newer`: the leader moved while a
    /// veteran retry waited, and the bug lets newer batches go first.
    pub behind_newer: bool,
}

impl PartitionState {
    /// May a batch of this partition go to `broker` now?
    pub fn can_send(&self, broker: i32, now: Instant) -> bool {
        self.in_flight_broker.is_none_or(|b| b == broker)
            && !self.window_failed
            && !self.solo_in_flight
            && self.backoff_until.is_none_or(|t| now >= t)
    }

    /// Queues a batch to be sent again, keeping send order.
    pub fn push_retry(&mut self, batch: SentBatch) {
        let at = self
            .retry
            .iter()
            .position(|b| b.first_send_id() > batch.first_send_id())
            .unwrap_or(self.retry.len());
        self.retry.insert(at, batch);
    }

    /// Nothing in flight and nothing to retry: the entry can go.
    pub fn is_idle(&self) -> bool {
        self.retry.is_empty() && self.in_flight == 0
    }
}

/// Every unresolved batch the sender holds (in flight or waiting to retry), by
/// identity and by age: flushes wait for the oldest send id, delivery expiry
/// looks at the oldest creation time.
#[derive(Debug, Default)]
pub(crate) struct Held {
    /// First send id -> (created, partition).
    by_id: BTreeMap<u64, (Instant, TopicPartition)>,
    /// (created, first send id), oldest first.
    by_age: BTreeSet<(Instant, u64)>,
}

impl Held {
    /// The sender took (or split off) a batch.
    pub fn insert(&mut self, batch: &SentBatch) {
        let id = batch.first_send_id();
        self.by_id.insert(id, (batch.created, batch.tp.clone()));
        self.by_age.insert((batch.created, id));
    }

    /// The batch resolved.
    pub fn remove(&mut self, first_send_id: u64) {
        if let Some((created, _)) = self.by_id.remove(&first_send_id) {
            self.by_age.remove(&(created, first_send_id));
        }
    }

    /// No unresolved batch is held.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The smallest send id still unresolved.
    pub fn oldest_send_id(&self) -> Option<u64> {
        self.by_id.keys().next().copied()
    }

    /// When the oldest unresolved batch was created.
    pub fn oldest_created(&self) -> Option<Instant> {
        self.by_age.first().map(|(created, _)| *created)
    }

    /// Batches created at or before `cutoff`: (first send id, partition).
    pub fn created_by(&self, cutoff: Instant) -> Vec<(u64, TopicPartition)> {
        self.by_age
            .iter()
            .take_while(|(created, _)| *created <= cutoff)
            .map(|(_, id)| (*id, self.by_id[id].1.clone()))
            .collect()
    }
}
