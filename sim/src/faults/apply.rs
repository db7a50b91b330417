//! Applying a fault schedule to a running cluster: one path for the simulated
//! world and for `sim serve`, which differ only in their [`FaultSink`].
//!
//! A fault's target resolves once, when the fault fires: `leader(events, 0)`
//! becomes the broker leading that partition at that moment, `brokers` every
//! broker. The heal undoes exactly what the fault did then. Faults may overlap:
//! a broker stays down while any crash fault holds it, and a link stays cut (or
//! held, slowed, lossy) while any fault on it is unhealed, so one heal never
//! cancels another fault that is still on. Explicit `restart`, `repair` and
//! `release` actions end every fault on what they name.

use super::{Action, Fault, Target};
use crate::cluster::Change;
use crate::cluster::Cluster;
use producer_core::TopicPartition;
use std::cell::RefMut;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// A concrete host of the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Host {
    /// Broker with this id.
    Broker(u32),
    /// Producer with this index.
    Producer(u32),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Broker(b) => write!(f, "broker-{b}"),
            Host::Producer(p) => write!(f, "producer-{p}"),
        }
    }
}

/// A change to the links from one host to another.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LinkChange {
    /// Drop everything, both ways.
    Partition,
    /// Undo `Partition`.
    Repair,
    /// Drop everything from the first host to the second.
    PartitionOneway,
    /// Undo `PartitionOneway`.
    RepairOneway,
    /// Queue messages until released.
    Hold,
    /// Deliver what was held.
    Release,
    /// Fixed latency.
    Latency(Duration),
    /// Back to the world's default latency.
    DefaultLatency,
    /// Message loss rate.
    DropRate(f64),
    /// No message loss.
    NoDrops,
}

/// What a fault acts on: the cluster state plus whatever runs the hosts.
pub trait FaultSink {
    /// The cluster state brokers answer from.
    fn cluster(&self) -> RefMut<'_, Cluster>;
    /// Number of producers (for `producers` targets).
    fn producers(&self) -> u32;
    /// Stops broker `b`'s host (its connections close).
    fn stop_broker(&mut self, b: u32);
    /// Starts broker `b`'s host again.
    fn start_broker(&mut self, b: u32);
    /// Changes the link `a` -> `b` (both ways unless one-way). `Err` when this
    /// sink has no simulated network.
    fn link(&mut self, change: LinkChange, a: Host, b: Host) -> Result<(), String>;
}

/// The link kinds whose overlapping faults are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum LinkKind {
    Partition,
    Oneway,
    Hold,
    Latency,
    Drops,
}

/// What one fault did when it fired: what its heal must undo.
#[derive(Clone, Debug, Default)]
struct Effect {
    brokers: Vec<u32>,
    links: Vec<(LinkKind, Host, Host)>,
}

/// One start or heal as it was applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// What it did, with the concrete hosts.
    pub description: String,
    /// What kind of change it made.
    pub change: Change,
    /// It undid an earlier fault.
    pub heal: bool,
}

enum Step {
    Start(usize),
    Heal(usize),
}

/// Plays a fault schedule: call [`FaultRunner::apply_due`] with the current
/// time as often as you like; it applies every start and heal that is due, in
/// time order (a fault's start before any heal at the same instant that comes
/// later in the schedule).
pub struct FaultRunner {
    faults: Vec<Fault>,
    steps: Vec<(Duration, Step)>,
    next: usize,
    /// Triggered faults not fired yet, with their matches so far.
    armed: Vec<(usize, u64)>,
    /// How far the brokers' record of handled requests has been read.
    seen_cursor: usize,
    /// Triggered faults fired so far.
    fired: u64,
    effects: Vec<Option<Effect>>,
    crash_holds: BTreeMap<u32, u32>,
    link_holds: BTreeMap<(LinkKind, Host, Host), u32>,
}

impl FaultRunner {
    /// A runner for `faults` (in any order).
    pub fn new(faults: Vec<Fault>) -> Self {
        let mut steps: Vec<(Duration, Step)> = Vec::new();
        let mut armed = Vec::new();
        for (i, f) in faults.iter().enumerate() {
            if f.when.is_some() {
                armed.push((i, 0));
                continue;
            }
            steps.push((f.at, Step::Start(i)));
            if let Some(h) = f.heal_at {
                steps.push((h, Step::Heal(i)));
            }
        }
        steps.sort_by_key(|(t, _)| *t);
        FaultRunner {
            effects: vec![None; faults.len()],
            faults,
            steps,
            next: 0,
            armed,
            seen_cursor: 0,
            fired: 0,
            crash_holds: BTreeMap::new(),
            link_holds: BTreeMap::new(),
        }
    }

