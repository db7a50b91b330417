//! Simulation speed: seeds per second of the scenario files beside the idle
//! floor of the same turmoil hosts (floor.rs), and a happy-path seed split into
//! what every seed pays and what each record adds.

use crate::floor;
use std::path::Path;
use std::time::{Duration, Instant};

/// A world that is idle most of the time: 3 producers, 60 records each, one
/// every 500 ms (about 30 simulated seconds).
const SPARSE: &str = "seeds = 3\nduration_s = 120\n[producers]\ncount = 3\n[workload]\nrecords = 60\nburst = 1\ninterval_ms = 500\n";

pub fn sim_speed(quick: bool, root: &Path) {
    println!("## Simulation speed (one world per thread, each world single-threaded)");
    println!("tick: turmoil's step; every host is polled once per tick, so the tick sets the cost of idle time");
    println!("idle floor: the same hosts doing nothing for the same simulated time (see floor.rs); no prodsim change can beat it");
    println!(
        "{:<12} {:>6} {:>7} {:>6} {:>10} {:>16} {:>10} {:>12} {:>8}",
        "scenario",
        "tick",
        "seeds",
        "jobs",
        "wall s",
        "sim s / wall s",
        "seeds/s",
        "idle floor",
        "% floor"
    );
    let file = |name: &str| std::fs::read_to_string(root.join("scenarios").join(name)).unwrap();
    let worlds = [
        ("happy-path", file("happy-path.toml")),
        ("swarm", file("swarm.toml")),
        ("sparse", SPARSE.to_string()),
    ];
    for (name, text) in &worlds {
        for tick in [1, 10] {
            // The files use the default tick (1 ms); the 10 ms runs set it.
            let text = format!("tick_ms = {tick}\n{text}");
            let scenario = sim::Scenario::parse(&text, name).unwrap();
            for jobs in [1, 2] {
                let seeds = match (*name, quick) {
                    ("sparse", true) => 2,
                    ("sparse", false) => 8,
                    (_, true) => 30,
                    (_, false) => 200,
                };
                let label = format!("{name} tick {tick}");
                let (wall, sim_time) = explore_timed(&scenario, seeds, jobs, &label);
                let wall = wall.as_secs_f64();
                let per_seed = sim_time / seeds as u32;
                let floor = floor::idle_seeds_per_s(
                    scenario.cluster.brokers,
                    scenario.file.producers.count,
                    per_seed,
                    Duration::from_millis(tick),
                    seeds,
                    jobs,
                );
                let rate = seeds as f64 / wall;
                println!(
                    "{:<12} {:>4}ms {:>7} {:>6} {:>10.2} {:>16.0} {:>10.1} {:>12.1} {:>7.0}%",
                    name,
                    tick,
                    seeds,
                    jobs,
                    wall,
                    sim_time.as_secs_f64() / wall,
                    rate,
                    floor,
                    100.0 * rate / floor
                );
            }
        }
    }
    println!("goals: >= 1000x real time, >= 20 seeds/s on 2 cores for the standard scenario (happy-path)");
    println!();
    per_record_cost(&file("happy-path.toml"), quick);
}

/// Runs `seeds` seeds of `scenario` on `jobs` threads; the wall time and the
/// simulated time they took in all. Every seed must pass.
fn explore_timed(
    scenario: &sim::Scenario,
    seeds: u64,
    jobs: usize,
    name: &str,
) -> (Duration, Duration) {
    let opts = sim::explore::ExploreOptions {
        start: 0,
        count: seeds,
        jobs,
        keep_going: true,
        determinism_every: 0,
        shard: Default::default(),
    };
    let started = Instant::now();
    let summary = sim::explore::explore(scenario, &opts, |_, _| {});
    let wall = started.elapsed();
    assert!(
        summary.failures.is_empty(),
        "{name}: failing seeds {:?}",
        summary.failures.iter().map(|f| f.seed).collect::<Vec<_>>()
    );
    (wall, summary.sim_time)
}

/// Splits a happy-path seed's cost into what every seed pays (the same world
/// with one record per producer) and what each record adds, beside the idle
/// floor of each: where the share of the floor goes.
fn per_record_cost(happy: &str, quick: bool) {
    let seeds = if quick { 30 } else { 200 };
    assert!(happy.contains("records = 700"), "happy-path.toml changed");
    let world = |n: u32| {
        let text = happy.replace("records = 700", &format!("records = {n}"));
        sim::Scenario::parse(&text, "happy-path").unwrap()
    };
    println!("## Where a happy-path seed's time goes (1 job, 1 ms tick, {seeds} seeds)");
    println!(
        "{:<28} {:>12} {:>14} {:>14} {:>8}",
        "world", "sim ms/seed", "wall ms/seed", "floor ms/seed", "% floor"
    );
    let producers = world(1).file.producers.count;
    let mut rows = Vec::new();
    for n in [1, 700] {
        let scenario = world(n);
        let (wall, sim_time) = explore_timed(&scenario, seeds, 1, "happy-path");
        let (wall, sim_time) = (wall / seeds as u32, sim_time / seeds as u32);
        let floor = 1.0
            / floor::idle_seeds_per_s(
                scenario.cluster.brokers,
                producers,
                sim_time,
                Duration::from_millis(1),
                seeds,
                1,
            );
        let wall = wall.as_secs_f64();
        println!(
            "{:<28} {:>12.1} {:>14.3} {:>14.3} {:>7.0}%",
            format!("{n} record(s) per producer"),
            sim_time.as_secs_f64() * 1e3,
            wall * 1e3,
            floor * 1e3,
            100.0 * floor / wall
        );
        rows.push((n, wall, floor));
    }
    let (n0, w0, _) = rows[0];
    let (n1, w1, f1) = rows[1];
    let added = f64::from((n1 - n0) * producers);
    let per_record = (w1 - w0) / added;
    println!(
        "each record adds {:.2} us (sent, batched, carried by turmoil, validated and stored by a broker, acknowledged, recorded, checked); 50% of the floor at {} records would need {:.2} us",
        per_record * 1e6,
        n1 * producers,
        ((2.0 * f1 - w0) / added).max(0.0) * 1e6
    );
    println!();
}
