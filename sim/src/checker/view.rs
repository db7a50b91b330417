//! The checker's reading of a run: per producer, what happened to each record it
//! was handed (from the history), and where every stored record sits (from the
//! logs). The invariant families work on this view.

use super::{CheckInput, Kind, Violation};
use crate::history::{digest_log_record, Actor, FailKind, What};
use producer_core::TopicPartition;
use std::collections::BTreeMap;
use std::time::Duration;

/// How a send resolved: acknowledged at (partition, offset), or failed.
#[derive(Clone, Debug)]
pub(super) enum Resolution {
    /// The future returned an offset.
    Acked { partition: i32, offset: i64 },
    /// The future returned an error.
    Failed { error: String, kind: FailKind },
}

/// What the checker knows of one record handed to `send`.
#[derive(Default)]
pub(super) struct SendInfo {
    /// The producer's id for the send (`None`: rejected before batching).
    pub send_id: Option<u64>,
    /// Partition the producer chose.
    pub partition: Option<i32>,
    /// Content fingerprint, to match it in the logs.
    pub digest: u64,
    /// Size of the smallest batch that holds it.
    pub batch_len: usize,
    /// When it was sent.
    pub at: Duration,
    /// Every time its future resolved (once, in a correct run).
    pub resolutions: Vec<(Duration, Resolution)>,
    /// Some produce request carried it (for real clients: assumed).
    pub attempted: bool,
    /// Produce requests that carried it (0 for real clients).
    pub attempts: u32,
    /// It was handed to `send` after `close()` returned.
    pub after_close: bool,
    /// The application dropped its future: no resolution is observed.
    pub dropped: bool,
}

impl SendInfo {
    /// The producer promised (by a definite error) that it is not in the log.
    pub fn definitely_unwritten(&self) -> bool {
        !self.resolutions.is_empty()
            && self.resolutions.iter().all(|(_, r)| {
                matches!(r, Resolution::Failed { kind, .. } if kind.definitely_unwritten())
            })
    }
}

/// One producer's part of the run.
#[derive(Default)]
pub(super) struct ProducerView {
    /// Sends by workload index.
    pub sends: Vec<SendInfo>,
    /// Workload index of each send id.
    pub by_send_id: BTreeMap<u64, usize>,
    /// `close()` returned.
    pub closed: bool,
    /// When `close()` returned.
    pub closed_at: Option<Duration>,
}

impl ProducerView {
    /// The workload index of the record with producer send id `id`.
    pub fn record_of(&self, id: u64) -> Option<usize> {
        self.by_send_id.get(&id).copied()
    }
}

/// A record in a log: who stored it and what it holds.
pub(super) struct Stored {
    /// Producer whose client id wrote it (`None`: an unknown client).
    pub producer: Option<u32>,
    /// Content fingerprint.
    pub digest: u64,
}

/// A record in a log as the order checks read it: (digest, offset, append time).
pub(super) type LogEntry = (u64, i64, Duration);

/// The whole run as the checker reads it.
pub(super) struct RunView {
    /// One view per producer.
    pub producers: Vec<ProducerView>,
    /// Every stored record, by partition and offset.
    pub stored: BTreeMap<TopicPartition, BTreeMap<i64, Stored>>,
    /// Per (producer, partition): its records in log order.
    pub written: BTreeMap<(u32, TopicPartition), Vec<LogEntry>>,
}

/// The producer number of a client id `producer-N`.
pub(super) fn producer_of(client_id: &str) -> Option<u32> {
    client_id.strip_prefix("producer-")?.parse().ok()
}

impl RunView {
    /// Reads the history's sends and outcomes and indexes the logs. Records of
    /// clients that are no producer of the run are reported as phantoms.
    pub fn read(input: &CheckInput<'_>, out: &mut Vec<Violation>) -> RunView {
        let mut producers: Vec<ProducerView> = (0..input.producers.len())
            .map(|_| ProducerView::default())
            .collect();
        for e in &input.history.entries {
            let Actor::Producer(p) = e.who else { continue };
            let Some(view) = producers.get_mut(p as usize) else {
                continue;
            };
            view.read(&e.what, e.at);
        }
        let mut stored = BTreeMap::new();
        let mut written: BTreeMap<(u32, TopicPartition), Vec<LogEntry>> = BTreeMap::new();
        for (tp, batches) in input.logs {
            let stored = stored.entry(tp.clone()).or_insert_with(BTreeMap::new);
            for b in batches {
                let producer =
                    producer_of(&b.client_id).filter(|p| (*p as usize) < producers.len());
                for r in &b.records {
                    let digest = digest_log_record(r);
                    stored.insert(r.offset, Stored { producer, digest });
                    match producer {
                        Some(p) => written.entry((p, tp.clone())).or_default().push((
                            digest,
                            r.offset,
                            b.appended_at,
                        )),
                        None => out.push(
                            Violation::new(
                                Kind::Phantom,
                                b.appended_at,
                                format!("written by unknown client `{}`", b.client_id),
                            )
                            .tp(tp.clone())
                            .offset(r.offset),
                        ),
                    }
                }
            }
        }
        RunView {
            producers,
            stored,
            written,
        }
    }
}

impl ProducerView {
    fn read(&mut self, what: &What, at: Duration) {
        match what {
            What::Send {
                index,
                send_id,
                partition,
                digest,
                batch_len,
            } => {
                if self.sends.len() <= *index {
                    self.sends.resize_with(index + 1, SendInfo::default);
                }
                let after_close = self.closed;
                let s = &mut self.sends[*index];
                s.after_close = after_close;
                s.send_id = *send_id;
                s.partition = *partition;
                s.digest = *digest;
                s.batch_len = *batch_len;
                s.at = at;
                if let Some(id) = send_id {
                    self.by_send_id.insert(*id, *index);
                }
            }
            What::Acked {
                index,
                partition,
                offset,
            } => {
                if let Some(s) = self.sends.get_mut(*index) {
                    s.resolutions.push((
                        at,
                        Resolution::Acked {
                            partition: *partition,
                            offset: *offset,
                        },
                    ));
                }
            }
            What::Failed { index, error, kind } => {
                if let Some(s) = self.sends.get_mut(*index) {
                    s.resolutions.push((
                        at,
                        Resolution::Failed {
                            error: error.clone(),
                            kind: *kind,
                        },
                    ));
                }
            }
            What::RequestSent { batches, .. } => {
                for id in batches.iter().flat_map(|b| &b.send_ids) {
                    if let Some(&i) = self.by_send_id.get(id) {
                        self.sends[i].attempted = true;
                        self.sends[i].attempts += 1;
                    }
                }
            }
            What::FutureDropped { index } => {
                if let Some(s) = self.sends.get_mut(*index) {
                    s.dropped = true;
                }
            }
            What::Closed { .. } => {
                self.closed = true;
                self.closed_at = Some(at);
            }
            _ => {}
        }
    }
}
