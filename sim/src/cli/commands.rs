//! The handlers of `run`, `replay`, `explore` (unguided), `shrink` and
//! `merge-reports`, and how they print a run.

use super::common::{load, print_replay, replay_commands};
use indicatif::{ProgressBar, ProgressStyle};
use sim::explore::{explore, ExploreOptions};
use sim::report::Report;
use sim::{RunReport, Scenario};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

fn print_report(report: &RunReport, file: &Path, verbose: bool, wall: Duration) {
    println!("scenario {} seed {}", report.scenario, report.seed);
    println!(
        "sim time {:.3}s, wall time {:.3}s ({:.0}x real time)",
        report.sim_time.as_secs_f64(),
        wall.as_secs_f64(),
        report.sim_time.as_secs_f64() / wall.as_secs_f64().max(1e-9)
    );
    println!(
        "{:<12} {:>8} {:>8} {:>8} {:>10}",
        "producer", "sent", "acked", "failed", "unresolved"
    );
    for (i, p) in report.producers.iter().enumerate() {
        println!(
            "{:<12} {:>8} {:>8} {:>8} {:>10}",
            format!("producer-{i}"),
            p.sent,
            p.acked,
            p.failed,
            p.unresolved
        );
    }
    let records: usize = report
        .logs
        .values()
        .flatten()
        .map(|b| b.records.len())
        .sum();
    println!(
        "faults: {}, records in logs: {records}\nmechanisms: {}",
        report.faults.len(),
        report.mechanisms
    );
    for u in &report.unmet {
        println!("UNMET {u}");
    }
    if let Some(e) = &report.error {
        println!("harness error: {e}");
    }
    if !report.finished {
        println!("the run reached its duration before every producer closed");
    }
    for v in &report.verdict.expected {
        println!("expected anomaly: {v}");
    }
    let limit = if verbose { usize::MAX } else { 20 };
    for v in report.verdict.violations.iter().take(limit) {
        println!("VIOLATION {v}");
    }
    if report.verdict.violations.len() > limit {
        println!(
            "... {} more (use -v)",
            report.verdict.violations.len() - limit
        );
    }
    if !report.verdict.violations.is_empty() || !report.unmet.is_empty() {
        print_replay(file, report.seed);
    }
    println!("trace hash: 0x{:016x}", report.trace_hash());
}

fn write_trace(report: &RunReport, path: &Path) -> Result<(), ExitCode> {
    let json = sim::trace::perfetto_trace(report);
    std::fs::write(path, serde_json::to_vec(&json).expect("json serialises")).map_err(|e| {
        eprintln!("error: cannot write {}: {e}", path.display());
        ExitCode::from(2)
    })?;
    println!(
        "trace written to {} (open in https://ui.perfetto.dev)",
        path.display()
    );
    Ok(())
}

fn verdict(report: &RunReport, scenario: &Scenario) -> ExitCode {
    let seen = report.verdict.kinds();
    for k in scenario.required.iter().filter(|k| !seen.contains(k)) {
        println!("MISSING required violation kind `{}`", k.name());
    }
    if report.passed(&scenario.required) {
        println!("verdict: PASS");
        ExitCode::SUCCESS
    } else {
        println!("verdict: FAIL");
        ExitCode::from(1)
    }
}

pub(super) fn run(
    file: PathBuf,
    seed: u64,
    trace: Option<PathBuf>,
    verbose: bool,
) -> Result<ExitCode, ExitCode> {
    let scenario = load(&file)?;
    let started = std::time::Instant::now(); // wall clock, for the speed report only
    let report = sim::run(&scenario, seed);
    print_report(&report, &file, verbose, started.elapsed());
    if let Some(t) = trace {
        write_trace(&report, &t)?;
    }
    Ok(verdict(&report, &scenario))
}

