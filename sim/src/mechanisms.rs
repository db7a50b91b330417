//! What a run exercised: retries, epoch bumps, lost connections, crashes,
//! restarts, leader elections, injected answers given, heals, faults, the
//! largest batch and request, too-large rejections, blocked sends. A scenario states
//! the mechanism it exists for in `[expect]` (`epoch_bumps = ">= 1"`,
//! `faults_healed = true`, ...), and a run that did not reach it fails: a
//! scenario named after a fault must prove the fault happened.
//!
//! Counts are taken while the producers run: from the start until the last
//! producer's `close()` returned (the whole run if one never returned). Faults
//! that fire after that are still applied, so the world ends healed, but they
//! exercised nothing and do not count.

use crate::faults::Change;
use crate::history::{Actor, FailKind, History, What};
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// The counts of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mechanisms {
    /// Batch attempts after the first.
    pub retries: u64,
    /// Epoch bumps started.
    pub epoch_bumps: u64,
    /// Connections a producer lost (with requests unanswered or while connecting).
    pub connections_lost: u64,
    /// Brokers crashed.
    pub crashes: u64,
    /// Brokers restarted (explicitly or by a crash's heal).
    pub restarts: u64,
    /// Partition leader elections.
    pub elections: u64,
    /// Injected broker answers actually given to a produce request.
    pub injections_hit: u64,
    /// Faults healed while the producers ran.
    pub heals: u64,
    /// Faults with a heal in the schedule.
    pub heals_scheduled: u64,
    /// Faults that changed something while the producers ran (heals excluded).
    pub faults: u64,
    /// Bytes of the largest batch sealed.
    pub largest_batch: u64,
    /// Bytes of the largest produce request sent.
    pub largest_request: u64,
    /// Sends that failed as too large for any batch.
    pub rejected_too_large: u64,
    /// Sends that waited for buffer memory or metadata.
    pub sends_blocked: u64,
    /// `close()` calls with delivery futures still unresolved.
    pub closes_with_work: u64,
    /// `flush()` calls with delivery futures still unresolved.
    pub flushes_with_work: u64,
    /// Batches split after a broker found them too large.
    pub splits: u64,
    /// Faults fired by protocol events (`when`).
    pub triggers_fired: u64,
    /// Batches that failed while an attempt of theirs was still in flight (the
    /// delivery timeout passed before its answer): their outcome is unknown.
    pub expired_in_flight: u64,
}

impl Mechanisms {
    /// Counts what `history` shows; `injections_hit` comes from the brokers and
    /// `heals_scheduled` from the schedule.
    pub fn of(
        history: &History,
        injections_hit: u64,
        heals_scheduled: u64,
        triggers_fired: u64,
    ) -> Mechanisms {
        let active_until = active_until(history);
        let mut m = Mechanisms {
            injections_hit,
            heals_scheduled,
            triggers_fired,
            ..Mechanisms::default()
        };
        // (producer, partition, first send id) of every attempt in flight.
        let mut in_flight = std::collections::BTreeSet::new();
        for e in history.entries.iter().filter(|e| e.at <= active_until) {
            match &e.what {
                What::RequestSent { batches, bytes, .. } => {
                    m.retries += batches.iter().filter(|b| b.attempt > 1).count() as u64;
                    m.largest_request = m.largest_request.max(*bytes as u64);
                    for b in batches {
                        in_flight.insert((e.who, b.tp.clone(), b.first_send_id));
                    }
                }
                What::AttemptEnded {
                    tp, first_send_id, ..
                } => {
                    in_flight.remove(&(e.who, tp.clone(), *first_send_id));
                }
                What::BatchResolved {
                    tp,
                    first_send_id,
                    result: Err(_),
                    ..
                } if in_flight.contains(&(e.who, tp.clone(), *first_send_id)) => {
                    m.expired_in_flight += 1
                }
                What::EpochBumpStarted => m.epoch_bumps += 1,
                What::ConnectionLost { .. } => m.connections_lost += 1,
                What::Fault { change, heal, .. } => {
                    match change {
                        Change::Crash => m.crashes += 1,
                        Change::Restart => m.restarts += 1,
                        Change::Election => m.elections += 1,
                        _ => {}
                    }
                    m.heals += u64::from(*heal);
                    let changed = !matches!(change, Change::Nothing | Change::Election);
                    m.faults += u64::from(changed && !*heal);
                }
                What::BatchSealed { encoded, .. } => {
                    m.largest_batch = m.largest_batch.max(*encoded as u64)
                }
                What::Failed {
                    kind: FailKind::TooLarge,
                    ..
                } => m.rejected_too_large += 1,
                What::SendBlocked { .. } => m.sends_blocked += 1,
                What::BatchSplit { .. } => m.splits += 1,
                What::Called { close, pending } if *pending > 0 => {
                    if *close {
                        m.closes_with_work += 1
                    } else {
                        m.flushes_with_work += 1
                    }
                }
                _ => {}
            }
        }
        m
    }

