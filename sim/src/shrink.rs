//! From a failing (scenario, seed) to a small scenario file that still fails
//! the same way, ready to drop into `scenarios/` as a regression test.
//!
//! Swarm-drawn faults are made concrete first (the file then has no `[swarm]`),
//! then, greedily and in a fixed order, each step keeps a change only if the
//! run still fails with the violation kind the original failed with first:
//! drop each fault, heal each fault sooner, drop producers, halve the records,
//! halve the partitions, shorten the run. Every candidate is a scenario text
//! that `Scenario::parse` accepts, run with the same seed, so the result is a
//! function of (file, seed) and the file it writes replays it.

use crate::checker::Kind;
use crate::faults::{Fault, FaultFile, Trigger, WhenFile};
use crate::mechanisms::{CountFile, Mechanisms};
use crate::scenario::{Scenario, ScenarioFile, Seeds};
use crate::world;
use std::collections::BTreeSet;
use std::time::Duration;
use toml::Spanned;

/// What a shrink produced.
#[derive(Debug)]
pub struct Shrunk {
    /// The smaller scenario, as file text (with a comment saying what it came from).
    pub text: String,
    /// The kind it still fails with.
    pub kind: Kind,
    /// (faults, producers, records per producer) before and after.
    pub before: (usize, u32, usize),
    /// Same, after.
    pub after: (usize, u32, usize),
    /// Kinds the shrunk run reports.
    pub kinds: BTreeSet<Kind>,
}

/// A fault as a scenario file writes it.
fn fault_file(f: &Fault) -> FaultFile {
    let mut out = FaultFile {
        at_ms: Some(f.at.as_millis() as u64),
        when: f.when.as_ref().map(when_file),
        action: String::new(),
        target: None,
        between: None,
        from: None,
        to: None,
        heal_after_ms: f.heal_at.map(|h| (h - f.at).as_millis() as u64),
        latency_ms: None,
        rate: None,
        partition: None,
        error: None,
        times: None,
    };
    f.action.write_fields(&mut out);
    out
}

/// A trigger as a scenario file writes it.
fn when_file(t: &Trigger) -> WhenFile {
    WhenFile {
        after: Some(t.api.name().to_string()),
        count: Some(t.count),
        producer: t.producer,
        partition: t
            .partition
            .as_ref()
            .map(|tp| format!("{}/{}", tp.topic, tp.partition)),
        broker: t.broker.map(|b| format!("broker-{b}")),
        sequence: t.sequence,
    }
}

fn spanned<T>(v: T) -> Spanned<T> {
    Spanned::new(0..0, v)
}

/// The scenario with these faults (and no `[swarm]`), as file text that loads.
pub fn render(file: &ScenarioFile, faults: &[Fault]) -> Option<String> {
    let mut f = file.clone();
    f.swarm = None;
    f.faults = faults.iter().map(|x| spanned(fault_file(x))).collect();
    toml::to_string(&f).ok()
}

/// The first violation kind of a run, and all its kinds; `None` if it passed.
fn failure(s: &Scenario, seed: u64) -> Option<(Kind, BTreeSet<Kind>, Mechanisms)> {
    let r = world::run(s, seed);
    let first = r.verdict.violations.first()?.kind;
    Some((first, r.verdict.kinds(), r.mechanisms))
}

/// What a smaller run must still do: fail at `seed` with `kind`.
struct Goal {
    seed: u64,
    kind: Kind,
}

impl Goal {
    /// The rendered scenario if `file` with `faults` still fails with the kind.
    fn fails(&self, file: &ScenarioFile, faults: &[Fault]) -> Option<String> {
        let text = render(file, faults)?;
        let s = Scenario::parse(&text, "shrink.toml").ok()?;
        let (_, kinds, _) = failure(&s, self.seed)?;
        kinds.contains(&self.kind).then_some(text)
    }
}

