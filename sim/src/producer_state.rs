//! Idempotent-producer state on a partition, and how a broker answers a batch
//! from it, version by version, as Apache Kafka's `ProducerStateManager` /
//! `ProducerAppendInfo.checkSequence` and `UnifiedLog.analyzeAndValidateProducerState`
//! do (read at tags 0.11.0.0, 1.0.0, 2.4.0, 2.5.0 and 3.8.0):
//!
//! | `broker_version` | batches kept | duplicate in the window | older than the window | unknown producer, sequence != 0 | invalid record |
//! |---|---|---|---|---|---|
//! | `0.11` | 1 | NONE, original offset | 45 | 45 | 2 |
//! | `1.0` (to 1.1) | 5 | NONE, original offset | 46 DUPLICATE_SEQUENCE_NUMBER | 45 | 2 |
//! | `2.4` (2.0 to 2.4) | 5 | NONE, original offset | 45 | 59 UNKNOWN_PRODUCER_ID | 87 |
//! | `2.5` and later (default `3.8`) | 5 | NONE, original offset | 45 | accepted (KIP-360) | 87 |
//!
//! In every version: a gap in one epoch is 45, a newer epoch must start at
//! sequence 0 (else 45), an older epoch is fenced (47). A failover keeps this
//! state (followers build it as they replicate); a restart of the broker that
//! leads the partition afterwards keeps only each producer's last batch
//! ([`ProducerWindow::cut_to_last`]: Kafka's producer snapshots hold one batch
//! per producer, measured against Kafka 4.4 after a clean restart and after
//! `kill -9`, docs/fidelity.md); expiry forgets it.

use producer_core::error::code;
use producer_core::idempotence::advance_sequence;
use std::collections::VecDeque;
use std::fmt;

/// The Kafka broker version whose answers the simulated broker gives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BrokerVersion {
    /// 0.11.0: only the last batch is remembered.
    V0_11,
    /// 1.0 and 1.1: five batches; a batch older than them is a duplicate (46).
    V1_0,
    /// 2.0 to 2.4: an unknown producer with a non-zero sequence is 59.
    V2_4,
    /// 2.5 to 3.x: an unknown producer's batch is accepted (KIP-360).
    #[default]
    V3_8,
}

impl BrokerVersion {
    /// Names accepted in scenario files.
    pub const NAMES: [&'static str; 4] = ["0.11", "1.0", "2.4", "3.8"];

    /// The version written `s` (`"2.5"` to `"3.x"` mean the current behaviour).
    pub fn parse(s: &str) -> Option<BrokerVersion> {
        match s.trim() {
            "0.11" => Some(BrokerVersion::V0_11),
            "1.0" | "1.1" => Some(BrokerVersion::V1_0),
            "2.0" | "2.1" | "2.2" | "2.3" | "2.4" => Some(BrokerVersion::V2_4),
            s if s.starts_with("2.") || s.starts_with("3.") || s.starts_with("4.") => {
                Some(BrokerVersion::V3_8)
            }
            _ => None,
        }
    }

    /// Batches remembered per producer and partition.
    pub fn window(self) -> usize {
        match self {
            BrokerVersion::V0_11 => 1,
            _ => 5,
        }
    }

    /// The code for an invalid record: `InvalidRecordException` was a
    /// `CorruptRecordException` (2) until 2.4 made it INVALID_RECORD (87).
    pub fn invalid_record(self) -> i16 {
        match self {
            BrokerVersion::V0_11 | BrokerVersion::V1_0 => code::CORRUPT_MESSAGE,
            _ => code::INVALID_RECORD,
        }
    }
}

impl fmt::Display for BrokerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BrokerVersion::V0_11 => "0.11",
            BrokerVersion::V1_0 => "1.0",
            BrokerVersion::V2_4 => "2.4",
            BrokerVersion::V3_8 => "3.8",
        })
    }
}

