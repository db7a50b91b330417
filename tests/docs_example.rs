//! The annotated example in docs/scenarios.md is a valid scenario that runs.

use std::path::Path;

#[test]
fn the_documented_example_parses_and_runs() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/scenarios.md"))
            .unwrap();
    let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + doc[start..].find("```").expect("closed block");
    let scenario = sim::Scenario::parse(&doc[start..end], "docs/scenarios.md")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scenario.file.producers.count, 3);
    assert!(scenario.faults.len() >= 8);
    let report = sim::run(&scenario, 1);
    assert!(report.error.is_none(), "{:?}", report.error);
    assert!(report.verdict.passed(), "{:?}", report.verdict.violations);
}
