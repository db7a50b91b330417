//! A checker is only trusted once it fails a broken producer. Idempotence off,
//! retries on, responses lost: the log gets duplicates and the checker must say
//! so. The same world with idempotence on must have none.

use sim::checker::Kind;
use sim::Scenario;
use std::path::Path;

fn load(name: &str) -> Scenario {
    Scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(name),
    )
    .unwrap()
}

#[test]
fn idempotence_off_with_lost_responses_produces_reported_duplicates() {
    let s = load("idempotence-off-duplicates.toml");
    let mut found = 0;
    for seed in s.seeds() {
        let r = sim::run(&s, seed);
        let dups: Vec<_> = r
            .verdict
            .expected
            .iter()
            .filter(|v| v.kind == Kind::Duplicate)
            .collect();
        assert!(!dups.is_empty(), "seed {seed}: no duplicate reported");
        for d in &dups {
            assert!(
                d.producer.is_some() && d.tp.is_some() && d.offset.is_some(),
                "{d}"
            );
        }
        found += dups.len();
    }
    assert!(found > 0);
}

#[test]
fn the_same_faults_with_idempotence_on_store_nothing_twice() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/idempotence-off-duplicates.toml"),
    )
    .unwrap();
    let fixed = text
        .replace("idempotence = false", "idempotence = true")
        .replace("allow = [\"duplicate\"]", "allow = []")
        .replace("require = [\"duplicate\"]", "require = []");
    let s = Scenario::parse(&fixed, "idempotence-on.toml").unwrap();
    for seed in s.seeds() {
        let r = sim::run(&s, seed);
        assert!(r.passed(&[]), "seed {seed}: {:?}", r.verdict.violations);
        assert!(
            r.verdict.expected.is_empty(),
            "seed {seed}: {:?}",
            r.verdict.expected
        );
        assert!(r.mechanisms.retries > 0, "the faults must cause retries");
    }
}
