//! The table of fault kinds: every `action` a scenario file can write, what it
//! reads and whether it heals. Parsing (`parse.rs`) reads its entries, shrinking
//! writes faults back through [`Action::write_fields`], the guided search's
//! novelty features name faults by [`Action::kind_name`], and the table in
//! docs/scenarios.md is [`markdown`] of it (a test compares them). What a swarm
//! draws is the table next to it, [`super::swarm::SWARM_KINDS`].
//!
//! Adding a fault kind: an entry here with its `parse` function, its arm in
//! `kind_name` and `write_fields` (below), the [`Action`] variant and its
//! `Display` (faults/mod.rs), and its behaviour in `apply.rs`.

use super::file::{need, times, Ctx, ErrorFile, FaultFile};
use super::{Action, Target, INJECTABLE};
use crate::cluster::Injection;
use producer_core::TopicPartition;
use std::time::Duration;

/// One `action` a scenario file can write.
pub struct FaultKind {
    /// The `action` value.
    pub name: &'static str,
    /// The fields it reads, as a scenario file writes them.
    pub fields: &'static str,
    /// What it does.
    pub doc: &'static str,
    /// Whether `heal_after_ms` undoes it (the others refuse the field).
    pub heals: bool,
    /// Reads the entry's fields into an action, or says which is wrong.
    pub(super) parse: fn(&FaultFile, &Ctx) -> Result<Action, String>,
}

/// Every fault kind, in the order the docs list them.
pub const FAULT_KINDS: &[FaultKind] = &[
    FaultKind {
        name: "crash",
        fields: "target",
        doc: "stop a broker; its partitions fail over (heal: restart it)",
        heals: true,
        parse: crash,
    },
    FaultKind {
        name: "restart",
        fields: "target",
        doc: "start crashed brokers again (ends every crash on them)",
        heals: false,
        parse: restart,
    },
    FaultKind {
        name: "partition",
        fields: "between",
        doc: "drop everything between two host groups, both ways",
        heals: true,
        parse: partition,
    },
    FaultKind {
        name: "partition_oneway",
        fields: "from, to",
        doc: "drop everything from one host group to another",
        heals: true,
        parse: partition_oneway,
    },
    FaultKind {
        name: "repair",
        fields: "between",
        doc: "undo every partition between two host groups",
        heals: false,
        parse: repair,
    },
    FaultKind {
        name: "hold",
        fields: "between",
        doc: "queue messages between two host groups; they arrive together on release",
        heals: true,
        parse: hold,
    },
    FaultKind {
        name: "release",
        fields: "between",
        doc: "deliver held messages (ends every hold on those links)",
        heals: false,
        parse: release,
    },
    FaultKind {
        name: "latency",
        fields: "between, latency_ms",
        doc: "fixed latency on the links between two host groups",
        heals: true,
        parse: latency,
    },
    FaultKind {
        name: "drop_rate",
        fields: "between, rate",
        doc: "message loss (0..=1) on the links between two host groups",
        heals: true,
        parse: drop_rate,
    },
    FaultKind {
        name: "move_leader",
        fields: "partition",
        doc: "take leadership of a partition away (it moves after failover_delay_ms)",
        heals: false,
        parse: move_leader,
    },
    FaultKind {
        name: "expire_producers",
        fields: "partition",
        doc: "the partition forgets every producer's idempotence state",
        heals: false,
        parse: expire_producers,
    },
    FaultKind {
        name: "stale_metadata",
        fields: "times",
        doc: "the next Metadata answers name the former leaders",
        heals: false,
        parse: stale_metadata,
    },
    FaultKind {
        name: "inject",
        fields: "partition, error, times",
        doc: "broker-side answers for the next produce requests of a partition",
        heals: false,
        parse: inject,
    },
];

/// The kind named `name` in a scenario file.
pub fn fault_kind(name: &str) -> Option<&'static FaultKind> {
    FAULT_KINDS.iter().find(|k| k.name == name)
}

/// Every kind's name, for error messages: "a, b or c".
pub fn fault_kind_names() -> String {
    let names: Vec<&str> = FAULT_KINDS.iter().map(|k| k.name).collect();
    let (last, rest) = names.split_last().expect("the table is not empty");
    format!("{} or {last}", rest.join(", "))
}

