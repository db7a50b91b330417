//! The verdict: invariants over a run's history and the final partition logs.
//!
//! Each violation names its kind, the producer, the partition, the workload record
//! (its index in the producer's workload), offsets and the simulated time. One
//! file per invariant family; [`check`] runs them all over one reading of the
//! run ([`view`]).
//!
//! | kind              | meaning                                                          | family |
//! |-------------------|------------------------------------------------------------------|--------|
//! | `lost`            | acknowledged, but the log has no record at the acknowledged offset | [`sends`] |
//! | `offset_mismatch` | the acknowledged offset holds another record (or another producer's) | [`sends`] |
//! | `not_acked`       | a send failed where the scenario expects every send acknowledged  | [`sends`] |
//! | `mutated`         | a record the caller handed over changed during the run            | [`sends`] |
//! | `duplicate`       | one send stored more often than it was sent                       | [`logs`] |
//! | `phantom`         | a log record no producer ever attempted to send                   | [`logs`] |
//! | `reorder`         | per producer and partition, log order differs from send order     | [`logs`] |
//! | `sequence`        | under one producer id and epoch, a partition's sequences do not start at 0 and run on without a gap, or a retry changed its sequence | [`sequences`] |
//! | `in_flight`       | more produce requests in flight to one broker than `max_in_flight` (5 with idempotence) | [`sequences`] |
//! | `unresolved`      | a send, flush or close still pending after faults healed + grace  | [`liveness`] |
//! | `resolved_twice`  | a send resolved more than once                                    | [`liveness`] |
//! | `stalled`         | holding unresolved records, the producer wrote no request, got no answer and lost no connection for longer than its timers allow | [`liveness`] |
//! | `lifecycle`       | `flush()`/`close()` returned before the records sent before them resolved, or a send after `close()` did not fail with "producer closed" | [`liveness`] |
//! | `accounting`      | accounted != encoded (uncompressed), a batch sent or request over its limit, counters not zero at close | [`accounting`] |
//! | `memory`          | a batch's buffer memory released twice, in another amount than charged, or never before `close()` returned | [`accounting`] |
//! | `corrupt`         | a broker rejected a batch as corrupt or invalid                   | [`accounting`] |
//! | `failed_but_written` | in the log, although the producer reported it definitely not written (too large, a broker's refusal, expired unsent, producer closed) | [`logs`] |
//! | `out_of_order_answer` | the broker answered OUT_OF_ORDER_SEQUENCE_NUMBER or UNKNOWN_PRODUCER_ID with no fault to explain it (`sim serve`) | [`wire`] |
//! | `fenced_answer`   | the broker answered INVALID_PRODUCER_EPOCH with no fault to explain it (`sim serve`) | [`wire`] |
//! | `misrouted`       | a produce reached a broker that does not lead the partition, no leader change to explain it (`sim serve`) | [`wire`] |

mod accounting;
mod liveness;
mod logs;
mod sends;
mod sequences;
mod view;
mod violation;
mod wire;

pub use logs::check_logs;
pub use violation::{Expected, Kind, Verdict, Violation};
pub use wire::{judge_wire, Row, WireReport, EXPLAINS_FOR};

use crate::cluster::LogBatch;
use crate::history::History;
use producer_core::TopicPartition;
use std::collections::BTreeMap;
use std::time::Duration;

/// What the checker needs to know about one producer.
#[derive(Clone, Debug)]
pub struct ProducerFacts {
    /// Idempotence on.
    pub idempotent: bool,
    /// Max in flight.
    pub max_in_flight: usize,
    /// Its `max_message_bytes`.
    pub max_message_bytes: usize,
    /// Its `max_request_size`.
    pub max_request_size: usize,
    /// The largest batch it may build for the workload's topic.
    pub batch_limit: usize,
    /// How long after the last fault (or its send) a record must resolve.
    pub grace: Duration,
    /// The history shows this producer's requests (prodsim's own producer). For a
    /// real client only its sends and outcomes are known: every send then counts
    /// as attempted.
    pub requests_observed: bool,
    /// The longest a correct producer with unresolved records stays silent
    /// (every wait it has is bounded by a timer: linger, retry backoff,
    /// request timeout); `None` when its requests are not observed.
    pub quiet_limit: Option<Duration>,
}

/// The quiet limit of a producer with `config`: a request's answer or its
/// timeout, a backoff, a dial's handshake (bounded by the request timeout)
/// and a linger, twice over, plus a margin for ticks and latency.
pub fn quiet_limit(config: &producer_core::Config) -> Duration {
    2 * (config.request_timeout + config.retry_backoff + config.linger) + Duration::from_millis(100)
}

/// What the checker is told about the run.
#[derive(Clone, Debug)]
pub struct CheckInput<'a> {
    /// The history.
    pub history: &'a History,
    /// Final logs: (topic, partition) -> batches.
    pub logs: &'a BTreeMap<TopicPartition, Vec<LogBatch>>,
    /// The topic the workload sends to.
    pub topic: &'a str,
    /// One entry per producer.
    pub producers: &'a [ProducerFacts],
    /// Time of the last fault (heal included).
    pub last_fault: Duration,
    /// When the run stopped.
    pub end: Duration,
    /// Kinds accepted as expected anomalies.
    pub allowed: &'a [Kind],
    /// Every send must be acked.
    pub all_acked: bool,
    /// Broker-side events (the cluster's ledger): a partition's producer
    /// state lost to expiry or cut by a restart explains a duplicate the
    /// broker could not prevent.
    pub broker_faults: &'a [(Duration, crate::broker::ledger::FaultEvent)],
}

/// Checks every invariant.
pub fn check(input: &CheckInput<'_>) -> Verdict {
    let mut out = Vec::new();
    let view = view::RunView::read(input, &mut out);
    sequences::check_requests(input, &view, &mut out);
    sequences::check_in_flight(input, &mut out);
    accounting::check_reports(input, &view, &mut out);
    accounting::check_memory(input, &mut out);
    liveness::check(input, &view, &mut out);
    liveness::check_returns(input, &mut out);
    liveness::check_stalls(input, &mut out);
    sends::check(input, &view, &mut out);
    accounting::check_too_large(input, &view, &mut out);
    accounting::check_received(input, &mut out);
    logs::check(input, &view, &mut out);
    Verdict::split(out, input.allowed)
}