/// The run being shrunk: its file and its concrete faults.
struct Candidate {
    file: ScenarioFile,
    faults: Vec<Fault>,
}

/// One way of making the run smaller; reports each change it keeps.
type Step = fn(&Goal, &mut Candidate, &mut dyn FnMut(String));

/// Every step, tried in this order until none keeps a change.
const STEPS: [Step; 6] = [
    drop_fault_pairs,
    drop_faults,
    heal_sooner,
    fewer_producers,
    fewer_records,
    fewer_partitions,
];

/// Shrinks `scenario` failing at `seed`; `progress` hears each kept step.
pub fn shrink(
    scenario: &Scenario,
    seed: u64,
    mut progress: impl FnMut(&str),
) -> Result<Shrunk, String> {
    let (kind, _, _) = failure(scenario, seed)
        .ok_or_else(|| format!("seed {seed} of {} passes: nothing to shrink", scenario.path))?;
    let target = Goal { seed, kind };
    let mut faults = scenario.faults.clone();
    if let Some(sw) = &scenario.file.swarm {
        faults.extend(crate::faults::draw_swarm(
            sw.get_ref(),
            &scenario.cluster,
            scenario.file.producers.count,
            seed,
        ));
        faults.sort_by_key(|x| x.at);
    }
    let mut file = scenario.file.clone();
    file.seeds = Seeds::List(vec![seed]);
    let before = (faults.len(), file.producers.count, file.workload.records);
    if target.fails(&file, &faults).is_none() {
        return Err(format!(
            "seed {seed} no longer fails with `{}` once its faults are written out",
            kind.name()
        ));
    }
    // Every step again until none makes the run smaller: dropping a fault can
    // let a producer go, and the other way round.
    let mut run = Candidate { file, faults };
    loop {
        let mut changed = false;
        for step in STEPS {
            step(&target, &mut run, &mut |s: String| {
                changed = true;
                progress(&s);
            });
        }
        if !changed {
            break;
        }
    }
    finish(scenario, &target, run, before)
}

/// Two faults at once, when one at a time finds nothing.
fn drop_fault_pairs(t: &Goal, run: &mut Candidate, kept: &mut dyn FnMut(String)) {
    let faults = &run.faults;
    if faults.len() <= 3 {
        return;
    }
    for i in 0..faults.len() {
        for j in i + 1..faults.len() {
            let mut fewer = faults.clone();
            fewer.remove(j);
            fewer.remove(i);
            if t.fails(&run.file, &fewer).is_some() {
                kept(format!("dropped faults {} and {}", i + 1, j + 1));
                run.faults = fewer;
                return;
            }
        }
    }
}

/// Drop faults, last first (later faults matter least to earlier ones).
fn drop_faults(t: &Goal, run: &mut Candidate, kept: &mut dyn FnMut(String)) {
    let mut i = run.faults.len();
    while i > 0 {
        i -= 1;
        let mut fewer = run.faults.clone();
        let gone = fewer.remove(i);
        if t.fails(&run.file, &fewer).is_some() {
            kept(format!("dropped fault {gone}"));
            run.faults = fewer;
        }
    }
}

/// Heal sooner: halve each fault's duration while it still fails.
fn heal_sooner(t: &Goal, run: &mut Candidate, kept: &mut dyn FnMut(String)) {
    for i in 0..run.faults.len() {
        while let Some(heal) = run.faults[i].heal_at {
            let span = heal - run.faults[i].at;
            if span <= Duration::from_millis(1) {
                break;
            }
            let mut sooner = run.faults.clone();
            sooner[i].heal_at = Some(run.faults[i].at + span / 2);
            if t.fails(&run.file, &sooner).is_none() {
                break;
            }
            kept(format!(
                "fault {} heals after {} ms",
                i + 1,
                (span / 2).as_millis()
            ));
            run.faults = sooner;
        }
    }
}

