//! What a real client reported about its sends, as the history the checker
//! reads: how a client outside the simulation (one writing to `sim serve`) is
//! judged by the same checker as prodsim's own producer.
//!
//! The text form, one line each (blank lines and `#` comments are skipped):
//!
//! ```text
//! SEND   P R KEY VALUE [HKEY=HVALUE ...]   producer P sent record R
//! ACK    P R PARTITION OFFSET              ... and it was acknowledged there
//! FAIL   P R PARTITION|- ERROR TEXT        ... or it failed
//! CLOSED P                                 producer P's close returned
//! ```
//!
//! Producer `P` is the client whose client id is `producer-P` (numbered from 0);
//! `R` numbers its records in the order it sent them (from 0). Keys, values and
//! headers are hex, `-` is null. An outcome whose record is `-` (the client
//! could not say which record it was about) is kept aside, not judged.

use crate::checker::{check, check_logs, CheckInput, Kind, ProducerFacts, Verdict};
use crate::cluster::LogBatch;
use crate::history::{digest_parts, Actor, History, What};
use producer_core::TopicPartition;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// One thing a client reported for a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged at this partition and offset.
    Acked(i32, i64),
    /// Failed with this error; the partition it was sent to, when known.
    Failed(Option<i32>, String),
}

/// One record a producer sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SentRecord {
    /// Content digest (key, value, headers), as the checker computes it for
    /// stored records.
    pub digest: u64,
    /// What the client reported, in order; empty: never resolved.
    pub outcomes: Vec<Outcome>,
}

/// What one producer reported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerReport {
    /// Its records, in send order.
    pub records: Vec<SentRecord>,
    /// Whether its close returned.
    pub closed: bool,
}

/// What a client reported, for every producer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reported {
    /// Producer `p` is `producers[p]` (client id `producer-<p>`).
    pub producers: Vec<ProducerReport>,
    /// Outcome lines that named no record.
    pub unattributed: Vec<String>,
}

/// A line of an outcomes file that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutcomesError {
    /// 1-based line number (0: the file as a whole).
    pub line: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for OutcomesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}", self.message),
            n => write!(f, "line {n}: {}", self.message),
        }
    }
}

impl std::error::Error for OutcomesError {}

impl Reported {
    /// Reads the text form (see the module documentation).
    pub fn parse(text: &str) -> Result<Reported, OutcomesError> {
        let mut producers: Vec<Draft> = Vec::new();
        let mut unattributed = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: String| OutcomesError {
                line: n + 1,
                message,
            };
            let mut fields = line.split_whitespace();
            let verb = match fields.next().unwrap_or_default() {
                "SEND" => Verb::Send,
                "ACK" => Verb::Ack,
                "FAIL" => Verb::Fail,
                "CLOSED" => Verb::Closed,
                other => {
                    return Err(err(format!(
                        "unknown line kind `{other}`: expected SEND, ACK, FAIL or CLOSED"
                    )))
                }
            };
            let p: usize = number(fields.next(), "producer").map_err(err)?;
            if p >= MAX_PRODUCERS {
                return Err(err(format!(
                    "producer {p}: at most {MAX_PRODUCERS} producers"
                )));
            }
            if producers.len() <= p {
                producers.resize_with(p + 1, Draft::default);
            }
            let producer = &mut producers[p];
            producer.seen = true;
            if verb == Verb::Closed {
                producer.closed = true;
                continue;
            }
            let record = match fields.next() {
                Some("-") if verb != Verb::Send => {
                    unattributed.push(line.to_string());
                    continue;
                }
                r => number::<usize>(r, "record").map_err(err)?,
            };
            match verb {
                Verb::Send => {
                    let digest = content(&mut fields).map_err(err)?;
                    let slot = producer.slot(record).map_err(err)?;
                    if slot.digest.replace(digest).is_some() {
                        return Err(err(format!("record {record} of producer {p} sent twice")));
                    }
                }
                Verb::Ack => {
                    let partition = number(fields.next(), "partition").map_err(err)?;
                    let offset = number(fields.next(), "offset").map_err(err)?;
                    let slot = producer.slot(record).map_err(err)?;
                    slot.outcomes.push(Outcome::Acked(partition, offset));
                }
                Verb::Fail => {
                    let partition = match fields.next() {
                        Some("-") => None,
                        f => Some(number(f, "partition").map_err(err)?),
                    };
                    let error = fields.collect::<Vec<_>>().join(" ");
                    let slot = producer.slot(record).map_err(err)?;
                    slot.outcomes.push(Outcome::Failed(partition, error));
                }
                Verb::Closed => {}
            }
        }
        let producers = producers
            .into_iter()
            .enumerate()
            .map(|(p, d)| d.finish(p))
            .collect::<Result<Vec<_>, _>>()?;
        if producers.is_empty() {
            return Err(OutcomesError {
                line: 0,
                message: "no SEND, ACK, FAIL or CLOSED line".into(),
            });
        }
        Ok(Reported {
            producers,
            unattributed,
        })
    }

    /// The history the checker reads: per producer, each record's send and
    /// outcomes, then its close if it returned. A real client reports no times
    /// and no requests; everything is at time zero.
    pub fn history(&self) -> History {
        let mut history = History::default();
        for (p, producer) in self.producers.iter().enumerate() {
            let who = Actor::Producer(p as u32);
            for (i, record) in producer.records.iter().enumerate() {
                history.push(
                    Duration::ZERO,
                    who,
                    What::Send {
                        index: i,
                        send_id: Some(i as u64),
                        partition: record.partition(),
                        digest: record.digest,
                        batch_len: 0,
                    },
                );
                for outcome in &record.outcomes {
                    let what = match outcome {
                        Outcome::Acked(partition, offset) => What::Acked {
                            index: i,
                            partition: *partition,
                            offset: *offset,
                        },
                        Outcome::Failed(_, error) => What::Failed {
                            index: i,
                            error: error.clone(),
                            kind: crate::history::FailKind::MaybeWritten,
                        },
                    };
                    history.push(Duration::ZERO, who, what);
                }
            }
            if producer.closed {
                history.push(
                    Duration::ZERO,
                    who,
                    What::Closed {
                        unresolved_futures: 0,
                        unresolved_records: 0,
                        buffered_bytes: 0,
                        in_flight_requests: 0,
                    },
                );
            }
        }
        history
    }
}

