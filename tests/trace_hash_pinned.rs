//! The trace hashes of a few scenario seeds, pinned: the same seed prints the
//! same hash on any machine and with any Rust release. The hash is XXH3-64 of
//! the encoding specified in sim/src/trace_hash.rs, never `std::hash::Hash`.
//!
//! A failure here means a run, or the encoding, changed. If the change is
//! intended (the producer, the simulated broker or the workload now behaves
//! differently, or the encoding was changed on purpose), update the pins below
//! to the values printed and say so in the commit message: every hash users
//! have printed before for these seeds no longer matches. If it is not
//! intended, something made the run depend on the machine, the platform or the
//! Rust release: find it.

use sim::trace_hash::Encoder;
use sim::Scenario;
use std::path::Path;

/// (scenario file, seed, trace hash as `sim run` prints it).
const PINS: &[(&str, u64, u64)] = &[
    ("happy-path.toml", 7, 0x110e_5fa7_b1cd_093a),
    ("swarm.toml", 1, 0x4fb3_a94c_eee3_100d),
    ("swarm.toml", 2, 0x76fe_7986_7da1_7388),
    ("lost-responses.toml", 1, 0xb1b3_8744_64e7_e309),
];

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn pinned_seeds_print_their_pinned_trace_hashes() {
    let mut wrong = Vec::new();
    for &(file, seed, pinned) in PINS {
        let got = sim::run(&scenario(file), seed).trace_hash();
        if got != pinned {
            wrong.push(format!(
                "  {file} seed {seed}: pinned 0x{pinned:016x}, now 0x{got:016x}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "trace hashes changed:\n{}\n\
         If the change is intended (a behaviour change, or a deliberate change of the \
         encoding in sim/src/trace_hash.rs), update PINS in tests/trace_hash_pinned.rs \
         (and the example in README.md's Determinism section) and say so in the commit \
         message. If not, the run now depends on the machine or the Rust release.",
        wrong.join("\n")
    );
}

/// The hash `sim::run` reports is XXH3-64 of the bytes the encoder writes
/// (streamed, never held whole), checked on a real run's trace.
#[test]
fn the_reported_hash_is_xxh3_of_the_encoded_trace() {
    let report = sim::run(&scenario("lost-responses.toml"), 1);
    let mut e = Encoder::new(Vec::new());
    e.trace(
        &report.history,
        report
            .logs
            .iter()
            .map(|(tp, b)| (&*tp.topic, tp.partition, b.as_slice())),
    );
    let bytes = e.into_sink();
    assert!(bytes.starts_with(b"prodsim-trace/1"));
    assert_eq!(xxhash_rust::xxh3::xxh3_64(&bytes), report.trace_hash());
}

/// README.md's Determinism section quotes the happy-path pin as its example.
#[test]
fn the_readme_quotes_the_happy_path_pin() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let (_, _, pinned) = PINS[0];
    let quoted = format!("trace hash: 0x{pinned:016x}");
    assert!(
        readme.contains(&quoted),
        "README.md's Determinism section should show `{quoted}` for happy-path seed 7"
    );
}
