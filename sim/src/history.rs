//! The history of one run: every send, batch, request, attempt, outcome, fault
//! and close, stamped with simulated time. The checker reads it; its hash is
//! the run's fingerprint (same scenario + seed = same hash), specified in
//! [`crate::trace_hash`].

use producer_core::observe::{AttemptOutcome, Event, Observer};
use producer_core::record::Record;
use producer_core::TopicPartition;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crate::trace_hash::{digest_parts, trace_hash};

/// One batch inside a recorded produce request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    /// Partition.
    pub tp: TopicPartition,
    /// Batch identity.
    pub first_send_id: u64,
    /// Producer send ids of its records.
    pub send_ids: Vec<u64>,
    /// Producer id, epoch and base sequence.
    pub stamp: (i64, i16, i32),
    /// Attempt number (1 = first).
    pub attempt: u32,
    /// Encoded size.
    pub bytes: usize,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    /// The workload handed record `index` to the producer. `send_id` and
    /// `partition` are `None` when `send` rejected it at once.
    Send {
        index: usize,
        send_id: Option<u64>,
        partition: Option<i32>,
        digest: u64,
        /// Size of the smallest batch that can hold the record.
        batch_len: usize,
    },
    /// `send` waited this long (buffer memory or metadata) before returning.
    SendBlocked { index: usize, waited: Duration },
    /// The record's future resolved with an offset.
    Acked {
        index: usize,
        partition: i32,
        offset: i64,
    },
    /// The record's future resolved with an error.
    Failed {
        index: usize,
        error: String,
        kind: FailKind,
    },
    /// A batch was closed for sending.
    BatchSealed {
        tp: TopicPartition,
        first_send_id: u64,
        records: usize,
        accounted: usize,
        /// Bytes before compression (`encoded` without it).
        uncompressed: usize,
        encoded: usize,
        limit: usize,
        /// Buffer memory charged for it.
        memory: usize,
    },
    /// A batch's buffer memory went back to the pool.
    MemoryReleased {
        tp: TopicPartition,
        first_send_id: u64,
        bytes: usize,
    },
    /// A batch the broker found too large was split into `parts` (each then
    /// sealed, sent and resolved on its own; the split batch never resolves).
    BatchSplit {
        tp: TopicPartition,
        first_send_id: u64,
        parts: Vec<u64>,
    },
    /// A produce request was written.
    RequestSent {
        broker: i32,
        correlation_id: i32,
        bytes: usize,
        accounted: usize,
        limit: usize,
        batches: Vec<AttemptRecord>,
    },
    /// One batch attempt ended: `Ok(offset)`, `Err(Some(code))` or `Err(None)` for no answer.
    AttemptEnded {
        tp: TopicPartition,
        first_send_id: u64,
        outcome: Result<i64, Option<i16>>,
    },
    /// A batch resolved for good.
    BatchResolved {
        tp: TopicPartition,
        first_send_id: u64,
        records: usize,
        result: Result<i64, String>,
    },
    /// A connection dropped with requests unanswered.
    ConnectionLost {
        broker: i32,
        reason: String,
        unanswered: usize,
    },
    /// A producer id / epoch was granted.
    IdentityGranted { producer_id: i64, epoch: i16 },
    /// An epoch bump started.
    EpochBumpStarted,
    /// A Metadata or InitProducerId request was written.
    ControlRequestSent { broker: i32, api: &'static str },
    /// Metadata arrived.
    MetadataUpdated {
        leaders: Vec<(TopicPartition, Option<i32>)>,
    },
    /// The application dropped record `index`'s delivery future unpolled.
    FutureDropped { index: usize },
    /// The application called `flush()` (or `close()`, `close` set) while
    /// `pending` futures of records it had sent were unresolved.
    Called { close: bool, pending: usize },
    /// `flush()` returned; `unresolved` of the futures of records sent before it
    /// was called had not resolved (must be 0).
    Flushed { unresolved: usize },
    /// `close()` returned, with the counters that must be zero, and how many
    /// futures of records sent before it was called had not resolved.
    Closed {
        unresolved_records: usize,
        buffered_bytes: usize,
        in_flight_requests: usize,
        unresolved_futures: usize,
    },
    /// A fault (or its heal, or an election) was applied.
    Fault {
        description: String,
        change: crate::cluster::Change,
        heal: bool,
    },
    /// The workload's records changed while the producer held them.
    RecordMutated { index: usize },
}

/// What a failure says about the record, as the producer's error promises.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum FailKind {
    /// Too large for any batch: never written.
    TooLarge,
    /// The producer was closed before it sent the record: never written.
    ProducerClosed,
    /// Another definite failure (a broker refused it, it expired unsent, ...):
    /// never written.
    NotWritten,
    /// The outcome is unknown: the record may be in the log.
    MaybeWritten,
}

