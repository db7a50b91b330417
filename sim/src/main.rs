//! `sim`: run, explore and replay prodsim scenarios.
//!
//! Wall-clock time is read here only to report speed; it never reaches a
//! simulated world, so it cannot change a run.

mod guided_cli;
mod serve_cli;

use serve_cli::{serve, ServeArgs};

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sim::explore::{explore, ExploreOptions, Shard};
use sim::report::Report;
use sim::{RunReport, Scenario};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "sim",
    version,
    about = "Deterministic simulation of a Kafka producer against hostile simulated brokers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario with one seed: summary, verdict, trace hash.
    Run {
        /// Scenario file (TOML).
        file: PathBuf,
        /// World seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Write a Chrome/Perfetto trace (open it in ui.perfetto.dev).
        #[arg(long, value_name = "out.json")]
        trace: Option<PathBuf>,
        /// Print every violation (default: the first 20).
        #[arg(short, long)]
        verbose: bool,
    },
    /// Run many seeds in parallel; stop at the first failure unless --keep-going.
    Explore {
        /// Scenario file (TOML).
        file: PathBuf,
        /// How many seeds.
        #[arg(long, default_value_t = 1000)]
        seeds: u64,
        /// First seed.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Worker threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Keep exploring after a failure.
        #[arg(long)]
        keep_going: bool,
        /// Re-run a sample of seeds (every tenth) and compare trace hashes.
        #[arg(long)]
        check_determinism: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Run only shard K of N of the seeds (K/N, 1-based), for running one
        /// exploration on several machines; merge the reports with merge-reports.
        #[arg(long, value_name = "K/N", value_parser = Shard::parse, default_value = "1/1")]
        shard: Shard,
        /// Also write the report as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Coverage-guided search: mutate fault schedules that reached new
        /// protocol situations (docs/guided.md). --seeds is the run budget,
        /// --start the search seed.
        #[arg(long)]
        guided: bool,
        /// Write a self-contained HTML report (runs random and guided search
        /// with the same budget, for the coverage chart).
        #[arg(long, value_name = "REPORT.html")]
        html: Option<PathBuf>,
        /// Where guided search writes the scenario file of a failing mutated
        /// schedule.
        #[arg(long, value_name = "DIR", default_value = ".")]
        save_dir: PathBuf,
    },
    /// Shrink a failing (scenario, seed) to a small scenario file that still
    /// fails with the same violation kind: a regression test for scenarios/.
    Shrink {
        /// Scenario file (TOML).
        file: PathBuf,
        /// The failing seed.
        #[arg(long)]
        seed: u64,
        /// Where to write the shrunk scenario.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Combine the JSON reports of the shards of one exploration into one table.
    MergeReports {
        /// Reports written by `explore --json`.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
    },
    /// Serve the simulated cluster on real TCP for any Kafka client; print the
    /// logs and the verdict when stopped (Ctrl-C or --for-secs).
    Serve {
        /// Scenario file for the cluster, topics and broker-side faults
        /// (default: 3 brokers, topic `events` with 6 partitions).
        file: Option<PathBuf>,
        /// Address to listen on and advertise.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Port of broker 0; broker N listens on port + N (0 = ephemeral ports).
        #[arg(long, default_value_t = 19092)]
        port: u16,
        /// Stop after this many seconds.
        #[arg(long)]
        for_secs: Option<u64>,
        /// What the client reported (SEND/ACK/FAIL/CLOSED lines, see
        /// docs/serve.md), read when the server stops: the whole checker then
        /// judges the run, not only the logs.
        #[arg(long, value_name = "FILE")]
        outcomes: Option<PathBuf>,
        /// Also write the stop report (rows per client and producer id,
        /// violations, faults) as JSON, for CI.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Print records/s per client on stderr every N seconds while serving
        /// (0: never).
        #[arg(long, default_value_t = 1, value_name = "N")]
        progress_secs: u64,
    },
    /// Run one seed and print its event log: sends, batches, requests, faults, verdict.
    Replay {
        /// Scenario file (TOML).
        file: PathBuf,
        /// World seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Only events at or after this simulated time (ms).
        #[arg(long, default_value_t = 0)]
        from_ms: u64,
        /// Leave out per-record send/ack lines.
        #[arg(long)]
        batches_only: bool,
        /// Write a Chrome/Perfetto trace too.
        #[arg(long, value_name = "out.json")]
        trace: Option<PathBuf>,
    },
}

