//! One simulated world: brokers and producers as turmoil hosts, the fault
//! schedule applied between steps, and the checker's verdict at the end.
//! A run is a function of (scenario, seed).

use crate::broker::{serve_connection, SharedCluster};
use crate::checker::{self, CheckInput, ProducerFacts, Verdict};
use crate::cluster::{Cluster, LogBatch};
use crate::faults::{draw_swarm, Action, Fault, Target};
use crate::history::{
    digest_record, record, sim_now, trace_hash, Actor, History, HistoryObserver, SharedHistory, Tp,
    What,
};
use crate::net::TurmoilNetwork;
use crate::scenario::{Scenario, Sharing};
use crate::workload;
use producer_core::record::Record;
use producer_core::Producer;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

/// Port every simulated broker listens on.
pub const BROKER_PORT: u16 = 9092;

/// Per-producer totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerSummary {
    /// Records handed to `send`.
    pub sent: usize,
    /// Acknowledged.
    pub acked: usize,
    /// Failed.
    pub failed: usize,
    /// Still pending at the end.
    pub unresolved: usize,
}

/// Everything a run produced.
#[derive(Debug)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// Simulated time when the run stopped.
    pub sim_time: Duration,
    /// Number of brokers.
    pub brokers: u32,
    /// All producers finished (closed) before the duration ran out.
    pub finished: bool,
    /// A host failed (returned an error) - a harness problem, not a verdict.
    pub error: Option<String>,
    /// Fingerprint of history + logs.
    pub trace_hash: u64,
    /// Per producer.
    pub producers: Vec<ProducerSummary>,
    /// The checker's verdict.
    pub verdict: Verdict,
    /// The full history.
    pub history: History,
    /// Final logs.
    pub logs: BTreeMap<Tp, Vec<LogBatch>>,
    /// The faults applied (timed and drawn).
    pub faults: Vec<Fault>,
    /// The records each producer was handed, as they are after the run.
    pub records: Vec<Vec<Record>>,
}

/// How much the faults disturbed the producers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stress {
    /// Batch attempts after the first.
    pub retried_attempts: usize,
    /// Epoch bumps started.
    pub epoch_bumps: usize,
    /// Connections lost with requests unanswered or while connecting.
    pub connections_lost: usize,
}

impl RunReport {
    /// Counts retries, epoch bumps and lost connections in the history.
    pub fn stress(&self) -> Stress {
        let mut s = Stress::default();
        for e in &self.history.entries {
            match &e.what {
                What::RequestSent { batches, .. } => {
                    s.retried_attempts += batches.iter().filter(|b| b.attempt > 1).count()
                }
                What::EpochBumpStarted => s.epoch_bumps += 1,
                What::ConnectionLost { .. } => s.connections_lost += 1,
                _ => {}
            }
        }
        s
    }

    /// The run passed: finished, no host error, no violation, and every kind the
    /// scenario requires was seen.
    pub fn passed(&self, required: &[checker::Kind]) -> bool {
        let kinds = self.verdict.kinds();
        self.error.is_none() && self.verdict.passed() && required.iter().all(|k| kinds.contains(k))
    }
}

/// Options beyond (scenario, seed).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Override the scenario's sharing mode.
    pub sharing: Option<Sharing>,
    /// Send exactly these records (handed to producers per the sharing mode)
    /// instead of generating the scenario's workload.
    pub records: Option<Vec<Record>>,
    /// Deliberately broken producer behaviours to switch on (always none unless
    /// producer-core is built with its `bug-injection` feature).
    pub bugs: producer_core::bugs::Bugs,
}

fn host_names(t: &Target, cluster: &Cluster, producers: u32) -> Vec<String> {
    match t {
        Target::Broker(i) => vec![format!("broker-{i}")],
        Target::Producer(i) => vec![format!("producer-{i}")],
        Target::Leader(topic, p) => cluster
            .partition(topic, *p)
            .and_then(|x| x.leader)
            .map(|b| vec![format!("broker-{b}")])
            .unwrap_or_default(),
        Target::AllBrokers => (0..cluster.brokers.len())
            .map(|i| format!("broker-{i}"))
            .collect(),
        Target::AllProducers => (0..producers).map(|i| format!("producer-{i}")).collect(),
    }
}

