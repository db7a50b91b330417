//! Guided search is a function of its search seed (same corpus, same first
//! failure, whatever the job count), finds the failure of a broken setting
//! within a bounded number of runs, writes failing mutated schedules as
//! scenario files that fail again when loaded, and raises no false alarm on the
//! swarm scenario of a correct producer.

use sim::faults::draw_swarm;
use sim::guided::{search, with_schedule, Mode, Origin, SearchOptions, SearchResult};
use sim::Scenario;
use std::path::Path;

fn load(rel: &str) -> Scenario {
    Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

fn broken() -> Scenario {
    load("tests/data/all-acked-short-timeout.toml")
}

fn guided(s: &Scenario, seed: u64, runs: u64, jobs: usize) -> SearchResult {
    let opts = SearchOptions {
        mode: Mode::Guided,
        seed,
        runs,
        jobs,
        keep_going: false,
        bugs: Default::default(),
    };
    search(s, &opts, |_, _, _| {}).unwrap()
}

#[test]
fn the_same_search_seed_gives_the_same_corpus_and_first_failure_on_any_job_count() {
    let s = broken();
    let a = guided(&s, 0, 200, 2);
    let b = guided(&s, 0, 200, 1);
    assert_eq!(a.corpus_hash, b.corpus_hash);
    assert_eq!(a.corpus_len, b.corpus_len);
    assert_eq!(a.curve, b.curve);
    let (fa, fb) = (a.failures.first().unwrap(), b.failures.first().unwrap());
    assert_eq!((fa.run, fa.seed, &fa.why), (fb.run, fb.seed, &fb.why));
    assert_eq!(fa.scenario_text, fb.scenario_text);
    // The hash tells corpora apart: another search seed grows another corpus.
    let c = guided(&s, 1, 40, 2);
    assert_ne!(c.corpus_hash, guided(&s, 0, 40, 2).corpus_hash);
}

#[test]
fn guided_search_finds_the_broken_setting_and_its_file_fails_again() {
    let s = broken();
    let r = guided(&s, 0, 200, 2);
    let f = r
        .failures
        .first()
        .expect("guided search finds a failure within 200 runs");
    assert!(
        f.run <= 200 && r.runs == f.run,
        "stops at the first failure"
    );
    assert!(
        f.why.iter().any(|w| w.contains("[not_acked]")),
        "{:?}",
        f.why
    );
    // Drawn or mutated, the failure replays: a mutated schedule from its file.
    let replayed = match (&f.origin, &f.scenario_text) {
        (Origin::Drawn, None) => sim::run(&s, f.seed),
        (Origin::Mutated { .. }, Some(text)) => {
            let written = Scenario::parse(text, "written.toml").expect("the file loads");
            assert!(written.file.swarm.is_none());
            sim::run(&written, f.seed)
        }
        other => panic!("origin and file disagree: {other:?}"),
    };
    let first = replayed.verdict.violations.first().expect("it fails again");
    assert_eq!(first.to_string(), f.why[0]);
}

#[test]
fn a_schedule_written_out_runs_as_the_swarm_drew_it() {
    let s = load("../scenarios/swarm.toml");
    let sw = s.file.swarm.as_ref().unwrap().get_ref();
    for seed in [3, 11] {
        let drawn = draw_swarm(sw, &s.cluster, s.file.producers.count, seed);
        let concrete = with_schedule(&s, &drawn);
        assert_eq!(
            sim::run(&s, seed).trace_hash(),
            sim::run(&concrete, seed).trace_hash()
        );
    }
}

#[test]
fn guided_search_of_the_swarm_raises_no_false_alarm_and_outgrows_its_warmup() {
    let s = load("../scenarios/swarm.toml");
    let r = guided(&s, 5, 48, 2);
    assert!(
        r.failures.is_empty(),
        "false alarms: {:?}",
        r.failures.iter().map(|f| &f.why).collect::<Vec<_>>()
    );
    assert_eq!(r.runs, 48);
    assert!(r.curve.windows(2).all(|w| w[0] <= w[1]));
    // The corpus holds schedules found after the warm-up's fresh draws.
    assert!(r.corpus_len > 8, "corpus {}", r.corpus_len);
    assert!(r.arms.iter().any(|(_, a)| a.wins > 0), "{:?}", r.arms);
}
