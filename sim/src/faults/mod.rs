//! Faults: how a scenario file writes them ([`parse`]), how a swarm schedule is
//! drawn from a seed ([`swarm`]), and how they act on a running cluster
//! ([`apply`], one path for the simulated world and for `sim serve`).
//!
//! A fault names its target as written (`leader(events, 0)`, `brokers`, ...).
//! It resolves to concrete brokers and links once, when it fires; its heal
//! undoes exactly what it did then, even if leadership has moved since.

mod apply;
mod file;
mod kinds;
mod parse;
mod swarm;

pub use crate::cluster::Change;
pub use apply::{Applied, FaultRunner, FaultSink, Host, LinkChange};
pub use file::{ErrorFile, FaultFile, WhenFile};
pub use kinds::{fault_kind, FaultKind, FAULT_KINDS};
pub use parse::resolve_all;
pub use swarm::{
    check_swarm, draw_compression, draw_swarm, swarm_kind, SwarmFile, SwarmKind, SWARM_KINDS,
};

use crate::cluster::Injection;
use kafka_protocol::messages::ApiKey;
use producer_core::error::code;
use producer_core::TopicPartition;
use std::fmt;
use std::time::Duration;

/// A host or group of hosts a fault names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `broker-N`.
    Broker(u32),
    /// `producer-N`.
    Producer(u32),
    /// `leader(topic, p)`: whoever leads the partition when the fault fires.
    Leader(TopicPartition),
    /// `brokers`.
    AllBrokers,
    /// `producers`.
    AllProducers,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Broker(i) => write!(f, "broker-{i}"),
            Target::Producer(i) => write!(f, "producer-{i}"),
            Target::Leader(TopicPartition {
                topic: t,
                partition: p,
            }) => write!(f, "leader({t}, {p})"),
            Target::AllBrokers => write!(f, "brokers"),
            Target::AllProducers => write!(f, "producers"),
        }
    }
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Stop a broker (its partitions fail over).
    Crash(Target),
    /// Start a crashed broker again.
    Restart(Target),
    /// Drop everything between two groups, both ways.
    Partition(Target, Target),
    /// Drop everything from one group to another.
    PartitionOneway(Target, Target),
    /// Undo `Partition`.
    Repair(Target, Target),
    /// Undo `PartitionOneway`.
    RepairOneway(Target, Target),
    /// Queue messages between two groups (they arrive together on release).
    Hold(Target, Target),
    /// Deliver held messages.
    Release(Target, Target),
    /// Fixed latency on the links between two groups.
    Latency(Target, Target, Duration),
    /// Message loss on the links between two groups.
    DropRate(Target, Target, f64),
    /// Take leadership of a partition away from its leader.
    MoveLeader(TopicPartition),
    /// The partition forgets every producer's idempotence state (producer id
    /// expiry or retention, as in Kafka).
    ExpireProducers(TopicPartition),
    /// The next Metadata answers (of any broker) name the former leaders.
    StaleMetadata(u32),
    /// Broker-side injection for the next produce requests of a partition.
    Inject(TopicPartition, Injection, u32),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Crash(t) => write!(f, "crash {t}"),
            Action::Restart(t) => write!(f, "restart {t}"),
            Action::Partition(a, b) => write!(f, "partition {a} <-> {b}"),
            Action::PartitionOneway(a, b) => write!(f, "partition {a} -> {b}"),
            Action::Repair(a, b) => write!(f, "repair {a} <-> {b}"),
            Action::RepairOneway(a, b) => write!(f, "repair {a} -> {b}"),
            Action::Hold(a, b) => write!(f, "hold {a} <-> {b}"),
            Action::Release(a, b) => write!(f, "release {a} <-> {b}"),
            Action::Latency(a, b, d) => write!(f, "latency {a} <-> {b} {}ms", d.as_millis()),
            Action::DropRate(a, b, r) => write!(f, "drop rate {a} <-> {b} {r}"),
            Action::MoveLeader(TopicPartition {
                topic: t,
                partition: p,
            }) => write!(f, "move leader of {t}/{p}"),
            Action::ExpireProducers(TopicPartition {
                topic: t,
                partition: p,
            }) => write!(f, "expire producer state of {t}/{p}"),
            Action::Inject(
                TopicPartition {
                    topic: t,
                    partition: p,
                },
                Injection::Error(c),
                n,
            ) => {
                write!(f, "inject error {c} ({}) x{n} on {t}/{p}", code::name(*c))
            }
            Action::Inject(
                TopicPartition {
                    topic: t,
                    partition: p,
                },
                Injection::LoseResponse,
                n,
            ) => {
                write!(f, "inject lost response x{n} on {t}/{p}")
            }
            Action::Inject(
                TopicPartition {
                    topic: t,
                    partition: p,
                },
                Injection::HoldResponse,
                n,
            ) => {
                write!(f, "inject held response x{n} on {t}/{p}")
            }
            Action::Inject(
                TopicPartition {
                    topic: t,
                    partition: p,
                },
                Injection::CrashAfterAppend(restart),
                n,
            ) => {
                write!(f, "inject crash after append x{n} on {t}/{p}")?;
                match restart {
                    Some(ms) => write!(f, " (restart {ms} ms later)"),
                    None => Ok(()),
                }
            }
            Action::StaleMetadata(n) => write!(f, "stale metadata x{n}"),
        }
    }
}

