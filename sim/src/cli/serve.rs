//! `sim serve`: the simulated cluster on real TCP for any client, the fault
//! schedule applied on the wall clock, progress while it runs, and the report
//! (the black-box verdict, or the whole checker with `--outcomes`) when it
//! stops (`--for-secs` or Ctrl-C).

use super::args::ServeArgs;
use super::common::load;
use sim::Scenario;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

pub(crate) fn serve(args: ServeArgs) -> Result<ExitCode, ExitCode> {
    let scenario = match &args.file {
        Some(f) => load(f)?,
        None => Scenario::parse("", "default").expect("the default scenario is valid"),
    };
    // `sim serve` plays the schedule of seed 0 (its swarm draw included).
    let faults = scenario.schedule(0);
    if let Err(e) = sim::serve::check_supported(&faults) {
        eprintln!("error: {e}");
        return Err(ExitCode::from(2));
    }
    let served = serve_until_stopped(&scenario, faults, &args)?;
    let logs = &served.logs;
    let report = sim::checker::judge_wire(logs, &served.ledger);
    print!("{}", report.table());
    for note in &report.notes {
        println!("note: {note}");
    }
    let (violations, expected, judged) = match &args.outcomes {
        None => (
            report.verdict.violations.clone(),
            report.verdict.expected.clone(),
            "judged from the wire: sequences and answers per producer id and epoch",
        ),
        Some(path) => {
            let (mut violations, mut expected) = judge_outcomes(path, &scenario, &served)?;
            // What only the wire shows: the broker's own anomalous answers.
            let wire_only = |v: &sim::checker::Violation| {
                matches!(
                    v.kind,
                    sim::checker::Kind::OutOfOrderAnswer
                        | sim::checker::Kind::FencedAnswer
                        | sim::checker::Kind::Misrouted
                )
            };
            violations.extend(
                report
                    .verdict
                    .violations
                    .iter()
                    .filter(|v| wire_only(v))
                    .cloned(),
            );
            expected.extend(
                report
                    .verdict
                    .expected
                    .iter()
                    .filter(|v| wire_only(v))
                    .cloned(),
            );
            (
                violations,
                expected,
                "the whole checker, on the logs and the client's outcomes, and the broker's answers",
            )
        }
    };
    print_limited("expected anomaly:", &expected, 5);
    print_limited("VIOLATION", &violations, 50);
    if let Some(path) = &args.json {
        let json = serde_json::to_vec_pretty(&report.to_json()).expect("a report serialises");
        std::fs::write(path, json).map_err(|e| {
            eprintln!("error: cannot write {}: {e}", path.display());
            ExitCode::from(2)
        })?;
        println!("report written to {}", path.display());
    }
    if violations.is_empty() {
        println!("verdict: PASS ({judged})");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("verdict: FAIL ({} violations; {judged})", violations.len());
        Ok(ExitCode::from(1))
    }
}

/// Prints the first `limit` of `items`, then how many more there are.
fn print_limited(label: &str, items: &[sim::checker::Violation], limit: usize) {
    for v in items.iter().take(limit) {
        println!("{label} {v}");
    }
    if items.len() > limit {
        println!("... {} more", items.len() - limit);
    }
}

