//! Same scenario + same seed = same run, bit for bit; another seed, another run.

use sim::Scenario;
use std::path::Path;

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_seed_replays_to_the_same_trace_hash() {
    let s = scenario("happy-path.toml");
    let a = sim::run(&s, 7);
    let b = sim::run(&s, 7);
    assert!(a.passed(&s.required), "{:?}", a.verdict.violations);
    assert_eq!(a.trace_hash(), b.trace_hash());
    assert_eq!(
        a.history.entries, b.history.entries,
        "histories equal entry by entry"
    );
}

#[test]
fn different_seeds_give_different_traces() {
    let s = scenario("happy-path.toml");
    let hashes: std::collections::BTreeSet<u64> = [1, 2, 3]
        .iter()
        .map(|&seed| sim::run(&s, seed).trace_hash())
        .collect();
    assert_eq!(hashes.len(), 3, "three seeds, three traces");
}
