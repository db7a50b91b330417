//! Faults: how a scenario file writes them, how they are checked against the
//! cluster, how a swarm schedule is drawn from a seed, and how the world applies
//! them to turmoil and to the cluster state.

use crate::cluster::{ClusterSpec, Injection};
use crate::scenario::{Reporter, ScenarioError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use std::fmt;
use std::time::Duration;
use toml::Spanned;

/// `error = 6` or `error = "lost_response"`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum ErrorFile {
    /// A Kafka error code.
    Code(i16),
    /// A named injection.
    Name(String),
}

/// One `[[faults]]` entry as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultFile {
    /// When, in simulated milliseconds from the start.
    pub at_ms: u64,
    /// What: crash, restart, partition, partition_oneway, repair, hold, release,
    /// latency, drop_rate, move_leader, inject.
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

/// `[swarm]`: faults drawn from the seed.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SwarmFile {
    /// How many faults to draw.
    pub faults: u32,
    /// Kinds to draw from (default: all).
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Faults start within `[start, end]` ms and all heal by `end`.
    pub window_ms: [u64; 2],
}

/// A host or group of hosts a fault names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `broker-N`.
    Broker(u32),
    /// `producer-N`.
    Producer(u32),
    /// `leader(topic, p)`: whoever leads the partition when the fault fires.
    Leader(String, i32),
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
            Target::Leader(t, p) => write!(f, "leader({t}, {p})"),
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
    /// Fixed latency on the links between two groups (`None` restores the default).
    Latency(Target, Target, Option<Duration>),
    /// Message loss on the links between two groups.
    DropRate(Target, Target, f64),
    /// Take leadership of a partition away from its leader.
    MoveLeader(String, i32),
    /// Broker-side injection for the next produce requests of a partition.
    Inject(String, i32, Injection, u32),
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
            Action::Latency(a, b, Some(d)) => write!(f, "latency {a} <-> {b} {}ms", d.as_millis()),
            Action::Latency(a, b, None) => write!(f, "latency {a} <-> {b} restored"),
            Action::DropRate(a, b, r) => write!(f, "drop rate {a} <-> {b} {r}"),
            Action::MoveLeader(t, p) => write!(f, "move leader of {t}/{p}"),
            Action::Inject(t, p, Injection::Error(c), n) => {
                write!(
                    f,
                    "inject error {c} ({}) x{n} on {t}/{p}",
                    producer_core::error::code::name(*c)
                )
            }
            Action::Inject(t, p, Injection::LoseResponse, n) => {
                write!(f, "inject lost response x{n} on {t}/{p}")
            }
        }
    }
}

/// A resolved fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// When it fires.
    pub at: Duration,
    /// What it does.
    pub action: Action,
}

impl Fault {
    /// True for faults that start trouble (as opposed to healing it).
    pub fn is_disruptive(&self) -> bool {
        !matches!(
            self.action,
            Action::Restart(_)
                | Action::Repair(..)
                | Action::RepairOneway(..)
                | Action::Release(..)
                | Action::Latency(_, _, None)
                | Action::DropRate(_, _, 0.0)
        )
    }
}

/// Error codes `inject` accepts.
pub const INJECTABLE: [i16; 8] = [3, 6, 7, 10, 19, 20, 45, 47];

/// The fault kinds a swarm can draw.
pub const SWARM_KINDS: [&str; 8] = [
    "partition",
    "partition_oneway",
    "hold",
    "latency",
    "drop_rate",
    "crash",
    "move_leader",
    "inject",
];

struct Ctx<'a> {
    cluster: &'a ClusterSpec,
    producers: u32,
}

impl Ctx<'_> {
    fn target(&self, s: &str) -> Result<Target, String> {
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
            let (t, p) = self.partition(&inner.replace(',', "/"))?;
            return Ok(Target::Leader(t, p));
        }
        Err(format!(
            "unknown fault target `{s}`; expected broker-N, producer-N, leader(topic, p), brokers or producers"
        ))
    }

    fn partition(&self, s: &str) -> Result<(String, i32), String> {
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
        Ok((t.to_string(), p))
    }

    fn brokers_only(&self, t: &Target, what: &str) -> Result<(), String> {
        match t {
            Target::Broker(_) | Target::Leader(..) | Target::AllBrokers => Ok(()),
            _ => Err(format!("{what} needs a broker target, not `{t}`")),
        }
    }
}