fn broker_index(host: &str) -> Option<i32> {
    host.strip_prefix("broker-")?.parse().ok()
}

/// Applies one fault to the world; returns what it did, for the history.
fn apply(
    sim: &mut turmoil::Sim<'_>,
    cluster: &SharedCluster,
    fault: &Fault,
    producers: u32,
    latency: (Duration, Duration),
) -> String {
    let now = sim.elapsed();
    let names = |t: &Target| host_names(t, &cluster.borrow(), producers);
    let mut note = String::new();
    let pairs = |a: &Target, b: &Target| -> Vec<(String, String)> {
        let (xs, ys) = (names(a), names(b));
        xs.iter()
            .flat_map(|x| {
                ys.iter()
                    .filter(move |y| *y != x)
                    .map(move |y| (x.clone(), y.clone()))
            })
            .collect()
    };
    match &fault.action {
        Action::Crash(t) => {
            for h in names(t) {
                if sim.is_host_running(h.as_str()) {
                    sim.crash(h.as_str());
                }
                if let Some(b) = broker_index(&h) {
                    cluster.borrow_mut().crash(b, now);
                }
                note += &format!(" {h}");
            }
        }
        Action::Restart(t) => {
            for h in names(t) {
                if let Some(b) = broker_index(&h) {
                    if !cluster.borrow().is_up(b) {
                        cluster.borrow_mut().restart(b);
                        sim.bounce(h.as_str());
                        note += &format!(" {h}");
                    }
                }
            }
        }
        Action::Partition(a, b) => pairs(a, b)
            .iter()
            .for_each(|(x, y)| sim.partition(x.as_str(), y.as_str())),
        Action::Repair(a, b) => pairs(a, b)
            .iter()
            .for_each(|(x, y)| sim.repair(x.as_str(), y.as_str())),
        Action::PartitionOneway(a, b) => pairs(a, b)
            .iter()
            .for_each(|(x, y)| sim.partition_oneway(x.as_str(), y.as_str())),
        Action::RepairOneway(a, b) => pairs(a, b)
            .iter()
            .for_each(|(x, y)| sim.repair_oneway(x.as_str(), y.as_str())),
        Action::Hold(a, b) => pairs(a, b)
            .iter()
            .for_each(|(x, y)| sim.hold(x.as_str(), y.as_str())),
        Action::Release(a, b) => pairs(a, b)
            .iter()
            .for_each(|(x, y)| sim.release(x.as_str(), y.as_str())),
        Action::Latency(a, b, d) => pairs(a, b).iter().for_each(|(x, y)| match d {
            Some(d) => sim.set_link_latency(x.as_str(), y.as_str(), *d),
            None => {
                sim.set_link_latency(x.as_str(), y.as_str(), latency.0);
                sim.set_link_max_message_latency(x.as_str(), y.as_str(), latency.1);
            }
        }),
        Action::DropRate(a, b, r) => pairs(a, b)
            .iter()
            .for_each(|(x, y)| sim.set_link_fail_rate(x.as_str(), y.as_str(), *r)),
        Action::MoveLeader(t, p) => {
            let old = cluster.borrow().partition(t, *p).and_then(|x| x.leader);
            cluster.borrow_mut().move_leader(t, *p, now);
            note = format!(
                " (was broker-{})",
                old.map_or("none".into(), |b| b.to_string())
            );
        }
        Action::Inject(t, p, what, times) => cluster.borrow_mut().inject(t, *p, *what, *times),
    }
    if let Action::Crash(Target::Leader(..)) = fault.action {
        if note.is_empty() {
            note = " (no leader at that time: nothing crashed)".into();
        }
    }
    format!("{}{}", fault.action, note)
}

async fn broker_host(id: i32, cluster: SharedCluster) -> turmoil::Result {
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", BROKER_PORT)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::task::spawn_local(serve_connection(stream, id, cluster.clone(), sim_now));
    }
}

