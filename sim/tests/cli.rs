//! The `sim` binary end to end: explore with the determinism check, run with a
//! Perfetto trace, replay's event log, a clean error for a bad file, and serve
//! judging what a client reported.

mod support;

use support::cli::sim;

#[test]
fn explore_checks_determinism_and_reports_speed() {
    let (code, out, err) = sim(&[
        "explore",
        "scenarios/swarm.toml",
        "--seeds",
        "20",
        "--jobs",
        "2",
        "--check-determinism",
        "--quiet",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("seeds/s"), "{out}");
    assert!(
        out.contains("determinism: 2 seeds re-run, 0 differed"),
        "{out}"
    );
    assert!(out.contains("verdict: PASS"), "{out}");
}

#[test]
fn run_writes_a_perfetto_trace() {
    let trace = std::env::temp_dir().join(format!("prodsim-cli-trace-{}.json", std::process::id()));
    let (code, out, err) = sim(&[
        "run",
        "scenarios/leader-crash-mid-batch.toml",
        "--seed",
        "1",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("trace hash: 0x"), "{out}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    let events = json["traceEvents"].as_array().unwrap();
    let has = |ph: &str, needle: &str| {
        events.iter().any(|e| {
            let name = if ph == "M" {
                &e["args"]["name"]
            } else {
                &e["name"]
            };
            e["ph"] == ph && name.as_str().is_some_and(|n| n.contains(needle))
        })
    };
    assert!(
        has("M", "producer-0") && has("M", "broker-2"),
        "tracks per host and producer"
    );
    assert!(has("b", "produce -> broker"), "request spans");
    assert!(has("i", "crash"), "fault instants");
    std::fs::remove_file(trace).ok();
}

#[test]
fn replay_prints_the_event_log_and_verdict() {
    let (code, out, err) = sim(&[
        "replay",
        "scenarios/lost-responses.toml",
        "--seed",
        "1",
        "--batches-only",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let log = format!("{out}{err}");
    for needle in [
        "produce request",
        "FAULT inject lost response",
        "no answer",
        "close returned",
        "verdict: PASS",
    ] {
        assert!(log.contains(needle), "missing `{needle}` in:\n{log}");
    }
    assert!(
        !log.contains("New nodename"),
        "turmoil's own lines only with RUST_LOG"
    );
    assert!(!log.contains('\u{1b}'), "no ANSI colours into a pipe");
}

#[test]
fn a_failure_outside_scenarios_prints_replay_commands_that_run_it() {
    let dir = std::env::temp_dir().join(format!("prodsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("happy-with-retries.toml");
    let text = std::fs::read_to_string("../scenarios/happy-path.toml")
        .unwrap()
        .replace("retries = 0", "retries = \">= 1\"");
    std::fs::write(&file, text).unwrap();
    let (code, out, _) = sim(&["run", file.to_str().unwrap(), "--seed", "7"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("UNMET mechanism not reached"), "{out}");
    let shown = format!(
        "cargo run --release -p sim -- run {} --seed 7",
        file.display()
    );
    assert!(out.contains(&shown), "{out}");
    assert!(
        !out.contains("--test scenarios"),
        "not a file of scenarios/: {out}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_bad_file_is_a_clear_error_and_exit_code_2() {
    let (code, out, err) = sim(&["run", "tests/malformed/04-broker-out-of-range.toml"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("04-broker-out-of-range.toml:3:1: fault #1 (`crash`)"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}

#[test]
fn serve_judges_what_a_client_reported_with_the_whole_checker() {
    let dir = std::env::temp_dir().join(format!("prodsim-cli-outcomes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let serve = |outcomes: &str| {
        sim(&[
            "serve",
            "--port",
            "0",
            "--for-secs",
            "1",
            "--outcomes",
            outcomes,
        ])
    };

    // Nothing sent, close returned: nothing to blame.
    let (code, out, err) = serve(&write("clean.txt", "CLOSED 0\n"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verdict: PASS (the whole checker"), "{out}");

    // The client says a record was acknowledged, but no broker stored it; another
    // never resolved, and the close never returned.
    let (code, out, err) = serve(&write(
        "broken.txt",
        "SEND 0 0 6b 76\nACK 0 0 2 0\nSEND 0 1 - 76\n",
    ));
    assert_eq!(code, 1, "{out}{err}");
    for needle in [
        "VIOLATION [lost]",
        "record #0",
        "VIOLATION [unresolved]",
        "flush/close never returned",
        "verdict: FAIL (3 violations",
    ] {
        assert!(out.contains(needle), "`{needle}` missing from:\n{out}");
    }

    // A malformed file: the file, the line and what is wrong; exit code 2.
    let bad = write("bad.txt", "SEND 0 0 6b 76\nACK 0 0 two 0\n");
    let (code, out, err) = serve(&bad);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!(
            "{bad}: line 2: partition `two` is not a valid number"
        )),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_shards_merged_equal_the_unsharded_exploration() {
    let dir = std::env::temp_dir().join(format!("prodsim-shards-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let explore = |extra: &[&str]| {
        let mut args = vec![
            "explore",
            "scenarios/swarm.toml",
            "--seeds",
            "40",
            "--start",
            "3",
            "--keep-going",
            "--check-determinism",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        sim(&args)
    };
    let (whole_file, one, two) = (json("whole.json"), json("1.json"), json("2.json"));
    let (code, out, err) = explore(&["--json", &whole_file]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(explore(&["--shard", "1/2", "--json", &one]).0, 0);
    assert_eq!(explore(&["--shard", "2/2", "--json", &two]).0, 0);
    let read = |f: &str| -> sim::report::Report {
        serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap()
    };
    let whole = read(&whole_file);
    let merged = sim::report::Report::merge(&[read(&one), read(&two)]).unwrap();
    assert_eq!(
        (
            merged.runs,
            merged.passed,
            merged.failed.len(),
            merged.determinism_checked
        ),
        (
            whole.runs,
            whole.passed,
            whole.failed.len(),
            whole.determinism_checked
        )
    );
    assert_eq!((whole.runs, whole.determinism_checked), (40, 4));
    assert_eq!(merged.by_kind, whole.by_kind);
    assert_eq!(
        (merged.retries, merged.epoch_bumps),
        (whole.retries, whole.epoch_bumps)
    );
    let (code, out, _) = sim(&["merge-reports", &one, &two]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("shards 1/2 2/2") && out.contains("verdict: PASS"),
        "{out}"
    );
    // One shard alone is not the whole exploration.
    let (code, out, _) = sim(&["merge-reports", &one]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not covered: shards 2/2"), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The first finding in `out`, each line reduced to its shape: the headline,
/// a reason, or a command without its file and seed, so random and guided
/// search can be compared line for line.
fn finding_shape(out: &str) -> Vec<String> {
    let lines: Vec<&str> = out.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("FAILED seed "))
        .unwrap_or_else(|| panic!("no finding in:\n{out}"));
    let mut shape = vec!["FAILED seed".to_string()];
    for l in &lines[start + 1..] {
        if l.starts_with("FAILED seed ") || l.starts_with("verdict:") {
            break;
        }
        if l.starts_with("  ") && !l.starts_with("        ") {
            shape.push("  reason".into());
            continue;
        }
        let (label, cmd) = match l.strip_prefix("replay: ") {
            Some(cmd) => ("replay: ", cmd),
            None => ("", l.trim_start()),
        };
        // "cargo run --release -p sim -- VERB FILE --seed N ...": keep up to VERB.
        let words: Vec<&str> = cmd.split(' ').take(7).collect();
        shape.push(format!("{label}{}", words.join(" ")));
    }
    shape
}

#[test]
fn random_and_guided_search_report_a_finding_the_same_way() {
    let dir = std::env::temp_dir().join(format!("prodsim-cli-findings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = "sim/tests/data/all-acked-short-timeout.toml";
    let (code, random, err) = sim(&["explore", file, "--seeds", "400", "--jobs", "2", "--quiet"]);
    assert_eq!(code, 1, "{random}{err}");
    let save = dir.to_str().unwrap();
    let args = [
        "explore",
        file,
        "--guided",
        "--seeds",
        "400",
        "--jobs",
        "2",
        "--quiet",
        "--save-dir",
        save,
    ];
    let (code, guided, err) = sim(&args);
    assert_eq!(code, 1, "{guided}{err}");
    for out in [&random, &guided] {
        assert!(out.contains("\nverdict: FAIL"), "{out}");
    }
    let (r, g) = (finding_shape(&random), finding_shape(&guided));
    let commands = |v: &[String]| {
        v.iter()
            .filter(|l| *l != "  reason")
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        commands(&r),
        commands(&g),
        "random:\n{random}\nguided:\n{guided}"
    );
    assert_eq!(
        commands(&r),
        [
            "FAILED seed",
            "replay: cargo run --release -p sim -- replay",
            "cargo run --release -p sim -- run",
            "cargo run --release -p sim -- shrink",
        ]
    );
    std::fs::remove_dir_all(&dir).ok();
}