fn need<'a, T>(
    v: &'a Option<T>,
    action: &str,
    field: &str,
    example: &str,
) -> Result<&'a T, String> {
    v.as_ref()
        .ok_or_else(|| format!("`{action}` needs `{field}` (for example `{field} = {example}`)"))
}

fn resolve_one(f: &FaultFile, ctx: &Ctx) -> Result<Vec<Fault>, String> {
    let at = Duration::from_millis(f.at_ms);
    let pair = |ctx: &Ctx| -> Result<(Target, Target), String> {
        let [a, b] = need(
            &f.between,
            &f.action,
            "between",
            "[\"producer-0\", \"broker-1\"]",
        )?;
        let (a, b) = (ctx.target(a)?, ctx.target(b)?);
        if a == b {
            return Err(format!("`between` names `{a}` twice"));
        }
        Ok((a, b))
    };
    let heal = f.heal_after_ms.map(|h| at + Duration::from_millis(h));
    let mut out = Vec::new();
    let mut push = |action: Action, undo: Option<Action>| {
        out.push(Fault { at, action });
        if let (Some(t), Some(u)) = (heal, undo) {
            out.push(Fault { at: t, action: u });
        }
    };
    match f.action.as_str() {
        "crash" => {
            let t = ctx.target(need(&f.target, "crash", "target", "\"broker-1\"")?)?;
            ctx.brokers_only(&t, "crash")?;
            let undo = Action::Restart(t.clone());
            push(Action::Crash(t), Some(undo));
        }
        "restart" => {
            let t = ctx.target(need(&f.target, "restart", "target", "\"broker-1\"")?)?;
            ctx.brokers_only(&t, "restart")?;
            if matches!(t, Target::Leader(..)) {
                return Err("restart needs broker-N or brokers: a crashed broker leads nothing".into());
            }
            push(Action::Restart(t), None);
        }
        "partition" => {
            let (a, b) = pair(ctx)?;
            push(Action::Partition(a.clone(), b.clone()), Some(Action::Repair(a, b)));
        }
        "partition_oneway" => {
            let a = ctx.target(need(&f.from, "partition_oneway", "from", "\"broker-0\"")?)?;
            let b = ctx.target(need(&f.to, "partition_oneway", "to", "\"producer-0\"")?)?;
            if a == b {
                return Err(format!("`from` and `to` are both `{a}`"));
            }
            push(Action::PartitionOneway(a.clone(), b.clone()), Some(Action::RepairOneway(a, b)));
        }
        "repair" => {
            let (a, b) = pair(ctx)?;
            push(Action::Repair(a, b), None);
        }
        "hold" => {
            let (a, b) = pair(ctx)?;
            push(Action::Hold(a.clone(), b.clone()), Some(Action::Release(a, b)));
        }
        "release" => {
            let (a, b) = pair(ctx)?;
            push(Action::Release(a, b), None);
        }
        "latency" => {
            let (a, b) = pair(ctx)?;
            let ms = *need(&f.latency_ms, "latency", "latency_ms", "50")?;
            push(
                Action::Latency(a.clone(), b.clone(), Some(Duration::from_millis(ms))),
                Some(Action::Latency(a, b, None)),
            );
        }
        "drop_rate" => {
            let (a, b) = pair(ctx)?;
            let rate = *need(&f.rate, "drop_rate", "rate", "0.05")?;
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("`rate` = {rate} is outside 0..=1"));
            }
            push(Action::DropRate(a.clone(), b.clone(), rate), Some(Action::DropRate(a, b, 0.0)));
        }
        "move_leader" => {
            let (t, p) = ctx.partition(need(&f.partition, "move_leader", "partition", "\"events/0\"")?)?;
            push(Action::MoveLeader(t, p), None);
        }
        "inject" => {
            let (t, p) = ctx.partition(need(&f.partition, "inject", "partition", "\"events/0\"")?)?;
            let what = match need(&f.error, "inject", "error", "6")? {
                ErrorFile::Code(c) if INJECTABLE.contains(c) => Injection::Error(*c),
                ErrorFile::Code(c) => {
                    return Err(format!("`error` = {c} cannot be injected; expected one of {INJECTABLE:?} or \"lost_response\""))
                }
                ErrorFile::Name(n) if n == "lost_response" => Injection::LoseResponse,
                ErrorFile::Name(n) => return Err(format!("`error` = \"{n}\": expected a code or \"lost_response\"")),
            };
            let times = f.times.unwrap_or(1);
            if times == 0 {
                return Err("`times` must be at least 1".into());
            }
            push(Action::Inject(t, p, what, times), None);
        }
        other => {
            return Err(format!(
                "unknown fault action `{other}`; expected crash, restart, partition, partition_oneway, repair, hold, release, latency, drop_rate, move_leader or inject"
            ))
        }
    }
    Ok(out)
}

