//! Swarm testing: a fault schedule drawn from the seed, within a window, every
//! fault healed before the window ends.

use super::{Action, Fault, Target, Trigger, TriggerApi, SWARM_DEFAULT_KINDS, SWARM_KINDS};
use crate::cluster::{ClusterSpec, Injection};
use crate::scenario::{Reporter, ScenarioError};
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
    Injection::Error(6),
    Injection::Error(7),
    Injection::Error(19),
    Injection::Error(20),
    Injection::Error(45),
    Injection::Error(46),
    Injection::Error(47),
    Injection::Error(59),
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
        if !SWARM_KINDS.contains(&k.as_str()) {
            return Err(r.at(
                s,
                format!(
                    "unknown swarm kind `{k}`; expected one of {}",
                    SWARM_KINDS.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Draws a fault schedule from `seed`: `faults` faults of the allowed kinds, each
/// starting inside the window and healed before its end.
pub fn draw_swarm(sw: &SwarmFile, cluster: &ClusterSpec, producers: u32, seed: u64) -> Vec<Fault> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5357_4152_4d00_0000);
    let kinds: Vec<&str> = if sw.kinds.is_empty() {
        SWARM_DEFAULT_KINDS.to_vec()
    } else {
        sw.kinds.iter().map(String::as_str).collect()
    };
    let [start, end] = sw.window_ms;
    let mut out = Vec::new();
    let ms = Duration::from_millis;
    for _ in 0..sw.faults {
        let at_ms = rng.gen_range(start..end);
        let heal_ms = rng.gen_range(at_ms + 1..=end);
        let (at, heal) = (ms(at_ms), ms(heal_ms));
        let broker = Target::Broker(rng.gen_range(0..cluster.brokers));
        let producer = Target::Producer(rng.gen_range(0..producers));
        let topic = &cluster.topics[rng.gen_range(0..cluster.topics.len())];
        let part = rng.gen_range(0..topic.partitions) as i32;
        let healed = |a: Action| Fault::healed(at, a, heal);
        let inject =
            |what, times| Fault::once(at, Action::Inject(topic.name.clone(), part, what, times));
        let fault = match kinds[rng.gen_range(0..kinds.len())] {
            "partition" => healed(Action::Partition(producer, broker)),
            "partition_oneway" => {
                let (a, b) = if rng.gen_bool(0.5) {
                    (producer, broker)
                } else {
                    (broker, producer)
                };
                healed(Action::PartitionOneway(a, b))
            }
            "hold" => healed(Action::Hold(producer, broker)),
            "latency" => healed(Action::Latency(
                producer,
                broker,
                ms(rng.gen_range(20..400)),
            )),
            "drop_rate" => healed(Action::DropRate(producer, broker, rng.gen_range(0.01..0.2))),
            "crash" => healed(Action::Crash(broker)),
            "move_leader" => Fault::once(at, Action::MoveLeader(topic.name.clone(), part)),
            "stale_metadata" => Fault::once(at, Action::StaleMetadata(rng.gen_range(1..4))),
            "hold_response" => inject(Injection::HoldResponse, rng.gen_range(1..4)),
            "crash_after_append" => inject(
                Injection::CrashAfterAppend(Some((heal - at).as_millis() as u64)),
                1,
            ),
            "too_large" => inject(
                Injection::Error(producer_core::error::code::MESSAGE_TOO_LARGE),
                rng.gen_range(1..3),
            ),
            "triggered_crash" => Fault {
                when: Some(Trigger {
                    api: TriggerApi::Produce,
                    count: rng.gen_range(1..6),
                    producer: Some(rng.gen_range(0..producers)),
                    partition: Some((topic.name.clone(), part)),
                    broker: None,
                    sequence: None,
                }),
                ..healed(Action::Crash(Target::Leader(topic.name.clone(), part)))
            },
            _ => {
                let what = INJECT_CHOICES[rng.gen_range(0..INJECT_CHOICES.len())];
                inject(what, rng.gen_range(1..4))
            }
        };
        out.push(fault);
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
            .filter(|f| matches!(f.action, Action::Inject(_, _, Injection::Error(10), _)))
            .count()
    }

    #[test]
    fn too_large_is_drawn_only_when_a_scenario_names_it() {
        assert_eq!(
            too_large_faults(&[], 500),
            0,
            "the default kinds never inject 10"
        );
        let drawn = too_large_faults(&SWARM_KINDS, 500);
        // 6 faults x 500 seeds, 1 kind in 13: about 230.
        assert!((150..320).contains(&drawn), "{drawn} too_large faults");
        assert_eq!(too_large_faults(&["too_large"], 10), 60);
    }
}
