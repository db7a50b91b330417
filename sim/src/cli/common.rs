//! What several subcommands share: loading a scenario file, and the commands
//! that replay a seed of it.

use sim::Scenario;
use std::path::Path;
use std::process::ExitCode;

pub(super) fn load(file: &Path) -> Result<Scenario, ExitCode> {
    Scenario::load(file).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

pub(super) fn print_replay(file: &Path, seed: u64) {
    for (i, c) in replay_commands(file, seed).iter().enumerate() {
        println!("{}{c}", if i == 0 { "replay: " } else { "        " });
    }
}

/// Commands that replay `seed` of `file`: the event log, and a test run (the
/// scenario test for a file of the repository's scenarios/, `sim run` otherwise).
pub(super) fn replay_commands(file: &Path, seed: u64) -> Vec<String> {
    let mut out = vec![format!(
        "cargo run --release -p sim -- replay {} --seed {seed}",
        file.display()
    )];
    let in_scenarios = file
        .parent()
        .and_then(|d| d.canonicalize().ok())
        .zip(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../scenarios")
                .canonicalize()
                .ok(),
        )
        .is_some_and(|(dir, scenarios)| dir == scenarios);
    match file.file_name().map(|f| f.to_string_lossy()) {
        Some(name) if in_scenarios => out.push(format!(
            "SIM_SEED={seed} cargo test --release --test scenarios -- {name}"
        )),
        _ => out.push(format!(
            "cargo run --release -p sim -- run {} --seed {seed}",
            file.display()
        )),
    }
    let stem = file
        .file_stem()
        .map_or("scenario".into(), |s| s.to_string_lossy());
    out.push(format!(
        "cargo run --release -p sim -- shrink {} --seed {seed} --out {stem}-seed-{seed}.toml",
        file.display()
    ));
    out
}