impl Action {
    /// The name of its kind in scenario files (a one-way repair, which only a
    /// heal makes, is written as `repair`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Action::Crash(_) => "crash",
            Action::Restart(_) => "restart",
            Action::Partition(..) => "partition",
            Action::PartitionOneway(..) => "partition_oneway",
            Action::Repair(..) | Action::RepairOneway(..) => "repair",
            Action::Hold(..) => "hold",
            Action::Release(..) => "release",
            Action::Latency(..) => "latency",
            Action::DropRate(..) => "drop_rate",
            Action::MoveLeader(..) => "move_leader",
            Action::ExpireProducers(..) => "expire_producers",
            Action::StaleMetadata(_) => "stale_metadata",
            Action::Inject(..) => "inject",
        }
    }

    /// Writes `action` and the fields its kind reads into `out`: the inverse
    /// of the kind's `parse`.
    pub fn write_fields(&self, out: &mut FaultFile) {
        out.action = self.kind_name().to_string();
        let pair = |a: &Target, b: &Target| Some([a.to_string(), b.to_string()]);
        let partition = |t: &str, p: &i32| Some(format!("{t}/{p}"));
        match self {
            Action::Crash(t) | Action::Restart(t) => out.target = Some(t.to_string()),
            Action::Partition(a, b)
            | Action::Repair(a, b)
            | Action::RepairOneway(a, b)
            | Action::Hold(a, b)
            | Action::Release(a, b) => out.between = pair(a, b),
            Action::PartitionOneway(a, b) => {
                out.from = Some(a.to_string());
                out.to = Some(b.to_string());
            }
            Action::Latency(a, b, d) => {
                out.between = pair(a, b);
                out.latency_ms = Some(d.as_millis() as u64);
            }
            Action::DropRate(a, b, r) => {
                out.between = pair(a, b);
                out.rate = Some(*r);
            }
            Action::MoveLeader(TopicPartition {
                topic: t,
                partition: p,
            })
            | Action::ExpireProducers(TopicPartition {
                topic: t,
                partition: p,
            }) => out.partition = partition(t, p),
            Action::StaleMetadata(n) => out.times = Some(*n),
            Action::Inject(
                TopicPartition {
                    topic: t,
                    partition: p,
                },
                what,
                times,
            ) => {
                out.partition = partition(t, p);
                out.error = Some(what.file());
                if let Injection::CrashAfterAppend(restart) = what {
                    out.heal_after_ms = *restart;
                }
                out.times = Some(*times);
            }
        }
    }
}

impl Injection {
    /// The `error` field that writes it.
    fn file(&self) -> ErrorFile {
        match self {
            Injection::Error(c) => ErrorFile::Code(*c),
            Injection::LoseResponse => ErrorFile::Name("lost_response".into()),
            Injection::HoldResponse => ErrorFile::Name("hold_response".into()),
            Injection::CrashAfterAppend(_) => ErrorFile::Name("crash_after_append".into()),
        }
    }
}

/// docs/scenarios.md's table of fault kinds, from [`FAULT_KINDS`] and
/// [`super::swarm::SWARM_KINDS`].
#[cfg(test)]
pub fn markdown() -> String {
    let mut out = String::from("| action | fields | heals | what it does |\n|---|---|---|---|\n");
    for k in FAULT_KINDS {
        let heals = if k.heals { "yes" } else { "no" };
        out += &format!("| `{}` | {} | {heals} | {} |\n", k.name, k.fields, k.doc);
    }
    out += "\n| swarm kind | drawn by default | draws |\n|---|---|---|\n";
    for k in super::swarm::SWARM_KINDS {
        let default = if k.default {
            "yes"
        } else {
            "no (name it in `kinds`)"
        };
        out += &format!("| `{}` | {default} | {} |\n", k.name, k.doc);
    }
    out
}

fn broker_target(f: &FaultFile, ctx: &Ctx, action: &str) -> Result<Target, String> {
    let t = ctx.target(need(&f.target, action, "target", "\"broker-1\"")?)?;
    ctx.brokers_only(&t, action)?;
    Ok(t)
}

fn crash(f: &FaultFile, ctx: &Ctx) -> Result<Action, String> {
    Ok(Action::Crash(broker_target(f, ctx, "crash")?))
}

fn restart(f: &FaultFile, ctx: &Ctx) -> Result<Action, String> {
    let t = broker_target(f, ctx, "restart")?;
    if matches!(t, Target::Leader(..)) {
        return Err("restart needs broker-N or brokers: a crashed broker leads nothing".into());
    }
    Ok(Action::Restart(t))
}

fn partition(f: &FaultFile, ctx: &Ctx) -> Result<Action, String> {
    let (a, b) = ctx.pair(f)?;
    Ok(Action::Partition(a, b))
}

fn partition_oneway(f: &FaultFile, ctx: &Ctx) -> Result<Action, String> {
    let a = ctx.target(need(&f.from, "partition_oneway", "from", "\"broker-0\"")?)?;
    let b = ctx.target(need(&f.to, "partition_oneway", "to", "\"producer-0\"")?)?;
    if a == b {
        return Err(format!("`from` and `to` are both `{a}`"));
    }
    Ok(Action::PartitionOneway(a, b))
}

