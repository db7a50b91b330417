//! The `[[faults]]` entries as a scenario file writes them (`FaultFile` and its
//! parts), and what their fields are checked against ([`Ctx`]): read by
//! [`super::parse`], which turns an entry into a fault, and by the table of
//! fault kinds ([`super::kinds`]), which reads each kind's fields.

use super::Target;
use crate::cluster::ClusterSpec;
use producer_core::TopicPartition;
use serde::Deserialize;

/// `error = 6` or `error = "lost_response"`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum ErrorFile {
    /// A Kafka error code.
    Code(i16),
    /// A named injection.
    Name(String),
}

/// One `[[faults]]` entry as written.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultFile {
    /// When, in simulated milliseconds from the start (with `when`: from when
    /// on the trigger is armed; default 0).
    pub at_ms: Option<u64>,
    /// The protocol event that fires the fault (instead of a time).
    pub when: Option<WhenFile>,
    /// What: crash, restart, partition, partition_oneway, repair, hold, release,
    /// latency, drop_rate, move_leader, expire_producers, inject.
    pub action: String,
    /// Host for crash / restart: `broker-N`, `leader(topic, p)` or `brokers`.
    pub target: Option<String>,
    /// Two host groups for partition / repair / hold / release / latency / drop_rate.
    pub between: Option<[String; 2]>,
    /// Source hosts of a one-way partition.
    pub from: Option<String>,
    /// Destination hosts of a one-way partition.
    pub to: Option<String>,
    /// Undo the fault this long after it started (repair, release, restart, restore).
    pub heal_after_ms: Option<u64>,
    /// Latency for `latency`.
    pub latency_ms: Option<u64>,
    /// Message loss for `drop_rate` (0..=1).
    pub rate: Option<f64>,
    /// `topic/p` for move_leader and inject.
    pub partition: Option<String>,
    /// What inject does.
    pub error: Option<ErrorFile>,
    /// How many produce requests inject affects.
    pub times: Option<u32>,
}

/// `when = { after = "produce", count = 3, producer = 1, partition = "events/0" }`:
/// fire once the brokers have handled that many matching requests, or
/// `when = { sequence = 5, partition = "events/0" }`: once a batch with that base
/// sequence arrives.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WhenFile {
    /// `produce`, `metadata` or `init_producer_id` (default `produce`).
    pub after: Option<String>,
    /// The n-th matching request (default 1).
    pub count: Option<u64>,
    /// Only requests of this producer.
    pub producer: Option<u32>,
    /// Only produce requests carrying a batch for this `topic/p`.
    pub partition: Option<String>,
    /// Only requests this broker (`broker-N`) handled.
    pub broker: Option<String>,
    /// Only batches whose sequences include this one (needs `partition`).
    pub sequence: Option<i32>,
}

/// What a fault's fields are checked against.
pub(super) struct Ctx<'a> {
    /// The cluster the faults act on: its brokers, topics and partitions.
    pub(super) cluster: &'a ClusterSpec,
    /// How many producers the scenario runs (`producer-N` targets).
    pub(super) producers: u32,
}

impl Ctx<'_> {
    /// A host or host group as written.
    pub(super) fn target(&self, s: &str) -> Result<Target, String> {
        let s = s.trim();
        if s == "brokers" {
            return Ok(Target::AllBrokers);
        }
        if s == "producers" {
            return Ok(Target::AllProducers);
        }
        if let Some(n) = s.strip_prefix("broker-") {
            let i: u32 = n
                .parse()
                .map_err(|_| format!("`{s}`: broker index is not a number"))?;
            if i >= self.cluster.brokers {
                return Err(format!(
                    "`{s}`: broker index out of range (brokers 0..{})",
                    self.cluster.brokers
                ));
            }
            return Ok(Target::Broker(i));
        }
        if let Some(n) = s.strip_prefix("producer-") {
            let i: u32 = n
                .parse()
                .map_err(|_| format!("`{s}`: producer index is not a number"))?;
            if i >= self.producers {
                return Err(format!(
                    "`{s}`: producer index out of range (producers 0..{})",
                    self.producers
                ));
            }
            return Ok(Target::Producer(i));
        }
        if let Some(inner) = s.strip_prefix("leader(").and_then(|r| r.strip_suffix(')')) {
            return Ok(Target::Leader(self.partition(&inner.replace(',', "/"))?));
        }
        Err(format!(
            "unknown fault target `{s}`; expected broker-N, producer-N, leader(topic, p), brokers or producers"
        ))
    }

    /// `topic/p` of the cluster.
    pub(super) fn partition(&self, s: &str) -> Result<TopicPartition, String> {
        let (t, p) = s
            .rsplit_once('/')
            .ok_or_else(|| format!("`{s}` is not topic/partition"))?;
        let (t, p) = (t.trim(), p.trim());
        let p: i32 = p
            .parse()
            .map_err(|_| format!("`{s}`: partition is not a number"))?;
        let topic = self
            .cluster
            .topics
            .iter()
            .find(|x| x.name == t)
            .ok_or_else(|| format!("`{s}`: no topic `{t}` in the cluster"))?;
        if p < 0 || p as u32 >= topic.partitions {
            return Err(format!(
                "`{s}`: partition out of range (0..{})",
                topic.partitions
            ));
        }
        Ok(TopicPartition::new(t, p))
    }

    /// Refuses targets that are not brokers.
    pub(super) fn brokers_only(&self, t: &Target, what: &str) -> Result<(), String> {
        match t {
            Target::Broker(_) | Target::Leader(..) | Target::AllBrokers => Ok(()),
            _ => Err(format!("{what} needs a broker target, not `{t}`")),
        }
    }

    /// The two different host groups of `between`.
    pub(super) fn pair(&self, f: &FaultFile) -> Result<(Target, Target), String> {
        let [a, b] = need(
            &f.between,
            &f.action,
            "between",
            "[\"producer-0\", \"broker-1\"]",
        )?;
        let (a, b) = (self.target(a)?, self.target(b)?);
        if a == b {
            return Err(format!("`between` names `{a}` twice"));
        }
        Ok((a, b))
    }
}

/// The field `field` of `action`, or an error with an example.
pub(super) fn need<'a, T>(
    v: &'a Option<T>,
    action: &str,
    field: &str,
    example: &str,
) -> Result<&'a T, String> {
    v.as_ref()
        .ok_or_else(|| format!("`{action}` needs `{field}` (for example `{field} = {example}`)"))
}

/// `times`, at least 1 (default 1).
pub(super) fn times(f: &FaultFile) -> Result<u32, String> {
    match f.times.unwrap_or(1) {
        0 => Err("`times` must be at least 1".into()),
        n => Ok(n),
    }
}