struct ClientPlan {
    index: u32,
    config: producer_core::Config,
    topic: String,
    records: Vec<Record>,
    burst: usize,
    interval: Duration,
    history: SharedHistory,
}

async fn producer_client(plan: ClientPlan) -> turmoil::Result {
    let p = plan.index;
    let h = plan.history.clone();
    let who = Actor::Producer(p);
    let observer = Arc::new(HistoryObserver {
        producer: p,
        history: h.clone(),
    });
    let producer = Producer::with_observer(plan.config, Arc::new(TurmoilNetwork), observer)?;
    let mut waiters = Vec::with_capacity(plan.records.len());
    for (index, rec) in plan.records.iter().enumerate() {
        if !plan.interval.is_zero() && index > 0 && index % plan.burst == 0 {
            tokio::time::sleep(plan.interval).await;
        }
        let digest = digest_record(rec);
        let batch_len = producer_core::batch::single_record_batch_len(rec);
        let fut = producer.send(&plan.topic, rec.clone()).await;
        record(
            &h,
            sim_now(),
            who,
            What::Send {
                index,
                send_id: fut.send_id(),
                partition: fut.partition(),
                digest,
                batch_len,
            },
        );
        let h = h.clone();
        waiters.push(tokio::task::spawn_local(async move {
            let what = match fut.await {
                Ok(m) => What::Acked {
                    index,
                    partition: m.partition,
                    offset: m.offset,
                },
                Err(e) => What::Failed {
                    index,
                    too_large: matches!(e, producer_core::Error::MessageTooLarge { .. }),
                    error: e.to_string(),
                },
            };
            record(&h, sim_now(), who, what);
        }));
    }
    for w in waiters {
        w.await?;
    }
    producer.flush().await;
    record(&h, sim_now(), who, What::Flushed);
    producer.close().await;
    let stats = producer.stats();
    record(
        &h,
        sim_now(),
        who,
        What::Closed {
            unresolved_records: stats.unresolved_records,
            buffered_bytes: stats.buffered_bytes,
            in_flight_requests: stats.in_flight_requests,
        },
    );
    Ok(())
}

/// Runs `scenario` with `seed` and checks the result.
pub fn run(scenario: &Scenario, seed: u64) -> RunReport {
    run_with(scenario, seed, &RunOptions::default())
}