impl FailKind {
    /// The producer promised the record is not in the log.
    pub fn definitely_unwritten(self) -> bool {
        self != FailKind::MaybeWritten
    }
}

/// Who did it.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, PartialOrd, Ord)]
pub enum Actor {
    /// Producer number `n` (client id `producer-n`).
    Producer(u32),
    /// The world (faults, elections).
    World,
}

/// One history entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Simulated time.
    pub at: Duration,
    /// Actor.
    pub who: Actor,
    /// Event.
    pub what: What,
}

/// The whole history of a run.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Entries in the order they happened.
    pub entries: Vec<Entry>,
}

impl History {
    /// Appends an entry.
    pub fn push(&mut self, at: Duration, who: Actor, what: What) {
        self.entries.push(Entry { at, who, what });
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Producer(p) => write!(f, "producer-{p}"),
            Actor::World => write!(f, "world"),
        }
    }
}

fn tp_name(tp: &TopicPartition) -> String {
    format!("{}/{}", tp.topic, tp.partition)
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            What::Send { index, send_id, partition, .. } => match (send_id, partition) {
                (Some(id), Some(p)) => write!(f, "send record #{index} (send id {id}) to partition {p}"),
                _ => write!(f, "send record #{index}: rejected before batching"),
            },
            What::SendBlocked { index, waited } => write!(f, "send of record #{index} blocked for {waited:?}"),
            What::Acked { index, partition, offset } => write!(f, "ack record #{index} at {partition}@{offset}"),
            What::Failed { index, error, .. } => write!(f, "fail record #{index}: {error}"),
            What::BatchSealed { tp, first_send_id, records, accounted, uncompressed, encoded, limit, memory } => {
                write!(
                    f,
                    "seal batch {} #{first_send_id}: {records} records, accounted {accounted} B, encoded {encoded} B",
                    tp_name(tp)
                )?;
                if uncompressed != encoded {
                    write!(f, " ({uncompressed} B uncompressed)")?;
                }
                write!(f, ", limit {limit} B, memory {memory} B")
            }
            What::MemoryReleased { tp, first_send_id, bytes } => {
                write!(f, "release batch {} #{first_send_id}: {bytes} B of memory", tp_name(tp))
            }
            What::BatchSplit { tp, first_send_id, parts } => {
                write!(f, "split batch {} #{first_send_id} into {parts:?}", tp_name(tp))
            }
            What::RequestSent { broker, correlation_id, bytes, batches, .. } => {
                write!(f, "produce request {correlation_id} -> broker-{broker}: {bytes} B,")?;
                for b in batches {
                    write!(
                        f,
                        " [{} #{} pid {} epoch {} seq {}+{} attempt {}]",
                        tp_name(&b.tp),
                        b.first_send_id,
                        b.stamp.0,
                        b.stamp.1,
                        b.stamp.2,
                        b.send_ids.len(),
                        b.attempt
                    )?;
                }
                Ok(())
            }
            What::AttemptEnded { tp, first_send_id, outcome } => {
                write!(f, "attempt of {} #{first_send_id} ended: ", tp_name(tp))?;
                match outcome {
                    Ok(o) => write!(f, "written at {o}"),
                    Err(Some(c)) => write!(f, "error {c} {}", producer_core::error::code::name(*c)),
                    Err(None) => write!(f, "no answer"),
                }
            }
            What::BatchResolved { tp, first_send_id, records, result } => match result {
                Ok(o) => write!(f, "batch {} #{first_send_id} ({records} records) acknowledged at {o}", tp_name(tp)),
                Err(e) => write!(f, "batch {} #{first_send_id} ({records} records) failed: {e}", tp_name(tp)),
            },
            What::ConnectionLost { broker, reason, unanswered } => {
                write!(f, "connection to broker {broker} lost ({unanswered} unanswered): {reason}")
            }
            What::IdentityGranted { producer_id, epoch } => write!(f, "producer id {producer_id} epoch {epoch}"),
            What::EpochBumpStarted => write!(f, "epoch bump: sequences restart at 0"),
            What::ControlRequestSent { broker, api } => write!(f, "{api} request -> broker {broker}"),
            What::MetadataUpdated { leaders } => {
                write!(f, "metadata:")?;
                for (tp, l) in leaders {
                    match l {
                        Some(b) => write!(f, " {}->b{b}", tp_name(tp))?,
                        None => write!(f, " {}->none", tp_name(tp))?,
                    }
                }
                Ok(())
            }
            What::Called { close, pending } => write!(
                f,
                "{} called with {pending} futures unresolved",
                if *close { "close" } else { "flush" }
            ),
            What::FutureDropped { index } => write!(f, "future of record #{index} dropped unpolled"),
            What::Flushed { unresolved } => write!(f, "flush returned ({unresolved} earlier futures unresolved)"),
            What::Closed { unresolved_records, buffered_bytes, in_flight_requests, unresolved_futures } => write!(
                f,
                "close returned (unresolved {unresolved_records}, buffered {buffered_bytes} B, in flight {in_flight_requests}, futures unresolved {unresolved_futures})"
            ),
            What::Fault { description, .. } => write!(f, "FAULT {description}"),
            What::RecordMutated { index } => write!(f, "record #{index} was modified"),
        }
    }
}