/// Fewer producers (faults naming a removed producer make the file invalid).
fn fewer_producers(t: &Goal, run: &mut Candidate, kept: &mut dyn FnMut(String)) {
    while run.file.producers.count > 1 {
        let mut fewer = run.file.clone();
        fewer.producers.count -= 1;
        let n = fewer.producers.count;
        fewer.producers.overrides.retain(|o| o.get_ref().index < n);
        if t.fails(&fewer, &run.faults).is_none() {
            break;
        }
        kept(format!("{n} producers"));
        run.file = fewer;
    }
}

/// Fewer records, halving.
fn fewer_records(t: &Goal, run: &mut Candidate, kept: &mut dyn FnMut(String)) {
    while run.file.workload.records > 1 {
        let mut fewer = run.file.clone();
        fewer.workload.records /= 2;
        if t.fails(&fewer, &run.faults).is_none() {
            break;
        }
        kept(format!("{} records per producer", fewer.workload.records));
        run.file = fewer;
    }
}

/// Fewer partitions of the workload's topic, halving.
fn fewer_partitions(t: &Goal, run: &mut Candidate, kept: &mut dyn FnMut(String)) {
    loop {
        let mut fewer = run.file.clone();
        let topic = fewer.workload.topic.clone();
        let Some(spec) = fewer
            .cluster
            .topics
            .iter_mut()
            .find(|x| x.get_ref().name == topic && x.get_ref().partitions > 1)
        else {
            return;
        };
        let p = spec.get_ref().partitions / 2;
        *spec = spanned(crate::scenario::TopicFile {
            partitions: p,
            ..spec.get_ref().clone()
        });
        if t.fails(&fewer, &run.faults).is_none() {
            return;
        }
        kept(format!("{p} partitions"));
        run.file = fewer;
    }
}

/// A shorter duration if it still fails, the mechanisms the shrunk run
/// reached, and the header saying what it was shrunk from.
fn finish(
    scenario: &Scenario,
    t: &Goal,
    run: Candidate,
    before: (usize, u32, usize),
) -> Result<Shrunk, String> {
    let Candidate { mut file, faults } = run;
    let last = faults
        .iter()
        .map(Fault::last_change)
        .max()
        .unwrap_or_default();
    let mut shorter = file.clone();
    shorter.duration_s = shorter.duration_s.min((last.as_secs() + 30).max(10));
    if t.fails(&shorter, &faults).is_some() {
        file = shorter;
    }
    let text = t
        .fails(&file, &faults)
        .ok_or("the shrunk scenario no longer fails")?;
    let s = Scenario::parse(&text, "shrink.toml").map_err(|e| e.to_string())?;
    let (_, kinds, mechanisms) = failure(&s, t.seed).ok_or("the shrunk scenario passes")?;
    state_mechanisms(&mut file, &mechanisms);
    let body = render(&file, &faults).ok_or("cannot write the shrunk scenario")?;
    let after = (faults.len(), file.producers.count, file.workload.records);
    let header = format!(
        "# Shrunk by `sim shrink {} --seed {}`: {} faults -> {}, {} producers -> {}, {} records -> {}.\n\
         # Fails with `{}` (all kinds: {}). Once the bug is fixed it passes: keep it in\n\
         # scenarios/ as a regression test.\n",
        scenario.path,
        t.seed,
        before.0,
        after.0,
        before.1,
        after.1,
        before.2,
        after.2,
        t.kind.name(),
        kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
    );
    Ok(Shrunk {
        text: header + &body,
        kind: t.kind,
        before,
        after,
        kinds,
    })
}

