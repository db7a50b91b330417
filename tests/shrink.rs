//! `sim shrink`: a failing swarm run becomes a small standalone scenario file
//! (concrete faults, no `[swarm]`) that loads and still fails with the same kind.

use sim::Scenario;
use std::path::Path;

/// swarm.toml, with every record required to be acknowledged: under its faults
/// some seeds fail records (outcome unknown, delivery timeouts), so they fail.
fn swarm_all_acked() -> Scenario {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/swarm.toml"))
            .unwrap()
            .replace("[expect]\n", "[expect]\nall_acked = true\n");
    Scenario::parse(&text, "scenarios/swarm.toml").unwrap()
}

#[test]
fn a_failing_swarm_run_shrinks_to_at_most_three_concrete_faults_that_still_fail() {
    let scenario = swarm_all_acked();
    let seed = 1;
    let original = sim::run(&scenario, seed);
    assert!(
        !original.verdict.passed(),
        "seed {seed} fails to begin with"
    );
    let mut steps = 0;
    let shrunk = sim::shrink::shrink(&scenario, seed, |_| steps += 1).unwrap();
    assert!(steps > 0, "progress is reported");
    assert!(
        shrunk.after.0 <= 3,
        "{} faults left:\n{}",
        shrunk.after.0,
        shrunk.text
    );
    assert!(shrunk.after.0 < shrunk.before.0);
    let file = Scenario::parse(&shrunk.text, "shrunk.toml")
        .unwrap_or_else(|e| panic!("{e}\n{}", shrunk.text));
    assert!(file.file.swarm.is_none(), "the faults are written out");
    assert_eq!(file.faults.len(), shrunk.after.0);
    assert_eq!(file.seeds(), [seed]);
    assert!(
        shrunk.text.starts_with("# Shrunk by `sim shrink"),
        "says where it came from"
    );
}

#[test]
fn a_shrunk_file_keeps_failing_with_the_same_kind() {
    let scenario = swarm_all_acked();
    for seed in [1, 3] {
        let before = sim::run(&scenario, seed);
        let kind = before.verdict.violations[0].kind;
        let shrunk = sim::shrink::shrink(&scenario, seed, |_| {}).unwrap();
        assert_eq!(shrunk.kind, kind);
        let file = Scenario::parse(&shrunk.text, "shrunk.toml").unwrap();
        let again = sim::run(&file, seed);
        assert!(
            again.verdict.kinds().contains(&kind),
            "seed {seed}: the shrunk file fails with {:?}, not `{}`",
            again.verdict.kinds(),
            kind.name()
        );
        let twice = sim::run(&file, seed);
        assert_eq!(
            again.trace_hash, twice.trace_hash,
            "and replays bit for bit"
        );
    }
}
