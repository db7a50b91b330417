//! Judging what a real client reported (`sim::outcomes`) against the simulated
//! broker's logs with the same checker as inside the simulation.

use sim::checker::{check, check_logs, CheckInput, Kind, ProducerFacts, Violation};
use sim::history::{digest_parts, History};
pub use sim::outcomes::{Outcome, ProducerReport, Reported, SentRecord};
use sim::serve::Logs;
use std::time::Duration;

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

/// Every violation of a fault-free run by idempotent producers: whatever the
/// history says, and the log-only sequence checks.
pub fn violations(
    history: &History,
    logs: &Logs,
    producers: usize,
    max_in_flight: usize,
) -> Vec<Violation> {
    let facts = ProducerFacts {
        idempotent: true,
        max_in_flight,
        max_message_bytes: 1_000_000,
        max_request_size: 1_048_576,
        batch_limit: usize::MAX,
        grace: Duration::from_secs(3600),
        requests_observed: false,
    };
    let producers = vec![facts; producers];
    let mut found = check(&CheckInput {
        history,
        logs,
        topic: super::TOPIC,
        producers: &producers,
        last_fault: Duration::ZERO,
        end: Duration::ZERO,
        allowed: &[],
        all_acked: true,
    })
    .violations;
    found.extend(
        check_logs(logs)
            .into_iter()
            .filter(|v| v.kind == Kind::Sequence),
    );
    found
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