/// Serves until Ctrl-C or `--for-secs`, printing records/s per client.
fn serve_until_stopped(
    scenario: &Scenario,
    faults: Vec<sim::faults::Fault>,
    args: &ServeArgs,
) -> Result<sim::serve::Served, ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start a runtime: {e}");
            ExitCode::from(2)
        })?;
    let local = tokio::task::LocalSet::new();
    let (host, port, for_secs, every) = (&args.host, args.port, args.for_secs, args.progress_secs);
    local.block_on(&runtime, async {
        let server = sim::serve::Server::bind(scenario.cluster.clone(), host, port)
            .await
            .map_err(|e| {
                eprintln!("error: cannot listen on {host}:{port}: {e}");
                ExitCode::from(2)
            })?
            .with_auto_create_topics(scenario.file.cluster.auto_create_topics.unwrap_or(true))
            .with_wall_clock(wall_clock_ms());
        println!(
            "serving {} brokers; bootstrap.servers = {}",
            scenario.cluster.brokers,
            server.bootstrap()
        );
        for t in &scenario.cluster.topics {
            println!("topic {} with {} partitions", t.name, t.partitions);
        }
        println!(
            "broker-side faults scheduled: {}; stop with Ctrl-C",
            faults.len()
        );
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let stop = tx.clone();
        tokio::task::spawn_local(async move {
            // Ctrl-C stops it too when --for-secs is given: both print the report.
            let limit = async {
                match for_secs {
                    Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = tokio::signal::ctrl_c() => eprintln!("Ctrl-C: stopping"),
                _ = limit => {}
            }
            let _ = stop.send(sim::serve::Control::Stop);
        });
        if every > 0 {
            // At most once a second, on stderr (stdout keeps the report).
            tokio::task::spawn_local(progress(tx, Duration::from_secs(every.max(1))));
        }
        Ok::<_, ExitCode>(server.serve(faults, rx).await)
    })
}

/// The real time (Unix ms): `sim serve` is not a simulation, its brokers'
/// clock is the wall clock its clients stamp records with.
///
/// Determinism exception, on purpose: this is the command-line of `sim serve`
/// only (real TCP, real clients); no seeded run reads it. Simulated runs take
/// their time from turmoil's clock.
fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Every `every`, one line: records stored per client and their rate.
async fn progress(
    control: tokio::sync::mpsc::UnboundedSender<sim::serve::Control>,
    every: Duration,
) {
    let mut last: std::collections::BTreeMap<std::sync::Arc<str>, u64> = Default::default();
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    let mut elapsed = Duration::ZERO;
    loop {
        tick.tick().await;
        elapsed += every;
        let (tx, rx) = tokio::sync::oneshot::channel();
        if control.send(sim::serve::Control::Ledger(tx)).is_err() {
            return;
        }
        let Ok(ledger) = rx.await else { return };
        let now = ledger.records_by_client();
        if now.is_empty() {
            continue;
        }
        let parts: Vec<String> = now
            .iter()
            .map(|(client, n)| {
                let rate =
                    (n - last.get(client).copied().unwrap_or(0)) as f64 / every.as_secs_f64();
                format!("{client}: {n} records ({rate:.0}/s)")
            })
            .collect();
        eprintln!("[{:>5}s] {}", elapsed.as_secs(), parts.join(", "));
        last = now;
    }
}

type Judged = (Vec<sim::checker::Violation>, Vec<sim::checker::Violation>);

/// The checker's violations and expected anomalies for what a real client
/// reported in `path` against the final logs of `sim serve`.
fn judge_outcomes(
    path: &Path,
    scenario: &Scenario,
    served: &sim::serve::Served,
) -> Result<Judged, ExitCode> {
    let logs = &served.logs;
    let fail = |message: String| {
        eprintln!("error: {}: {message}", path.display());
        ExitCode::from(2)
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let reported = sim::outcomes::Reported::parse(&text).map_err(|e| fail(e.to_string()))?;
    for line in &reported.unattributed {
        println!("note: an outcome naming no record was not judged: {line}");
    }
    let facts: Vec<sim::checker::ProducerFacts> = (0..reported.producers.len())
        .map(|p| {
            // The scenario's settings for producer p, defaults applied.
            let config =
                scenario
                    .file
                    .producers
                    .settings(p as u32)
                    .to_config(p as u32, 0, Vec::new());
            sim::outcomes::client_facts(config.idempotence, config.max_in_flight)
        })
        .collect();
    let verdict = sim::outcomes::judge(
        &reported,
        logs,
        &sim::outcomes::Expectations {
            topic: &scenario.file.workload.topic,
            producers: &facts,
            allowed: &scenario.allowed,
            all_acked: scenario.file.expect.all_acked,
            broker_faults: &served.ledger.faults,
        },
    );
    Ok((verdict.violations, verdict.expected))
}
