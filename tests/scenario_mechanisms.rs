//! Every scenario file proves it reached the fault it is named after: each one
//! states in `[expect]` what it exists to exercise (a run that did not reach it
//! fails), and the README's table of scenarios names it.

use sim::Scenario;
use std::path::Path;

fn scenario_files() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_states_the_mechanism_it_exercises() {
    for path in scenario_files() {
        let s = Scenario::load(&path).unwrap();
        assert!(
            !s.mechanisms.is_empty(),
            "{}: add an [expect] mechanism key (retries, epoch_bumps, crashes, restarts, faults_healed, ...) saying what this scenario exists to exercise",
            path.display()
        );
    }
}

#[test]
fn the_readme_table_names_every_scenario() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for path in scenario_files() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            readme.contains(&format!("`{name}`")),
            "README.md's table of scenarios lacks `{name}`"
        );
    }
}

#[test]
fn an_unreached_mechanism_fails_the_run() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/happy-path.toml"),
    )
    .unwrap()
    .replace("retries = 0", "retries = \">= 1\"");
    let scenario = Scenario::parse(&text, "happy-path-with-retries.toml").unwrap();
    let report = sim::run(&scenario, 7);
    assert!(report.verdict.passed(), "{:?}", report.verdict.violations);
    assert!(!report.passed(&scenario.required), "no fault, so no retry");
    assert!(
        report
            .unmet
            .iter()
            .any(|u| u.contains("`retries` was 0, expected >= 1")),
        "{:?}",
        report.unmet
    );
}

#[test]
fn a_healed_leader_crash_restarts_the_broker_that_crashed_while_the_producers_run() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/leader-crash-mid-batch.toml");
    let scenario = Scenario::load(&path).unwrap();
    for seed in scenario.seeds() {
        let report = sim::run(&scenario, seed);
        let faults: Vec<String> = report
            .history
            .entries
            .iter()
            .filter_map(|e| match &e.what {
                sim::history::What::Fault { description, .. } => Some(description.clone()),
                _ => None,
            })
            .collect();
        let crashed = faults
            .iter()
            .find_map(|d| d.strip_prefix("crash leader(events, 0) "))
            .unwrap_or_else(|| panic!("seed {seed}: no crash in {faults:?}"))
            .to_string();
        let restart = format!("restart {crashed}");
        assert!(
            faults
                .iter()
                .any(|d| d.starts_with("heal crash") && d.contains(&restart)),
            "seed {seed}: the heal must restart {crashed}: {faults:?}"
        );
        assert_eq!(
            report.mechanisms.restarts, 1,
            "seed {seed}: restarted mid-stream"
        );
        assert!(
            report.passed(&scenario.required),
            "seed {seed}: {:?}",
            report.unmet
        );
    }
}
