//! Bad scenario files get a clear error, never a panic: the file, the line and
//! column, the field, and what was expected. Each file in tests/malformed/ says on
//! its first line what the error must contain (`# expect: ...`) and, optionally,
//! on which line it must point (`# line: N`).

use sim::Scenario;
use std::path::Path;

#[test]
fn every_malformed_file_is_rejected_with_a_precise_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "only {} malformed files", files.len());
    let mut problems = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let expect = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no `# expect:` line", path.display()));
        let line: Option<usize> = text
            .lines()
            .find_map(|l| l.strip_prefix("# line: "))
            .map(|n| n.trim().parse().unwrap());
        let err = match Scenario::load(path) {
            Ok(_) => {
                problems.push(format!("{}: accepted", path.display()));
                continue;
            }
            Err(e) => e,
        };
        let shown = err.to_string();
        if !shown.contains(expect) {
            problems.push(format!(
                "{}: error `{shown}` lacks `{expect}`",
                path.display()
            ));
        }
        if !shown.starts_with(&path.display().to_string()) {
            problems.push(format!(
                "{}: error `{shown}` does not start with the file name",
                path.display()
            ));
        }
        match (err.position, line) {
            (None, _) => problems.push(format!(
                "{}: error `{shown}` has no line and column",
                path.display()
            )),
            (Some((l, _)), Some(want)) if l != want => problems.push(format!(
                "{}: error points at line {l}, expected {want}: {shown}",
                path.display()
            )),
            _ => {}
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn a_file_with_several_mistakes_reports_every_one_with_its_line() {
    let text = "\
duration_s = 0
tick_ms = 500

[cluster]
brokers = 3
broker_version = \"9.9\"

[producers]
count = 2
max_in_flight = 9

[workload]
burst = 0

[[faults]]
at_ms = 10
action = \"crash\"
target = \"broker-7\"

[[faults]]
at_ms = 20
action = \"explode\"

[expect]
allow = [\"gremlins\"]
";
    let err = Scenario::parse(text, "several.toml").unwrap_err();
    let all = err.lines();
    for (line, needle) in [
        (1, "`duration_s` must be at least 1"),
        (2, "`tick_ms` must be in 1..=100"),
        (6, "`cluster.broker_version` = \"9.9\""),
        (10, "`max_in_flight`"),
        (13, "`workload.burst` must be at least 1"),
        (15, "fault #1 (`crash`)"),
        (20, "fault #2 (`explode`)"),
        (25, "unknown violation kind `gremlins`"),
    ] {
        let prefix = format!("several.toml:{line}:");
        assert!(
            all.iter()
                .any(|e| e.starts_with(&prefix) && e.contains(needle)),
            "missing `{needle}` at line {line} in:\n{}",
            all.join("\n")
        );
    }
    assert_eq!(all.len(), 8, "{}", all.join("\n"));
    assert_eq!(
        err.to_string().lines().count(),
        8,
        "one line each when shown"
    );
}
