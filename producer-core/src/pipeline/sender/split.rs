//! Splitting a batch a broker rejected as too large (MESSAGE_TOO_LARGE), as the
//! Java client's `RecordAccumulator.splitAndReenqueue` does: the records are
//! re-encoded into smaller batches that keep the original's sequence range, so
//! the broker sees no gap, and resolve on their own.

use super::batches::SentBatch;
use crate::batch::{decode_records, BatchBuilder, ProducerStamp};
use crate::bugs::Bugs;
use crate::compression::Compression;
use crate::idempotence::advance_sequence;

/// The two halves (by record count) of a batch of at least two records; `None`
/// for a single record or bytes this encoder did not write. Halving always
/// makes progress: a batch still too large is split again, down to single
/// records, which then fail on their own.
pub(crate) fn halves(
    batch: &SentBatch,
    bugs: Bugs,
    compression: Compression,
) -> Option<(SentBatch, SentBatch)> {
    let records = decode_records(&batch.bytes)?;
    if records.len() < 2 || records.len() != batch.send_ids.len() {
        return None;
    }
    let mid = records.len() / 2;
    let first_stamp = batch.stamp;
    let second_stamp = ProducerStamp {
        base_sequence: if batch.stamp.base_sequence < 0 || bugs.split_same_sequence() {
            batch.stamp.base_sequence
        } else {
            advance_sequence(batch.stamp.base_sequence, mid)
        },
        ..batch.stamp
    };
    let part = |range: std::ops::Range<usize>, stamp: ProducerStamp, memory: usize| {
        // Sized exactly: the part's allocation is its encoded length.
        let mut exact = BatchBuilder::new(0);
        for (r, ts) in &records[range.clone()] {
            exact.push(r, *ts);
        }
        let mut builder = BatchBuilder::new(exact.len())
            .with_bugs(bugs)
            .with_compression(compression);
        for (r, ts) in &records[range.clone()] {
            builder.push(r, *ts);
        }
        let uncompressed = builder.len();
        Some(SentBatch {
            tp: batch.tp.clone(),
            bytes: builder.seal(stamp)?,
            uncompressed,
            stamp,
            send_ids: batch.send_ids[range.clone()].into(),
            completion: batch.completion.clone(),
            first_index: batch.first_index + range.start as u32,
            split_part: true,
            memory,
            created: batch.created,
            attempts: 0,
            maybe_written: false,
            resolved: false,
        })
    };
    // The original's charge is shared between the halves (in proportion to
    // their records): splitting frees the original bytes as the halves appear.
    let first_memory = batch.memory * mid / records.len();
    Some((
        part(0..mid, first_stamp, first_memory)?,
        part(
            mid..records.len(),
            second_stamp,
            batch.memory - first_memory,
        )?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::BatchCompletion;
    use crate::produce_set::TopicPartition;
    use crate::record::Record;

    fn batch_of(n: usize, stamp: ProducerStamp) -> SentBatch {
        let mut b = BatchBuilder::new(0);
        for i in 0..n {
            b.push(&Record::new(format!("value-{i}")), 100 + i as i64);
        }
        let uncompressed = b.len();
        SentBatch {
            tp: TopicPartition::new("t", 0),
            bytes: b.seal(stamp).unwrap(),
            uncompressed,
            stamp,
            send_ids: (10..10 + n as u64).collect::<Vec<_>>().into(),
            completion: BatchCompletion::new(),
            first_index: 0,
            split_part: false,
            memory: 1000,
            created: crate::clock::Instant::START,
            attempts: 3,
            maybe_written: false,
            resolved: false,
        }
    }

    #[test]
    fn halves_keep_the_records_the_sequence_range_and_the_memory() {
        let stamp = ProducerStamp {
            producer_id: 7,
            producer_epoch: 2,
            base_sequence: 40,
        };
        let whole = batch_of(5, stamp);
        let (a, b) = halves(&whole, Bugs::default(), Compression::None).unwrap();
        assert_eq!(
            (&a.send_ids[..], &b.send_ids[..]),
            (&[10, 11][..], &[12, 13, 14][..])
        );
        assert_eq!((a.stamp.base_sequence, b.stamp.base_sequence), (40, 42));
        assert_eq!((a.first_index, b.first_index), (0, 2));
        assert_eq!(a.memory + b.memory, whole.memory);
        assert_eq!((a.attempts, b.attempts), (0, 0), "a split spends no retry");
        let back: Vec<_> = [&a, &b]
            .iter()
            .flat_map(|p| decode_records(&p.bytes).unwrap())
            .collect();
        assert_eq!(back, decode_records(&whole.bytes).unwrap());
        assert!(halves(&batch_of(1, stamp), Bugs::default(), Compression::None).is_none());
        let plain = batch_of(2, ProducerStamp::NONE);
        let (_, b) = halves(&plain, Bugs::default(), Compression::None).unwrap();
        assert_eq!(b.stamp, ProducerStamp::NONE);
    }
}
