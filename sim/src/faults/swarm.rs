//! Swarm testing: a fault schedule drawn from the seed, within a window, every
//! fault healed before the window ends.

use super::{Action, Fault, Target, Trigger, TriggerApi};
use crate::cluster::{ClusterSpec, Injection};
use crate::scenario::{Reporter, ScenarioError};
use producer_core::error::code;
use producer_core::TopicPartition;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

/// `[swarm]`: faults drawn from the seed.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SwarmFile {
    /// How many faults to draw.
    pub faults: u32,
    /// Kinds to draw from (default: all).
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Faults start within `[start, end]` ms and all heal by `end`.
    pub window_ms: [u64; 2],
    /// Codecs each producer's compression is drawn from (default: the
    /// producers' own setting).
    #[serde(default)]
    pub codecs: Vec<String>,
    /// Payloads the workload is drawn from (default: the workload's own).
    #[serde(default)]
    pub payloads: Vec<crate::scenario::Payload>,
}

/// The compression of each of `producers` producers and the payload drawn for
/// `seed` (`None`: the scenario's own), from a stream of its own, so adding
/// them to a swarm leaves its fault draws as they were.
pub fn draw_compression(
    sw: &SwarmFile,
    producers: u32,
    seed: u64,
) -> (
    Vec<Option<producer_core::compression::Compression>>,
    Option<crate::scenario::Payload>,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xc0de_c0de_5eed_0001);
    let codecs = (0..producers)
        .map(|_| {
            (!sw.codecs.is_empty()).then(|| {
                let name = &sw.codecs[rng.gen_range(0..sw.codecs.len())];
                producer_core::compression::Compression::parse(name).unwrap_or_default()
            })
        })
        .collect();
    let payload =
        (!sw.payloads.is_empty()).then(|| sw.payloads[rng.gen_range(0..sw.payloads.len())]);
    (codecs, payload)
}

/// What the `inject` kind draws from (a lost response twice as often).
const INJECT_CHOICES: [Injection; 10] = [
    Injection::Error(code::NOT_LEADER_OR_FOLLOWER),
    Injection::Error(code::REQUEST_TIMED_OUT),
    Injection::Error(code::NOT_ENOUGH_REPLICAS),
    Injection::Error(code::NOT_ENOUGH_REPLICAS_AFTER_APPEND),
    Injection::Error(code::OUT_OF_ORDER_SEQUENCE_NUMBER),
    Injection::Error(code::DUPLICATE_SEQUENCE_NUMBER),
    Injection::Error(code::INVALID_PRODUCER_EPOCH),
    Injection::Error(code::UNKNOWN_PRODUCER_ID),
    Injection::LoseResponse,
    Injection::LoseResponse,
];