/// What the broker remembers of one appended batch (Kafka's `BatchMetadata`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchMeta {
    /// First sequence.
    pub first: i32,
    /// Last sequence.
    pub last: i32,
    /// Offset of its first record.
    pub base_offset: i64,
    /// Its max timestamp as stored (the append time on a LogAppendTime topic):
    /// a duplicate's answer carries it as `log_append_time`.
    pub max_timestamp: i64,
}

/// Idempotence state of one producer id on one partition.
#[derive(Clone, Debug, Default)]
pub struct ProducerWindow {
    /// Current epoch.
    pub epoch: i16,
    /// The last batches, as many as the version keeps.
    pub recent: VecDeque<BatchMeta>,
}

impl ProducerWindow {
    /// Keeps only the last batch, as a broker restarting from its producer
    /// snapshot does. Returns whether anything was forgotten.
    pub fn cut_to_last(&mut self) -> bool {
        let forgotten = self.recent.len() > 1;
        while self.recent.len() > 1 {
            self.recent.pop_front();
        }
        forgotten
    }

    /// The batch stored at `base_offset`, if the window still holds it.
    pub fn at(&self, base_offset: i64) -> Option<&BatchMeta> {
        self.recent.iter().find(|b| b.base_offset == base_offset)
    }
}

/// What to do with a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Append it.
    Append,
    /// Already written at this base offset: answer NONE with it, append nothing.
    Duplicate(i64),
    /// Refuse it with this code.
    Reject(i16),
}

/// Judges a batch of `count` records stamped (`epoch`, `first_seq`) against
/// the producer's state on the partition (`None`: no state).
pub fn check(
    version: BrokerVersion,
    state: Option<&ProducerWindow>,
    epoch: i16,
    first_seq: i32,
    count: usize,
) -> Decision {
    let last_seq = advance_sequence(first_seq, count.saturating_sub(1));
    let Some(w) = state else {
        return match (first_seq, version) {
            (0, _) | (_, BrokerVersion::V3_8) => Decision::Append,
            (_, BrokerVersion::V2_4) => Decision::Reject(code::UNKNOWN_PRODUCER_ID),
            _ => Decision::Reject(code::OUT_OF_ORDER_SEQUENCE_NUMBER),
        };
    };
    if epoch < w.epoch {
        return Decision::Reject(code::INVALID_PRODUCER_EPOCH);
    }
    if epoch > w.epoch {
        return if first_seq == 0 {
            Decision::Append
        } else {
            Decision::Reject(code::OUT_OF_ORDER_SEQUENCE_NUMBER)
        };
    }
    if let Some(b) = w
        .recent
        .iter()
        .find(|b| b.first == first_seq && b.last == last_seq)
    {
        return Decision::Duplicate(b.base_offset);
    }
    let expected = w.recent.back().map_or(0, |b| advance_sequence(b.last, 1));
    if first_seq == expected {
        return Decision::Append;
    }
    let oldest = w.recent.front().map_or(0, |b| b.first);
    let older_than_window = last_seq < oldest && oldest != 0;
    if version == BrokerVersion::V1_0 && older_than_window {
        Decision::Reject(code::DUPLICATE_SEQUENCE_NUMBER)
    } else {
        Decision::Reject(code::OUT_OF_ORDER_SEQUENCE_NUMBER)
    }
}

/// An appended batch as the producer's state records it.
#[derive(Clone, Copy, Debug)]
pub struct Appended {
    /// Producer epoch.
    pub epoch: i16,
    /// Base sequence.
    pub first_seq: i32,
    /// Records.
    pub count: usize,
    /// Offset of its first record.
    pub base_offset: i64,
    /// Max timestamp as stored.
    pub max_timestamp: i64,
}

