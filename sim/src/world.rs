//! One simulated world: brokers and producers as turmoil hosts, the fault
//! schedule applied between steps, and the checker's verdict at the end.
//! A run is a function of (scenario, seed).

use crate::broker::{serve_connection, SharedCluster};
use crate::checker::{self, CheckInput, ProducerFacts, Verdict};
use crate::client::{self, ClientPlan};
use crate::cluster::{Cluster, LogBatch};
use crate::faults::{Fault, FaultRunner, FaultSink, Host, LinkChange};
use crate::frames::FrameBudget;
use crate::history::{record, sim_now, trace_hash, Actor, History, SharedHistory, What};
use crate::mechanisms::Mechanisms;
use crate::scenario::{Scenario, Sharing};
use crate::workload;
use producer_core::compression::Compression;
use producer_core::record::Record;
use producer_core::TopicPartition;
use std::cell::{RefCell, RefMut};
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
    /// Per producer.
    pub producers: Vec<ProducerSummary>,
    /// The checker's verdict.
    pub verdict: Verdict,
    /// The full history.
    pub history: History,
    /// Final logs.
    pub logs: BTreeMap<TopicPartition, Vec<LogBatch>>,
    /// The faults applied (timed and drawn).
    pub faults: Vec<Fault>,
    /// The records each producer was handed, as they are after the run.
    pub records: Vec<Vec<Record>>,
    /// What the run exercised (retries, bumps, crashes, heals, ...).
    pub mechanisms: Mechanisms,
    /// The scenario's `[expect]` mechanisms this run did not reach.
    pub unmet: Vec<String>,
}

impl RunReport {
    /// Fingerprint of the history and the logs: equal for two runs of one
    /// scenario and seed. Computed when asked (a search that does not check
    /// determinism never pays for it).
    pub fn trace_hash(&self) -> u64 {
        trace_hash(
            &self.history,
            self.logs
                .iter()
                .map(|(tp, b)| (&*tp.topic, tp.partition, b.as_slice())),
        )
    }