/// What the checker needs to know about a real client's producer: only its
/// idempotence and max in flight. Its batches and requests are not observed,
/// and outcomes carry no times (all at zero), so liveness is judged by what
/// never resolved and by a close that never returned.
pub fn client_facts(idempotent: bool, max_in_flight: usize) -> ProducerFacts {
    ProducerFacts {
        idempotent,
        max_in_flight,
        max_message_bytes: usize::MAX,
        max_request_size: usize::MAX,
        batch_limit: usize::MAX,
        grace: Duration::from_secs(3600),
        requests_observed: false,
        quiet_limit: None,
    }
}

/// What a real client should have achieved writing to `topic`.
#[derive(Clone, Debug)]
pub struct Expectations<'a> {
    /// The topic it wrote to.
    pub topic: &'a str,
    /// Per producer, see [`client_facts`].
    pub producers: &'a [ProducerFacts],
    /// Violation kinds accepted as expected anomalies.
    pub allowed: &'a [Kind],
    /// Every record must be acknowledged.
    pub all_acked: bool,
    /// The broker's fault events (its ledger; empty for a broker prodsim
    /// does not run): they explain duplicates the broker could not prevent.
    pub broker_faults: &'a [(std::time::Duration, crate::broker::ledger::FaultEvent)],
}

/// The whole checker on what a real client reported and the final logs, plus
/// the log-only sequence checks (sequences per producer id and epoch start at 0
/// and have no gaps).
pub fn judge(
    reported: &Reported,
    logs: &BTreeMap<TopicPartition, Vec<LogBatch>>,
    expect: &Expectations<'_>,
) -> Verdict {
    let history = reported.history();
    let mut verdict = check(&CheckInput {
        history: &history,
        logs,
        topic: expect.topic,
        producers: expect.producers,
        last_fault: Duration::ZERO,
        end: Duration::ZERO,
        allowed: expect.allowed,
        all_acked: expect.all_acked,
        broker_faults: expect.broker_faults,
    });
    verdict.violations.extend(
        check_logs(logs)
            .into_iter()
            .filter(|v| v.kind == Kind::Sequence),
    );
    verdict
}

