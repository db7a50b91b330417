//! Time to first failure: for each injected bug class (producer-core's
//! `bug-injection`, switched on at run time), how many runs and wall seconds
//! random swarm search and guided search take until the checker reports the
//! first failure, median over several search seeds, side by side. A control
//! row runs the same searches with no bug: any failure there is a false alarm
//! (or a real bug of the shipping producer) and is reported, not hidden.

use producer_core::bugs::Bugs;
use sim::guided::{search, Mode, SearchOptions};
use std::time::Instant;

/// One search: runs until the first failure (`None`: none within the budget),
/// wall seconds spent, and the first failure's first line.
struct Trial {
    runs: Option<u64>,
    wall: f64,
    why: Option<String>,
}

fn trial(scenario: &sim::Scenario, mode: Mode, seed: u64, budget: u64, bugs: Bugs) -> Trial {
    let opts = SearchOptions {
        mode,
        // Random search: world seeds `seed * 1_000_000 ..`, disjoint per search seed.
        seed: match mode {
            Mode::Random => seed * 1_000_000,
            Mode::Guided => seed,
        },
        runs: budget,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        keep_going: false,
        bugs,
    };
    let started = Instant::now();
    let r = search(scenario, &opts, |_, _, _| {}).expect("the scenario has a [swarm]");
    let first = r.failures.first();
    Trial {
        runs: first.map(|f| f.run),
        wall: started.elapsed().as_secs_f64(),
        why: first.and_then(|f| f.why.first().cloned()),
    }
}

/// Median runs (a search that found nothing counts as past the budget) and
/// median wall seconds of the searches.
fn medians(trials: &[Trial], budget: u64) -> (Option<u64>, f64) {
    let mut runs: Vec<u64> = trials
        .iter()
        .map(|t| t.runs.unwrap_or(budget + 1))
        .collect();
    runs.sort_unstable();
    let mut wall: Vec<f64> = trials.iter().map(|t| t.wall).collect();
    wall.sort_by(f64::total_cmp);
    let m = runs[runs.len() / 2];
    ((m <= budget).then_some(m), wall[wall.len() / 2])
}

fn cell(runs: Option<u64>, budget: u64) -> String {
    runs.map_or(format!(">{budget}"), |r| r.to_string())
}

/// What a row found: both searches (runs ratio, wall ratio), one, or neither.
enum Found {
    Both(f64, f64),
    One,
    Neither,
}

/// Both searches of one bug class over the search seeds: every trial, and
/// the medians of each search.
struct Searches {
    random: Vec<Trial>,
    guided: Vec<Trial>,
    r_runs: Option<u64>,
    r_wall: f64,
    g_runs: Option<u64>,
    g_wall: f64,
}

impl Searches {
    fn run(scenario: &sim::Scenario, bugs: Bugs, seeds: u64, budget: u64) -> Searches {
        let [random, guided] = [Mode::Random, Mode::Guided].map(|mode| {
            (0..seeds)
                .map(|s| trial(scenario, mode, s, budget, bugs))
                .collect::<Vec<_>>()
        });
        let (r_runs, r_wall) = medians(&random, budget);
        let (g_runs, g_wall) = medians(&guided, budget);
        Searches {
            random,
            guided,
            r_runs,
            r_wall,
            g_runs,
            g_wall,
        }
    }

    /// The first failure's first line (guided, search seed 0, else random).
    fn why(&self) -> &str {
        self.guided[0]
            .why
            .as_deref()
            .or(self.random[0].why.as_deref())
            .unwrap_or("none within the budget")
    }

    /// Prints the row: `name` in a column `width` wide, the ratios as given,
    /// the first failure cut at `why_len` characters.
    fn print(&self, name: &str, width: usize, budget: u64, ratios: [&str; 2], why_len: usize) {
        println!(
            "{:<width$} {:>11} {:>9.2} {:>11} {:>9.2} {:>8} {:>8}  {}",
            name,
            cell(self.r_runs, budget),
            self.r_wall,
            cell(self.g_runs, budget),
            self.g_wall,
            ratios[0],
            ratios[1],
            self.why().chars().take(why_len).collect::<String>()
        );
    }
}

/// The column heads of a table whose first column is `first`, `width` wide.
fn print_header(first: &str, width: usize) {
    println!(
        "{:<width$} {:>11} {:>9} {:>11} {:>9} {:>8} {:>8}  first failure (guided, search seed 0)",
        first, "random runs", "random s", "guided runs", "guided s", "runs x", "wall x"
    );
}

/// Runs both searches for one bug class over the seeds and prints its row.
fn row(scenario: &sim::Scenario, name: &str, seeds: u64, budget: u64) -> Found {
    let bugs = Bugs::only(name).unwrap_or_default();
    let s = Searches::run(scenario, bugs, seeds, budget);
    let past = (budget + 1) as f64;
    let (found, ratio, wall_ratio) = match (s.r_runs, s.g_runs) {
        (Some(r), Some(g)) => {
            let (x, w) = (r as f64 / g as f64, s.r_wall / s.g_wall);
            (Found::Both(x, w), format!("{x:.2}"), format!("{w:.2}"))
        }
        (None, None) => (Found::Neither, "-".into(), "-".into()),
        (None, Some(g)) => (Found::One, format!(">{:.2}", past / g as f64), "-".into()),
        (Some(r), None) => (Found::One, format!("<{:.2}", r as f64 / past), "-".into()),
    };
    s.print(name, 36, budget, [&ratio, &wall_ratio], 90);
    found
}

