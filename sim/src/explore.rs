//! Exploring many seeds of one scenario: worlds run in parallel on worker
//! threads, each world single-threaded and independent, so parallelism changes
//! only the wall time, never a run. Optionally re-runs seeds to prove each one
//! replays to the same trace hash (FoundationDB-style determinism check).

use crate::checker::{Kind, Violation};
use crate::mechanisms::Mechanisms;
use crate::scenario::Scenario;
use crate::world::{self, RunReport};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// What to explore.
#[derive(Clone, Debug)]
pub struct ExploreOptions {
    /// First seed.
    pub start: u64,
    /// How many seeds.
    pub count: u64,
    /// Worker threads.
    pub jobs: usize,
    /// Keep going after a failure.
    pub keep_going: bool,
    /// Re-run every n-th seed and compare trace hashes (0 = never). The
    /// sample is taken by position in the whole range, so shards re-run the
    /// seeds the unsharded run would.
    pub determinism_every: u64,
    /// Run only this shard of the seeds.
    pub shard: Shard,
}

/// Shard `index` of `of` (1-based): the seeds at positions `index - 1`,
/// `index - 1 + of`, ... of the range. `1/1` is the whole range. Made for
/// schedulers that start N copies with an index (a CI matrix, cargo-nextest
/// partitions, a Kubernetes Indexed Job's completion index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// This shard, 1..=of.
    pub index: u64,
    /// How many shards.
    pub of: u64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 1, of: 1 }
    }
}

impl Shard {
    /// Parses `K/N` with 1 <= K <= N.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not K/N (for example 1/4)"))?;
        let (index, of) = (
            k.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{k}` in `{s}` is not a number"))?,
            n.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{n}` in `{s}` is not a number"))?,
        );
        if of == 0 || index == 0 || index > of {
            return Err(format!("shard `{s}`: expected 1 <= K <= N"));
        }
        Ok(Shard { index, of })
    }

    /// Positions in a range of `count` seeds that belong to this shard.
    pub fn positions(self, count: u64) -> u64 {
        (count + self.of - self.index) / self.of
    }
}

/// One failing seed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// Its violations (or a harness error as the only entry's detail).
    pub violations: Vec<Violation>,
    /// Harness error, if any.
    pub error: Option<String>,
    /// Required kinds that were not reported.
    pub missing: Vec<Kind>,
    /// `[expect]` mechanisms the run did not reach.
    pub unmet: Vec<String>,
}

/// A seed whose two runs differed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nondeterminism {
    /// The seed.
    pub seed: u64,
    /// First run's hash.
    pub first: u64,
    /// Second run's hash.
    pub second: u64,
}

/// What exploring found.
#[derive(Clone, Debug, Default)]
pub struct ExploreSummary {
    /// Seeds run (not counting determinism re-runs).
    pub runs: u64,
    /// Seeds that passed.
    pub passed: u64,
    /// Failing seeds, by seed.
    pub failures: Vec<Failure>,
    /// Seeds that did not replay identically.
    pub nondeterministic: Vec<Nondeterminism>,
    /// Seeds re-run for the determinism check.
    pub determinism_checked: u64,
    /// Total simulated time.
    pub sim_time: Duration,
    /// Violations by kind over all seeds (expected anomalies included).
    pub by_kind: BTreeMap<Kind, usize>,
    /// What the runs exercised, summed.
    pub mechanisms: Mechanisms,
}

impl ExploreSummary {
    /// Counts one seed's run: `ok` when it passed, `recheck` the trace hashes
    /// of the run and its re-run when determinism was checked.
    fn add(
        &mut self,
        scenario: &Scenario,
        report: &RunReport,
        ok: bool,
        recheck: Option<(u64, u64)>,
    ) {
        self.runs += 1;
        self.sim_time += report.sim_time;
        self.mechanisms.add(&report.mechanisms);
        for v in report
            .verdict
            .violations
            .iter()
            .chain(&report.verdict.expected)
        {
            *self.by_kind.entry(v.kind).or_default() += 1;
        }
        if ok {
            self.passed += 1;
        } else {
            let seen = report.verdict.kinds();
            self.failures.push(Failure {
                seed: report.seed,
                violations: report.verdict.violations.clone(),
                error: report.error.clone(),
                missing: scenario
                    .required
                    .iter()
                    .copied()
                    .filter(|k| !seen.contains(k))
                    .collect(),
                unmet: report.unmet.clone(),
            });
        }
        if let Some((first, second)) = recheck {
            self.determinism_checked += 1;
            if second != first {
                self.nondeterministic.push(Nondeterminism {
                    seed: report.seed,
                    first,
                    second,
                });
            }
        }
    }
}

/// Runs the seeds; `progress(done, failed)` is called after every seed.
pub fn explore(
    scenario: &Scenario,
    opts: &ExploreOptions,
    progress: impl Fn(u64, u64) + Sync,
) -> ExploreSummary {
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let summary = Mutex::new(ExploreSummary::default());
    let worker = || {
        while !stop.load(Ordering::Relaxed) {
            let j = next.fetch_add(1, Ordering::Relaxed);
            if j >= opts.shard.positions(opts.count) {
                break;
            }
            let i = opts.shard.index - 1 + j * opts.shard.of;
            let seed = opts.start + i;
            let report = world::run(scenario, seed);
            // (first, second): the run's trace hash and its re-run's.
            let recheck = (opts.determinism_every > 0 && i.is_multiple_of(opts.determinism_every))
                .then(|| (report.trace_hash(), world::run(scenario, seed).trace_hash()));
            let ok = report.passed(&scenario.required);
            summary
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .add(scenario, &report, ok, recheck);
            let nondeterministic = recheck.is_some_and(|(first, second)| first != second);
            if !ok || nondeterministic {
                failed.fetch_add(1, Ordering::Relaxed);
                if !opts.keep_going {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            progress(
                done.fetch_add(1, Ordering::Relaxed) + 1,
                failed.load(Ordering::Relaxed),
            );
        }
    };
    // Worker threads only schedule whole, independent worlds; a world never
    // crosses threads, so a seed's run is the same whatever the job count.
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.max(1) {
            scope.spawn(worker);
        }
    });
    let mut s = summary.into_inner().unwrap_or_else(|e| e.into_inner());
    s.failures.sort_by_key(|f| f.seed);
    s.nondeterministic.sort_by_key(|n| n.seed);
    s
}