    /// The schedule.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// True while a start or heal is still to come.
    pub fn pending(&self) -> bool {
        self.next < self.steps.len()
    }

    /// When the last start or heal fires (zero for an empty schedule).
    pub fn last_change(&self) -> Duration {
        self.steps.last().map_or(Duration::ZERO, |(t, _)| *t)
    }

    /// Triggered faults that fired so far.
    pub fn triggers_fired(&self) -> u64 {
        self.fired
    }

    /// Applies every step due at `now`, every trigger the brokers' handled
    /// requests reached and every crash a broker asked for, then the leader
    /// elections that are due (a crash's failover, a moved leader); returns
    /// what each did.
    pub fn apply_due(&mut self, now: Duration, sink: &mut dyn FaultSink) -> Vec<Applied> {
        let mut out = Vec::new();
        let requests = std::mem::take(&mut sink.cluster().crash_requests);
        for (broker, restart_ms) in requests {
            let crash = Action::Crash(Target::Broker(broker as u32));
            let fault = match restart_ms {
                Some(ms) => Fault::healed(now, crash, now + Duration::from_millis(ms)),
                None => Fault::once(now, crash),
            };
            out.push(self.fire(fault, "after an append, before its answer: ", now, sink));
        }
        if !self.armed.is_empty() {
            out.extend(self.check_triggers(now, sink));
        }
        while let Some((at, step)) = self.steps.get(self.next) {
            if *at > now {
                break;
            }
            self.next += 1;
            out.push(match *step {
                Step::Start(i) => {
                    let action = self.faults[i].action.clone();
                    let (effect, note, change) = self.start(&action, now, sink);
                    self.effects[i] = Some(effect);
                    Applied {
                        description: format!("{action}{note}"),
                        change,
                        heal: false,
                    }
                }
                Step::Heal(i) => {
                    let effect = self.effects[i].take().unwrap_or_default();
                    let (note, change) = self.heal(&effect, sink);
                    let action = &self.faults[i].action;
                    Applied {
                        description: format!("heal {action}:{note}"),
                        change,
                        heal: true,
                    }
                }
            });
        }
        let elected = sink.cluster().run_elections(now);
        if elected > 0 {
            out.push(Applied {
                description: format!("{elected} partition(s) elected a new leader"),
                change: Change::Election,
                heal: false,
            });
        }
        out
    }

    /// Adds `fault` to the schedule and starts it now; its heal (if any) comes
    /// as long after now as the fault says.
    fn fire(
        &mut self,
        fault: Fault,
        why: &str,
        now: Duration,
        sink: &mut dyn FaultSink,
    ) -> Applied {
        let i = self.faults.len();
        let heal_after = fault.heal_at.map(|h| h.saturating_sub(fault.at));
        self.faults.push(fault);
        self.effects.push(None);
        self.start_index(i, why, now, heal_after, sink)
    }

    fn start_index(
        &mut self,
        i: usize,
        why: &str,
        now: Duration,
        heal_after: Option<Duration>,
        sink: &mut dyn FaultSink,
    ) -> Applied {
        let action = self.faults[i].action.clone();
        let (effect, note, change) = self.start(&action, now, sink);
        self.effects[i] = Some(effect);
        if let Some(d) = heal_after {
            let at = now + d;
            let pos = self.next + self.steps[self.next..].partition_point(|(t, _)| *t <= at);
            self.steps.insert(pos, (at, Step::Heal(i)));
        }
        Applied {
            description: format!("{why}{action}{note}"),
            change,
            heal: false,
        }
    }