impl SentRecord {
    /// The partition the client says the record went to: an acknowledgement's
    /// partition counts over a failure's.
    pub fn partition(&self) -> Option<i32> {
        let acked = self.outcomes.iter().find_map(|o| match o {
            Outcome::Acked(partition, _) => Some(*partition),
            Outcome::Failed(..) => None,
        });
        acked.or_else(|| {
            self.outcomes.iter().find_map(|o| match o {
                Outcome::Failed(partition, _) => *partition,
                Outcome::Acked(..) => None,
            })
        })
    }
}

/// The kind of a line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verb {
    Send,
    Ack,
    Fail,
    Closed,
}

/// More producers than this in one file is a mistake, not a workload.
const MAX_PRODUCERS: usize = 1024;
/// Likewise for records per producer.
const MAX_RECORDS: usize = 100_000_000;

/// A producer while its lines are read.
#[derive(Default)]
struct Draft {
    seen: bool,
    closed: bool,
    /// By record number: sparse while reading, so a line naming record
    /// 99,999,999 costs one entry, not a hundred million.
    records: BTreeMap<usize, DraftRecord>,
}

#[derive(Default)]
struct DraftRecord {
    digest: Option<u64>,
    outcomes: Vec<Outcome>,
}

impl Draft {
    fn slot(&mut self, record: usize) -> Result<&mut DraftRecord, String> {
        if record >= MAX_RECORDS {
            return Err(format!(
                "record {record}: at most {MAX_RECORDS} per producer"
            ));
        }
        Ok(self.records.entry(record).or_default())
    }

    fn finish(self, p: usize) -> Result<ProducerReport, OutcomesError> {
        if !self.seen {
            return Err(OutcomesError {
                line: 0,
                message: format!("producer {p} has no line (producers are numbered from 0)"),
            });
        }
        // Records are numbered 0, 1, 2, ...: the first number missing has no SEND.
        if let Some(missing) = (0..).zip(self.records.keys()).find(|(i, r)| i != *r) {
            return Err(OutcomesError {
                line: 0,
                message: format!(
                    "record {} of producer {p} has no SEND line (records are numbered from 0)",
                    missing.0
                ),
            });
        }
        let records = self
            .records
            .into_iter()
            .map(|(r, d)| match d.digest {
                Some(digest) => Ok(SentRecord {
                    digest,
                    outcomes: d.outcomes,
                }),
                None => Err(OutcomesError {
                    line: 0,
                    message: format!(
                        "record {r} of producer {p} has no SEND line (records are numbered from 0)"
                    ),
                }),
            })
            .collect::<Result<_, _>>()?;
        Ok(ProducerReport {
            records,
            closed: self.closed,
        })
    }
}

fn number<T: std::str::FromStr>(field: Option<&str>, what: &str) -> Result<T, String> {
    let field = field.ok_or_else(|| format!("missing {what}"))?;
    field
        .parse()
        .map_err(|_| format!("{what} `{field}` is not a valid number"))
}

/// Hex bytes or `-` (null).
fn bytes(field: Option<&str>, what: &str) -> Result<Option<Vec<u8>>, String> {
    match field.ok_or_else(|| format!("missing {what}"))? {
        "-" => Ok(None),
        hex => hex::decode(hex)
            .map(Some)
            .map_err(|e| format!("{what} `{hex}` is not hex or `-`: {e}")),
    }
}

