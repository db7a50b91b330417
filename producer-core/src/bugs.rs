//! Deliberately broken behaviours, for the harness's self-tests: a harness is
//! only trusted once it has failed a broken producer.
//!
//! This file owns every injected behaviour. The rest of producer-core asks a
//! [`Bugs`] set (one query per bug) and uses the small hook types below; it never
//! names the `bug-injection` feature. With the feature on (prodsim's `selftest/`
//! workspace turns it on), `Bugs` holds one switch per bug, all off by default,
//! chosen at run time through [`crate::Config::bugs`]. With the feature off (every
//! shipping build, and producer-core's own tests) `Bugs` is a zero-sized type
//! whose queries are `const fn`s returning false, so the broken branches compile
//! away and no type changes its layout.

/// The list of injectable bugs, handed to `$m` (one definition for both builds).
macro_rules! every_bug {
    ($m:ident) => {
        $m! {
            /// Sarama #1969 / #3005: per-send state (the chosen partition) is
            /// written into a cell shared by every record with the same value
            /// buffer, and read back when the send resolves. Producers sharing a
            /// record race on it.
            per_send_state_in_record,
            /// IBM/sarama #1206, rskafka #124: `would_overflow` lets a batch grow
            /// one byte past its limit.
            overflow_off_by_one,
            /// IBM/sarama #3354 / #3362: an epoch bump keeps the old sequence
            /// numbers instead of restarting every partition at 0.
            sequence_not_reset_on_bump,
            /// IBM/sarama #2619 / #3422: a failed batch is sent again behind
            /// newer batches of its partition instead of before them.
            retry_behind_newer,
            /// IBM/sarama #2378 / #3645 (the other side of a hang): `close()`
            /// returns at once, while batches are still buffered or in flight;
            /// they resolve after close returned, or never.
            close_returns_early,
            /// A non-retriable error on a batch that an earlier attempt may have
            /// written is reported as the definite `Error::Broker { code }`
            /// instead of `Error::OutcomeUnknown` (prodsim before issue 14).
            definite_error_after_maybe_written,
            /// DUPLICATE_SEQUENCE_NUMBER is acknowledged with invented offsets,
            /// `base_offset + index` from the response's base offset (-1, 0, 1,
            /// ... for the usual -1), instead of no offsets (prodsim before
            /// issue 14).
            duplicate_answer_offsets,
            /// A batch header field is wrong on the wire: `lastOffsetDelta` is
            /// the record count instead of count - 1. The CRC is computed after
            /// it, so the batch still passes a CRC check.
            batch_header_wrong,
            /// The idempotent producer ignores `max_in_flight`: more than 5
            /// requests per broker connection can be unanswered, past the 5
            /// batches a broker remembers per producer and partition.
            in_flight_over_window,
            /// The sender's timer slots take the earliest deadline *before*
            /// dropping the ones that passed, so a passed deadline (a backoff
            /// that ended, a linger that waits on a leader) hides a later one
            /// and the sender sleeps with work to do until some other event
            /// (prodsim before this session: retries waited ~29 s for the
            /// delivery timeout in swarm seeds 12 and 13).
            passed_deadline_hides_later,
            /// KAFKA-8350 / IBM/sarama #2142 / librdkafka #1716 family: the
            /// compression-ratio estimate follows good guesses down but never
            /// corrects up after a miss, and a sealed batch is judged by the
            /// estimate instead of its real compressed size, so batches that
            /// compress worse than the earlier ones go on the wire over the
            /// producer's own limit (and the broker refuses them).
            ratio_never_corrects,
            /// A split (KIP-126, KAFKA-3995) keeps the first half of a batch the
            /// broker found too large and drops the second: its records never
            /// resolve.
            split_drops_tail,
            /// KAFKA-8325: splitting a batch releases the original's buffer
            /// memory, and the halves release it again when they resolve.
            split_double_release,
            /// The second half of a split batch keeps the first half's base
            /// sequence instead of its own (not renumbered): under idempotence
            /// the broker sees a sequence range reused for other records.
            split_same_sequence,
            /// KIP-91's reason for keeping in-flight batches until their answer:
            /// a batch whose delivery timeout passes while an attempt is still
            /// in flight is reported from its *earlier* attempts only, so a
            /// first attempt in flight (no earlier attempt at all) is called
            /// definitely not written, though the broker may still append it.
            expiry_trusts_earlier_attempts,
            /// Deep (a retry, another retry, an epoch bump, in that order): a
            /// batch already sent twice is restamped after an epoch bump with
            /// the new epoch but its *old* base sequence, as if a veteran
            /// retry's sequence were still the broker's (IBM/sarama #3354 /
            /// #3362 family: sequence state carried across a bump).
            veteran_retry_keeps_sequence,
            /// Deep (an epoch bump, a retry restamped into the new epoch that
            /// fails until it has been sent three times, a second bump): at a
            /// later bump, partitions whose queued retries were already
            /// restamped once keep their sequence counters ("those batches are
            /// in the new numbering already"), so the retries start the next
            /// epoch past 0 (IBM/sarama #3362: sequences kept across a bump).
            second_bump_keeps_retry_sequences,
            /// Deep (an epoch bump, a batch refused twice, then a Metadata
            /// answer that moves its partition's leader): the retry queue is
            /// rebuilt for the new leader from the batches on their first
            /// retry; those sent twice or more are dropped and never resolve
            /// (the kafkajs 2.2.4 family: records lost when a leader move meets
            /// batches that are being retried).
            leader_move_drops_queued_retries,
            /// Deep (an epoch bump, a batch refused until it has been sent
            /// three times, an OUT_OF_ORDER_SEQUENCE_NUMBER answer to it): a
            /// sequence error on a veteran retry after a bump is taken for the
            /// broker already having the batch (as DUPLICATE_SEQUENCE_NUMBER)
            /// and acknowledged without offsets, though nothing was written
            /// (IBM/sarama #1430: the client's own view of its sequences
            /// trusted over the broker's answer).
            out_of_order_retry_taken_as_duplicate,
            /// Deep (an epoch bump, a batch refused twice, then its partition's
            /// leader moves): a veteran retry of a partition whose leader moved
            /// waits behind the newer batches, as if the new leader started a
            /// fresh queue (IBM/sarama #2619 / #3422: retries reordered on a
            /// leader change).
            moved_veteran_retry_behind_newer,
            /// Deep (an epoch bump, an answer lost so the batch may be written,
            /// then NOT_LEADER_OR_FOLLOWER on its third attempt or later): a
            /// batch refused by a moving leader fails with that definite error,
            /// forgetting the attempt whose answer never came
            /// (`definite_error_after_maybe_written`, only after a bump and a
            /// leader chase).
            leader_chase_forgets_maybe_written,
            /// Deep (an epoch bump, an answer lost so a batch may be written,
            /// a second bump): at a second or later bump, the batches of unknown
            /// outcome are given up as timed out, a definite error, instead of
            /// as of unknown outcome ("the broker lost our state twice: nothing
            /// of that epoch is there"), though an attempt whose answer was lost
            /// may be in the log (KIP-91's reason to keep them maybe written).
            second_bump_gives_up_as_unwritten,
        }
    };
}