/// One fault of a schedule: what it does, when, and when it heals.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// When it fires (with a trigger: from when on the trigger is armed).
    pub at: Duration,
    /// What it does.
    pub action: Action,
    /// When its effect is undone (`None`: it stays, or there is nothing to
    /// undo). With a trigger, the heal comes `heal_at - at` after it fired.
    pub heal_at: Option<Duration>,
    /// The protocol event that fires it, instead of the time `at`.
    pub when: Option<Trigger>,
}

/// Which requests a trigger counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerApi {
    /// Produce requests.
    Produce,
    /// Metadata requests.
    Metadata,
    /// InitProducerId requests.
    InitProducerId,
}

impl TriggerApi {
    fn key(self) -> i16 {
        match self {
            TriggerApi::Produce => ApiKey::Produce as i16,
            TriggerApi::Metadata => ApiKey::Metadata as i16,
            TriggerApi::InitProducerId => ApiKey::InitProducerId as i16,
        }
    }

    /// The name scenario files use.
    pub fn name(self) -> &'static str {
        match self {
            TriggerApi::Produce => "produce",
            TriggerApi::Metadata => "metadata",
            TriggerApi::InitProducerId => "init_producer_id",
        }
    }
}

/// A protocol event that fires a fault: the `count`-th request (or batch) the
/// brokers handled that matches every filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// Which requests.
    pub api: TriggerApi,
    /// The n-th match fires it.
    pub count: u64,
    /// Only this producer's requests.
    pub producer: Option<u32>,
    /// Only produce requests with a batch for this partition.
    pub partition: Option<TopicPartition>,
    /// Only requests this broker handled.
    pub broker: Option<i32>,
    /// Only batches whose sequence range holds this sequence.
    pub sequence: Option<i32>,
}

impl Trigger {
    /// How many matches a handled request adds.
    pub fn matches(&self, seen: &crate::cluster::Seen) -> u64 {
        if seen.api != self.api.key()
            || self.producer.is_some_and(|p| seen.producer != Some(p))
            || self.broker.is_some_and(|b| seen.broker != b)
        {
            return 0;
        }
        match &self.partition {
            None => 1,
            Some(tp) => seen
                .batches
                .iter()
                .filter(|(t, base, n)| {
                    t == tp
                        && self.sequence.is_none_or(|s| {
                            *base >= 0
                                && (*base as i64..*base as i64 + *n as i64).contains(&(s as i64))
                        })
                })
                .count() as u64,
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = self
            .producer
            .map_or("a".to_string(), |p| format!("producer-{p}'s"));
        write!(f, "{who} {} {}", ordinal(self.count), self.api.name())?;
        if let Some(TopicPartition {
            topic: t,
            partition: p,
        }) = &self.partition
        {
            write!(f, " to {t}/{p}")?;
        }
        if let Some(s) = self.sequence {
            write!(f, " with sequence {s}")?;
        }
        if let Some(b) = self.broker {
            write!(f, " at broker-{b}")?;
        }
        Ok(())
    }
}

fn ordinal(n: u64) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, x) if x != 11 => "st",
        (2, x) if x != 12 => "nd",
        (3, x) if x != 13 => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

impl Fault {
    /// A fault that is never healed.
    pub fn once(at: Duration, action: Action) -> Fault {
        Fault {
            at,
            action,
            heal_at: None,
            when: None,
        }
    }

    /// A fault healed at `heal_at`.
    pub fn healed(at: Duration, action: Action, heal_at: Duration) -> Fault {
        Fault {
            at,
            action,
            heal_at: Some(heal_at),
            when: None,
        }
    }

    /// The last moment this fault changes anything: its heal, else its start.
    pub fn last_change(&self) -> Duration {
        self.heal_at.unwrap_or(self.at)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.when {
            Some(t) => write!(
                f,
                "after {t} (armed at {} ms): {}",
                self.at.as_millis(),
                self.action
            )?,
            None => write!(f, "{} ms: {}", self.at.as_millis(), self.action)?,
        }
        if let Some(h) = self.heal_at {
            write!(f, " (healed at {} ms)", h.as_millis())?;
        }
        Ok(())
    }
}

/// Error codes `inject` accepts: the retriable ones, the idempotence answers
/// (45, 46 and 59 as well as 47) and MESSAGE_TOO_LARGE. 7 and 20 (and 46) are
/// answered after the batch was appended, as a broker that timed out waiting for
/// replicas would; the others without appending.
pub const INJECTABLE: [i16; 10] = [
    code::UNKNOWN_TOPIC_OR_PARTITION,
    code::NOT_LEADER_OR_FOLLOWER,
    code::REQUEST_TIMED_OUT,
    code::MESSAGE_TOO_LARGE,
    code::NOT_ENOUGH_REPLICAS,
    code::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
    code::OUT_OF_ORDER_SEQUENCE_NUMBER,
    code::DUPLICATE_SEQUENCE_NUMBER,
    code::INVALID_PRODUCER_EPOCH,
    code::UNKNOWN_PRODUCER_ID,
];
