//! `cargo test` at the root also runs the harness's self-tests, which need
//! producer-core built with its `bug-injection` feature. Cargo unifies features
//! within one build, so they live in a workspace of their own (`selftest/`) and
//! run here as a child `cargo test --release`. The root build, and therefore
//! every other test in this workspace, tests the producer as it ships.
//!
//! The child gets its own target directory (`<target>/selftest`): it cannot share
//! the parent's, whose build lock the parent may still hold, and its feature set
//! would otherwise rebuild the parent's artifacts. Its output is printed when it
//! fails (and with `--nocapture`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target directory this test binary was built into (`<target>/<profile>/deps/<exe>`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// Runs `cargo <args>` from the repository root with the self-test target dir,
/// and fails with its whole output if it fails.
fn cargo(args: &[&str]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(&cargo)
        .args(args)
        .current_dir(root)
        .env("CARGO_TARGET_DIR", target_dir().join("selftest"))
        .output()
        .unwrap_or_else(|e| panic!("could not run {cargo:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "`cargo {}` failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        args.join(" "),
        out.status
    );
    println!("`cargo {}`:\n{stdout}", args.join(" "));
}

#[test]
fn injected_bugs_are_caught_and_their_hooks_change_the_producer() {
    // producer-core's own tests of each hook (pipeline/sender/tests/hooks.rs, with the feature on)...
    cargo(&[
        "test",
        "--release",
        "-p",
        "producer-core",
        "--features",
        "bug-injection",
        "--lib",
    ]);
    // ...and the harness catching each bug (selftest/tests/known_bugs.rs).
    cargo(&[
        "test",
        "--release",
        "--manifest-path",
        "selftest/Cargo.toml",
        "--",
        "--nocapture",
    ]);
}
