//! Judging what a real client reported (`sim::outcomes`) against the simulated
//! broker's logs with the same checker as inside the simulation.

use sim::checker::Violation;
use sim::history::digest_parts;
use sim::outcomes::{client_facts, judge, Expectations};
pub use sim::outcomes::{Outcome, ProducerReport, Reported, SentRecord};
use sim::serve::Logs;

/// Key, value and headers of one record.
pub type Parts = (Option<String>, Vec<u8>, Vec<(String, Vec<u8>)>);

/// What clients that report through Rust said: `outcomes[p][i]` is what
/// producer `p` reported for record `i`, `parts(p, i)` what it sent; every
/// producer closed.
pub fn reported(outcomes: Vec<Vec<Outcome>>, parts: impl Fn(u32, usize) -> Parts) -> Reported {
    let producers = outcomes
        .into_iter()
        .enumerate()
        .map(|(p, records)| ProducerReport {
            records: records
                .into_iter()
                .enumerate()
                .map(|(i, outcome)| {
                    let (key, value, headers) = parts(p as u32, i);
                    SentRecord {
                        digest: digest_parts(
                            key.as_deref().map(str::as_bytes),
                            Some(&value),
                            headers.iter().map(|(k, v)| (k.as_bytes(), Some(&v[..]))),
                        ),
                        outcomes: vec![outcome],
                    }
                })
                .collect(),
            closed: true,
        })
        .collect();
    Reported {
        producers,
        unattributed: Vec::new(),
    }
}

/// Every violation of a fault-free run by idempotent producers that must
/// deliver every record.
pub fn violations(reported: &Reported, logs: &Logs, max_in_flight: usize) -> Vec<Violation> {
    let producers = vec![client_facts(true, max_in_flight); reported.producers.len()];
    judge(
        reported,
        logs,
        &Expectations {
            topic: super::TOPIC,
            producers: &producers,
            allowed: &[],
            all_acked: true,
            broker_faults: &[],
        },
    )
    .violations
}

/// The first few violations, one per line, for a failure message.
pub fn show(violations: &[Violation]) -> String {
    let shown: Vec<String> = violations.iter().take(10).map(|v| v.to_string()).collect();
    format!(
        "{} violations, first:\n{}",
        violations.len(),
        shown.join("\n")
    )
}