/// The swarm scenarios searched by default: swarm.toml, and swarm-edges.toml
/// whose workload reaches the classes swarm.toml's cannot (null keys, full
/// batches, an early close).
pub const SCENARIOS: [&str; 2] = ["scenarios/swarm.toml", "scenarios/swarm-edges.toml"];

/// Ratios (runs, wall) of one scenario's rows that both searches found.
#[derive(Default)]
struct Ratios {
    runs: Vec<f64>,
    wall: Vec<f64>,
}

fn geo(v: &[f64]) -> f64 {
    (v.iter().map(|x| x.ln()).sum::<f64>() / v.len().max(1) as f64).exp()
}

/// One scenario's table; its ratios are added to `all`.
fn table(quick: bool, root: &std::path::Path, bug: Option<&str>, file: &str, all: &mut Ratios) {
    let (seeds, budget) = if quick { (3, 48) } else { (5, 200) };
    let scenario = sim::Scenario::load(&root.join(file)).unwrap();
    println!("## Time to first failure ({file}, one injected bug at a time)");
    println!(
        "median over {seeds} search seeds; budget {budget} runs per search; random = swarm seeds in order, guided = `explore --guided`"
    );
    print_header("bug", 36);
    let mut mine = Ratios::default();
    let mut neither = Vec::new();
    let names = std::iter::once("(no bug: control)")
        .chain(Bugs::NAMES.iter().copied())
        .filter(|n| bug.is_none_or(|b| b == *n || n.starts_with('(')));
    for name in names {
        let control = name.starts_with('(');
        match row(&scenario, name, seeds, budget) {
            Found::Both(x, w) if !control => {
                mine.runs.push(x);
                mine.wall.push(w);
            }
            Found::Neither if !control => neither.push(name),
            _ => {}
        }
    }
    if !neither.is_empty() {
        println!(
            "found by neither within {budget} runs (left out of the mean): {}",
            neither.join(", ")
        );
    }
    println!(
        "{file}: over the {} bugs both found, runs ratio {:.2}, wall-clock ratio {:.2}",
        mine.runs.len(),
        geo(&mine.runs),
        geo(&mine.wall)
    );
    println!();
    all.runs.extend(mine.runs);
    all.wall.extend(mine.wall);
}

/// Random search must need at least this median of runs for a class to count
/// as deep (issue 26): one found sooner is left out of the speedup.
const DEEP_MIN_RUNS: u64 = 50;

/// The deep classes' table (`bugs::DEEP` on swarm.toml) and the `guided
/// speedup:` line: the geometric mean of random/guided median runs to first
/// failure over the rows whose random median is at least [`DEEP_MIN_RUNS`].
/// The same search seeds every time (random: world seeds `s * 1_000_000..`,
/// guided: search seed `s`, for `s` in `0..seeds`).
pub fn deep(quick: bool, root: &std::path::Path) {
    let (seeds, budget) = if quick { (3, 400) } else { (9, 1500) };
    let file = "scenarios/swarm.toml";
    let scenario = sim::Scenario::load(&root.join(file)).unwrap();
    println!("## Time to first failure: the deep classes ({file})");
    println!(
        "median over {seeds} search seeds (the same each time); budget {budget} runs per search; a row counts when random needs a median of >= {DEEP_MIN_RUNS} runs"
    );
    print_header("deep class", 38);
    let mut mine = Ratios::default();
    let mut shallow = Vec::new();
    for name in producer_core::bugs::DEEP {
        let bugs = Bugs::only(name).expect("a deep class is an injected bug");
        let s = Searches::run(&scenario, bugs, seeds, budget);
        // Past the budget counts as the budget + 1: a lower bound on the ratio.
        let past = budget + 1;
        let (r, g) = (s.r_runs.unwrap_or(past), s.g_runs.unwrap_or(past));
        let deep = r >= DEEP_MIN_RUNS;
        let (x, w) = (r as f64 / g as f64, s.r_wall / s.g_wall);
        if deep {
            mine.runs.push(x);
            mine.wall.push(w);
        } else {
            shallow.push(*name);
        }
        s.print(
            name,
            38,
            budget,
            [&format!("{x:.2}"), &format!("{w:.2}")],
            80,
        );
        let runs = |t: &[Trial]| {
            t.iter()
                .map(|t| cell(t.runs, budget))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!("    random: {}", runs(&s.random));
        println!("    guided: {}", runs(&s.guided));
    }
    if !shallow.is_empty() {
        println!(
            "not deep here (random median < {DEEP_MIN_RUNS} runs; left out): {}",
            shallow.join(", ")
        );
    }
    println!(
        "over the {} deep rows: wall-clock ratio {:.2}",
        mine.runs.len(),
        geo(&mine.wall)
    );
    println!("guided speedup: {:.2}", geo(&mine.runs));
    println!();
}

/// Every injected class's table, shallow ones included (`--only=ttff-all`),
/// with its own geometric mean: the table issue 26 found could not tell the
/// searches apart (most classes fail in the first runs of both).
/// random/guided runs to first failure over every (scenario, bug) row both
/// searches found.
/// `bug`: only that bug class (and the control), for `--bug=NAME`;
/// `files`: the swarm scenarios, relative to the repository.
pub fn time_to_first_failure(
    quick: bool,
    root: &std::path::Path,
    bug: Option<&str>,
    files: &[&str],
) {
    let mut all = Ratios::default();
    for file in files {
        table(quick, root, bug, file, &mut all);
    }
    println!(
        "over the {} (scenario, bug) rows both found: runs to first failure, geometric mean of random/guided {:.2}; wall-clock ratio {:.2}",
        all.runs.len(),
        geo(&all.runs),
        geo(&all.wall)
    );
    println!();
}
