//! The harness catches the bug class it exists for. Each known bug is injected
//! into producer-core (feature `bug-injection`, switched on at run time) and must
//! be reported by the properties (generated worlds) or by the scenario files
//! within a bounded number of cases. The test prints how many it took.

use producer_core::bugs::Bugs;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use sim::scenario::Sharing;
use sim::strategies::{prop_world, PropWorld};
use sim::{RunOptions, Scenario};
use std::cell::Cell;
use std::path::Path;

/// Generated worlds tried per bug before giving up on the properties.
const MAX_CASES: u32 = 200;

/// The properties, as one check: the run is clean and a shared run equals a
/// cloned one.
fn check(world: &PropWorld, bugs: Bugs) -> Result<(), String> {
    let run = |sharing| {
        world.run_with(RunOptions {
            sharing: Some(sharing),
            bugs,
            ..RunOptions::default()
        })
    };
    let shared = run(Sharing::Shared);
    if !shared.passed(&[]) {
        return Err(format!("shared run: {}", shared.verdict.violations[0]));
    }
    let cloned = run(Sharing::Cloned);
    if !cloned.passed(&[]) {
        return Err(format!("cloned run: {}", cloned.verdict.violations[0]));
    }
    if shared.trace_hash != cloned.trace_hash {
        return Err("shared and cloned runs of the same world differ".into());
    }
    Ok(())
}

/// Cases until the properties first fail with `bugs`, and the shrunk world.
fn properties_catch(bugs: Bugs) -> Option<(u32, String)> {
    let config = Config {
        cases: MAX_CASES,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let calls = Cell::new(0u32);
    let first = Cell::new(None::<u32>);
    let result = runner.run(&prop_world(16, 5), |world| {
        calls.set(calls.get() + 1);
        check(&world, bugs).map_err(|e| {
            if first.get().is_none() {
                first.set(Some(calls.get()));
            }
            TestCaseError::fail(e)
        })
    });
    match result {
        Err(TestError::Fail(reason, world)) => {
            Some((first.get().unwrap_or(0), format!("{reason}\n{world:?}")))
        }
        _ => None,
    }
}

/// (failing, total) seed runs of every scenario file with `bugs`, and the first failure.
fn scenarios_catch(bugs: Bugs) -> (usize, usize, Option<String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let (mut failing, mut total, mut first) = (0, 0, None);
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
    {
        let scenario = Scenario::load(path).unwrap();
        for seed in scenario.seeds() {
            total += 1;
            let report = sim::run_with(
                &scenario,
                seed,
                &RunOptions {
                    bugs,
                    ..RunOptions::default()
                },
            );
            if !report.passed(&scenario.required) {
                failing += 1;
                if first.is_none() {
                    let why = report.verdict.violations.first().map_or_else(
                        || "required violation missing".to_string(),
                        |v| v.to_string(),
                    );
                    first = Some(format!(
                        "{} seed {seed}: {why}",
                        path.file_name().unwrap().to_string_lossy()
                    ));
                }
            }
        }
    }
    (failing, total, first)
}

fn detect(name: &str) {
    let bugs = Bugs::only(name).unwrap();
    let props = properties_catch(bugs);
    let (failing, total, first) = scenarios_catch(bugs);
    println!("bug `{name}`:");
    match &props {
        Some((n, shrunk)) => println!(
            "  properties: caught after {n} generated worlds; shrunk counterexample:\n{shrunk}"
        ),
        None => println!("  properties: not caught in {MAX_CASES} generated worlds"),
    }
    println!(
        "  scenarios: {failing} of {total} seed runs failed; first: {}",
        first.as_deref().unwrap_or("-")
    );
    assert!(
        props.is_some() || failing > 0,
        "bug `{name}` went unnoticed by {MAX_CASES} property cases and {total} scenario runs"
    );
}

#[test]
fn correct_producer_passes_the_same_checks() {
    let (failing, total, first) = scenarios_catch(Bugs::default());
    assert_eq!(
        failing, 0,
        "{failing} of {total} runs failed without any bug: {first:?}"
    );
}

#[test]
fn per_send_state_in_shared_record_is_caught() {
    detect("per_send_state_in_record");
}

#[test]
fn off_by_one_in_would_overflow_is_caught() {
    detect("overflow_off_by_one");
}

#[test]
fn sequence_not_restarted_after_epoch_bump_is_caught() {
    detect("sequence_not_reset_on_bump");
}

#[test]
fn retry_sent_behind_newer_batches_is_caught() {
    detect("retry_behind_newer");
}