    /// Adds another run's counts.
    pub fn add(&mut self, o: &Mechanisms) {
        self.retries += o.retries;
        self.epoch_bumps += o.epoch_bumps;
        self.connections_lost += o.connections_lost;
        self.crashes += o.crashes;
        self.restarts += o.restarts;
        self.elections += o.elections;
        self.injections_hit += o.injections_hit;
        self.heals += o.heals;
        self.heals_scheduled += o.heals_scheduled;
        self.faults += o.faults;
        self.largest_batch = self.largest_batch.max(o.largest_batch);
        self.largest_request = self.largest_request.max(o.largest_request);
        self.rejected_too_large += o.rejected_too_large;
        self.sends_blocked += o.sends_blocked;
        self.closes_with_work += o.closes_with_work;
        self.flushes_with_work += o.flushes_with_work;
        self.splits += o.splits;
        self.triggers_fired += o.triggers_fired;
        self.expired_in_flight += o.expired_in_flight;
    }

    /// The count named `key` in scenario files.
    pub fn get(&self, key: Mechanism) -> u64 {
        match key {
            Mechanism::Retries => self.retries,
            Mechanism::EpochBumps => self.epoch_bumps,
            Mechanism::ConnectionsLost => self.connections_lost,
            Mechanism::Crashes => self.crashes,
            Mechanism::Restarts => self.restarts,
            Mechanism::Elections => self.elections,
            Mechanism::InjectionsHit => self.injections_hit,
            Mechanism::Faults => self.faults,
            Mechanism::LargestBatch => self.largest_batch,
            Mechanism::LargestRequest => self.largest_request,
            Mechanism::RejectedTooLarge => self.rejected_too_large,
            Mechanism::SendsBlocked => self.sends_blocked,
            Mechanism::ClosesWithWork => self.closes_with_work,
            Mechanism::FlushesWithWork => self.flushes_with_work,
            Mechanism::Splits => self.splits,
            Mechanism::TriggersFired => self.triggers_fired,
            Mechanism::ExpiredInFlight => self.expired_in_flight,
        }
    }
}

impl fmt::Display for Mechanisms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, k) in Mechanism::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}={}", k.key(), self.get(*k))?;
        }
        write!(f, " heals={}/{}", self.heals, self.heals_scheduled)
    }
}

/// When the last producer's `close()` returned; the run's end if one never did.
fn active_until(history: &History) -> Duration {
    let mut producers = std::collections::BTreeMap::new();
    for e in &history.entries {
        if let Actor::Producer(p) = e.who {
            let closed = matches!(e.what, What::Closed { .. });
            let slot = producers.entry(p).or_insert(None);
            if closed {
                *slot = Some(e.at);
            }
        }
    }
    if producers.values().any(Option::is_none) {
        return Duration::MAX;
    }
    producers
        .values()
        .flatten()
        .copied()
        .max()
        .unwrap_or(Duration::MAX)
}

/// A countable mechanism, by its `[expect]` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// `retries`
    Retries,
    /// `epoch_bumps`
    EpochBumps,
    /// `connections_lost`
    ConnectionsLost,
    /// `crashes`
    Crashes,
    /// `restarts`
    Restarts,
    /// `elections`
    Elections,
    /// `injections_hit`
    InjectionsHit,
    /// `faults`
    Faults,
    /// `largest_batch`
    LargestBatch,
    /// `largest_request`
    LargestRequest,
    /// `rejected_too_large`
    RejectedTooLarge,
    /// `sends_blocked`
    SendsBlocked,
    /// `closes_with_work`
    ClosesWithWork,
    /// `flushes_with_work`
    FlushesWithWork,
    /// `splits`
    Splits,
    /// `triggers_fired`
    TriggersFired,
    /// `expired_in_flight`
    ExpiredInFlight,
}

impl Mechanism {
    /// Every countable mechanism.
    pub const ALL: [Mechanism; 17] = [
        Mechanism::Retries,
        Mechanism::EpochBumps,
        Mechanism::ConnectionsLost,
        Mechanism::Crashes,
        Mechanism::Restarts,
        Mechanism::Elections,
        Mechanism::InjectionsHit,
        Mechanism::Faults,
        Mechanism::LargestBatch,
        Mechanism::LargestRequest,
        Mechanism::RejectedTooLarge,
        Mechanism::SendsBlocked,
        Mechanism::ClosesWithWork,
        Mechanism::FlushesWithWork,
        Mechanism::Splits,
        Mechanism::TriggersFired,
        Mechanism::ExpiredInFlight,
    ];