    /// Fires the armed faults whose triggers the newly handled requests reached.
    fn check_triggers(&mut self, now: Duration, sink: &mut dyn FaultSink) -> Vec<Applied> {
        let seen = {
            let mut c = sink.cluster();
            c.recording = true;
            let new = c.seen[self.seen_cursor.min(c.seen.len())..].to_vec();
            self.seen_cursor = c.seen.len();
            new
        };
        let mut due = Vec::new();
        for s in &seen {
            for (i, count) in &mut self.armed {
                let f = &self.faults[*i];
                let Some(t) = f.when.as_ref().filter(|_| f.at <= now) else {
                    continue;
                };
                if *count < t.count {
                    *count += t.matches(s);
                    if *count >= t.count {
                        due.push(*i);
                    }
                }
            }
        }
        self.armed.retain(|(i, _)| !due.contains(i));
        due.into_iter()
            .map(|i| {
                self.fired += 1;
                let f = &self.faults[i];
                let why = format!(
                    "after {}: ",
                    f.when.as_ref().expect("armed faults have triggers")
                );
                let heal_after = f.heal_at.map(|h| h.saturating_sub(f.at));
                self.start_index(i, &why, now, heal_after, sink)
            })
            .collect()
    }

    /// Applies `action` now, outside the schedule (never healed).
    pub fn apply_now(
        &mut self,
        action: &Action,
        now: Duration,
        sink: &mut dyn FaultSink,
    ) -> String {
        let (_, note, _) = self.start(action, now, sink);
        format!("{action}{note}")
    }

    fn start(
        &mut self,
        action: &Action,
        now: Duration,
        sink: &mut dyn FaultSink,
    ) -> (Effect, String, Change) {
        let mut effect = Effect::default();
        let mut note = String::new();
        let change = match action {
            Action::Crash(t) => {
                let brokers = brokers_of(t, &sink.cluster());
                for b in brokers {
                    let holds = self.crash_holds.entry(b).or_default();
                    *holds += 1;
                    if *holds == 1 && sink.cluster().is_up(b as i32) {
                        sink.cluster().crash(b as i32, now);
                        sink.stop_broker(b);
                        note += &format!(" broker-{b}");
                    }
                    effect.brokers.push(b);
                }
                if effect.brokers.is_empty() {
                    note = " (no leader at that time: nothing crashed)".into();
                    Change::Nothing
                } else if note.is_empty() {
                    note = " (already down)".into();
                    Change::Nothing
                } else {
                    Change::Crash
                }
            }
            Action::Restart(t) => {
                let brokers = brokers_of(t, &sink.cluster());
                for b in brokers {
                    self.crash_holds.remove(&b);
                    if restart(b, sink) {
                        note += &format!(" broker-{b}");
                    }
                }
                if note.is_empty() {
                    note = " (nothing was down)".into();
                    Change::Nothing
                } else {
                    Change::Restart
                }
            }
            Action::MoveLeader(TopicPartition {
                topic,
                partition: p,
            }) => {
                let old = sink.cluster().partition(topic, *p).and_then(|x| x.leader);
                sink.cluster().move_leader(topic, *p, now);
                note = format!(
                    " (was broker-{})",
                    old.map_or("none".into(), |b| b.to_string())
                );
                Change::LeaderMove
            }
            Action::Inject(
                TopicPartition {
                    topic,
                    partition: p,
                },
                what,
                times,
            ) => {
                sink.cluster().inject(topic, *p, *what, *times);
                Change::Injection
            }
            Action::StaleMetadata(n) => {
                sink.cluster().stale_metadata += n;
                Change::Injection
            }
            Action::ExpireProducers(TopicPartition {
                topic,
                partition: p,
            }) => {
                sink.cluster().expire_producers(topic, *p);
                Change::ProducersExpired
            }
            _ => return self.start_links(action, sink),
        };
        (effect, note, change)
    }

