//! Mutations of a fault schedule. Each keeps the schedule inside the scenario's
//! `[swarm]` window, every fault healed by its end, so a mutated schedule is as
//! valid as a drawn one and a scenario file can state it.

use crate::cluster::ClusterSpec;
use crate::faults::{draw_swarm, Action, Fault, SwarmFile, Target, Trigger, TriggerApi};
use producer_core::TopicPartition;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// A mutation operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// Add one fault drawn as the swarm draws them.
    Add,
    /// Drop one fault.
    Drop,
    /// Move one fault to another time in the window (its duration kept).
    Shift,
    /// Point one fault at another broker, producer or partition.
    Retarget,
    /// Add, change or remove a fault's protocol trigger (`when`).
    Trigger,
    /// Keep the schedule, change the world seed (workload and network).
    Reseed,
}

impl Op {
    /// Every operator, in the bandit's order.
    pub const ALL: [Op; 6] = [
        Op::Add,
        Op::Drop,
        Op::Shift,
        Op::Retarget,
        Op::Trigger,
        Op::Reseed,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Drop => "drop",
            Op::Shift => "shift",
            Op::Retarget => "retarget",
            Op::Trigger => "trigger",
            Op::Reseed => "reseed",
        }
    }
}

/// A schedule grows to at most this many faults.
pub const MAX_FAULTS: usize = 16;

/// What mutations may draw from.
pub struct Space<'a> {
    /// The scenario's `[swarm]`: window and kinds.
    pub swarm: &'a SwarmFile,
    /// Brokers and topics.
    pub cluster: &'a ClusterSpec,
    /// Producers.
    pub producers: u32,
}

impl Space<'_> {
    fn window(&self) -> (u64, u64) {
        (self.swarm.window_ms[0], self.swarm.window_ms[1])
    }

    fn broker(&self, rng: &mut ChaCha8Rng) -> u32 {
        rng.gen_range(0..self.cluster.brokers)
    }

    fn producer(&self, rng: &mut ChaCha8Rng) -> u32 {
        rng.gen_range(0..self.producers.max(1))
    }

    fn partition(&self, rng: &mut ChaCha8Rng) -> TopicPartition {
        let t = &self.cluster.topics[rng.gen_range(0..self.cluster.topics.len())];
        TopicPartition::new(&t.name, rng.gen_range(0..t.partitions) as i32)
    }

    fn retarget(&self, t: &Target, rng: &mut ChaCha8Rng) -> Target {
        match t {
            Target::Broker(_) => Target::Broker(self.broker(rng)),
            Target::Producer(_) => Target::Producer(self.producer(rng)),
            Target::Leader(..) => Target::Leader(self.partition(rng)),
            other => other.clone(),
        }
    }
}

/// Applies `op` to `(faults, seed)`; `false` if it could not change anything.
pub fn apply(
    op: Op,
    faults: &mut Vec<Fault>,
    seed: &mut u64,
    space: &Space<'_>,
    rng: &mut ChaCha8Rng,
) -> bool {
    if op == Op::Reseed {
        *seed = rng.gen::<u32>() as u64;
        return true;
    }
    if op == Op::Add {
        if faults.len() >= MAX_FAULTS {
            return false;
        }
        let one = SwarmFile {
            faults: 1,
            ..space.swarm.clone()
        };
        faults.extend(draw_swarm(&one, space.cluster, space.producers, rng.gen()));
        faults.sort_by_key(|f| f.at);
        return true;
    }
    if faults.is_empty() || (op == Op::Drop && faults.len() < 2) {
        return false;
    }
    let i = rng.gen_range(0..faults.len());
    match op {
        Op::Drop => {
            faults.remove(i);
        }
        Op::Shift => shift(&mut faults[i], space.window(), rng),
        // Half the time onto a partition another fault of the schedule acts on:
        // faults that meet on one partition are what combination bugs need
        // (a lost response, then a refusal of the same batch's retry).
        Op::Retarget if rng.gen_bool(0.5) && align(faults, i, rng) => {}
        Op::Retarget => faults[i].action = retarget(&faults[i].action, space, rng),
        Op::Trigger => faults[i].when = trigger(faults[i].when.take(), space, rng),
        Op::Add | Op::Reseed => unreachable!("handled above"),
    }
    faults.sort_by_key(|f| f.at);
    true
}

/// Moves a fault in the window, keeping its duration (cut at the window's end).
fn shift(f: &mut Fault, (start, end): (u64, u64), rng: &mut ChaCha8Rng) {
    let at = rng.gen_range(start..end);
    let span = f.heal_at.map(|h| h.saturating_sub(f.at).as_millis() as u64);
    f.at = Duration::from_millis(at);
    if let Some(span) = span {
        f.heal_at = Some(Duration::from_millis(
            (at + span.max(1)).min(end).max(at + 1),
        ));
    }
}

fn retarget(a: &Action, space: &Space<'_>, rng: &mut ChaCha8Rng) -> Action {
    // One side of a link fault, so a producer-broker link stays one.
    let pair = |x: &Target, y: &Target, rng: &mut ChaCha8Rng| {
        if rng.gen_bool(0.5) {
            (space.retarget(x, rng), y.clone())
        } else {
            (x.clone(), space.retarget(y, rng))
        }
    };
    match a {
        Action::Crash(t) => Action::Crash(space.retarget(t, rng)),
        Action::Partition(x, y) => {
            let (x, y) = pair(x, y, rng);
            Action::Partition(x, y)
        }
        Action::PartitionOneway(x, y) => {
            let (x, y) = pair(x, y, rng);
            Action::PartitionOneway(x, y)
        }
        Action::Hold(x, y) => {
            let (x, y) = pair(x, y, rng);
            Action::Hold(x, y)
        }
        Action::Latency(x, y, d) => {
            let (x, y) = pair(x, y, rng);
            Action::Latency(x, y, *d)
        }
        Action::DropRate(x, y, r) => {
            let (x, y) = pair(x, y, rng);
            Action::DropRate(x, y, *r)
        }
        Action::MoveLeader(..) => Action::MoveLeader(space.partition(rng)),
        Action::ExpireProducers(..) => Action::ExpireProducers(space.partition(rng)),
        Action::Inject(_, what, n) => Action::Inject(space.partition(rng), *what, *n),
        Action::StaleMetadata(_) => Action::StaleMetadata(rng.gen_range(1..4)),
        other => other.clone(),
    }
}

