//! What the brokers answered, and the faults they applied: the evidence a
//! black-box verdict needs about a client prodsim does not control
//! ([`crate::checker::judge_wire`]), and the rows of `sim serve`'s stop report.
//!
//! Counts are kept per (client id, producer id, api); the answers a correct
//! client should not get without a fault (OUT_OF_ORDER_SEQUENCE_NUMBER,
//! INVALID_PRODUCER_EPOCH, UNKNOWN_PRODUCER_ID, NOT_LEADER_OR_FOLLOWER on a
//! produce, none of them injected) are kept one by one, with what the broker
//! knew when it answered, up to [`MAX_ANOMALIES`].

use super::Injection;
use producer_core::TopicPartition;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Anomalies kept one by one; later ones are only counted.
pub const MAX_ANOMALIES: usize = 10_000;

/// Requests of one (client id, producer id, api) and how they were answered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Requests received (decoded or not): the request counts of `sim serve`'s
    /// stop report.
    pub requests: u64,
    /// Answers by error code: one per partition for a produce, the top-level
    /// (or first) code for other APIs: the answer counts of the stop report's
    /// rows ([`crate::checker::judge_wire`]).
    pub codes: BTreeMap<i16, u64>,
    /// Requests answered by closing the connection (undecodable, injected lost
    /// response): reported beside the codes so every request is accounted for.
    pub closed: u64,
}

/// A produce answer a correct client should not get without a fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// When the broker answered: the verdict looks for a fault in the
    /// [`crate::checker::EXPLAINS_FOR`] before it that explains it.
    pub at: Duration,
    /// The client id of the request: names the client in the verdict.
    pub client_id: Arc<str>,
    /// The batch's producer id (-1 without idempotence): with `epoch` and
    /// `base_sequence`, which batch the verdict talks about.
    pub producer_id: i64,
    /// The batch's epoch, for the verdict's description of the batch.
    pub epoch: i16,
    /// The batch's base sequence, for the verdict's description of the batch.
    pub base_sequence: i32,
    /// Records in the batch, for the verdict's description of the batch.
    pub records: usize,
    /// Its partition: only faults on this partition, or those that touch
    /// every partition ([`FaultEvent::scope`]), explain the answer.
    pub tp: TopicPartition,
    /// The broker that answered, printed with the verdict.
    pub broker: i32,
    /// The code answered: 45, 47, 59 or 6; 46 for a sequence reused for
    /// other records (answered NONE, as a duplicate). The verdict's kind.
    pub code: i16,
    /// What the broker knew: the sequence it expected, the epoch it holds, or
    /// the partition's leader; printed with the verdict so it can be checked.
    pub context: String,
}

/// A fault the cluster applied, as the verdict needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultEvent {
    /// A broker stopped: its closed connections explain anomalies on every
    /// partition for a while.
    Crash(i32),
    /// A broker started again (it may have lost producer state): explains
    /// anomalies on every partition for a while.
    Restart(i32),
    /// A partition's leadership was taken away: explains the
    /// anomalies on it (a NOT_LEADER_OR_FOLLOWER answer).
    MoveLeader(TopicPartition),
    /// A partition forgot its producers' state: explains
    /// UNKNOWN_PRODUCER_ID and sequence errors on it.
    ExpireProducers(TopicPartition),
    /// An injected answer met a produce request of this partition: explains
    /// that answer.
    Injected(TopicPartition, Injection),
    /// A restart left the partition's producers their last batch only (the
    /// broker rebuilt their state from its producer snapshot): explains
    /// sequence errors on it.
    WindowCut(TopicPartition),
}

impl FaultEvent {
    /// The partition it touched; `None`: every partition (a crash or restart
    /// closes connections that carry requests for many; so does a lost
    /// response or a crash after append; a held answer reorders across
    /// connections).
    pub fn scope(&self) -> Option<&TopicPartition> {
        match self {
            FaultEvent::Crash(_)
            | FaultEvent::Restart(_)
            | FaultEvent::Injected(
                _,
                Injection::LoseResponse | Injection::CrashAfterAppend(_) | Injection::HoldResponse,
            ) => None,
            FaultEvent::MoveLeader(tp)
            | FaultEvent::ExpireProducers(tp)
            | FaultEvent::WindowCut(tp)
            | FaultEvent::Injected(tp, _) => Some(tp),
        }
    }
}

