//! The differential fidelity suite: the same request sequences go to a real
//! Apache Kafka (4.4.0, started by `interop/kafka/kafka.sh`) and to prodsim's
//! simulated broker (the code `sim serve` runs, one broker, no faults), and
//! their answers are compared field by field after normalisation (symbols for
//! topics, producer and member ids; offsets as they are; timestamps relative
//! to the case's clock). Every divergence must be fixed in the simulated
//! broker or listed, with its reason, in `docs/fidelity.md`; the suite prints
//! `N cases, M agree, K documented, U undocumented` and fails when U > 0 or a
//! documented row no longer matches anything.
//!
//! Cases: hand-written ones (`cases.rs`) for every rule of the produce path
//! (compressed batches included) and the other APIs clients use, and
//! generated ones (`generated.rs`, proptest sequences from fixed seeds, half
//! their batches compressed). Environment:
//! - `FIDELITY_GENERATED` (default 40) sequences without restarts and
//!   `FIDELITY_RESTARTS` (default 2) with, from seed `FIDELITY_SEED` (default 0);
//! - `FIDELITY_ONLY=glob` runs the cases whose name matches (e.g. `dedup/*`);
//! - `FIDELITY_VERBOSE=1` prints every observation of every case.

#[path = "../common/mod.rs"]
mod common;

mod batch;
mod cases;
mod compare;
mod generated;
mod group;
mod read;
mod run;
mod steps;
mod wire;

use common::kafka::RealKafka;
use common::serve::root;
use common::SimCluster;
use compare::{diff, documented, glob, Divergence};
use run::{Runner, Target};
use sim::faults::{Action, Target as FaultTarget};
use sim::serve::Control;
use std::time::Instant;
use steps::Case;

struct Kafka(RealKafka);

impl Target for Kafka {
    fn name(&self) -> &'static str {
        "real Kafka"
    }
    fn addr(&self) -> String {
        self.0.nodes[0].clone()
    }
    fn restart(&self) {
        self.0.restart(1);
    }
    fn kill_and_restart(&self) {
        self.0.kill(1);
        self.0.restart(1);
    }
}

struct Sim(SimCluster);

impl Target for Sim {
    fn name(&self) -> &'static str {
        "sim serve"
    }
    fn addr(&self) -> String {
        self.0.bootstrap.clone()
    }
    fn restart(&self) {
        self.0
            .control(Control::Fault(Action::Crash(FaultTarget::Broker(0))));
        self.0
            .control(Control::Fault(Action::Restart(FaultTarget::Broker(0))));
    }
    fn kill_and_restart(&self) {
        self.restart();
    }
}

/// The simulated cluster `sim serve` runs for a 1-broker scenario file.
fn sim_target() -> Sim {
    let scenario = sim::Scenario::parse("[cluster]\nbrokers = 1\n", "fidelity (1 broker)")
        .expect("a valid scenario");
    Sim(SimCluster::with_spec(scenario.cluster))
}

/// franz-go's kfake (`interop/go/kfake-anchor`), one broker, no topic.
struct Kfake {
    child: std::process::Child,
    bootstrap: String,
}

impl Kfake {
    fn start() -> Kfake {
        use std::io::{BufRead, BufReader};
        let started = Instant::now();
        let mut child = std::process::Command::new(common::go::binary("kfake-anchor"))
            .args(["--brokers", "1", "--topic", ""])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starting kfake-anchor");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("kfake-anchor prints its bootstrap line");
        let bootstrap = line
            .trim()
            .strip_prefix("bootstrap.servers = ")
            .unwrap_or_else(|| panic!("kfake-anchor printed {line:?}"))
            .to_string();
        println!(
            "kfake at {bootstrap}, up in {:.1} ms (process start included)",
            started.elapsed().as_secs_f64() * 1000.0
        );
        Kfake { child, bootstrap }
    }
}

impl Drop for Kfake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Target for Kfake {
    fn name(&self) -> &'static str {
        "kfake"
    }
    fn addr(&self) -> String {
        self.bootstrap.clone()
    }
    fn restart(&self) {
        panic!("kfake cannot restart: restart cases are left out");
    }
    fn kill_and_restart(&self) {
        self.restart();
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}"))
        })
        .unwrap_or(default)
}

fn all_cases() -> Vec<(Case, Option<String>)> {
    let mut out: Vec<(Case, Option<String>)> =
        cases::all(true).into_iter().map(|c| (c, None)).collect();
    let seed = env_or("FIDELITY_SEED", 0);
    for s in seed..seed + env_or("FIDELITY_GENERATED", 40) {
        let (c, ops) = generated::case(s, false);
        out.push((c, Some(format!("{ops:?}"))));
    }
    for s in seed..seed + env_or("FIDELITY_RESTARTS", 2) {
        let (c, ops) = generated::case(s, true);
        if ops.iter().any(|o| matches!(o, generated::Op::Restart)) {
            out.push((c, Some(format!("{ops:?}"))));
        }
    }
    out
}

fn run_case(
    rt: &tokio::runtime::Runtime,
    target: &dyn Target,
    case: &Case,
    prefix: String,
) -> run::Observations {
    rt.block_on(Runner::new(target, prefix).run(case))
}