/// Resolves every `[[faults]]` entry, checking targets and times.
pub fn resolve_all(
    faults: &[Spanned<FaultFile>],
    cluster: &ClusterSpec,
    producers: u32,
    duration: Duration,
    r: &Reporter<'_>,
) -> Result<Vec<Fault>, ScenarioError> {
    let ctx = Ctx { cluster, producers };
    let mut out = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        let ff = f.get_ref();
        let resolved = resolve_one(ff, &ctx)
            .map_err(|m| r.at(f, format!("fault #{} (`{}`): {m}", i + 1, ff.action)))?;
        for x in &resolved {
            if x.at >= duration {
                return Err(r.at(
                    f,
                    format!(
                        "fault #{} (`{}`) fires at {} ms, after the end of the run ({} ms)",
                        i + 1,
                        ff.action,
                        x.at.as_millis(),
                        duration.as_millis()
                    ),
                ));
            }
        }
        out.extend(resolved);
    }
    out.sort_by_key(|f| f.at);
    Ok(out)
}

/// Checks a `[swarm]` section.
pub fn check_swarm(s: &Spanned<SwarmFile>, r: &Reporter<'_>) -> Result<(), ScenarioError> {
    let sw = s.get_ref();
    if sw.window_ms[0] >= sw.window_ms[1] {
        return Err(r.at(s, "`swarm.window_ms` must be [start, end] with start < end"));
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
        SWARM_KINDS.to_vec()
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
        let mut pair = |a: Action, b: Action| {
            out.push(Fault { at, action: a });
            out.push(Fault {
                at: heal,
                action: b,
            });
        };
        match kinds[rng.gen_range(0..kinds.len())] {
            "partition" => pair(
                Action::Partition(producer.clone(), broker.clone()),
                Action::Repair(producer, broker),
            ),
            "partition_oneway" => {
                let (a, b) = if rng.gen_bool(0.5) {
                    (producer, broker)
                } else {
                    (broker, producer)
                };
                pair(
                    Action::PartitionOneway(a.clone(), b.clone()),
                    Action::RepairOneway(a, b),
                )
            }
            "hold" => pair(
                Action::Hold(producer.clone(), broker.clone()),
                Action::Release(producer, broker),
            ),
            "latency" => {
                let d = ms(rng.gen_range(20..400));
                pair(
                    Action::Latency(producer.clone(), broker.clone(), Some(d)),
                    Action::Latency(producer, broker, None),
                )
            }
            "drop_rate" => {
                let rate = rng.gen_range(0.01..0.2);
                pair(
                    Action::DropRate(producer.clone(), broker.clone(), rate),
                    Action::DropRate(producer, broker, 0.0),
                )
            }
            "crash" => pair(Action::Crash(broker.clone()), Action::Restart(broker)),
            "move_leader" => out.push(Fault {
                at,
                action: Action::MoveLeader(topic.name.clone(), part),
            }),
            _ => {
                let choices: [Injection; 8] = [
                    Injection::Error(6),
                    Injection::Error(7),
                    Injection::Error(19),
                    Injection::Error(20),
                    Injection::Error(45),
                    Injection::Error(47),
                    Injection::LoseResponse,
                    Injection::LoseResponse,
                ];
                let what = choices[rng.gen_range(0..choices.len())];
                out.push(Fault {
                    at,
                    action: Action::Inject(topic.name.clone(), part, what, rng.gen_range(1..4)),
                });
            }
        }
    }
    out.sort_by_key(|f| f.at);
    out
}