    fn start_links(
        &mut self,
        action: &Action,
        sink: &mut dyn FaultSink,
    ) -> (Effect, String, Change) {
        let (kind, change, a, b) = match action {
            Action::Partition(a, b) => (Some(LinkKind::Partition), LinkChange::Partition, a, b),
            Action::PartitionOneway(a, b) => {
                (Some(LinkKind::Oneway), LinkChange::PartitionOneway, a, b)
            }
            Action::Hold(a, b) => (Some(LinkKind::Hold), LinkChange::Hold, a, b),
            Action::Latency(a, b, d) => (Some(LinkKind::Latency), LinkChange::Latency(*d), a, b),
            Action::DropRate(a, b, r) => (Some(LinkKind::Drops), LinkChange::DropRate(*r), a, b),
            Action::Repair(a, b) => (None, LinkChange::Repair, a, b),
            Action::RepairOneway(a, b) => (None, LinkChange::RepairOneway, a, b),
            Action::Release(a, b) => (None, LinkChange::Release, a, b),
            _ => unreachable!("broker actions are handled by start"),
        };
        let pairs = {
            let cluster = sink.cluster();
            pairs_of(a, b, &cluster, sink.producers())
        };
        let mut effect = Effect::default();
        let mut note = String::new();
        for (x, y) in pairs {
            let result = match kind {
                Some(kind) => {
                    let holds = self.link_holds.entry((kind, x, y)).or_default();
                    *holds += 1;
                    effect.links.push((kind, x, y));
                    sink.link(change, x, y)
                }
                None => {
                    let ended = match change {
                        LinkChange::Repair => LinkKind::Partition,
                        LinkChange::RepairOneway => LinkKind::Oneway,
                        _ => LinkKind::Hold,
                    };
                    self.link_holds.remove(&(ended, x, y));
                    sink.link(change, x, y)
                }
            };
            if let Err(e) = result {
                return (
                    Effect::default(),
                    format!(" (not applied: {e})"),
                    Change::Nothing,
                );
            }
            note += &format!(" {x}-{y}");
        }
        (effect, note, Change::Network)
    }

    fn heal(&mut self, effect: &Effect, sink: &mut dyn FaultSink) -> (String, Change) {
        let mut note = String::new();
        let mut change = Change::Nothing;
        for &b in &effect.brokers {
            if release_hold(&mut self.crash_holds, b) && restart(b, sink) {
                note += &format!(" restart broker-{b}");
                change = Change::Restart;
            }
        }
        for &(kind, x, y) in &effect.links {
            if !release_hold(&mut self.link_holds, (kind, x, y)) {
                continue;
            }
            let undo = match kind {
                LinkKind::Partition => LinkChange::Repair,
                LinkKind::Oneway => LinkChange::RepairOneway,
                LinkKind::Hold => LinkChange::Release,
                LinkKind::Latency => LinkChange::DefaultLatency,
                LinkKind::Drops => LinkChange::NoDrops,
            };
            if sink.link(undo, x, y).is_ok() {
                note += &format!(" {x}-{y}");
                change = Change::Network;
            }
        }
        if note.is_empty() {
            note = " nothing left to undo".into();
        }
        (note, change)
    }
}

/// Drops one hold on `key`; true when it was the last.
fn release_hold<K: Ord>(holds: &mut BTreeMap<K, u32>, key: K) -> bool {
    match holds.get_mut(&key) {
        Some(n) if *n > 1 => {
            *n -= 1;
            false
        }
        Some(_) => {
            holds.remove(&key);
            true
        }
        None => false,
    }
}

/// Starts a crashed broker; false if it was up.
fn restart(b: u32, sink: &mut dyn FaultSink) -> bool {
    if sink.cluster().is_up(b as i32) {
        return false;
    }
    sink.cluster().restart(b as i32);
    sink.start_broker(b);
    true
}

/// The brokers `t` names now.
fn brokers_of(t: &Target, cluster: &Cluster) -> Vec<u32> {
    match t {
        Target::Broker(b) => vec![*b],
        Target::Leader(TopicPartition {
            topic,
            partition: p,
        }) => cluster
            .partition(topic, *p)
            .and_then(|x| x.leader)
            .map(|b| b as u32)
            .into_iter()
            .collect(),
        Target::AllBrokers => (0..cluster.brokers.len() as u32).collect(),
        Target::Producer(_) | Target::AllProducers => Vec::new(),
    }
}

/// The hosts `t` names now.
fn hosts_of(t: &Target, cluster: &Cluster, producers: u32) -> Vec<Host> {
    match t {
        Target::Producer(p) => vec![Host::Producer(*p)],
        Target::AllProducers => (0..producers).map(Host::Producer).collect(),
        _ => brokers_of(t, cluster)
            .into_iter()
            .map(Host::Broker)
            .collect(),
    }
}

/// Every (x, y) link between the two groups, x != y.
fn pairs_of(a: &Target, b: &Target, cluster: &Cluster, producers: u32) -> Vec<(Host, Host)> {
    let (xs, ys) = (
        hosts_of(a, cluster, producers),
        hosts_of(b, cluster, producers),
    );
    xs.iter()
        .flat_map(|x| ys.iter().filter(move |y| *y != x).map(move |y| (*x, *y)))
        .collect()
}

#[cfg(test)]
mod tests;
