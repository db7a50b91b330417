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
fn failing_swarm_runs_shrink_to_a_few_concrete_faults_that_still_fail_the_same_way() {
    let scenario = swarm_all_acked();
    let seeds: Vec<u64> = (0..200)
        .filter(|&seed| !sim::run(&scenario, seed).verdict.passed())
        .take(3)
        .collect();
    let mut small = 0;
    for &seed in &seeds {
        let kind = sim::run(&scenario, seed).verdict.violations[0].kind;
        let mut steps = 0;
        let shrunk = sim::shrink::shrink(&scenario, seed, |_| steps += 1).unwrap();
        println!(
            "seed {seed}: faults {} -> {}, producers {} -> {}, records {} -> {}",
            shrunk.before.0,
            shrunk.after.0,
            shrunk.before.1,
            shrunk.after.1,
            shrunk.before.2,
            shrunk.after.2
        );
        assert!(steps > 0, "progress is reported");
        assert!(
            shrunk.after.0 < shrunk.before.0,
            "seed {seed}: no fault dropped"
        );
        small += usize::from(shrunk.after.0 <= 3);
        assert_eq!(shrunk.kind, kind);
        assert!(
            shrunk.text.starts_with("# Shrunk by `sim shrink"),
            "says where it came from"
        );
        let file = Scenario::parse(&shrunk.text, "shrunk.toml")
            .unwrap_or_else(|e| panic!("{e}\n{}", shrunk.text));
        assert!(file.file.swarm.is_none(), "the faults are written out");
        assert_eq!(file.faults.len(), shrunk.after.0);
        assert_eq!(file.seeds(), [seed]);
        let again = sim::run(&file, seed);
        assert!(
            again.verdict.kinds().contains(&kind),
            "seed {seed}: the shrunk file fails with {:?}, not `{}`",
            again.verdict.kinds(),
            kind.name()
        );
        assert_eq!(
            again.trace_hash(),
            sim::run(&file, seed).trace_hash(),
            "replays bit for bit"
        );
    }
    assert!(
        small >= 2,
        "{small} of {} failing seeds shrank to <= 3 faults",
        seeds.len()
    );
}