    /// The run passed: no host error, no violation, every kind the scenario
    /// requires was seen and every mechanism its `[expect]` names was reached.
    pub fn passed(&self, required: &[checker::Kind]) -> bool {
        let kinds = self.verdict.kinds();
        self.error.is_none()
            && self.verdict.passed()
            && self.unmet.is_empty()
            && required.iter().all(|k| kinds.contains(k))
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

/// The simulated world as faults see it: turmoil's hosts and links plus the
/// cluster state.
struct WorldSink<'a, 'b> {
    sim: &'a mut turmoil::Sim<'b>,
    cluster: &'a SharedCluster,
    producers: u32,
    /// The scenario's default (min, max) link latency, restored by heals.
    latency: (Duration, Duration),
}

impl FaultSink for WorldSink<'_, '_> {
    fn cluster(&self) -> RefMut<'_, Cluster> {
        self.cluster.borrow_mut()
    }

    fn producers(&self) -> u32 {
        self.producers
    }

    fn stop_broker(&mut self, b: u32) {
        let host = Host::Broker(b).to_string();
        if self.sim.is_host_running(host.as_str()) {
            self.sim.crash(host.as_str());
        }
    }

    fn start_broker(&mut self, b: u32) {
        self.sim.bounce(Host::Broker(b).to_string().as_str());
    }

    fn link(&mut self, change: LinkChange, a: Host, b: Host) -> Result<(), String> {
        let (x, y) = (a.to_string(), b.to_string());
        let (x, y) = (x.as_str(), y.as_str());
        match change {
            LinkChange::Partition => self.sim.partition(x, y),
            LinkChange::Repair => self.sim.repair(x, y),
            LinkChange::PartitionOneway => self.sim.partition_oneway(x, y),
            LinkChange::RepairOneway => self.sim.repair_oneway(x, y),
            LinkChange::Hold => self.sim.hold(x, y),
            LinkChange::Release => self.sim.release(x, y),
            LinkChange::Latency(d) => self.sim.set_link_latency(x, y, d),
            LinkChange::DefaultLatency => {
                self.sim.set_link_latency(x, y, self.latency.0);
                self.sim.set_link_max_message_latency(x, y, self.latency.1);
            }
            LinkChange::DropRate(r) => self.sim.set_link_fail_rate(x, y, r),
            LinkChange::NoDrops => self.sim.set_link_fail_rate(x, y, 0.0),
        }
        Ok(())
    }
}

async fn broker_host(id: i32, cluster: SharedCluster) -> turmoil::Result {
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", BROKER_PORT)).await?;
    // Prodsim's own producers never come near it; it bounds a broken one.
    let budget = FrameBudget::new(1 << 30);
    loop {
        let (stream, _) = listener.accept().await?;
        let serve = serve_connection(stream, id, cluster.clone(), budget.clone(), sim_now);
        tokio::task::spawn_local(async move {
            serve.await;
        });
    }
}

/// Runs `scenario` with `seed` and checks the result.
pub fn run(scenario: &Scenario, seed: u64) -> RunReport {
    run_with(scenario, seed, &RunOptions::default())
}

/// Runs `scenario` with `seed` and options.
pub fn run_with(scenario: &Scenario, seed: u64, options: &RunOptions) -> RunReport {
    let f = &scenario.file;
    let duration = Duration::from_secs(f.duration_s);
    let mut sim = build_sim(scenario, seed);
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
    let (records, codecs) = workload_of(scenario, seed, options);
    let snapshots: Vec<Vec<Record>> = records
        .iter()
        .map(|rs| rs.iter().map(Record::deep_clone).collect())
        .collect();
    let facts = spawn_producers(
        &mut sim, scenario, seed, options, &records, &codecs, &history,
    );

    let mut runner = FaultRunner::new(scenario.schedule(seed));
    let (finished, error) = drive(
        &mut sim,
        &mut runner,
        &cluster,
        &history,
        producers,
        network_latency(scenario),
        duration,
    );
    let end = sim.elapsed();
    drop(sim);

    let mut history = std::mem::take(&mut *history.lock().unwrap_or_else(|e| e.into_inner()));
    record_mutations(&mut history, &records, &snapshots, end);
    let logs = cluster.borrow_mut().take_logs();
    let faults = runner.faults().to_vec();
    let heals_scheduled = faults.iter().filter(|x| x.heal_at.is_some()).count() as u64;
    let mechanisms = Mechanisms::of(
        &history,
        cluster.borrow().injections_hit,
        heals_scheduled,
        runner.triggers_fired(),
    );
    let unmet = scenario.mechanisms.unmet(&mechanisms);
    let verdict = checker::check(&CheckInput {
        history: &history,
        logs: &logs,
        topic: &f.workload.topic,
        producers: &facts,
        last_fault: runner.last_change(),
        end,
        allowed: &scenario.allowed,
        all_acked: f.expect.all_acked,
        broker_faults: &cluster.borrow().ledger.faults,
    });
    RunReport {
        scenario: scenario.name.clone(),
        seed,
        sim_time: end,
        brokers: scenario.cluster.brokers,
        finished,
        error,
        producers: summaries(&history, producers),
        verdict,
        history,
        logs,
        faults,
        records,
        mechanisms,
        unmet,
    }
}

/// The records each producer is handed and the codec each compresses with
/// (`None`: the scenario's): a swarm seed may draw both.
fn workload_of(
    scenario: &Scenario,
    seed: u64,
    options: &RunOptions,
) -> (Vec<Vec<Record>>, Vec<Option<Compression>>) {
    let f = &scenario.file;
    let producers = f.producers.count;
    let sharing = options.sharing.unwrap_or(f.workload.sharing);
    let (codecs, payload) = match &f.swarm {
        Some(sw) => crate::faults::draw_compression(sw.get_ref(), producers, seed),
        None => (vec![None; producers as usize], None),
    };
    let records = match &options.records {
        Some(base) => workload::share(base, producers, sharing),
        None => {
            let mut spec = f.workload.clone();
            spec.payload = payload.unwrap_or(spec.payload);
            workload::generate_as(&spec, producers, seed, sharing)
        }
    };
    (records, codecs)
}

/// The scenario's default (min, max) link latency.
fn network_latency(scenario: &Scenario) -> (Duration, Duration) {
    let n = &scenario.file.network;
    (
        Duration::from_millis(n.min_latency_ms),
        Duration::from_millis(n.max_latency_ms),
    )
}

/// The turmoil world: duration, tick, latency and the seed.
fn build_sim(scenario: &Scenario, seed: u64) -> turmoil::Sim<'static> {
    let f = &scenario.file;
    let latency = network_latency(scenario);
    turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(f.duration_s))
        .tick_duration(Duration::from_millis(f.tick_ms))
        .min_message_latency(latency.0)
        .max_message_latency(latency.1)
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_millis(crate::cluster::SIM_EPOCH_MS as u64))
        .enable_random_order()
        .build()
}

