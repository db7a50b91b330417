//! The floor of a turmoil world's cost: the same hosts as a scenario (one
//! host per broker, one client per producer) doing nothing for the same
//! simulated time at the same tick. `Sim::step` polls every running host's
//! runtime once per tick whether it has work or not, so no change to prodsim's
//! own code can make a seed cheaper than this; the sim table prints it beside
//! each row.

use std::time::{Duration, Instant};

/// One idle world: `brokers` hosts that accept and never answer, `producers`
/// clients that sleep for `sim_time`, stepped at `tick` until the clients end.
fn idle_world(seed: u64, brokers: u32, producers: u32, sim_time: Duration, tick: Duration) {
    let mut sim = turmoil::Builder::new()
        .simulation_duration(sim_time + Duration::from_secs(1))
        .tick_duration(tick)
        .rng_seed(seed)
        .enable_random_order()
        .build();
    for b in 0..brokers {
        sim.host(format!("broker-{b}"), || async {
            let listener = turmoil::net::TcpListener::bind("0.0.0.0:9092").await?;
            loop {
                let _ = listener.accept().await?;
            }
        });
    }
    for p in 0..producers {
        sim.client(format!("producer-{p}"), async move {
            tokio::time::sleep(sim_time).await;
            Ok(())
        });
    }
    while !sim.step().expect("an idle world cannot fail") {}
}

/// Seeds per second of idle worlds on `jobs` threads (each world on one).
pub fn idle_seeds_per_s(
    brokers: u32,
    producers: u32,
    sim_time: Duration,
    tick: Duration,
    seeds: u64,
    jobs: usize,
) -> f64 {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for j in 0..jobs as u64 {
            scope.spawn(move || {
                for seed in (j..seeds).step_by(jobs) {
                    idle_world(seed, brokers, producers, sim_time, tick);
                }
            });
        }
    });
    seeds as f64 / started.elapsed().as_secs_f64()
}
