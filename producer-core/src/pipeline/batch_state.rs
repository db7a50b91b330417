//! Batches after they leave the produce set, and the per-partition state that
//! keeps retries in order.

use crate::batch::ProducerStamp;
use crate::delivery::BatchCompletion;
use crate::produce_set::TopicPartition;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::time::Instant;

/// A sealed batch owned by the sender: in flight or waiting to be sent again.
#[derive(Debug)]
pub(crate) struct SentBatch {
    pub tp: TopicPartition,
    pub bytes: Bytes,
    pub stamp: ProducerStamp,
    pub send_ids: Arc<[u64]>,
    pub completion: Arc<BatchCompletion>,
    pub memory: usize,
    pub created: Instant,
    pub attempts: u32,
    /// Some attempt got no definite answer: the broker may hold this batch.
    pub maybe_written: bool,
    /// The last error code a broker answered with.
    pub last_code: Option<i16>,
}

impl SentBatch {
    pub fn first_send_id(&self) -> u64 {
        self.send_ids[0]
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
    pub retry: VecDeque<SentBatch>,
    pub in_flight: usize,
    pub in_flight_broker: Option<i32>,
    pub window_failed: bool,
    pub backoff_until: Option<Instant>,
    /// A batch that must travel alone is in flight, and nothing else of this
    /// partition goes out until it is answered: a batch sent again (as the Java
    /// client does, `RecordAccumulator`: "this effectively reduces our in flight
    /// request count to 1"), and the first batch of an epoch (sequence 0). Else
    /// a newer batch can be written first: a broker accepts any first sequence
    /// from a producer it does not know (KIP-360), so if sequence 0 fails
    /// without being written, sequence 1 becomes the partition's first.
    pub solo_in_flight: bool,
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

    pub fn is_idle(&self) -> bool {
        self.retry.is_empty() && self.in_flight == 0
    }
}
