//! The harness catches the bug classes it exists for, for the right reason and
//! without false alarms. Each known bug is injected into producer-core (feature
//! `bug-injection`, switched on at run time) and must be reported, with the
//! violation kind that names it, by the regular suite: the generated worlds of
//! the properties or the seeds of the scenario files. The same worlds and seeds
//! must pass with no bug at all (the baseline): a check that also fails a
//! correct producer proves nothing. The test prints how many cases each bug took.

use producer_core::bugs::Bugs;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use sim::checker::Kind;
use sim::scenario::Sharing;
use sim::strategies::{prop_world, PropWorld};
use sim::{RunOptions, RunReport, Scenario};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Generated worlds tried per bug.
const WORLDS: usize = 160;

/// Each bug and the violation kind that must name it.
const CASES: [(&str, Kind); 22] = [
    ("per_send_state_in_record", Kind::OffsetMismatch),
    ("overflow_off_by_one", Kind::Accounting),
    ("sequence_not_reset_on_bump", Kind::Sequence),
    ("retry_behind_newer", Kind::Reorder),
    ("close_returns_early", Kind::Lifecycle),
    ("definite_error_after_maybe_written", Kind::FailedButWritten),
    ("duplicate_answer_offsets", Kind::OffsetMismatch),
    ("batch_header_wrong", Kind::Corrupt),
    ("in_flight_over_window", Kind::InFlight),
    ("passed_deadline_hides_later", Kind::Stalled),
    ("ratio_never_corrects", Kind::Accounting),
    ("split_drops_tail", Kind::Unresolved),
    ("split_double_release", Kind::Memory),
    ("split_same_sequence", Kind::Sequence),
    ("expiry_trusts_earlier_attempts", Kind::FailedButWritten),
    // The deep classes (`bugs::DEEP`): scenarios/deep-chains.toml's seeds.
    ("veteran_retry_keeps_sequence", Kind::Sequence),
    ("second_bump_keeps_retry_sequences", Kind::Sequence),
    ("leader_move_drops_queued_retries", Kind::Unresolved),
    ("out_of_order_retry_taken_as_duplicate", Kind::Lost),
    ("moved_veteran_retry_behind_newer", Kind::Reorder),
    ("leader_chase_forgets_maybe_written", Kind::FailedButWritten),
    ("second_bump_gives_up_as_unwritten", Kind::FailedButWritten),
];

/// The generated worlds, the same for every bug (a fixed proptest seed).
fn worlds() -> &'static [PropWorld] {
    static WORLDS_CELL: OnceLock<Vec<PropWorld>> = OnceLock::new();
    WORLDS_CELL.get_or_init(|| {
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::deterministic_rng(RngAlgorithm::ChaCha),
        );
        let strategy = prop_world(16, 5);
        (0..WORLDS)
            .map(|_| strategy.new_tree(&mut runner).unwrap().current())
            .collect()
    })
}

/// Every scenario file with its seeds.
fn scenarios() -> &'static [(PathBuf, Scenario)] {
    static SCENARIOS: OnceLock<Vec<(PathBuf, Scenario)>> = OnceLock::new();
    SCENARIOS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|p| {
                let s = Scenario::load(&p).unwrap();
                (p, s)
            })
            .collect()
    })
}

/// The runs a world is judged by: its records shared and cloned.
fn world_runs(world: &PropWorld, bugs: Bugs) -> [RunReport; 2] {
    [Sharing::Shared, Sharing::Cloned].map(|sharing| {
        world.run_with(RunOptions {
            sharing: Some(sharing),
            bugs,
            ..RunOptions::default()
        })
    })
}

/// Why a run failed, in one line, or `None` when it passed.
fn failure(report: &RunReport) -> Option<String> {
    match (&report.error, report.verdict.violations.first()) {
        (Some(e), _) => Some(format!("harness error: {e}")),
        (None, Some(v)) => Some(v.to_string()),
        (None, None) => None,
    }
}

/// The first violation of `kind` in the runs.
fn found(runs: &[RunReport], kind: Kind) -> Option<String> {
    runs.iter()
        .flat_map(|r| &r.verdict.violations)
        .find(|v| v.kind == kind)
        .map(|v| v.to_string())
}

