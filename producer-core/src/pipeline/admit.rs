//! Admitting one record into the produce set, under the lock `send` takes once:
//! its partition, its send id, and the buffer memory it allocates.
//!
//! Memory is charged for what is allocated, as the Java client's `BufferPool`
//! charges `batch.size` per batch: a record that opens a batch charges the
//! batch's whole buffer ([`ProduceSet::memory_for`]), a record that joins one
//! charges nothing. So `buffer_memory` bounds the bytes the producer really
//! holds, however many partitions the records spread over.
//!
//! [`ProduceSet::memory_for`]: crate::produce_set::ProduceSet::memory_for

use super::{Accumulator, Shared};
use crate::clock::Instant;
use crate::error::Error;
use crate::produce_set::{Appended, Grant, TopicPartition};
use crate::record::Record;

/// What one admission attempt did.
#[derive(Debug)]
pub(crate) enum Admit {
    /// The record is in the produce set.
    Added {
        /// Where it went.
        appended: Appended,
        /// Its send id.
        send_id: u64,
    },
    /// It needs this many more bytes of buffer memory than the send holds.
    NeedMemory(usize),
}

/// Adds `record` to `tp` if the memory it allocates is available: taken from
/// the pool without waiting, on top of the `reserved` permits the send already
/// holds. On `Added`, `reserved` is 0 (the batch owns the charge, surplus
/// permits went back); on `NeedMemory`, the send waits for that much and tries
/// again.
#[inline]
pub(crate) fn admit(
    shared: &Shared,
    accum: &mut Accumulator,
    tp: &TopicPartition,
    record: &Record,
    timestamp: i64,
    now: Instant,
    reserved: &mut usize,
) -> Result<Admit, Error> {
    let send_id = accum.next_send_id;
    let (mut charged, mut missing) = (0, 0);
    let added = accum
        .produce_set
        .try_add(tp, record, timestamp, now, send_id, |need| {
            if let Some(buffer) = shared.spares.take(need) {
                // It brings its own charge: what the send reserved is surplus.
                return Grant::Reused(buffer);
            }
            let more = need.saturating_sub(*reserved);
            let take = || {
                shared.memory.try_acquire_many(more as u32).is_ok_and(|p| {
                    p.forget();
                    true
                })
            };
            // Kept buffers give their charge back before a send waits for it.
            let granted = more == 0 || take() || {
                let kept = shared.spares.drain();
                kept > 0 && {
                    shared.memory.add_permits(kept);
                    take()
                }
            };
            if granted {
                charged = need;
                Grant::Fresh
            } else {
                missing = more;
                Grant::Refused
            }
        })?;
    let Some(appended) = added else {
        return Ok(Admit::NeedMemory(missing));
    };
    // Permits beyond the charge (reserved for a batch the record did not
    // need to open) go back; the charge itself now belongs to the batch.
    let surplus = reserved.saturating_sub(charged);
    if surplus > 0 {
        shared.memory.add_permits(surplus);
    }
    *reserved = 0;
    accum.next_send_id += 1;
    Ok(Admit::Added { appended, send_id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// Many partitions, one small record each: with per-record charging (the
    /// old behaviour) all 1,000 records were admitted and their batches
    /// allocated 16 MB against a 160 KiB budget. Now the batches' allocated
    /// capacity, measured, never passes the budget.
    #[test]
    fn many_partitions_of_small_records_stay_within_buffer_memory() {
        let config = Config {
            bootstrap: vec!["b:9092".into()],
            batch_size: 16 * 1024,
            max_message_bytes: 16 * 1024,
            buffer_memory: 160 * 1024,
            ..Config::default()
        };
        config.validate().unwrap();
        let shared = Shared::new(config, None);
        let mut accum = shared.accum();
        let now = Instant::START;
        let record = Record::new(vec![7u8; 10]);
        let (mut admitted, mut refused) = (0, 0);
        for p in 0..1000 {
            let tp = TopicPartition::new("t", p);
            let mut reserved = 0;
            match admit(&shared, &mut accum, &tp, &record, 0, now, &mut reserved).unwrap() {
                Admit::Added { .. } => admitted += 1,
                Admit::NeedMemory(n) => {
                    assert_eq!(n, 16 * 1024);
                    refused += 1;
                }
            }
            let allocated = accum.produce_set.allocated_bytes();
            let charged = shared.config.buffer_memory - shared.memory.available_permits();
            assert_eq!(allocated, charged, "the charge is the allocation");
            assert!(
                allocated <= shared.config.buffer_memory,
                "{allocated} B allocated"
            );
        }
        assert_eq!((admitted, refused), (10, 990));
        // Records joining an open batch allocate nothing and are still admitted.
        let tp = TopicPartition::new("t", 0);
        let mut reserved = 0;
        let joined = admit(&shared, &mut accum, &tp, &record, 0, now, &mut reserved).unwrap();
        assert!(matches!(joined, Admit::Added { .. }));
    }

    #[test]
    fn permits_held_beyond_the_need_go_back_to_the_pool() {
        let config = Config {
            bootstrap: vec!["b:9092".into()],
            ..Config::default()
        };
        let shared = Shared::new(config, None);
        let before = shared.memory.available_permits();
        let mut accum = shared.accum();
        let (tp, now) = (TopicPartition::new("t", 0), Instant::START);
        let record = Record::new("x");
        let mut reserved = 0;
        admit(&shared, &mut accum, &tp, &record, 0, now, &mut reserved).unwrap();
        let after_first = shared.memory.available_permits();
        assert_eq!(before - after_first, 16 * 1024);
        // A send that waited for a whole batch but then joined an open one.
        shared.memory.try_acquire_many(100).unwrap().forget();
        let mut reserved = 100;
        admit(&shared, &mut accum, &tp, &record, 0, now, &mut reserved).unwrap();
        assert_eq!(reserved, 0);
        assert_eq!(shared.memory.available_permits(), after_first);
    }
}