fn load(file: &Path) -> Result<Scenario, ExitCode> {
    Scenario::load(file).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

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
    println!("trace hash: 0x{:016x}", report.trace_hash);
}

fn print_replay(file: &Path, seed: u64) {
    for (i, c) in replay_commands(file, seed).iter().enumerate() {
        println!("{}{c}", if i == 0 { "replay: " } else { "        " });
    }
}

/// Commands that replay `seed` of `file`: the event log, and a test run (the
/// scenario test for a file of the repository's scenarios/, `sim run` otherwise).
fn replay_commands(file: &Path, seed: u64) -> Vec<String> {
    let mut out = vec![format!(
        "cargo run --release -p sim -- replay {} --seed {seed}",
        file.display()
    )];
    let in_scenarios = file
        .parent()
        .and_then(|d| d.canonicalize().ok())
        .zip(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../scenarios")
                .canonicalize()
                .ok(),
        )
        .is_some_and(|(dir, scenarios)| dir == scenarios);
    match file.file_name().map(|f| f.to_string_lossy()) {
        Some(name) if in_scenarios => out.push(format!(
            "SIM_SEED={seed} cargo test --release --test scenarios -- {name}"
        )),
        _ => out.push(format!(
            "cargo run --release -p sim -- run {} --seed {seed}",
            file.display()
        )),
    }
    let stem = file
        .file_stem()
        .map_or("scenario".into(), |s| s.to_string_lossy());
    out.push(format!(
        "cargo run --release -p sim -- shrink {} --seed {seed} --out {stem}-seed-{seed}.toml",
        file.display()
    ));
    out
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

fn run(
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

fn replay(
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
    println!("trace hash: 0x{:016x}", report.trace_hash);
    Ok(verdict(&report, &scenario))
}

fn explore_cmd(
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

fn shrink_cmd(file: &Path, seed: u64, out: &Path) -> Result<ExitCode, ExitCode> {
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

fn merge_reports(files: &[PathBuf]) -> Result<ExitCode, ExitCode> {
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

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`| head`) panics.
    // SAFETY: setting a signal disposition to its default before any thread starts.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            file,
            seed,
            trace,
            verbose,
        } => run(file, seed, trace, verbose),
        Command::MergeReports { reports } => merge_reports(&reports),
        Command::Shrink { file, seed, out } => shrink_cmd(&file, seed, &out),
        Command::Serve {
            file,
            host,
            port,
            for_secs,
            outcomes,
            json,
            progress_secs,
        } => serve(ServeArgs {
            file,
            host,
            port,
            for_secs,
            outcomes,
            json,
            progress_secs,
        }),
        Command::Replay {
            file,
            seed,
            from_ms,
            batches_only,
            trace,
        } => replay(file, seed, from_ms, batches_only, trace),
        Command::Explore {
            file,
            seeds,
            start,
            jobs,
            keep_going,
            check_determinism,
            quiet,
            shard,
            json,
            guided,
            html,
            save_dir,
        } => {
            let jobs =
                jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            if guided || html.is_some() {
                return guided_cli::explore_guided(guided_cli::GuidedArgs {
                    file,
                    guided,
                    html,
                    save_dir,
                    runs: seeds,
                    seed: start,
                    jobs,
                    keep_going,
                    quiet,
                })
                .unwrap_or_else(|code| code);
            }
            let opts = ExploreOptions {
                start,
                count: seeds,
                jobs,
                keep_going,
                determinism_every: if check_determinism { 10 } else { 0 },
                shard,
            };
            explore_cmd(file, opts, quiet, json)
        }
    };
    result.unwrap_or_else(|code| code)
}
