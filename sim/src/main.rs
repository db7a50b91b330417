//! `sim`: run, explore and replay prodsim scenarios.

use clap::{Parser, Subcommand};
use sim::{RunReport, Scenario};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sim",
    about = "Deterministic simulation of a Kafka producer against hostile brokers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario with one seed and print a summary and the verdict.
    Run {
        /// Scenario file (TOML).
        file: PathBuf,
        /// World seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print every violation (default: the first 20).
        #[arg(short, long)]
        verbose: bool,
    },
}

fn print_report(report: &RunReport, file: &str, verbose: bool, wall: std::time::Duration) {
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
    let stress = report.stress();
    println!(
        "faults applied: {}, records in logs: {records}, retried attempts: {}, epoch bumps: {}, connections lost: {}",
        report.faults.len(),
        stress.retried_attempts,
        stress.epoch_bumps,
        stress.connections_lost
    );
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
    if !report.verdict.violations.is_empty() {
        println!(
            "replay: cargo run --release -p sim -- run {file} --seed {}",
            report.seed
        );
    }
    println!("trace hash: 0x{:016x}", report.trace_hash);
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            file,
            seed,
            verbose,
        } => {
            let scenario = match Scenario::load(&file) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            // Wall-clock time is only reported, never fed into the simulation.
            let started = std::time::Instant::now();
            let report = sim::run(&scenario, seed);
            let wall = started.elapsed();
            print_report(&report, &file.display().to_string(), verbose, wall);
            if report.passed(&scenario.required) {
                println!("verdict: PASS");
                ExitCode::SUCCESS
            } else {
                println!("verdict: FAIL");
                ExitCode::from(1)
            }
        }
    }
}
