//! What the producer did, for whoever watches: the simulation records these
//! events into its history; a real deployment can log them or ignore them.
//! Events are built only when an observer is installed.

use crate::batch::ProducerStamp;
use crate::error::Error;
use crate::produce_set::TopicPartition;
use std::sync::Arc;

/// One batch inside one produce request.
#[derive(Clone, Debug)]
pub struct BatchAttempt {
    /// Where it goes.
    pub tp: TopicPartition,
    /// The send id of its first record: the batch's identity.
    pub first_send_id: u64,
    /// Send ids of all its records, in order.
    pub send_ids: Arc<[u64]>,
    /// Producer id, epoch and base sequence in its header.
    pub stamp: ProducerStamp,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Exact encoded size.
    pub bytes: usize,
}

/// How one batch attempt ended.
#[derive(Clone, Debug)]
pub enum AttemptOutcome {
    /// Written at `base_offset`.
    Written {
        /// Offset of the first record.
        base_offset: i64,
    },
    /// The broker answered with an error code.
    Rejected {
        /// Kafka error code.
        code: i16,
    },
    /// No answer: connection lost or request timed out.
    NoAnswer,
}

/// Something the producer did.
#[derive(Clone, Debug)]
pub enum Event {
    /// A batch was closed for sending: its accounted and encoded sizes.
    BatchSealed {
        /// Partition.
        tp: TopicPartition,
        /// Batch identity.
        first_send_id: u64,
        /// Records in it.
        records: usize,
        /// Bytes the produce set counted (exact, uncompressed).
        accounted: usize,
        /// Bytes the encoder wrote before compression.
        uncompressed: usize,
        /// Bytes of the sealed batch, as it goes on the wire (compressed
        /// with the producer's codec, if any).
        encoded: usize,
        /// The limit the batch had to respect.
        limit: usize,
        /// Buffer memory charged for it (returned by one `MemoryReleased`,
        /// or handed to its parts by a `BatchSplit`).
        memory: usize,
    },
    /// A batch's buffer memory went back to the pool.
    MemoryReleased {
        /// Partition.
        tp: TopicPartition,
        /// Batch identity.
        first_send_id: u64,
        /// Bytes returned.
        bytes: usize,
    },
    /// A produce request went out.
    RequestSent {
        /// Broker id.
        broker: i32,
        /// Correlation id.
        correlation_id: i32,
        /// Exact frame size on the wire.
        bytes: usize,
        /// The size the pipeline computed before encoding.
        accounted: usize,
        /// The limit it had to respect.
        limit: usize,
        /// The batches inside.
        batches: Vec<BatchAttempt>,
    },
    /// A batch attempt ended.
    AttemptEnded {
        /// Partition.
        tp: TopicPartition,
        /// Batch identity.
        first_send_id: u64,
        /// The attempt's result.
        outcome: AttemptOutcome,
    },
    /// A batch resolved: acknowledged or failed, for good.
    BatchResolved {
        /// Partition.
        tp: TopicPartition,
        /// Batch identity.
        first_send_id: u64,
        /// Records resolved.
        records: usize,
        /// The outcome (`Ok(base_offset)`).
        result: Result<i64, Error>,
    },
    /// A broker rejected a batch as too large (MESSAGE_TOO_LARGE) and the
    /// producer split it: the parts (each also reported by `BatchSealed`) take
    /// its records in order and its sequence range, and resolve on their own.
    /// The split batch itself never resolves.
    BatchSplit {
        /// Partition.
        tp: TopicPartition,
        /// The split batch's identity.
        first_send_id: u64,
        /// The parts' identities (the first equals `first_send_id`).
        parts: Vec<u64>,
    },
    /// A broker connection was closed with requests unanswered.
    ConnectionLost {
        /// Broker id (negative for bootstrap addresses).
        broker: i32,
        /// Why.
        reason: String,
        /// Requests that got no answer.
        unanswered: usize,
    },
    /// The broker granted a producer id and epoch.
    IdentityGranted {
        /// Producer id.
        producer_id: i64,
        /// Epoch.
        epoch: i16,
    },
    /// A bump started: sequences restart at 0.
    EpochBumpStarted,
    /// A Metadata or InitProducerId request was written (produce requests
    /// are [`Event::RequestSent`]): the producer is at work even while it
    /// has nothing to produce.
    ControlRequestSent {
        /// Broker id (negative for bootstrap addresses).
        broker: i32,
        /// `"Metadata"` or `"InitProducerId"`.
        api: &'static str,
    },
    /// New metadata arrived: (topic, partition, leader) for every partition.
    MetadataUpdated {
        /// Leaders by partition.
        leaders: Vec<(TopicPartition, Option<i32>)>,
    },
}

/// Receives the producer's events. Called from the producer's tasks.
pub trait Observer: Send + Sync + 'static {
    /// One event happened.
    fn event(&self, event: Event);
}
