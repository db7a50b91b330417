//! Deliberately broken behaviours, compiled only with the `bug-injection`
//! feature and switched on one by one at run time through [`crate::Config`].
//! prodsim's self-tests turn each on and require the properties or scenarios to
//! catch it: a harness is only trusted once it has failed a broken producer.

use std::sync::{Arc, Mutex};

/// Which known bug classes to reproduce. All off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bugs {
    /// Sarama #1969 / #3005: per-send state (the chosen partition) is written
    /// into a cell shared by every clone of the caller's record, and read back
    /// when the send resolves. Producers sharing a record race on it.
    pub per_send_state_in_record: bool,
    /// IBM/sarama #1206, rskafka #124: `would_overflow` lets a batch grow one byte
    /// past its limit.
    pub overflow_off_by_one: bool,
    /// IBM/sarama #3354 / #3362: an epoch bump keeps the old sequence numbers
    /// instead of restarting every partition at 0.
    pub sequence_not_reset_on_bump: bool,
    /// IBM/sarama #2619 / #3422: a failed batch is sent again behind newer
    /// batches of its partition instead of before them.
    pub retry_behind_newer: bool,
}

impl Bugs {
    /// Every bug, by name, for tests that loop over them.
    pub const NAMES: [&'static str; 4] = [
        "per_send_state_in_record",
        "overflow_off_by_one",
        "sequence_not_reset_on_bump",
        "retry_behind_newer",
    ];

    /// The set with only the named bug switched on.
    pub fn only(name: &str) -> Option<Bugs> {
        let mut b = Bugs::default();
        match name {
            "per_send_state_in_record" => b.per_send_state_in_record = true,
            "overflow_off_by_one" => b.overflow_off_by_one = true,
            "sequence_not_reset_on_bump" => b.sequence_not_reset_on_bump = true,
            "retry_behind_newer" => b.retry_behind_newer = true,
            _ => return None,
        }
        Some(b)
    }
}

/// The mutable cell a buggy producer writes into a record (like Sarama's
/// `ProducerMessage.Partition`). Shallow clones of a record share it; deep clones
/// get their own. It takes no part in equality or hashing.
#[derive(Clone, Default)]
pub struct SendScratch(pub(crate) Arc<Mutex<Option<i32>>>);

impl SendScratch {
    pub(crate) fn fresh() -> Self {
        SendScratch::default()
    }

    pub(crate) fn set(&self, partition: i32) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(partition);
    }

    pub(crate) fn get(&self) -> Option<i32> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for SendScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SendScratch")
    }
}

impl PartialEq for SendScratch {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for SendScratch {}

impl std::hash::Hash for SendScratch {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}
