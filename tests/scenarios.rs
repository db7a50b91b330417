//! Every `scenarios/*.toml` is a test: it runs the file's seeds (or only
//! `SIM_SEED=<seed>`) and fails with the violations, the seed and the commands
//! that replay it. Dropping a new file into `scenarios/` adds a test.

use sim::Scenario;
use std::fmt::Write;
use std::path::Path;

fn run_scenario(path: &Path) -> datatest_stable::Result<()> {
    let scenario = Scenario::load(path)?;
    let seeds = match std::env::var("SIM_SEED") {
        Ok(s) => vec![s
            .trim()
            .parse::<u64>()
            .map_err(|e| format!("SIM_SEED={s:?} is not a seed: {e}"))?],
        Err(_) => scenario.seeds(),
    };
    let file = path
        .file_name()
        .map_or(String::new(), |f| f.to_string_lossy().into_owned());
    let shown = format!("scenarios/{file}");
    let mut failures = String::new();
    for seed in seeds {
        let report = sim::run(&scenario, seed);
        if report.passed(&scenario.required) {
            continue;
        }
        writeln!(failures, "scenario {shown} seed {seed} FAILED").unwrap();
        if let Some(e) = &report.error {
            writeln!(failures, "  harness error: {e}").unwrap();
        }
        for v in report.verdict.violations.iter().take(20) {
            writeln!(failures, "  {v}").unwrap();
        }
        if report.verdict.violations.len() > 20 {
            writeln!(
                failures,
                "  ... {} more",
                report.verdict.violations.len() - 20
            )
            .unwrap();
        }
        let seen = report.verdict.kinds();
        for k in scenario.required.iter().filter(|k| !seen.contains(k)) {
            writeln!(
                failures,
                "  required violation kind `{}` was not reported",
                k.name()
            )
            .unwrap();
        }
        for u in &report.unmet {
            writeln!(failures, "  {u}").unwrap();
        }
        writeln!(
            failures,
            "  replay: SIM_SEED={seed} cargo test --release --test scenarios -- {file}"
        )
        .unwrap();
        writeln!(
            failures,
            "          cargo run --release -p sim -- run {shown} --seed {seed}"
        )
        .unwrap();
        let stem = file.trim_end_matches(".toml");
        writeln!(
            failures,
            "  shrink: cargo run --release -p sim -- shrink {shown} --seed {seed} --out {stem}-seed-{seed}.toml"
        )
        .unwrap();
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.into())
    }
}

datatest_stable::harness! {
    { test = run_scenario, root = "scenarios", pattern = r"\.toml$" },
}