impl std::fmt::Display for FaultEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaultEvent::Crash(b) => write!(f, "crash of broker-{b}"),
            FaultEvent::Restart(b) => write!(f, "restart of broker-{b}"),
            FaultEvent::MoveLeader(TopicPartition {
                topic: t,
                partition: p,
            }) => write!(f, "leader move of {t}/{p}"),
            FaultEvent::ExpireProducers(TopicPartition {
                topic: t,
                partition: p,
            }) => write!(f, "producer state expiry on {t}/{p}"),
            FaultEvent::WindowCut(TopicPartition {
                topic: t,
                partition: p,
            }) => write!(
                f,
                "{t}/{p} restarted from its producer snapshot (one batch per producer left)"
            ),
            FaultEvent::Injected(
                TopicPartition {
                    topic: t,
                    partition: p,
                },
                Injection::Error(c),
            ) => {
                write!(f, "injected error {c} on {t}/{p}")
            }
            FaultEvent::Injected(
                TopicPartition {
                    topic: t,
                    partition: p,
                },
                Injection::LoseResponse,
            ) => {
                write!(f, "injected lost response on {t}/{p}")
            }
            FaultEvent::Injected(
                TopicPartition {
                    topic: t,
                    partition: p,
                },
                Injection::CrashAfterAppend(_),
            ) => {
                write!(f, "injected crash after append on {t}/{p}")
            }
            FaultEvent::Injected(
                TopicPartition {
                    topic: t,
                    partition: p,
                },
                Injection::HoldResponse,
            ) => {
                write!(f, "injected held answer on {t}/{p}")
            }
        }
    }
}

/// Everything the brokers answered and every fault they applied.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// Per (client id, producer id or -1, api key): the request and answer
    /// counts of the stop report and of the black-box verdict.
    pub tallies: BTreeMap<(Arc<str>, i64, i16), Tally>,
    /// Per (client id, producer id or -1): batches and records appended, the
    /// stop report's count of what each client wrote.
    pub appended: BTreeMap<(Arc<str>, i64), (u64, u64)>,
    /// Unexplained-looking answers, in order, at most [`MAX_ANOMALIES`]: what
    /// the black-box verdict judges against `faults`.
    pub anomalies: Vec<Anomaly>,
    /// Anomalies past [`MAX_ANOMALIES`], counted only: the verdict says
    /// how many it could not judge, so memory stays bounded on long serves.
    pub anomalies_dropped: u64,
    /// Faults applied, with their time, in order: what explains anomalies,
    /// and the fault list of the stop report.
    pub faults: Vec<(Duration, FaultEvent)>,
}

impl Ledger {
    fn tally(&mut self, client: &Arc<str>, producer_id: i64, api: i16) -> &mut Tally {
        self.tallies
            .entry((client.clone(), producer_id.max(-1), api))
            .or_default()
    }

    /// A request arrived.
    pub fn request(&mut self, client: &Arc<str>, producer_id: i64, api: i16) {
        self.tally(client, producer_id, api).requests += 1;
    }

    /// An answer with `code` (per partition for a produce).
    pub fn code(&mut self, client: &Arc<str>, producer_id: i64, api: i16, code: i16) {
        *self
            .tally(client, producer_id, api)
            .codes
            .entry(code)
            .or_default() += 1;
    }

    /// A request answered by closing the connection.
    pub fn closed(&mut self, client: &Arc<str>, producer_id: i64, api: i16) {
        self.tally(client, producer_id, api).closed += 1;
    }

    /// A batch of `records` records appended.
    pub fn appended(&mut self, client: &Arc<str>, producer_id: i64, records: usize) {
        let e = self
            .appended
            .entry((client.clone(), producer_id.max(-1)))
            .or_default();
        e.0 += 1;
        e.1 += records as u64;
    }

    /// An answer a correct client should not get without a fault.
    pub fn anomaly(&mut self, a: Anomaly) {
        if self.anomalies.len() < MAX_ANOMALIES {
            self.anomalies.push(a);
        } else {
            self.anomalies_dropped += 1;
        }
    }

    /// A fault applied at `at`.
    pub fn fault(&mut self, at: Duration, what: FaultEvent) {
        self.faults.push((at, what));
    }

    /// Records appended per client id (every producer id together).
    pub fn records_by_client(&self) -> BTreeMap<Arc<str>, u64> {
        let mut out: BTreeMap<Arc<str>, u64> = BTreeMap::new();
        for ((client, _), (_, records)) in &self.appended {
            *out.entry(client.clone()).or_default() += records;
        }
        out
    }
}
