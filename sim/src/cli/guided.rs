//! `sim explore --guided` and `sim explore --html`: the searches of
//! [`sim::guided`], their table, their failures with the command that replays
//! each (a scenario file written out for a mutated schedule), and the page.

use indicatif::{ProgressBar, ProgressStyle};
use sim::guided::html::{self, Series};
use sim::guided::{search, Found, Mode, Origin, SearchOptions, SearchResult};
use sim::report::finding_text;
use sim::Scenario;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What the command line asked for.
pub struct GuidedArgs {
    /// Scenario file.
    pub file: PathBuf,
    /// Guided search asked for (else only the page's comparison runs).
    pub guided: bool,
    /// Write the page here (runs random and guided search).
    pub html: Option<PathBuf>,
    /// Where scenario files of mutated failing schedules go.
    pub save_dir: PathBuf,
    /// Run budget per search.
    pub runs: u64,
    /// Search seed (guided) and first world seed (random).
    pub seed: u64,
    /// Worker threads.
    pub jobs: usize,
    /// Keep going after a failure.
    pub keep_going: bool,
    /// No progress bar.
    pub quiet: bool,
}

fn fail(message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// The commands that replay a failure; writes the scenario file of a mutated
/// schedule and checks that it fails again when loaded from disk.
fn replay_of(args: &GuidedArgs, mode: Mode, f: &Found) -> Result<Vec<String>, ExitCode> {
    let Some(text) = &f.scenario_text else {
        return Ok(super::common::replay_commands(&args.file, f.seed));
    };
    let stem = args
        .file
        .file_stem()
        .map_or("scenario".into(), |s| s.to_string_lossy());
    let path = args.save_dir.join(format!(
        "{stem}-{}-{}-run-{}.toml",
        mode.name(),
        args.seed,
        f.run
    ));
    std::fs::create_dir_all(&args.save_dir)
        .and_then(|()| std::fs::write(&path, text))
        .map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
    let s = Scenario::load(&path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    let r = sim::run(&s, f.seed);
    if r.verdict.passed() && r.error.is_none() {
        println!(
            "warning: {} passes when loaded from disk; its schedule did not survive writing",
            path.display()
        );
    }
    // The same commands as for a seed of the file itself (replay, run,
    // shrink), for the file that holds the mutated schedule.
    Ok(super::common::replay_commands(&path, f.seed))
}

fn run_search(
    args: &GuidedArgs,
    scenario: &Scenario,
    mode: Mode,
) -> Result<(SearchResult, f64), ExitCode> {
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.runs)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} runs  {per_sec}  {msg}")
            .expect("valid template"),
    );
    let opts = SearchOptions {
        mode,
        seed: args.seed,
        runs: args.runs,
        jobs: args.jobs,
        keep_going: args.keep_going,
        bugs: Default::default(),
    };
    let started = std::time::Instant::now(); // wall clock, for the speed report only
    let result = search(scenario, &opts, |runs, failed, covered| {
        bar.set_position(runs);
        bar.set_message(format!(
            "{} {covered} features, {failed} failed",
            mode.name()
        ));
    })
    .map_err(fail)?;
    bar.finish_and_clear();
    Ok((result, started.elapsed().as_secs_f64()))
}

fn print_search(mode: Mode, seed: u64, r: &SearchResult, wall: f64, replay: &[Vec<String>]) {
    println!(
        "{} search (seed {seed}): {} runs, {} passed, {} failed; {} features covered; {:.2} s wall, {:.1} runs/s",
        mode.name(),
        r.runs,
        r.passed,
        r.failures.len(),
        r.curve.last().copied().unwrap_or(0),
        wall,
        r.runs as f64 / wall.max(1e-9)
    );
    if mode == Mode::Guided {
        println!(
            "corpus: {} schedules, hash 0x{:016x}",
            r.corpus_len, r.corpus_hash
        );
        let arms: Vec<String> = r
            .arms
            .iter()
            .map(|(op, a)| format!("{} {}/{}", op.name(), a.wins, a.uses))
            .collect();
        println!("operators (new coverage/uses): {}", arms.join(", "));
    }
    for (f, cmds) in r.failures.iter().zip(replay).take(10) {
        let from = match &f.origin {
            Origin::Drawn => "drawn by the swarm".to_string(),
            Origin::Mutated { parent, ops } => format!(
                "corpus entry {parent} mutated by {}",
                ops.iter().map(|o| o.name()).collect::<Vec<_>>().join(", ")
            ),
        };
        let found = format!("run {}, {from}", f.run);
        print!("{}", finding_text(f.seed, Some(&found), &f.why, cmds));
    }
}

/// Runs the searches asked for and prints them; writes the page if asked.
pub fn explore_guided(args: GuidedArgs) -> Result<ExitCode, ExitCode> {
    let scenario = super::common::load(&args.file)?;
    let modes: &[Mode] = if args.html.is_some() {
        &[Mode::Random, Mode::Guided]
    } else {
        &[Mode::Guided]
    };
    let mut done = Vec::new();
    for &mode in modes {
        let (result, wall) = run_search(&args, &scenario, mode)?;
        let replay = result
            .failures
            .iter()
            .map(|f| replay_of(&args, mode, f))
            .collect::<Result<Vec<_>, _>>()?;
        print_search(mode, args.seed, &result, wall, &replay);
        done.push((mode, result, wall, replay));
    }
    if let Some(path) = &args.html {
        let series: Vec<Series<'_>> = done
            .iter()
            .map(|(mode, result, wall, replay)| Series {
                mode: *mode,
                seed: args.seed,
                result,
                wall_seconds: *wall,
                replay: replay.clone(),
            })
            .collect();
        let page = html::render(&args.file.display().to_string(), &series);
        write_page(path, &page)?;
    }
    let failed = done.iter().any(|(_, r, _, _)| !r.failures.is_empty());
    if !args.guided && args.html.is_some() {
        println!("(--html runs random and guided search with the same budget, for the chart)");
    }
    println!("verdict: {}", if failed { "FAIL" } else { "PASS" });
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn write_page(path: &Path, page: &str) -> Result<(), ExitCode> {
    std::fs::write(path, page)
        .map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
    println!("report written to {}", path.display());
    Ok(())
}