/// Records an appended batch in the producer's state.
pub fn record(version: BrokerVersion, state: &mut ProducerWindow, b: Appended) {
    if b.epoch != state.epoch {
        *state = ProducerWindow {
            epoch: b.epoch,
            ..ProducerWindow::default()
        };
    }
    let last = advance_sequence(b.first_seq, b.count.saturating_sub(1));
    state.recent.push_back(BatchMeta {
        first: b.first_seq,
        last,
        base_offset: b.base_offset,
        max_timestamp: b.max_timestamp,
    });
    while state.recent.len() > version.window() {
        state.recent.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BrokerVersion::*;

    fn window(version: BrokerVersion, batches: &[(i32, usize)]) -> ProducerWindow {
        let mut w = ProducerWindow::default();
        let mut offset = 0;
        for &(seq, n) in batches {
            let b = Appended {
                epoch: 0,
                first_seq: seq,
                count: n,
                base_offset: offset,
                max_timestamp: 7,
            };
            record(version, &mut w, b);
            offset += n as i64;
        }
        w
    }

    #[test]
    fn an_unknown_producer_with_a_sequence_is_answered_by_version() {
        assert_eq!(check(V3_8, None, 0, 7, 1), Decision::Append, "KIP-360");
        assert_eq!(
            check(V2_4, None, 0, 7, 1),
            Decision::Reject(code::UNKNOWN_PRODUCER_ID)
        );
        assert_eq!(
            check(V1_0, None, 0, 7, 1),
            Decision::Reject(code::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        assert_eq!(
            check(V0_11, None, 0, 7, 1),
            Decision::Reject(code::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        for v in [V0_11, V1_0, V2_4, V3_8] {
            assert_eq!(check(v, None, 0, 0, 3), Decision::Append, "{v}");
        }
    }

    #[test]
    fn duplicates_in_the_window_get_their_original_offset_in_every_version() {
        for v in [V0_11, V1_0, V2_4, V3_8] {
            let w = window(v, &[(0, 2), (2, 3)]);
            assert_eq!(check(v, Some(&w), 0, 2, 3), Decision::Duplicate(2), "{v}");
            assert_eq!(check(v, Some(&w), 0, 5, 1), Decision::Append, "{v}");
            assert_eq!(
                check(v, Some(&w), 0, 6, 1),
                Decision::Reject(code::OUT_OF_ORDER_SEQUENCE_NUMBER),
                "{v}: a gap"
            );
        }
        // 0.11 keeps one batch: the one before the last is no longer known.
        let w = window(V0_11, &[(0, 2), (2, 3)]);
        assert_eq!(
            check(V0_11, Some(&w), 0, 0, 2),
            Decision::Reject(code::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
    }

    #[test]
    fn a_batch_older_than_the_window_is_a_duplicate_only_for_1_0() {
        let batches: Vec<(i32, usize)> = (0..6).map(|i| (i, 1)).collect();
        let w = window(V1_0, &batches);
        assert_eq!(w.recent.len(), 5);
        assert_eq!(
            check(V1_0, Some(&w), 0, 0, 1),
            Decision::Reject(code::DUPLICATE_SEQUENCE_NUMBER)
        );
        let w = window(V3_8, &batches);
        assert_eq!(
            check(V3_8, Some(&w), 0, 0, 1),
            Decision::Reject(code::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
    }

    #[test]
    fn epochs_fence_old_producers_and_restart_sequences() {
        let w = window(V3_8, &[(0, 2)]);
        let mut newer = w.clone();
        newer.epoch = 1;
        assert_eq!(
            check(V3_8, Some(&newer), 0, 2, 1),
            Decision::Reject(code::INVALID_PRODUCER_EPOCH)
        );
        assert_eq!(check(V3_8, Some(&w), 1, 0, 1), Decision::Append);
        assert_eq!(
            check(V3_8, Some(&w), 1, 2, 1),
            Decision::Reject(code::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
    }

    #[test]
    fn versions_parse_from_their_names() {
        assert_eq!(BrokerVersion::parse("0.11"), Some(V0_11));
        assert_eq!(BrokerVersion::parse("1.1"), Some(V1_0));
        assert_eq!(BrokerVersion::parse("2.3"), Some(V2_4));
        assert_eq!(BrokerVersion::parse("2.5"), Some(V3_8));
        assert_eq!(BrokerVersion::parse("3.8"), Some(V3_8));
        assert_eq!(BrokerVersion::parse("0.10"), None);
        for n in BrokerVersion::NAMES {
            assert_eq!(BrokerVersion::parse(n).unwrap().to_string(), n);
        }
    }
}
