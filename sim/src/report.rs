//! What an exploration found, as a table for people and as JSON for machines:
//! `sim explore --json REPORT.json` writes one, `sim merge-reports` combines the
//! reports of the shards of one exploration into the table the unsharded run
//! would have printed (seeds, passed, failed with their replay commands,
//! determinism check).

use crate::explore::{ExploreOptions, ExploreSummary};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One failing seed, as reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedSeed {
    /// The seed.
    pub seed: u64,
    /// Why it failed, one line each (violations, missing kinds, unmet mechanisms).
    pub why: Vec<String>,
    /// Commands that replay it.
    pub replay: Vec<String>,
}

/// A seed whose re-run differed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Differed {
    /// The seed.
    pub seed: u64,
    /// First trace hash.
    pub first: u64,
    /// Second trace hash.
    pub second: u64,
}

/// The result of exploring seeds `start..start + count` of one scenario file
/// (or one shard of them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Scenario file as given.
    pub file: String,
    /// First seed of the whole range.
    pub start: u64,
    /// Seeds in the whole range.
    pub count: u64,
    /// The shards this report covers (1-based indexes) out of `of`.
    pub shards: Vec<u64>,
    /// How many shards the range was cut into.
    pub of: u64,
    /// Seeds run.
    pub runs: u64,
    /// Seeds that passed.
    pub passed: u64,
    /// Seeds that failed, by seed.
    pub failed: Vec<FailedSeed>,
    /// Seeds re-run for the determinism check.
    pub determinism_checked: u64,
    /// Seeds whose re-run differed.
    pub nondeterministic: Vec<Differed>,
    /// Violations and expected anomalies by kind.
    pub by_kind: BTreeMap<String, usize>,
    /// Simulated seconds.
    pub sim_seconds: f64,
    /// Wall seconds (summed over shards).
    pub wall_seconds: f64,
    /// Batch attempts after the first, over all seeds.
    pub retries: u64,
    /// Epoch bumps, over all seeds.
    pub epoch_bumps: u64,
    /// Connections lost, over all seeds.
    pub connections_lost: u64,
}

impl Report {
    /// The report of one exploration; `replay(seed)` gives a failure's commands.
    pub fn of(
        scenario: &str,
        file: &str,
        opts: &ExploreOptions,
        summary: &ExploreSummary,
        wall_seconds: f64,
        replay: impl Fn(u64) -> Vec<String>,
    ) -> Report {
        let failed = summary
            .failures
            .iter()
            .map(|f| FailedSeed {
                seed: f.seed,
                why: f
                    .error
                    .iter()
                    .map(|e| format!("harness error: {e}"))
                    .chain(f.violations.iter().map(|v| v.to_string()))
                    .chain(f.missing.iter().map(|k| {
                        format!("required violation kind `{}` was not reported", k.name())
                    }))
                    .chain(f.unmet.iter().cloned())
                    .collect(),
                replay: replay(f.seed),
            })
            .collect();
        Report {
            scenario: scenario.to_string(),
            file: file.to_string(),
            start: opts.start,
            count: opts.count,
            shards: vec![opts.shard.index],
            of: opts.shard.of,
            runs: summary.runs,
            passed: summary.passed,
            failed,
            determinism_checked: summary.determinism_checked,
            nondeterministic: summary
                .nondeterministic
                .iter()
                .map(|n| Differed {
                    seed: n.seed,
                    first: n.first,
                    second: n.second,
                })
                .collect(),
            by_kind: summary
                .by_kind
                .iter()
                .map(|(k, n)| (k.name().to_string(), *n))
                .collect(),
            sim_seconds: summary.sim_time.as_secs_f64(),
            wall_seconds,
            retries: summary.mechanisms.retries,
            epoch_bumps: summary.mechanisms.epoch_bumps,
            connections_lost: summary.mechanisms.connections_lost,
        }
    }