    /// The key as written in `[expect]`.
    pub fn key(self) -> &'static str {
        match self {
            Mechanism::Retries => "retries",
            Mechanism::EpochBumps => "epoch_bumps",
            Mechanism::ConnectionsLost => "connections_lost",
            Mechanism::Crashes => "crashes",
            Mechanism::Restarts => "restarts",
            Mechanism::Elections => "elections",
            Mechanism::InjectionsHit => "injections_hit",
            Mechanism::Faults => "faults",
            Mechanism::LargestBatch => "largest_batch",
            Mechanism::LargestRequest => "largest_request",
            Mechanism::RejectedTooLarge => "rejected_too_large",
            Mechanism::SendsBlocked => "sends_blocked",
            Mechanism::ClosesWithWork => "closes_with_work",
            Mechanism::FlushesWithWork => "flushes_with_work",
            Mechanism::Splits => "splits",
            Mechanism::TriggersFired => "triggers_fired",
            Mechanism::ExpiredInFlight => "expired_in_flight",
        }
    }
}

/// `retries = 3` or `retries = ">= 1"` as written.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum CountFile {
    /// Exactly this many.
    Exact(u64),
    /// A comparison: `>= n`, `> n`, `<= n`, `< n`, `== n`.
    Compare(String),
}

/// A bound a count must meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bound {
    op: Op,
    n: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
}

impl Bound {
    /// Parses a count as written; the error says what is expected.
    pub fn parse(c: &CountFile) -> Result<Bound, String> {
        let s = match c {
            CountFile::Exact(n) => return Ok(Bound { op: Op::Eq, n: *n }),
            CountFile::Compare(s) => s.trim(),
        };
        let (op, rest) = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("==", Op::Eq),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("=", Op::Eq),
        ]
        .into_iter()
        .find_map(|(p, op)| s.strip_prefix(p).map(|r| (op, r)))
        .unwrap_or((Op::Eq, s));
        let n = rest.trim().parse::<u64>().map_err(|_| {
            format!("`{s}` is not a count: expected a number or \">= n\", \"> n\", \"<= n\", \"< n\", \"== n\"")
        })?;
        Ok(Bound { op, n })
    }

    /// True when `count` meets the bound.
    pub fn holds(&self, count: u64) -> bool {
        match self.op {
            Op::Ge => count >= self.n,
            Op::Gt => count > self.n,
            Op::Le => count <= self.n,
            Op::Lt => count < self.n,
            Op::Eq => count == self.n,
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            Op::Ge => ">=",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Eq => "==",
        };
        write!(f, "{op} {}", self.n)
    }
}

/// What a scenario requires its runs to have exercised.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MechanismExpect {
    /// Count bounds.
    pub counts: Vec<(Mechanism, Bound)>,
    /// Every scheduled heal happened while the producers ran.
    pub faults_healed: bool,
}

impl MechanismExpect {
    /// True when the scenario names at least one mechanism.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && !self.faults_healed
    }

    /// What the run missed, one line each (empty when every expectation holds).
    pub fn unmet(&self, m: &Mechanisms) -> Vec<String> {
        let mut out: Vec<String> = self
            .counts
            .iter()
            .filter(|(k, b)| !b.holds(m.get(*k)))
            .map(|(k, b)| {
                format!(
                    "mechanism not reached: `{}` was {}, expected {b}",
                    k.key(),
                    m.get(*k)
                )
            })
            .collect();
        if self.faults_healed && m.heals < m.heals_scheduled {
            out.push(format!(
                "mechanism not reached: `faults_healed`: {} of {} heals happened while the producers ran",
                m.heals, m.heals_scheduled
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_parse_and_hold() {
        let b = |s: &str| Bound::parse(&CountFile::Compare(s.into())).unwrap();
        assert!(b(">= 1").holds(1) && !b(">= 1").holds(0));
        assert!(b(">2").holds(3) && !b(">2").holds(2));
        assert!(b("<= 0").holds(0) && !b("<= 0").holds(1));
        assert!(b("< 5").holds(4) && !b("< 5").holds(5));
        assert!(b("== 3").holds(3) && b("3").holds(3) && !b("= 3").holds(4));
        assert!(Bound::parse(&CountFile::Exact(0)).unwrap().holds(0));
        let e = Bound::parse(&CountFile::Compare("at least one".into())).unwrap_err();
        assert!(e.contains("not a count"), "{e}");
    }

    #[test]
    fn unmet_expectations_name_the_key_the_count_and_the_bound() {
        let expect = MechanismExpect {
            counts: vec![(
                Mechanism::EpochBumps,
                Bound::parse(&CountFile::Compare(">= 1".into())).unwrap(),
            )],
            faults_healed: true,
        };
        let m = Mechanisms {
            heals: 1,
            heals_scheduled: 2,
            ..Mechanisms::default()
        };
        let unmet = expect.unmet(&m);
        assert_eq!(unmet.len(), 2);
        assert!(
            unmet[0].contains("`epoch_bumps` was 0, expected >= 1"),
            "{unmet:?}"
        );
        assert!(unmet[1].contains("1 of 2 heals"), "{unmet:?}");
        let reached = Mechanisms {
            epoch_bumps: 2,
            heals: 2,
            heals_scheduled: 2,
            ..Mechanisms::default()
        };
        assert!(expect.unmet(&reached).is_empty());
    }
}