#[test]
fn the_baseline_passes_every_world_and_scenario_seed_without_a_bug() {
    let mut problems = Vec::new();
    for (i, w) in worlds().iter().enumerate() {
        let runs = world_runs(w, Bugs::default());
        for r in &runs {
            if let Some(why) = failure(r) {
                problems.push(format!("world #{i}: {why}\n{w:?}"));
            }
        }
        if runs[0].trace_hash() != runs[1].trace_hash() {
            problems.push(format!("world #{i}: shared and cloned runs differ\n{w:?}"));
        }
    }
    for (path, s) in scenarios() {
        for seed in s.seeds() {
            let r = sim::run(s, seed);
            if !r.passed(&s.required) {
                problems.push(format!(
                    "{} seed {seed}: {}",
                    path.display(),
                    failure(&r).unwrap_or_else(|| format!("{:?}", r.unmet))
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} false alarms without any bug:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Cases until `name` was caught as `kind`: (worlds tried, first catch), then
/// (scenario seeds failing, of total, first catch).
fn detect(name: &str, kind: Kind) {
    let bugs = Bugs::only(name).unwrap_or_else(|| panic!("no injected bug `{name}`"));
    let mut by_world = None;
    for (i, w) in worlds().iter().enumerate() {
        if let Some(v) = found(&world_runs(w, bugs), kind) {
            by_world = Some((i + 1, v, w));
            break;
        }
    }
    let (mut caught, mut total, mut first) = (0, 0, None);
    for (path, s) in scenarios() {
        for seed in s.seeds() {
            total += 1;
            let r = sim::run_with(
                s,
                seed,
                &RunOptions {
                    bugs,
                    ..RunOptions::default()
                },
            );
            if let Some(v) = found(std::slice::from_ref(&r), kind) {
                caught += 1;
                let file = path.file_name().unwrap().to_string_lossy().into_owned();
                first.get_or_insert(format!("{file} seed {seed}: {v}"));
            }
        }
    }
    println!("bug `{name}` (must be reported as `{}`):", kind.name());
    match &by_world {
        Some((n, v, w)) => println!("  properties: caught in generated world #{n}: {v}\n{w:?}"),
        None => println!("  properties: not caught in {WORLDS} generated worlds"),
    }
    println!(
        "  scenarios: {caught} of {total} seed runs report it; first: {}",
        first.as_deref().unwrap_or("-")
    );
    assert!(
        by_world.is_some() || caught > 0,
        "bug `{name}` was never reported as `{}` by {WORLDS} generated worlds and {total} scenario runs",
        kind.name()
    );
}

#[test]
fn every_known_bug_is_named() {
    let names: Vec<&str> = CASES.iter().map(|(n, _)| *n).collect();
    for n in Bugs::NAMES {
        assert!(names.contains(n), "bug `{n}` has no case in known_bugs.rs");
    }
}

#[test]
fn per_send_state_in_a_shared_record_is_caught() {
    detect(CASES[0].0, CASES[0].1);
}

#[test]
fn off_by_one_in_would_overflow_is_caught() {
    detect(CASES[1].0, CASES[1].1);
}

#[test]
fn sequence_not_restarted_after_an_epoch_bump_is_caught() {
    detect(CASES[2].0, CASES[2].1);
}

#[test]
fn a_retry_sent_behind_newer_batches_is_caught() {
    detect(CASES[3].0, CASES[3].1);
}

#[test]
fn close_returning_with_batches_in_flight_is_caught() {
    detect(CASES[4].0, CASES[4].1);
}

#[test]
fn a_definite_error_after_a_maybe_written_attempt_is_caught() {
    detect(CASES[5].0, CASES[5].1);
}

#[test]
fn invented_offsets_for_a_duplicate_answer_are_caught() {
    detect(CASES[6].0, CASES[6].1);
}

#[test]
fn a_wrong_batch_header_field_is_caught() {
    detect(CASES[7].0, CASES[7].1);
}

#[test]
fn more_requests_in_flight_than_the_idempotence_window_is_caught() {
    detect(CASES[8].0, CASES[8].1);
}

#[test]
fn a_passed_deadline_hiding_a_later_one_is_caught() {
    detect(CASES[9].0, CASES[9].1);
}

#[test]
fn a_compression_estimate_that_never_corrects_is_caught() {
    detect(CASES[10].0, CASES[10].1);
}

#[test]
fn a_split_that_drops_its_second_half_is_caught() {
    detect(CASES[11].0, CASES[11].1);
}

#[test]
fn a_split_releasing_the_batch_memory_twice_is_caught() {
    detect(CASES[12].0, CASES[12].1);
}

#[test]
fn split_halves_not_renumbered_are_caught() {
    detect(CASES[13].0, CASES[13].1);
}

#[test]
fn expiry_judged_by_earlier_attempts_only_is_caught() {
    detect(CASES[14].0, CASES[14].1);
}

#[test]
fn a_veteran_retry_keeping_its_sequence_across_a_bump_is_caught() {
    detect(CASES[15].0, CASES[15].1);
}

#[test]
fn sequences_kept_at_a_second_bump_are_caught() {
    detect(CASES[16].0, CASES[16].1);
}

#[test]
fn retries_dropped_at_a_leader_move_after_a_bump_are_caught() {
    detect(CASES[17].0, CASES[17].1);
}

#[test]
fn an_out_of_order_answer_taken_as_a_duplicate_is_caught() {
    detect(CASES[18].0, CASES[18].1);
}

#[test]
fn a_veteran_retry_behind_newer_after_a_leader_move_is_caught() {
    detect(CASES[19].0, CASES[19].1);
}

#[test]
fn a_leader_chase_forgetting_a_lost_answer_is_caught() {
    detect(CASES[20].0, CASES[20].1);
}

#[test]
fn a_second_bump_giving_up_maybe_written_batches_as_unwritten_is_caught() {
    detect(CASES[21].0, CASES[21].1);
}

/// The deep classes are the ones `bugs::DEEP` names, each with a case here.
#[test]
fn every_deep_class_has_a_case() {
    for name in producer_core::bugs::DEEP {
        assert!(
            Bugs::NAMES.contains(name),
            "`{name}` is not an injected bug"
        );
        assert!(
            CASES.iter().any(|(n, _)| n == name),
            "deep class `{name}` has no case"
        );
    }
}