pub(super) fn replay(
    file: PathBuf,
    seed: u64,
    from_ms: u64,
    batches_only: bool,
    trace: Option<PathBuf>,
) -> Result<ExitCode, ExitCode> {
    let scenario = load(&file)?;
    // prodsim's own events only; turmoil's and tokio's logs with RUST_LOG.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .without_time()
            .init();
    }
    let report = sim::run(&scenario, seed);
    let from = Duration::from_millis(from_ms);
    for e in report.history.entries.iter().filter(|e| e.at >= from) {
        let per_record = matches!(
            e.what,
            sim::history::What::Send { .. } | sim::history::What::Acked { .. }
        );
        if batches_only && per_record {
            continue;
        }
        println!(
            "{:>10.3}ms {:<11} {}",
            e.at.as_secs_f64() * 1000.0,
            e.who.to_string(),
            e.what
        );
    }
    for v in &report.verdict.expected {
        println!("verdict: expected anomaly {v}");
    }
    for v in &report.verdict.violations {
        println!("verdict: VIOLATION {v}");
    }
    if let Some(t) = trace {
        write_trace(&report, &t)?;
    }
    println!("trace hash: 0x{:016x}", report.trace_hash());
    Ok(verdict(&report, &scenario))
}

pub(super) fn explore_cmd(
    file: PathBuf,
    opts: ExploreOptions,
    quiet: bool,
    json: Option<PathBuf>,
) -> Result<ExitCode, ExitCode> {
    let scenario = load(&file)?;
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(opts.shard.positions(opts.count))
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds  {per_sec}  eta {eta}  {msg}")
            .expect("valid template"),
    );
    let started = std::time::Instant::now(); // wall clock, for the speed report only
    let summary = explore(&scenario, &opts, |done, failed| {
        bar.set_position(done);
        if failed > 0 {
            bar.set_message(format!("{failed} failed"));
        }
    });
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    let report = Report::of(
        &scenario.name,
        &file.display().to_string(),
        &opts,
        &summary,
        wall,
        |seed| replay_commands(&file, seed),
    );
    println!("{} jobs", opts.jobs);
    println!("{}", report.render(if opts.keep_going { 10 } else { 1 }));
    if let Some(path) = json {
        write_json(&report, &path)?;
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn write_json(report: &Report, path: &Path) -> Result<(), ExitCode> {
    let json = serde_json::to_vec_pretty(report).expect("a report serialises");
    std::fs::write(path, json).map_err(|e| {
        eprintln!("error: cannot write {}: {e}", path.display());
        ExitCode::from(2)
    })?;
    println!("report written to {}", path.display());
    Ok(())
}

pub(super) fn shrink_cmd(file: &Path, seed: u64, out: &Path) -> Result<ExitCode, ExitCode> {
    let scenario = load(file)?;
    println!("shrinking {} seed {seed} ...", file.display());
    let shrunk =
        sim::shrink::shrink(&scenario, seed, |step| println!("  kept: {step}")).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        })?;
    std::fs::write(out, &shrunk.text).map_err(|e| {
        eprintln!("error: cannot write {}: {e}", out.display());
        ExitCode::from(2)
    })?;
    let ((f0, p0, r0), (f1, p1, r1)) = (shrunk.before, shrunk.after);
    println!("faults {f0} -> {f1}, producers {p0} -> {p1}, records {r0} -> {r1}");
    println!(
        "still fails with `{}`; written to {}",
        shrunk.kind.name(),
        out.display()
    );
    print_replay(out, seed);
    Ok(ExitCode::SUCCESS)
}

pub(super) fn merge_reports(files: &[PathBuf]) -> Result<ExitCode, ExitCode> {
    let mut reports = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| {
            eprintln!("error: {}: cannot read: {e}", f.display());
            ExitCode::from(2)
        })?;
        reports.push(serde_json::from_str::<Report>(&text).map_err(|e| {
            eprintln!("error: {}: not an explore report: {e}", f.display());
            ExitCode::from(2)
        })?);
    }
    let merged = Report::merge(&reports).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    println!("{}", merged.render(10));
    Ok(if merged.passed() && merged.missing_shards().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