    /// Combines the reports of the shards of one exploration. They must come
    /// from the same file and seed range, cut into the same number of shards,
    /// each shard once.
    pub fn merge(reports: &[Report]) -> Result<Report, String> {
        let first = reports.first().ok_or("no report to merge")?;
        let mut out = Report {
            shards: Vec::new(),
            runs: 0,
            passed: 0,
            failed: Vec::new(),
            determinism_checked: 0,
            nondeterministic: Vec::new(),
            by_kind: BTreeMap::new(),
            sim_seconds: 0.0,
            wall_seconds: 0.0,
            retries: 0,
            epoch_bumps: 0,
            connections_lost: 0,
            ..first.clone()
        };
        for r in reports {
            let same = (&r.file, r.start, r.count, r.of)
                == (&first.file, first.start, first.count, first.of);
            if !same {
                return Err(format!(
                    "report of {} seeds {}..{} in {} shards does not belong with {} seeds {}..{} in {} shards",
                    r.file,
                    r.start,
                    r.start + r.count,
                    r.of,
                    first.file,
                    first.start,
                    first.start + first.count,
                    first.of
                ));
            }
            for s in &r.shards {
                if out.shards.contains(s) {
                    return Err(format!("shard {s}/{} is in two reports", r.of));
                }
                out.shards.push(*s);
            }
            out.runs += r.runs;
            out.passed += r.passed;
            out.failed.extend(r.failed.iter().cloned());
            out.determinism_checked += r.determinism_checked;
            out.nondeterministic
                .extend(r.nondeterministic.iter().copied());
            for (k, n) in &r.by_kind {
                *out.by_kind.entry(k.clone()).or_default() += n;
            }
            out.sim_seconds += r.sim_seconds;
            out.wall_seconds += r.wall_seconds;
            out.retries += r.retries;
            out.epoch_bumps += r.epoch_bumps;
            out.connections_lost += r.connections_lost;
        }
        out.shards.sort_unstable();
        out.failed.sort_by_key(|f| f.seed);
        out.nondeterministic.sort_by_key(|n| n.seed);
        Ok(out)
    }

    /// Shards of the range this report does not cover.
    pub fn missing_shards(&self) -> Vec<u64> {
        (1..=self.of).filter(|s| !self.shards.contains(s)).collect()
    }

    /// True when every seed passed and replayed identically.
    pub fn passed(&self) -> bool {
        self.failed.is_empty() && self.nondeterministic.is_empty()
    }

    /// The table, failures (at most `show` of them) and verdict, as printed.
    pub fn render(&self, show: usize) -> String {
        let mut s = format!(
            "scenario {} ({}), seeds {}..{}",
            self.scenario,
            self.file,
            self.start,
            self.start + self.count
        );
        if self.of > 1 {
            let shards: Vec<String> = self
                .shards
                .iter()
                .map(|k| format!("{k}/{}", self.of))
                .collect();
            s += &format!(", shards {}", shards.join(" "));
        }
        s += &format!(
            "\n{:>8} {:>8} {:>8} {:>10} {:>14} {:>9} {:>7} {:>10}\n{:>8} {:>8} {:>8} {:>10.1} {:>14.0} {:>9} {:>7} {:>10}\n",
            "seeds",
            "passed",
            "failed",
            "seeds/s",
            "sim s/wall s",
            "retries",
            "bumps",
            "conn lost",
            self.runs,
            self.passed,
            self.failed.len(),
            self.runs as f64 / self.wall_seconds.max(1e-9),
            self.sim_seconds / self.wall_seconds.max(1e-9),
            self.retries,
            self.epoch_bumps,
            self.connections_lost
        );
        if !self.by_kind.is_empty() {
            let kinds: Vec<String> = self
                .by_kind
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            s += &format!(
                "violations and expected anomalies by kind: {}\n",
                kinds.join(", ")
            );
        }
        if self.determinism_checked > 0 {
            s += &format!(
                "determinism: {} seeds re-run, {} differed\n",
                self.determinism_checked,
                self.nondeterministic.len()
            );
        }
        for n in &self.nondeterministic {
            s += &format!(
                "NONDETERMINISTIC seed {}: 0x{:016x} then 0x{:016x}\n",
                n.seed, n.first, n.second
            );
        }
        for f in self.failed.iter().take(show) {
            s += &finding_text(f.seed, None, &f.why, &f.replay);
        }
        let missing = self.missing_shards();
        if !missing.is_empty() {
            let m: Vec<String> = missing.iter().map(|k| format!("{k}/{}", self.of)).collect();
            s += &format!("not covered: shards {}\n", m.join(" "));
        }
        s += if self.passed() {
            "verdict: PASS"
        } else {
            "verdict: FAIL"
        };
        s
    }
}

/// Reasons a finding shows (the rest are in the replay).
pub const FINDING_REASONS: usize = 6;

/// One failing seed, as random and guided search both print it: the seed (and
/// where the search found it, for guided search), up to [`FINDING_REASONS`]
/// reasons, and the commands that replay and shrink it.
pub fn finding_text(seed: u64, found: Option<&str>, why: &[String], replay: &[String]) -> String {
    let mut s = match found {
        Some(found) => format!("FAILED seed {seed} ({found})\n"),
        None => format!("FAILED seed {seed}\n"),
    };
    for w in why.iter().take(FINDING_REASONS) {
        s += &format!("  {w}\n");
    }
    if why.len() > FINDING_REASONS {
        s += &format!("  ... {} more\n", why.len() - FINDING_REASONS);
    }
    for (i, r) in replay.iter().enumerate() {
        s += &format!("{}{r}\n", if i == 0 { "replay: " } else { "        " });
    }
    s
}