/// A history shared by every host of a world.
pub type SharedHistory = Arc<Mutex<History>>;

/// Appends to a shared history (a poisoned lock still records).
pub fn record(h: &SharedHistory, at: Duration, who: Actor, what: What) {
    h.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(at, who, what);
}

/// Content fingerprint of a workload record.
pub fn digest_record(r: &Record) -> u64 {
    digest_parts(
        r.key().map(|b| &b[..]),
        r.value().map(|b| &b[..]),
        r.headers()
            .iter()
            .map(|h| (&h.key()[..], h.value().map(|v| &v[..]))),
    )
}

/// Content fingerprint of a stored record: equal to [`digest_record`] of the
/// record that was sent, so the checker can match log entries to sends.
pub fn digest_log_record(r: &crate::cluster::LogRecord) -> u64 {
    digest_parts(
        r.key.as_deref(),
        r.value.as_deref(),
        r.headers.iter().map(|(k, v)| (k.as_bytes(), v.as_deref())),
    )
}

/// Simulated time inside a turmoil host (zero outside a simulation).
pub fn sim_now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

/// Records a producer's events into the shared history.
pub struct HistoryObserver {
    /// Which producer.
    pub producer: u32,
    /// Where to record.
    pub history: SharedHistory,
}

impl Observer for HistoryObserver {
    fn event(&self, event: Event) {
        let what = match event {
            Event::BatchSealed {
                tp,
                first_send_id,
                records,
                accounted,
                uncompressed,
                encoded,
                limit,
                memory,
            } => What::BatchSealed {
                tp,
                first_send_id,
                records,
                accounted,
                uncompressed,
                encoded,
                limit,
                memory,
            },
            Event::MemoryReleased {
                tp,
                first_send_id,
                bytes,
            } => What::MemoryReleased {
                tp,
                first_send_id,
                bytes,
            },
            Event::BatchSplit {
                tp,
                first_send_id,
                parts,
            } => What::BatchSplit {
                tp,
                first_send_id,
                parts,
            },
            Event::RequestSent {
                broker,
                correlation_id,
                bytes,
                accounted,
                limit,
                batches,
            } => What::RequestSent {
                broker,
                correlation_id,
                bytes,
                accounted,
                limit,
                batches: batches
                    .into_iter()
                    .map(|b| AttemptRecord {
                        tp: b.tp,
                        first_send_id: b.first_send_id,
                        send_ids: b.send_ids.to_vec(),
                        stamp: (
                            b.stamp.producer_id,
                            b.stamp.producer_epoch,
                            b.stamp.base_sequence,
                        ),
                        attempt: b.attempt,
                        bytes: b.bytes,
                    })
                    .collect(),
            },
            Event::AttemptEnded {
                tp,
                first_send_id,
                outcome,
            } => What::AttemptEnded {
                tp,
                first_send_id,
                outcome: match outcome {
                    AttemptOutcome::Written { base_offset } => Ok(base_offset),
                    AttemptOutcome::Rejected { code } => Err(Some(code)),
                    AttemptOutcome::NoAnswer => Err(None),
                },
            },
            Event::BatchResolved {
                tp,
                first_send_id,
                records,
                result,
            } => What::BatchResolved {
                tp,
                first_send_id,
                records,
                result: result.map_err(|e| e.to_string()),
            },
            Event::ConnectionLost {
                broker,
                reason,
                unanswered,
            } => What::ConnectionLost {
                broker,
                reason,
                unanswered,
            },
            Event::IdentityGranted { producer_id, epoch } => {
                What::IdentityGranted { producer_id, epoch }
            }
            Event::EpochBumpStarted => What::EpochBumpStarted,
            Event::ControlRequestSent { broker, api } => What::ControlRequestSent { broker, api },
            Event::MetadataUpdated { leaders } => What::MetadataUpdated { leaders },
        };
        record(
            &self.history,
            sim_now(),
            Actor::Producer(self.producer),
            what,
        );
    }
}