/// The partition a fault acts on, if it acts on one.
fn partition_of(a: &Action) -> Option<TopicPartition> {
    match a {
        Action::Inject(tp, ..)
        | Action::MoveLeader(tp)
        | Action::ExpireProducers(tp)
        | Action::Crash(Target::Leader(tp)) => Some(tp.clone()),
        _ => None,
    }
}

/// Points fault `i` at the partition of another fault of the schedule; `false`
/// if it acts on no partition, or no other fault does on another one.
fn align(faults: &mut [Fault], i: usize, rng: &mut ChaCha8Rng) -> bool {
    let Some(own) = partition_of(&faults[i].action) else {
        return false;
    };
    let others: Vec<TopicPartition> = faults
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .filter_map(|(_, f)| partition_of(&f.action))
        .filter(|tp| *tp != own)
        .collect();
    if others.is_empty() {
        return false;
    }
    let tp = others[rng.gen_range(0..others.len())].clone();
    faults[i].action = match &faults[i].action {
        Action::Inject(_, what, n) => Action::Inject(tp, *what, *n),
        Action::MoveLeader(..) => Action::MoveLeader(tp),
        Action::ExpireProducers(..) => Action::ExpireProducers(tp),
        _ => Action::Crash(Target::Leader(tp)),
    };
    true
}

/// A new trigger, a changed one, or none (the fault fires at its time again).
fn trigger(old: Option<Trigger>, space: &Space<'_>, rng: &mut ChaCha8Rng) -> Option<Trigger> {
    let fresh = |rng: &mut ChaCha8Rng| {
        let api = match rng.gen_range(0..6) {
            0 => TriggerApi::Metadata,
            1 => TriggerApi::InitProducerId,
            _ => TriggerApi::Produce,
        };
        let partition =
            (api == TriggerApi::Produce && rng.gen_bool(0.5)).then(|| space.partition(rng));
        Trigger {
            api,
            count: rng.gen_range(1..6),
            producer: rng.gen_bool(0.7).then(|| space.producer(rng)),
            partition,
            broker: None,
            sequence: None,
        }
    };
    match old {
        None => Some(fresh(rng)),
        Some(t) => match rng.gen_range(0..4) {
            0 => None,
            1 => Some(fresh(rng)),
            2 => Some(Trigger {
                producer: Some(space.producer(rng)),
                ..t
            }),
            _ => Some(Trigger {
                count: rng.gen_range(1..8),
                ..t
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn space_of(s: &crate::Scenario) -> Space<'_> {
        Space {
            swarm: s.file.swarm.as_ref().expect("a swarm").get_ref(),
            cluster: &s.cluster,
            producers: s.file.producers.count,
        }
    }

    #[test]
    fn every_mutation_keeps_the_schedule_inside_the_window() {
        let s = crate::Scenario::parse(
            "[producers]\ncount = 2\n[swarm]\nfaults = 4\nwindow_ms = [10, 500]\n",
            "m.toml",
        )
        .unwrap();
        let space = space_of(&s);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut faults = draw_swarm(space.swarm, &s.cluster, 2, 3);
        let mut seed = 3;
        let mut changed = 0;
        for i in 0..400 {
            let op = Op::ALL[i % Op::ALL.len()];
            let before = (faults.clone(), seed);
            if apply(op, &mut faults, &mut seed, &space, &mut rng)
                && before != (faults.clone(), seed)
            {
                changed += 1;
            }
            for f in &faults {
                assert!(f.at >= Duration::from_millis(10) && f.at < Duration::from_millis(500));
                if let Some(h) = f.heal_at {
                    assert!(h > f.at && h <= Duration::from_millis(500), "{f}");
                }
            }
            assert!(!faults.is_empty());
            assert!(faults.windows(2).all(|w| w[0].at <= w[1].at));
        }
        assert!(
            changed > 300,
            "only {changed} of 400 mutations changed the schedule"
        );
    }

    #[test]
    fn align_puts_a_fault_on_the_partition_of_another() {
        let ms = Duration::from_millis;
        let lose = Action::Inject(
            TopicPartition::new("events", 1),
            crate::cluster::Injection::LoseResponse,
            1,
        );
        let refuse = Action::Inject(
            TopicPartition::new("events", 4),
            crate::cluster::Injection::Error(10),
            1,
        );
        let mut faults = vec![
            Fault::once(ms(10), lose),
            Fault::once(ms(20), Action::StaleMetadata(1)),
            Fault::once(ms(30), refuse),
        ];
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        assert!(
            !align(&mut faults, 1, &mut rng),
            "stale metadata acts on no partition"
        );
        assert!(align(&mut faults, 2, &mut rng));
        assert_eq!(
            partition_of(&faults[2].action),
            Some(TopicPartition::new("events", 1))
        );
        assert!(
            matches!(
                faults[2].action,
                Action::Inject(_, crate::cluster::Injection::Error(10), 1)
            ),
            "only the partition changes: {}",
            faults[2].action
        );
        // Nothing to align with once both faults meet.
        assert!(!align(&mut faults, 0, &mut rng));
    }
}
