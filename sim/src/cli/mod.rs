//! `sim`'s command-line code: argument parsing ([`args`]), the subcommand
//! handlers ([`commands`], [`serve`] for `sim serve`, [`guided`] for
//! `explore --guided` and `--html`) and what they share ([`common`]).
//!
//! Wall-clock time is read here only to report speed; it never reaches a
//! simulated world, so it cannot change a run.

mod args;
mod commands;
mod common;
mod guided;
mod serve;

use args::{Cli, Command};
use clap::Parser;
use sim::explore::ExploreOptions;
use std::process::ExitCode;

/// Parses the command line and runs the subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            file,
            seed,
            trace,
            verbose,
        } => commands::run(file, seed, trace, verbose),
        Command::MergeReports { reports } => commands::merge_reports(&reports),
        Command::Shrink { file, seed, out } => commands::shrink_cmd(&file, seed, &out),
        Command::Serve(args) => serve::serve(args),
        Command::Replay {
            file,
            seed,
            from_ms,
            batches_only,
            trace,
        } => commands::replay(file, seed, from_ms, batches_only, trace),
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
                return guided::explore_guided(guided::GuidedArgs {
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
            commands::explore_cmd(file, opts, quiet, json)
        }
    };
    result.unwrap_or_else(|code| code)
}
