//! The command line: `sim`'s subcommands and their arguments (clap).

use clap::{Parser, Subcommand};
use sim::explore::Shard;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "sim",
    version,
    about = "Deterministic simulation of a Kafka producer against hostile simulated brokers"
)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Subcommand)]
pub(super) enum Command {
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
    Serve(ServeArgs),
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

/// `sim serve`'s arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct ServeArgs {
    /// Scenario file for the cluster, topics and broker-side faults
    /// (default: 3 brokers, topic `events` with 6 partitions).
    pub(crate) file: Option<PathBuf>,
    /// Address to listen on and advertise.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: String,
    /// Port of broker 0; broker N listens on port + N (0 = ephemeral ports).
    #[arg(long, default_value_t = 19092)]
    pub(crate) port: u16,
    /// Stop after this many seconds.
    #[arg(long)]
    pub(crate) for_secs: Option<u64>,
    /// What the client reported (SEND/ACK/FAIL/CLOSED lines, see
    /// docs/serve.md), read when the server stops: the whole checker then
    /// judges the run, not only the logs.
    #[arg(long, value_name = "FILE")]
    pub(crate) outcomes: Option<PathBuf>,
    /// Also write the stop report (rows per client and producer id,
    /// violations, faults) as JSON, for CI.
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// Print records/s per client on stderr every N seconds while serving
    /// (0: never).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub(crate) progress_secs: u64,
}