#[test]
fn the_simulated_broker_answers_as_real_kafka_does() {
    let only = std::env::var("FIDELITY_ONLY").ok();
    let verbose = std::env::var("FIDELITY_VERBOSE").is_ok();
    let cases: Vec<_> = all_cases()
        .into_iter()
        .filter(|(c, _)| only.as_deref().is_none_or(|g| glob(g, &c.name)))
        .collect();
    assert!(!cases.is_empty(), "FIDELITY_ONLY={only:?} matches no case");
    let table_path = root().join("docs/fidelity.md");
    let table = documented(&table_path);
    let kafka = Kafka(RealKafka::start("fidelity", 1));
    let sim = sim_target();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let nonce = run::wall_ms() % 1_000_000;
    let started = Instant::now();
    let (mut agree, mut documented_cases, mut undocumented) =
        (0, 0, Vec::<(Divergence, Option<String>)>::new());
    let mut used = vec![0usize; table.len()];
    for (i, (case, ops)) in cases.iter().enumerate() {
        let prefix = format!("f{nonce}-{i}");
        let k = run_case(&rt, &kafka, case, prefix.clone());
        let s = run_case(&rt, &sim, case, prefix);
        if verbose {
            println!("== {} ({})", case.name, case.about);
            for (key, v) in &k {
                println!("   {key}: {v}");
            }
        }
        let divergences = diff(&case.name, &k, &s);
        if divergences.is_empty() {
            agree += 1;
            continue;
        }
        let mut all_documented = true;
        for d in divergences {
            match table.iter().position(|row| row.matches(&d)) {
                Some(r) => used[r] += 1,
                None => {
                    all_documented = false;
                    undocumented.push((d, ops.clone()));
                }
            }
        }
        if all_documented {
            documented_cases += 1;
        }
    }
    let undocumented_cases = {
        let mut names: Vec<&str> = undocumented.iter().map(|(d, _)| d.case.as_str()).collect();
        names.dedup();
        names.len()
    };
    println!(
        "fidelity: {} cases, {agree} agree, {documented_cases} documented, {undocumented_cases} undocumented \
         ({:.1} s; real Kafka 4.4.0 vs sim serve, 1 broker)",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    for (row, n) in table.iter().zip(&used) {
        println!(
            "  documented (docs/fidelity.md:{}) x{n}: {} / {}: {}",
            row.line, row.case, row.key, row.why
        );
    }
    let mut last_case = String::new();
    for (d, ops) in &undocumented {
        if d.case != last_case {
            println!("UNDOCUMENTED {}", d.case);
            if let Some(ops) = ops {
                println!("  drawn operations: {ops}");
            }
            last_case = d.case.clone();
        }
        println!(
            "  {}\n    real Kafka: {}\n    sim serve:  {}",
            d.key, d.kafka, d.sim
        );
    }
    let stale: Vec<String> = table
        .iter()
        .zip(&used)
        .filter(|(_, n)| **n == 0)
        .map(|(r, _)| format!("docs/fidelity.md:{} ({} / {})", r.line, r.case, r.key))
        .collect();
    assert!(
        undocumented.is_empty(),
        "{undocumented_cases} cases diverge from real Kafka in ways docs/fidelity.md does not explain (above)"
    );
    if only.is_none() {
        assert!(
            stale.is_empty(),
            "documented divergences that no case shows any more: {stale:#?}"
        );
    }
}

/// franz-go's kfake, a fake broker users test with, measured by the same
/// cases (restarts left out): how many it answers as Kafka does, and which
/// batches it accepts that Kafka refuses. An anchor for the numbers above,
/// not a target: it fails only if kfake stops differing from Kafka where it
/// did (then README's description of it must change).
#[test]
fn kfake_is_measured_against_real_kafka_as_an_anchor() {
    let cases: Vec<Case> = cases::all(false);
    let kafka = Kafka(RealKafka::start("fidelity-kfake", 1));
    let kfake = Kfake::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let nonce = run::wall_ms() % 1_000_000;
    let (mut agree, mut lax) = (0, Vec::new());
    for (i, case) in cases.iter().enumerate() {
        let prefix = format!("k{nonce}-{i}");
        let k = run_case(&rt, &kafka, case, prefix.clone());
        let f = run_case(&rt, &kfake, case, prefix);
        let divergences = diff(&case.name, &k, &f);
        if divergences.is_empty() {
            agree += 1;
        }
        for d in divergences {
            let refused = d.kafka.starts_with("error=") && !d.kafka.starts_with("error=0 ");
            if d.key.contains(" produce") && refused && d.sim.starts_with("error=0 ") {
                lax.push(format!(
                    "{}: {} (Kafka: {})",
                    d.case,
                    d.key,
                    &d.kafka[..d.kafka.find(' ').unwrap_or(d.kafka.len())]
                ));
            }
        }
    }
    println!(
        "kfake: {} cases, {agree} answered as real Kafka 4.4.0 does",
        cases.len()
    );
    println!("kfake accepts {} batches Kafka refuses:", lax.len());
    for l in &lax {
        println!("  {l}");
    }
    assert!(
        agree < cases.len(),
        "kfake answered every case as Kafka: update README's description of it"
    );
    assert!(
        !lax.is_empty(),
        "kfake refused everything Kafka refuses: update README's description of it"
    );
}
