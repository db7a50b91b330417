//! Turning what a real client reported into the history prodsim's checker reads,
//! and judging it against the simulated broker's logs with the same checker as
//! inside the simulation.

use sim::checker::{check, check_logs, CheckInput, Kind, ProducerFacts, Violation};
use sim::history::{digest_parts, Actor, History, What};
use sim::serve::Logs;
use std::time::Duration;

/// Key, value and headers of one record.
pub type Parts = (Option<String>, Vec<u8>, Vec<(String, Vec<u8>)>);

/// One thing a client reported for a record.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Acknowledged at this partition and offset.
    Acked(i32, i64),
    /// Failed with this error; the partition it was sent to, when known.
    Failed(Option<i32>, String),
}

/// What a client reported for one record, in order. Empty: never resolved.
pub type Resolutions = Vec<Outcome>;

/// What one producer of a real client reported.
#[derive(Clone)]
pub struct ClientRun {
    /// Per record, in send order.
    pub records: Vec<Resolutions>,
    /// Whether its close (or flush) returned.
    pub closed: bool,
}

/// The checker's history for `runs` (producer `p` is `runs[p]`); `parts(p, i)`
/// is what producer `p` sent as record `i`.
pub fn history(runs: &[ClientRun], parts: impl Fn(u32, usize) -> Parts) -> History {
    let mut history = History::default();
    for (p, run) in runs.iter().enumerate() {
        let who = Actor::Producer(p as u32);
        for (i, resolutions) in run.records.iter().enumerate() {
            let (key, value, headers) = parts(p as u32, i);
            let digest = digest_parts(
                key.as_deref().map(str::as_bytes),
                Some(&value),
                headers.iter().map(|(k, v)| (k.as_bytes(), Some(&v[..]))),
            );
            // A client reports the partition with the outcome, not before; an
            // acknowledgement's partition counts over a failure's.
            let acked = resolutions.iter().find_map(|r| match r {
                Outcome::Acked(partition, _) => Some(*partition),
                Outcome::Failed(..) => None,
            });
            let partition = acked.or_else(|| {
                resolutions.iter().find_map(|r| match r {
                    Outcome::Failed(partition, _) => *partition,
                    Outcome::Acked(..) => None,
                })
            });
            history.push(
                Duration::ZERO,
                who,
                What::Send {
                    index: i,
                    send_id: Some(i as u64),
                    partition,
                    digest,
                    batch_len: 0,
                },
            );
            for resolution in resolutions {
                let what = match resolution {
                    Outcome::Acked(partition, offset) => What::Acked {
                        index: i,
                        partition: *partition,
                        offset: *offset,
                    },
                    Outcome::Failed(_, error) => What::Failed {
                        index: i,
                        error: error.clone(),
                        too_large: false,
                    },
                };
                history.push(Duration::ZERO, who, what);
            }
        }
        if run.closed {
            history.push(
                Duration::ZERO,
                who,
                What::Closed {
                    unresolved_records: 0,
                    buffered_bytes: 0,
                    in_flight_requests: 0,
                },
            );
        }
    }
    history
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