/// One client host per producer, each with its share of `records`; returns
/// what the checker must know of each.
fn spawn_producers(
    sim: &mut turmoil::Sim<'_>,
    scenario: &Scenario,
    seed: u64,
    options: &RunOptions,
    records: &[Vec<Record>],
    codecs: &[Option<producer_core::compression::Compression>],
    history: &SharedHistory,
) -> Vec<ProducerFacts> {
    let f = &scenario.file;
    let bootstrap: Vec<String> = (0..scenario.cluster.brokers)
        .map(|b| format!("broker-{b}:{BROKER_PORT}"))
        .collect();
    let mut facts = Vec::new();
    for p in 0..f.producers.count {
        let config = f
            .producers
            .settings(p)
            .to_config(p, seed, bootstrap.clone());
        let config = producer_core::Config {
            bugs: options.bugs,
            compression: codecs[p as usize].unwrap_or(config.compression),
            ..config
        };
        facts.push(producer_facts(scenario, &config));
        sim.client(
            format!("producer-{p}"),
            client::run(ClientPlan {
                index: p,
                config,
                topic: f.workload.topic.clone(),
                records: records[p as usize].clone(),
                burst: f.workload.burst,
                interval: Duration::from_millis(f.workload.interval_ms),
                lifecycle: f.producers.settings(p).lifecycle(),
                history: history.clone(),
            }),
        );
    }
    facts
}

/// What the checker must know of a producer running with `config`.
fn producer_facts(scenario: &Scenario, config: &producer_core::Config) -> ProducerFacts {
    let f = &scenario.file;
    let grace = if f.grace_ms > 0 {
        Duration::from_millis(f.grace_ms)
    } else {
        config.delivery_timeout + config.request_timeout + config.linger + Duration::from_secs(1)
    };
    // The protocol's limit, computed apart from producer-core (see sizes.rs).
    let batch_limit = crate::sizes::batch_limit(
        config.max_message_bytes,
        config.max_request_size,
        &config.client_id,
        &f.workload.topic,
    );
    ProducerFacts {
        batch_limit,
        idempotent: config.idempotence,
        max_in_flight: config.max_in_flight,
        max_message_bytes: config.max_message_bytes,
        max_request_size: config.max_request_size,
        grace,
        requests_observed: true,
        quiet_limit: Some(crate::checker::quiet_limit(config)),
    }
}

/// Steps the world, applying due faults (and elections) between steps, until
/// every producer finished and the last fault healed (or the duration ran
/// out). Returns (every producer finished, a host's error).
fn drive(
    sim: &mut turmoil::Sim<'_>,
    runner: &mut FaultRunner,
    cluster: &SharedCluster,
    history: &SharedHistory,
    producers: u32,
    latency: (Duration, Duration),
    duration: Duration,
) -> (bool, Option<String>) {
    let mut finished = false;
    loop {
        let now = sim.elapsed();
        let mut sink = WorldSink {
            sim,
            cluster,
            producers,
            latency,
        };
        for applied in runner.apply_due(now, &mut sink) {
            let what = What::Fault {
                description: applied.description,
                change: applied.change,
                heal: applied.heal,
            };
            record(history, now, Actor::World, what);
        }
        match sim.step() {
            // Every producer finished; the brokers run on until the last fault
            // healed, so a scenario's heals always happen (see docs/scenarios.md).
            Ok(true) => {
                finished = true;
                if !runner.pending() || sim.elapsed() >= duration {
                    return (finished, None);
                }
            }
            Ok(false) => {}
            Err(e) => {
                let error = (sim.elapsed() < duration).then(|| e.to_string());
                return (finished, error);
            }
        }
    }
}

/// A `RecordMutated` entry for every record that differs from its snapshot
/// taken before the run.
fn record_mutations(
    history: &mut History,
    records: &[Vec<Record>],
    snapshots: &[Vec<Record>],
    end: Duration,
) {
    for (p, (now, before)) in records.iter().zip(snapshots).enumerate() {
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
}

/// Per-producer totals from the history.
fn summaries(history: &History, producers: u32) -> Vec<ProducerSummary> {
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
    summaries
}