fn repair(f: &FaultFile, ctx: &Ctx) -> Result<Action, String> {
    let (a, b) = ctx.pair(f)?;
    Ok(Action::Repair(a, b))
}

fn hold(f: &FaultFile, ctx: &Ctx) -> Result<Action, String> {
    let (a, b) = ctx.pair(f)?;
    Ok(Action::Hold(a, b))
}

fn release(f: &FaultFile, ctx: &Ctx) -> Result<Action, String> {
    let (a, b) = ctx.pair(f)?;
    Ok(Action::Release(a, b))
}

fn latency(f: &FaultFile, ctx: &Ctx) -> Result<Action, String> {
    let (a, b) = ctx.pair(f)?;
    let ms = *need(&f.latency_ms, "latency", "latency_ms", "50")?;
    Ok(Action::Latency(a, b, Duration::from_millis(ms)))
}

fn drop_rate(f: &FaultFile, ctx: &Ctx) -> Result<Action, String> {
    let (a, b) = ctx.pair(f)?;
    let rate = *need(&f.rate, "drop_rate", "rate", "0.05")?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("`rate` = {rate} is outside 0..=1"));
    }
    Ok(Action::DropRate(a, b, rate))
}

fn move_leader(f: &FaultFile, ctx: &Ctx) -> Result<Action, String> {
    let tp = ctx.partition(need(
        &f.partition,
        "move_leader",
        "partition",
        "\"events/0\"",
    )?)?;
    Ok(Action::MoveLeader(tp))
}

fn expire_producers(f: &FaultFile, ctx: &Ctx) -> Result<Action, String> {
    let tp = ctx.partition(need(
        &f.partition,
        "expire_producers",
        "partition",
        "\"events/0\"",
    )?)?;
    Ok(Action::ExpireProducers(tp))
}

fn stale_metadata(f: &FaultFile, _: &Ctx) -> Result<Action, String> {
    Ok(Action::StaleMetadata(times(f)?))
}

fn inject(f: &FaultFile, ctx: &Ctx) -> Result<Action, String> {
    let tp = ctx.partition(need(&f.partition, "inject", "partition", "\"events/0\"")?)?;
    const NAMES: &str = "\"lost_response\", \"crash_after_append\" or \"hold_response\"";
    let what = match need(&f.error, "inject", "error", "6")? {
        ErrorFile::Code(c) if INJECTABLE.contains(c) => Injection::Error(*c),
        ErrorFile::Code(c) => {
            return Err(format!(
                "`error` = {c} cannot be injected; expected one of {INJECTABLE:?} or {NAMES}"
            ))
        }
        ErrorFile::Name(n) if n == "lost_response" => Injection::LoseResponse,
        ErrorFile::Name(n) if n == "hold_response" => Injection::HoldResponse,
        // The crashed leader restarts `heal_after_ms` after its crash.
        ErrorFile::Name(n) if n == "crash_after_append" => {
            Injection::CrashAfterAppend(f.heal_after_ms)
        }
        ErrorFile::Name(n) => return Err(format!("`error` = \"{n}\": expected a code or {NAMES}")),
    };
    Ok(Action::Inject(tp, what, times(f)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_named_once_and_its_name_is_the_actions() {
        let mut names: Vec<&str> = FAULT_KINDS.iter().map(|k| k.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), FAULT_KINDS.len(), "a kind is listed twice");
        for k in FAULT_KINDS {
            assert!(fault_kind(k.name).is_some());
        }
    }

    #[test]
    fn every_swarm_kind_draws_a_fault_kind_of_the_table() {
        use crate::cluster::{ClusterSpec, TopicSpec};
        let cluster = ClusterSpec {
            brokers: 3,
            topics: vec![TopicSpec {
                name: "events".into(),
                partitions: 4,
                replication: 3,
            }],
            max_message_bytes: 1_048_588,
            failover_delay: Duration::from_millis(200),
            broker_version: Default::default(),
        };
        for k in super::super::swarm::SWARM_KINDS {
            let sw = super::super::SwarmFile {
                faults: 20,
                kinds: vec![k.name.to_string()],
                window_ms: [10, 500],
                codecs: Vec::new(),
                payloads: Vec::new(),
            };
            for f in super::super::draw_swarm(&sw, &cluster, 2, 7) {
                assert!(
                    fault_kind(f.action.kind_name()).is_some(),
                    "swarm kind {} drew {}",
                    k.name,
                    f.action
                );
            }
        }
    }

    #[test]
    fn the_docs_table_is_this_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/scenarios.md");
        let docs = std::fs::read_to_string(path).expect("docs/scenarios.md");
        let table = markdown();
        assert!(
            docs.contains(&table),
            "docs/scenarios.md's fault kind tables differ from faults/kinds.rs; they should read:\n\n{table}"
        );
    }
}