#[cfg(feature = "bug-injection")]
mod imp {
    use crate::record::Record;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    macro_rules! bug_set {
        ($( $(#[$doc:meta])* $name:ident, )*) => {
            /// Which known bug classes to reproduce. All off by default.
            #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
            pub struct Bugs {
                $( $name: bool, )*
            }

            impl Bugs {
                /// Every bug, by name, for tests that loop over them.
                pub const NAMES: &'static [&'static str] = &[$( stringify!($name), )*];

                /// The set with only the named bug switched on; `None` for an
                /// unknown name (and always without the `bug-injection` feature).
                pub fn only(name: &str) -> Option<Bugs> {
                    Bugs::default().with(name)
                }

                /// This set with the named bug switched on as well.
                pub fn with(mut self, name: &str) -> Option<Bugs> {
                    match name {
                        $( stringify!($name) => self.$name = true, )*
                        _ => return None,
                    }
                    Some(self)
                }

                $(
                    $(#[$doc])*
                    pub const fn $name(&self) -> bool {
                        self.$name
                    }
                )*
            }
        };
    }

    every_bug!(bug_set);

    thread_local! {
        /// The `per_send_state_in_record` cells, keyed by (address, length) of a
        /// record's value buffer: every shallow clone of a record shares one cell,
        /// a deep clone gets its own. A simulated world runs on one thread, so
        /// the producers of one world share the table and parallel worlds do not.
        /// Only looked up, never iterated.
        static CELLS: RefCell<BTreeMap<(usize, usize), i32>> = const { RefCell::new(BTreeMap::new()) };
    }

    /// A send's handle on its record's shared cell (the `per_send_state_in_record`
    /// bug), like Sarama's `ProducerMessage.Partition`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub(crate) struct SendCell(Option<(usize, usize)>);

    impl SendCell {
        /// Writes `partition` into the cell of `record` when the bug is on and
        /// the record has a non-empty value; otherwise no cell.
        pub(crate) fn write(bugs: Bugs, record: &Record, partition: i32) -> SendCell {
            let key = record
                .value()
                .filter(|v| bugs.per_send_state_in_record && !v.is_empty())
                .map(|v| (v.as_ptr() as usize, v.len()));
            if let Some(key) = key {
                CELLS.with(|c| c.borrow_mut().insert(key, partition));
            }
            SendCell(key)
        }

        /// The partition a send reports: read back from the shared cell,
        /// whoever wrote it last (`partition` when there is no cell).
        pub(crate) fn read_back(&self, partition: i32) -> i32 {
            self.0
                .and_then(|key| CELLS.with(|c| c.borrow().get(&key).copied()))
                .unwrap_or(partition)
        }
    }
}

#[cfg(not(feature = "bug-injection"))]
mod imp {
    use crate::record::Record;

    macro_rules! bug_set {
        ($( $(#[$doc:meta])* $name:ident, )*) => {
            /// Which known bug classes to reproduce: none, in this build (the
            /// `bug-injection` feature is off). A zero-sized type.
            #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
            pub struct Bugs {
                _none: (),
            }

            impl Bugs {
                /// Every bug, by name (none can be switched on in this build).
                pub const NAMES: &'static [&'static str] = &[$( stringify!($name), )*];

                /// Always `None`: this build has no injected bugs.
                pub fn only(name: &str) -> Option<Bugs> {
                    Bugs::default().with(name)
                }

                /// Always `None`: this build has no injected bugs.
                pub fn with(self, _name: &str) -> Option<Bugs> {
                    None
                }

                $(
                    $(#[$doc])*
                    ///
                    /// Always false in this build.
                    #[inline(always)]
                    pub const fn $name(&self) -> bool {
                        false
                    }
                )*
            }
        };
    }

    every_bug!(bug_set);

    /// No shared cell in this build: a zero-sized type.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub(crate) struct SendCell(());

    impl SendCell {
        /// No cell.
        #[inline(always)]
        pub(crate) fn write(_bugs: Bugs, _record: &Record, _partition: i32) -> SendCell {
            SendCell(())
        }

        /// `partition` unchanged.
        #[inline(always)]
        pub(crate) fn read_back(&self, partition: i32) -> i32 {
            partition
        }
    }
}

pub use imp::Bugs;
pub(crate) use imp::SendCell;

/// The deep classes: each needs three or more things to happen in order (an
/// epoch bump, retries, a lost answer, a leader move) before anything is
/// wrong, as the real ones do. Random swarm search needs a median of 50 runs
/// or more to find each (bench `--only=ttff`), which is what lets the
/// time-to-first-failure benchmark tell guided search from random.
pub const DEEP: &[&str] = &[
    "veteran_retry_keeps_sequence",
    "second_bump_keeps_retry_sequences",
    "leader_move_drops_queued_retries",
    "out_of_order_retry_taken_as_duplicate",
    "moved_veteran_retry_behind_newer",
    "leader_chase_forgets_maybe_written",
    "second_bump_gives_up_as_unwritten",
];

#[cfg(all(test, feature = "bug-injection"))]
mod tests {
    use super::*;
    use crate::record::Record;

    #[test]
    fn every_name_switches_on_exactly_its_own_bug() {
        for name in Bugs::NAMES {
            let b = Bugs::only(name).expect("known name");
            assert_ne!(b, Bugs::default(), "{name}");
        }
        assert_eq!(Bugs::only("no_such_bug"), None);
        assert!(Bugs::only("retry_behind_newer")
            .unwrap()
            .retry_behind_newer());
        assert!(!Bugs::only("retry_behind_newer")
            .unwrap()
            .overflow_off_by_one());
    }

    #[test]
    fn shallow_clones_share_a_cell_and_deep_clones_do_not() {
        let bugs = Bugs::only("per_send_state_in_record").unwrap();
        let r = Record::new("shared payload");
        let shallow = r.clone();
        let deep = r.deep_clone();
        let a = SendCell::write(bugs, &r, 1);
        let d = SendCell::write(bugs, &deep, 7);
        let _ = SendCell::write(bugs, &shallow, 4);
        assert_eq!(a.read_back(1), 4, "overwritten by the clone");
        assert_eq!(d.read_back(7), 7, "a deep clone has its own");
        let off = SendCell::write(Bugs::default(), &r, 9);
        assert_eq!(off.read_back(9), 9, "bug off: no cell");
        let empty = SendCell::write(bugs, &Record::new(""), 2);
        assert_eq!(empty.read_back(2), 2, "empty value: no cell");
    }
}

#[cfg(all(test, not(feature = "bug-injection")))]
mod tests {
    use super::*;

    #[test]
    fn without_the_feature_bugs_is_zero_sized_and_always_off() {
        assert_eq!(std::mem::size_of::<Bugs>(), 0);
        assert_eq!(std::mem::size_of::<SendCell>(), 0);
        for name in Bugs::NAMES {
            assert_eq!(Bugs::only(name), None, "{name}");
        }
        assert!(!Bugs::default().retry_behind_newer());
    }
}