/// The digest of `KEY VALUE [HKEY=HVALUE ...]`.
fn content<'a>(fields: &mut impl Iterator<Item = &'a str>) -> Result<u64, String> {
    let key = bytes(fields.next(), "key")?;
    let value = bytes(fields.next(), "value")?;
    let mut headers = Vec::new();
    for h in fields {
        let (k, v) = h
            .split_once('=')
            .ok_or_else(|| format!("header `{h}` is not HKEY=HVALUE"))?;
        let k = bytes(Some(k), "header key")?.unwrap_or_default();
        headers.push((k, bytes(Some(v), "header value")?));
    }
    Ok(digest_parts(
        key.as_deref(),
        value.as_deref(),
        headers.iter().map(|(k, v)| (&k[..], v.as_deref())),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_PRODUCERS: &str = "\
# producer 0: two records, one acked, one failed
SEND 0 0 6b31 76616c7565 7472616365=7431
SEND 0 1 - 76
ACK 0 0 3 17
FAIL 0 1 - broker went away
CLOSED 0
SEND 1 0 6b - 
ACK 1 0 2 0
ACK 1 0 2 0
FAIL 1 - 4 error without a record
";

    #[test]
    fn reads_sends_outcomes_and_closes() {
        let r = Reported::parse(TWO_PRODUCERS).unwrap();
        assert_eq!(r.producers.len(), 2);
        let p0 = &r.producers[0];
        assert!(p0.closed);
        assert_eq!(p0.records.len(), 2);
        assert_eq!(p0.records[0].outcomes, vec![Outcome::Acked(3, 17)]);
        assert_eq!(
            p0.records[1].outcomes,
            vec![Outcome::Failed(None, "broker went away".into())]
        );
        assert_eq!(
            p0.records[0].digest,
            digest_parts(
                Some(b"k1"),
                Some(b"value"),
                [(&b"trace"[..], Some(&b"t1"[..]))].into_iter()
            )
        );
        assert_eq!(
            p0.records[1].digest,
            digest_parts(None, Some(b"v"), [].into_iter())
        );
        let p1 = &r.producers[1];
        assert!(!p1.closed);
        assert_eq!(
            p1.records[0].digest,
            digest_parts(Some(b"k"), None, [].into_iter())
        );
        assert_eq!(p1.records[0].outcomes.len(), 2);
        assert_eq!(r.unattributed, vec!["FAIL 1 - 4 error without a record"]);
    }

    #[test]
    fn a_huge_record_number_is_one_entry_and_a_clear_error() {
        let e = Reported::parse("SEND 0 99999999 - -\n").unwrap_err();
        assert!(
            e.to_string().contains("record 0 of producer 0 has no SEND"),
            "{e}"
        );
        let e = Reported::parse("SEND 0 0 - -\nACK 0 7 1 5\n").unwrap_err();
        assert!(e.to_string().contains("record 1 of producer 0"), "{e}");
    }

    #[test]
    fn history_has_a_send_per_record_its_outcomes_and_the_close() {
        let r = Reported::parse(TWO_PRODUCERS).unwrap();
        let lines: Vec<String> = r
            .history()
            .entries
            .iter()
            .map(|e| format!("{} {}", e.who, e.what))
            .collect();
        assert_eq!(
            lines,
            vec![
                "producer-0 send record #0 (send id 0) to partition 3",
                "producer-0 ack record #0 at 3@17",
                "producer-0 send record #1: rejected before batching",
                "producer-0 fail record #1: broker went away",
                "producer-0 close returned (unresolved 0, buffered 0 B, in flight 0, futures unresolved 0)",
                "producer-1 send record #0 (send id 0) to partition 2",
                "producer-1 ack record #0 at 2@0",
                "producer-1 ack record #0 at 2@0",
            ]
        );
    }

    #[test]
    fn bad_lines_name_the_line_and_the_field() {
        let cases = [
            ("SEND 0 0 zz -", "line 1: key `zz` is not hex or `-`"),
            ("SEND 0 0 -", "line 1: missing value"),
            (
                "SEND 0 0 - - nokey",
                "line 1: header `nokey` is not HKEY=HVALUE",
            ),
            ("SEND x 0 - -", "line 1: producer `x` is not a valid number"),
            ("ACK 0 0 1", "line 1: missing offset"),
            (
                "FAIL 0 0 p oops",
                "line 1: partition `p` is not a valid number",
            ),
            (
                "SEND 0 0 - -\nSEND 0 0 - -",
                "line 2: record 0 of producer 0 sent twice",
            ),
            ("SEND 0 0 - -\nPING 0 0", "line 2: unknown line kind `PING`"),
            ("SEND 0 0 - -\nPING 0 -", "line 2: unknown line kind `PING`"),
            ("SEND 0 1 - -", "record 0 of producer 0 has no SEND line"),
            ("ACK 0 0 1 1", "record 0 of producer 0 has no SEND line"),
            ("CLOSED 1", "producer 0 has no line"),
            (
                "SEND 5000 0 - -",
                "line 1: producer 5000: at most 1024 producers",
            ),
            ("# nothing\n\n", "no SEND, ACK, FAIL or CLOSED line"),
        ];
        for (text, want) in cases {
            let got = Reported::parse(text).unwrap_err().to_string();
            assert!(
                got.starts_with(want),
                "{text:?}: got `{got}`, want `{want}`"
            );
        }
    }
}