/// States what the shrunk run exercised as its `[expect]` mechanisms, so the
/// file says what it exists for (and fails if a change stops reaching it).
fn state_mechanisms(file: &mut ScenarioFile, m: &Mechanisms) {
    let e = &mut file.expect;
    let at_least = |n: u64| (n > 0).then(|| spanned(CountFile::Compare(">= 1".into())));
    e.retries = at_least(m.retries);
    e.epoch_bumps = at_least(m.epoch_bumps);
    e.crashes = at_least(m.crashes);
    e.restarts = at_least(m.restarts);
    e.injections_hit = at_least(m.injections_hit);
    e.faults = at_least(m.faults);
    e.connections_lost = None;
    e.elections = None;
    e.largest_batch = None;
    e.largest_request = None;
    e.rejected_too_large = None;
    e.sends_blocked = None;
    e.closes_with_work = None;
    e.flushes_with_work = None;
    e.splits = None;
    e.triggers_fired = None;
    e.expired_in_flight = None;
    e.faults_healed = false;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Injection;
    use crate::faults::{Action, Target, TriggerApi};
    use producer_core::TopicPartition;
    use std::time::Duration;

    /// One fault of every action, as scenario files can state them.
    fn every_action() -> Vec<Fault> {
        let ms = Duration::from_millis;
        let (b, p) = (Target::Broker(1), Target::Producer(0));
        let leader = Target::Leader(TopicPartition::new("events", 2));
        let healed = |at, a| Fault::healed(ms(at), a, ms(at + 50));
        vec![
            healed(10, Action::Crash(leader)),
            Fault::once(ms(11), Action::Restart(Target::Broker(2))),
            healed(12, Action::Partition(p.clone(), b.clone())),
            Fault::once(ms(13), Action::Repair(p.clone(), b.clone())),
            healed(14, Action::PartitionOneway(b.clone(), p.clone())),
            healed(15, Action::Hold(p.clone(), Target::AllBrokers)),
            Fault::once(ms(16), Action::Release(p.clone(), Target::AllBrokers)),
            healed(
                17,
                Action::Latency(Target::AllProducers, b.clone(), ms(120)),
            ),
            healed(18, Action::DropRate(p.clone(), b.clone(), 0.25)),
            Fault::once(ms(19), Action::MoveLeader(TopicPartition::new("events", 3))),
            Fault::once(ms(20), Action::StaleMetadata(2)),
            Fault::once(
                ms(21),
                Action::ExpireProducers(TopicPartition::new("events", 0)),
            ),
            Fault::once(
                ms(22),
                Action::Inject(TopicPartition::new("events", 1), Injection::Error(46), 2),
            ),
            Fault::once(
                ms(23),
                Action::Inject(TopicPartition::new("events", 1), Injection::LoseResponse, 1),
            ),
            Fault::once(
                ms(24),
                Action::Inject(TopicPartition::new("events", 4), Injection::HoldResponse, 1),
            ),
            Fault::once(
                ms(25),
                Action::Inject(
                    TopicPartition::new("events", 5),
                    Injection::CrashAfterAppend(Some(300)),
                    1,
                ),
            ),
            Fault {
                when: Some(Trigger {
                    api: TriggerApi::Produce,
                    count: 3,
                    producer: Some(1),
                    partition: Some(TopicPartition::new("events", 2)),
                    broker: None,
                    sequence: None,
                }),
                ..healed(
                    26,
                    Action::Crash(Target::Leader(TopicPartition::new("events", 2))),
                )
            },
        ]
    }

    #[test]
    fn every_action_written_out_reads_back_as_the_same_fault() {
        let base = Scenario::parse(
            "[producers]\ncount = 2\n[[cluster.topics]]\nname = \"events\"\npartitions = 6\nreplication = 3\n",
            "base.toml",
        )
        .expect("the base scenario loads");
        let faults = every_action();
        let text = render(&base.file, &faults).expect("it renders");
        let back = Scenario::parse(&text, "written.toml")
            .unwrap_or_else(|e| panic!("the written file loads: {e}\n{text}"));
        assert_eq!(back.faults.len(), faults.len(), "{text}");
        for (want, got) in faults.iter().zip(&back.faults) {
            assert_eq!(want, got, "{text}");
        }
    }
}
