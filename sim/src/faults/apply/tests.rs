//! The fault runner against a recording sink: targets resolve once, heals
//! undo exactly what was done, triggers fire on their event.

use super::*;
use crate::cluster::{ClusterSpec, TopicSpec};
use producer_core::TopicPartition;
use std::cell::RefCell;

/// A sink that records what it was asked to do.
struct Recorder {
    cluster: RefCell<Cluster>,
    calls: Vec<String>,
}

impl Recorder {
    fn new() -> Self {
        let spec = ClusterSpec {
            brokers: 3,
            topics: vec![TopicSpec {
                name: "events".into(),
                partitions: 3,
                replication: 3,
            }],
            max_message_bytes: 1 << 20,
            failover_delay: Duration::from_millis(10),
            broker_version: Default::default(),
        };
        Recorder {
            cluster: RefCell::new(Cluster::new(spec, |id| (format!("broker-{id}"), 9092))),
            calls: Vec::new(),
        }
    }

    fn leader(&self) -> Option<i32> {
        self.cluster
            .borrow()
            .partition("events", 0)
            .and_then(|p| p.leader)
    }
}

impl FaultSink for Recorder {
    fn cluster(&self) -> RefMut<'_, Cluster> {
        self.cluster.borrow_mut()
    }
    fn producers(&self) -> u32 {
        2
    }
    fn stop_broker(&mut self, b: u32) {
        self.calls.push(format!("stop broker-{b}"));
    }
    fn start_broker(&mut self, b: u32) {
        self.calls.push(format!("start broker-{b}"));
    }
    fn link(&mut self, change: LinkChange, a: Host, b: Host) -> Result<(), String> {
        self.calls.push(format!("{change:?} {a}-{b}"));
        Ok(())
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn leader0() -> Target {
    Target::Leader(TopicPartition::new("events", 0))
}

#[test]
fn a_healed_leader_crash_restarts_the_broker_it_crashed_not_the_new_leader() {
    let mut sink = Recorder::new();
    let first = sink.leader().unwrap();
    let mut runner = FaultRunner::new(vec![Fault::healed(
        ms(10),
        Action::Crash(leader0()),
        ms(100),
    )]);
    runner.apply_due(ms(10), &mut sink);
    sink.cluster.borrow_mut().run_elections(ms(50));
    let second = sink.leader().unwrap();
    assert_ne!(first, second, "a new leader was elected");
    let applied = runner.apply_due(ms(100), &mut sink);
    assert_eq!(applied[0].change, Change::Restart);
    assert!(applied[0].heal);
    assert_eq!(
        sink.calls,
        [
            format!("stop broker-{first}"),
            format!("start broker-{first}")
        ]
    );
    assert!(sink.cluster.borrow().is_up(first));
    assert!(!runner.pending());
}

#[test]
fn a_healed_partition_with_the_leader_repairs_the_link_it_cut() {
    let mut sink = Recorder::new();
    let first = sink.leader().unwrap() as u32;
    let action = Action::Partition(Target::Producer(0), leader0());
    let mut runner = FaultRunner::new(vec![
        Fault::healed(ms(10), action, ms(100)),
        Fault::once(ms(20), Action::MoveLeader(TopicPartition::new("events", 0))),
    ]);
    runner.apply_due(ms(20), &mut sink);
    sink.cluster.borrow_mut().run_elections(ms(50));
    assert_ne!(sink.leader(), Some(first as i32));
    runner.apply_due(ms(100), &mut sink);
    assert_eq!(
        sink.calls,
        [
            format!("Partition producer-0-broker-{first}"),
            format!("Repair producer-0-broker-{first}"),
        ]
    );
}

#[test]
fn overlapping_faults_on_one_link_hold_it_until_the_last_heal() {
    let mut sink = Recorder::new();
    let cut = || Action::Partition(Target::Producer(1), Target::Broker(2));
    let mut runner = FaultRunner::new(vec![
        Fault::healed(ms(10), cut(), ms(50)),
        Fault::healed(ms(20), cut(), ms(80)),
    ]);
    runner.apply_due(ms(50), &mut sink);
    assert_eq!(
        sink.calls.len(),
        2,
        "two cuts, no repair yet: {:?}",
        sink.calls
    );
    runner.apply_due(ms(80), &mut sink);
    assert_eq!(sink.calls.last().unwrap(), "Repair producer-1-broker-2");
    assert_eq!(sink.calls.len(), 3);
}

#[test]
fn overlapping_crashes_keep_the_broker_down_and_an_explicit_restart_ends_them() {
    let mut sink = Recorder::new();
    let mut runner = FaultRunner::new(vec![
        Fault::healed(ms(10), Action::Crash(Target::Broker(1)), ms(60)),
        Fault::healed(ms(20), Action::Crash(Target::Broker(1)), ms(40)),
        Fault::once(ms(50), Action::Restart(Target::Broker(1))),
    ]);
    let second = runner.apply_due(ms(20), &mut sink);
    assert_eq!(second[1].change, Change::Nothing, "already down");
    runner.apply_due(ms(40), &mut sink);
    assert!(
        !sink.cluster.borrow().is_up(1),
        "the first crash still holds it"
    );
    let restart = runner.apply_due(ms(50), &mut sink);
    assert_eq!(restart[0].change, Change::Restart);
    let heal = runner.apply_due(ms(60), &mut sink);
    assert_eq!(heal[0].change, Change::Nothing, "{heal:?}");
    assert_eq!(sink.calls, ["stop broker-1", "start broker-1"]);
}

#[test]
fn a_crash_of_a_leaderless_partition_crashes_nothing_and_heals_nothing() {
    let mut sink = Recorder::new();
    sink.cluster.borrow_mut().move_leader("events", 0, ms(0));
    let mut runner = FaultRunner::new(vec![Fault::healed(ms(1), Action::Crash(leader0()), ms(5))]);
    let start = runner.apply_due(ms(1), &mut sink);
    assert!(
        start[0].description.contains("nothing crashed"),
        "{start:?}"
    );
    runner.apply_due(ms(5), &mut sink);
    assert!(sink.calls.is_empty(), "{:?}", sink.calls);
}