/// Checks a `[swarm]` section.
pub fn check_swarm(s: &Spanned<SwarmFile>, r: &Reporter<'_>) -> Result<(), ScenarioError> {
    let sw = s.get_ref();
    if sw.window_ms[0] >= sw.window_ms[1] {
        return Err(r.at(s, "`swarm.window_ms` must be [start, end] with start < end"));
    }
    for c in &sw.codecs {
        if let Err(why) = producer_core::compression::Compression::parse(c) {
            return Err(r.at(s, format!("`swarm.codecs`: {why}")));
        }
    }
    for k in &sw.kinds {
        if swarm_kind(k).is_none() {
            return Err(r.at(
                s,
                format!(
                    "unknown swarm kind `{k}`; expected one of {}",
                    SWARM_KINDS
                        .iter()
                        .map(|k| k.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// One kind of fault a swarm draws.
pub struct SwarmKind {
    /// The name `swarm.kinds` lists.
    pub name: &'static str,
    /// Whether a swarm without `kinds` draws it.
    pub default: bool,
    /// What it draws.
    pub doc: &'static str,
    /// Draws one fault (its own random choices after the common ones).
    draw: fn(&mut Draw) -> Fault,
}

/// Every kind a swarm can draw, in the order `kinds` indexes (the order is part
/// of every swarm seed's schedule: append, do not reorder).
pub const SWARM_KINDS: &[SwarmKind] = &[
    SwarmKind {
        name: "partition",
        default: true,
        doc: "`partition` between a producer and a broker",
        draw: |d| d.healed(Action::Partition(d.producer.clone(), d.broker.clone())),
    },
    SwarmKind {
        name: "partition_oneway",
        default: true,
        doc: "`partition_oneway` from a producer to a broker or back",
        draw: |d| {
            let (a, b) = if d.rng.gen_bool(0.5) {
                (d.producer.clone(), d.broker.clone())
            } else {
                (d.broker.clone(), d.producer.clone())
            };
            d.healed(Action::PartitionOneway(a, b))
        },
    },
    SwarmKind {
        name: "hold",
        default: true,
        doc: "`hold` between a producer and a broker",
        draw: |d| d.healed(Action::Hold(d.producer.clone(), d.broker.clone())),
    },
    SwarmKind {
        name: "latency",
        default: true,
        doc: "`latency` of 20-400 ms between a producer and a broker",
        draw: |d| {
            let ms = Duration::from_millis(d.rng.gen_range(20..400));
            d.healed(Action::Latency(d.producer.clone(), d.broker.clone(), ms))
        },
    },
    SwarmKind {
        name: "drop_rate",
        default: true,
        doc: "`drop_rate` of 1-20% between a producer and a broker",
        draw: |d| {
            let rate = d.rng.gen_range(0.01..0.2);
            d.healed(Action::DropRate(d.producer.clone(), d.broker.clone(), rate))
        },
    },
    SwarmKind {
        name: "crash",
        default: true,
        doc: "`crash` of a broker, restarted at the heal",
        draw: |d| d.healed(Action::Crash(d.broker.clone())),
    },
    SwarmKind {
        name: "move_leader",
        default: true,
        doc: "`move_leader` of a partition",
        draw: |d| {
            Fault::once(
                d.at,
                Action::MoveLeader(TopicPartition::new(&d.topic, d.part)),
            )
        },
    },
    SwarmKind {
        name: "inject",
        default: true,
        doc: "`inject` of a retriable or idempotence error code, or a lost response, 1-3 times",
        draw: |d| {
            let what = INJECT_CHOICES[d.rng.gen_range(0..INJECT_CHOICES.len())];
            let times = d.rng.gen_range(1..4);
            d.inject(what, times)
        },
    },
    SwarmKind {
        name: "stale_metadata",
        default: true,
        doc: "`stale_metadata` for the next 1-3 answers",
        draw: |d| Fault::once(d.at, Action::StaleMetadata(d.rng.gen_range(1..4))),
    },
    SwarmKind {
        name: "hold_response",
        default: true,
        doc: "`inject` of `hold_response`, 1-3 times",
        draw: |d| {
            let times = d.rng.gen_range(1..4);
            d.inject(Injection::HoldResponse, times)
        },
    },
    SwarmKind {
        name: "crash_after_append",
        default: true,
        doc: "`inject` of `crash_after_append`, the leader restarted at the heal",
        draw: |d| {
            let restart = (d.heal - d.at).as_millis() as u64;
            d.inject(Injection::CrashAfterAppend(Some(restart)), 1)
        },
    },
    SwarmKind {
        name: "triggered_crash",
        default: true,
        doc: "`crash` of a partition's leader on a producer's 1st-5th produce request to it",
        draw: |d| {
            let count = d.rng.gen_range(1..6);
            let producer = d.rng.gen_range(0..d.producers);
            let leader = Target::Leader(TopicPartition::new(&d.topic, d.part));
            Fault {
                when: Some(Trigger {
                    api: TriggerApi::Produce,
                    count,
                    producer: Some(producer),
                    partition: Some(TopicPartition::new(&d.topic, d.part)),
                    broker: None,
                    sequence: None,
                }),
                ..d.healed(Action::Crash(leader))
            }
        },
    },
    SwarmKind {
        name: "too_large",
        default: false,
        doc: "`inject` of MESSAGE_TOO_LARGE (10), 1-2 times: a split, or a definite failure",
        draw: |d| {
            let times = d.rng.gen_range(1..3);
            let code = producer_core::error::code::MESSAGE_TOO_LARGE;
            d.inject(Injection::Error(code), times)
        },
    },
];

/// The swarm kind named `name`.
pub fn swarm_kind(name: &str) -> Option<&'static SwarmKind> {
    SWARM_KINDS.iter().find(|k| k.name == name)
}

/// The common choices of one drawn fault, and the stream its kind draws on.
struct Draw<'a> {
    rng: &'a mut ChaCha8Rng,
    producers: u32,
    at: Duration,
    heal: Duration,
    broker: Target,
    producer: Target,
    topic: String,
    part: i32,
}

impl Draw<'_> {
    fn healed(&self, a: Action) -> Fault {
        Fault::healed(self.at, a, self.heal)
    }

    fn inject(&self, what: Injection, times: u32) -> Fault {
        Fault::once(
            self.at,
            Action::Inject(TopicPartition::new(&self.topic, self.part), what, times),
        )
    }
}

/// Draws a fault schedule from `seed`: `faults` faults of the allowed kinds, each
/// starting inside the window and healed before its end.
pub fn draw_swarm(sw: &SwarmFile, cluster: &ClusterSpec, producers: u32, seed: u64) -> Vec<Fault> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5357_4152_4d00_0000);
    let kinds: Vec<&SwarmKind> = if sw.kinds.is_empty() {
        SWARM_KINDS.iter().filter(|k| k.default).collect()
    } else {
        sw.kinds.iter().filter_map(|k| swarm_kind(k)).collect()
    };
    let [start, end] = sw.window_ms;
    let mut out = Vec::new();
    for _ in 0..sw.faults {
        let at_ms = rng.gen_range(start..end);
        let heal_ms = rng.gen_range(at_ms + 1..=end);
        let broker = Target::Broker(rng.gen_range(0..cluster.brokers));
        let producer = Target::Producer(rng.gen_range(0..producers));
        let topic = &cluster.topics[rng.gen_range(0..cluster.topics.len())];
        let part = rng.gen_range(0..topic.partitions) as i32;
        let kind = kinds[rng.gen_range(0..kinds.len())];
        let mut draw = Draw {
            rng: &mut rng,
            producers,
            at: Duration::from_millis(at_ms),
            heal: Duration::from_millis(heal_ms),
            broker,
            producer,
            topic: topic.name.clone(),
            part,
        };
        out.push((kind.draw)(&mut draw));
    }
    out.sort_by_key(|f| f.at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn too_large_faults(kinds: &[&str], seeds: u64) -> usize {
        let s = crate::Scenario::parse("[swarm]\nfaults = 6\nwindow_ms = [10, 700]\n", "s.toml")
            .expect("a swarm scenario");
        let sw = SwarmFile {
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
            ..s.file.swarm.expect("a swarm").into_inner()
        };
        (0..seeds)
            .flat_map(|seed| draw_swarm(&sw, &s.cluster, 2, seed))
            .filter(|f| matches!(f.action, Action::Inject(_, Injection::Error(10), _)))
            .count()
    }

    #[test]
    fn too_large_is_drawn_only_when_a_scenario_names_it() {
        assert_eq!(
            too_large_faults(&[], 500),
            0,
            "the default kinds never inject 10"
        );
        let all: Vec<&str> = SWARM_KINDS.iter().map(|k| k.name).collect();
        let drawn = too_large_faults(&all, 500);
        // 6 faults x 500 seeds, 1 kind in 13: about 230.
        assert!((150..320).contains(&drawn), "{drawn} too_large faults");
        assert_eq!(too_large_faults(&["too_large"], 10), 60);
    }
}