/// Runs `scenario` with `seed` and options.
pub fn run_with(scenario: &Scenario, seed: u64, options: &RunOptions) -> RunReport {
    let f = &scenario.file;
    let ms = Duration::from_millis;
    let duration = Duration::from_secs(f.duration_s);
    let latency = (ms(f.network.min_latency_ms), ms(f.network.max_latency_ms));
    let mut sim = turmoil::Builder::new()
        .simulation_duration(duration)
        .tick_duration(ms(f.tick_ms))
        .min_message_latency(latency.0)
        .max_message_latency(latency.1)
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .enable_random_order()
        .build();

    let cluster: SharedCluster =
        Rc::new(RefCell::new(Cluster::new(scenario.cluster.clone(), |id| {
            (format!("broker-{id}"), BROKER_PORT)
        })));
    let history: SharedHistory = Arc::new(Mutex::new(History::default()));
    for b in 0..scenario.cluster.brokers {
        let c = cluster.clone();
        sim.host(format!("broker-{b}"), move || {
            broker_host(b as i32, c.clone())
        });
    }
    let producers = f.producers.count;
    let bootstrap: Vec<String> = (0..scenario.cluster.brokers)
        .map(|b| format!("broker-{b}:{BROKER_PORT}"))
        .collect();
    let sharing = options.sharing.unwrap_or(f.workload.sharing);
    let records = match &options.records {
        Some(base) => workload::share(base, producers, sharing),
        None => workload::generate_as(&f.workload, producers, seed, sharing),
    };
    let snapshots: Vec<Vec<Record>> = records
        .iter()
        .map(|rs| rs.iter().map(Record::deep_clone).collect())
        .collect();
    let mut facts = Vec::new();
    for p in 0..producers {
        let config = f
            .producers
            .settings(p)
            .to_config(p, seed, bootstrap.clone());
        let config = producer_core::Config {
            bugs: options.bugs,
            ..config
        };
        let grace = if f.grace_ms > 0 {
            ms(f.grace_ms)
        } else {
            config.delivery_timeout
                + config.request_timeout
                + config.linger
                + Duration::from_secs(1)
        };
        let batch_limit = producer_core::produce_set::Limits::from_config(&config)
            .batch_limit(&f.workload.topic)
            .0;
        facts.push(ProducerFacts {
            batch_limit,
            idempotent: config.idempotence,
            max_in_flight: config.max_in_flight,
            max_message_bytes: config.max_message_bytes,
            max_request_size: config.max_request_size,
            grace,
            requests_observed: true,
        });
        sim.client(
            format!("producer-{p}"),
            producer_client(ClientPlan {
                index: p,
                config,
                topic: f.workload.topic.clone(),
                records: records[p as usize].clone(),
                burst: f.workload.burst,
                interval: ms(f.workload.interval_ms),
                history: history.clone(),
            }),
        );
    }

    let mut faults = scenario.faults.clone();
    if let Some(sw) = &f.swarm {
        faults.extend(draw_swarm(sw.get_ref(), &scenario.cluster, producers, seed));
        faults.sort_by_key(|x| x.at);
    }
    let mut next_fault = 0;
    let mut finished = false;
    let mut error = None;
    loop {
        let now = sim.elapsed();
        while next_fault < faults.len() && faults[next_fault].at <= now {
            let description = apply(&mut sim, &cluster, &faults[next_fault], producers, latency);
            record(&history, now, Actor::World, What::Fault { description });
            next_fault += 1;
        }
        let elected = cluster.borrow_mut().run_elections(now);
        if elected > 0 {
            record(
                &history,
                now,
                Actor::World,
                What::Fault {
                    description: format!("{elected} partition(s) elected a new leader"),
                },
            );
        }
        match sim.step() {
            Ok(true) => {
                finished = true;
                break;
            }
            Ok(false) => {}
            Err(e) => {
                if sim.elapsed() < duration {
                    error = Some(e.to_string());
                }
                break;
            }
        }
    }
    let end = sim.elapsed();
    drop(sim);

    let mut history = std::mem::take(&mut *history.lock().unwrap_or_else(|e| e.into_inner()));
    for (p, (now, before)) in records.iter().zip(&snapshots).enumerate() {
        for (index, (a, b)) in now.iter().zip(before).enumerate() {
            if a != b {
                history.push(
                    end,
                    Actor::Producer(p as u32),
                    What::RecordMutated { index },
                );
            }
        }
    }
    let logs = cluster.borrow().logs();
    let hash = trace_hash(
        &history,
        logs.iter()
            .map(|((t, p), b)| (t.as_str(), *p, b.as_slice())),
    );
    let last_fault = faults.iter().map(|x| x.at).max().unwrap_or_default();
    let verdict = checker::check(&CheckInput {
        history: &history,
        logs: &logs,
        topic: &f.workload.topic,
        producers: &facts,
        last_fault,
        end,
        allowed: &scenario.allowed,
        all_acked: f.expect.all_acked,
    });
    let mut summaries = vec![ProducerSummary::default(); producers as usize];
    for e in &history.entries {
        if let Actor::Producer(p) = e.who {
            let s = &mut summaries[p as usize];
            match e.what {
                What::Send { .. } => s.sent += 1,
                What::Acked { .. } => s.acked += 1,
                What::Failed { .. } => s.failed += 1,
                _ => {}
            }
        }
    }
    for s in &mut summaries {
        s.unresolved = s.sent.saturating_sub(s.acked + s.failed);
    }
    RunReport {
        scenario: scenario.name.clone(),
        seed,
        sim_time: end,
        brokers: scenario.cluster.brokers,
        finished,
        error,
        trace_hash: hash,
        producers: summaries,
        verdict,
        history,
        logs,
        faults,
        records,
    }
}
