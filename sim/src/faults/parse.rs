//! `[[faults]]` entries as a scenario file writes them, checked against the
//! cluster and turned into a [`Fault`] schedule.

use super::kinds::{fault_kind, fault_kind_names};
use super::{Fault, Target, Trigger, TriggerApi};
use crate::cluster::ClusterSpec;
use crate::scenario::{Reporter, ScenarioError};
use producer_core::TopicPartition;
use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

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
    cluster: &'a ClusterSpec,
    producers: u32,
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

/// The trigger a `when` table describes.
fn trigger(w: &WhenFile, ctx: &Ctx) -> Result<Trigger, String> {
    let api = match w.after.as_deref().unwrap_or("produce") {
        "produce" => TriggerApi::Produce,
        "metadata" => TriggerApi::Metadata,
        "init_producer_id" => TriggerApi::InitProducerId,
        other => {
            return Err(format!(
                "`when.after` = \"{other}\": expected produce, metadata or init_producer_id"
            ))
        }
    };
    let partition = w
        .partition
        .as_deref()
        .map(|p| ctx.partition(p))
        .transpose()?;
    if partition.is_some() && api != TriggerApi::Produce {
        return Err("`when.partition` counts produce requests only".into());
    }
    if w.sequence.is_some() && partition.is_none() {
        return Err("`when.sequence` needs `when.partition`".into());
    }
    let broker = match w.broker.as_deref().map(|b| ctx.target(b)).transpose()? {
        None => None,
        Some(Target::Broker(b)) => Some(b as i32),
        Some(t) => return Err(format!("`when.broker` = `{t}`: expected broker-N")),
    };
    if let Some(p) = w.producer {
        if p >= ctx.producers {
            return Err(format!(
                "`when.producer` = {p}: producers are 0..{}",
                ctx.producers
            ));
        }
    }
    Ok(Trigger {
        api,
        count: w.count.unwrap_or(1).max(1),
        producer: w.producer,
        partition,
        broker,
        sequence: w.sequence,
    })
}

/// `times`, at least 1 (default 1).
pub(super) fn times(f: &FaultFile) -> Result<u32, String> {
    match f.times.unwrap_or(1) {
        0 => Err("`times` must be at least 1".into()),
        n => Ok(n),
    }
}

fn resolve_one(f: &FaultFile, ctx: &Ctx) -> Result<Fault, String> {
    if f.at_ms.is_none() && f.when.is_none() {
        return Err(
            "needs `at_ms` (when it fires) or `when` (the protocol event that fires it)".into(),
        );
    }
    let at = Duration::from_millis(f.at_ms.unwrap_or(0));
    let when = f.when.as_ref().map(|w| trigger(w, ctx)).transpose()?;
    // An injected crash after append takes `heal_after_ms` as its restart delay.
    let restart_delay = f.action == "inject"
        && matches!(&f.error, Some(ErrorFile::Name(n)) if n == "crash_after_append");
    let heal = f
        .heal_after_ms
        .filter(|_| !restart_delay)
        .map(|h| at + Duration::from_millis(h));
    let kind = fault_kind(&f.action).ok_or_else(|| {
        format!(
            "unknown fault action `{}`; expected {}",
            f.action,
            fault_kind_names()
        )
    })?;
    let action = (kind.parse)(f, ctx)?;
    if heal.is_some() && !kind.heals {
        return Err(format!(
            "`heal_after_ms` does not apply to `{}`: it has nothing to undo",
            f.action
        ));
    }
    Ok(Fault {
        at,
        action,
        heal_at: heal,
        when,
    })
}

/// Resolves every `[[faults]]` entry, checking targets and times; every bad
/// entry adds its error to `errors` and is left out.
pub fn resolve_all(
    faults: &[Spanned<FaultFile>],
    cluster: &ClusterSpec,
    producers: u32,
    duration: Duration,
    r: &Reporter<'_>,
    errors: &mut Vec<ScenarioError>,
) -> Vec<Fault> {
    let ctx = Ctx { cluster, producers };
    let mut out = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        let ff = f.get_ref();
        let fault = match resolve_one(ff, &ctx) {
            Ok(fault) => fault,
            Err(m) => {
                errors.push(r.at(f, format!("fault #{} (`{}`): {m}", i + 1, ff.action)));
                continue;
            }
        };
        if fault.when.is_none() && fault.last_change() >= duration {
            errors.push(r.at(
                f,
                format!(
                    "fault #{} (`{}`) {} at {} ms, after the end of the run ({} ms): raise `duration_s` or move the fault",
                    i + 1,
                    ff.action,
                    if fault.heal_at.is_some() { "heals" } else { "fires" },
                    fault.last_change().as_millis(),
                    duration.as_millis()
                ),
            ));
            continue;
        }
        out.push(fault);
    }
    out.sort_by_key(|f| f.at);
    out
}
