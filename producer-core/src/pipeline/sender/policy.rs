//! What an answer to one batch attempt means: written, sent again, split, or
//! failed with which error, and whether the epoch must be bumped.
//!
//! One pure function, [`decide`], holds the whole error-code policy. It follows
//! the Java client (`Sender.completeBatch`, `Sender.canRetry`,
//! `TransactionManager.canRetry` / `handleFailedBatch` for an idempotent,
//! non-transactional producer); the table test at the bottom names the Java
//! behaviour for every code, and the few places where prodsim differs say why.

use crate::bugs::Bugs;
use crate::error::Error;
use crate::wire::ErrorCode;

/// What came back for one batch of one produce request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The partition's entry in the response.
    Answered {
        /// Its error code.
        code: ErrorCode,
        /// Its base offset (-1 when the broker has none).
        base_offset: i64,
    },
    /// No answer: the connection closed, the request timed out, the response
    /// could not be read or did not mention the partition.
    Missing,
}

/// How much retrying the batch has left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Budget {
    /// It may be sent again.
    Left,
    /// It was sent `retries + 1` times.
    Exhausted,
    /// Its `delivery_timeout` has passed.
    Expired,
}

/// The batch and producer facts the policy needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Attempt {
    /// The producer is idempotent (sequence errors have their own rules).
    pub idempotent: bool,
    /// Records in the batch (a batch of one cannot be split).
    pub records: usize,
    /// An earlier attempt got no definite answer: the broker may hold the batch.
    pub maybe_written: bool,
    /// Whether it may be sent again.
    pub budget: Budget,
    /// An earlier batch of the same in-flight window already failed, which
    /// explains an OUT_OF_ORDER_SEQUENCE_NUMBER on this one.
    pub window_had_failed: bool,
    /// Injected bugs (`definite_error_after_maybe_written`, `duplicate_answer_offsets`).
    pub bugs: Bugs,
}

/// What happens to the batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Acknowledge every record; `None` when the broker gave no offsets.
    Ack {
        /// Offset of the first record, if known.
        base_offset: Option<i64>,
    },
    /// Send it again (after the retry backoff, before newer batches).
    Retry,
    /// Split it in two and send the halves, without spending a retry.
    Split,
    /// Fail every record with this error.
    Fail(Error),
}

/// The verdict on one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    /// What happens to the batch.
    pub outcome: Outcome,
    /// After this attempt the broker may hold the batch.
    pub maybe_written: bool,
    /// Sequences can no longer be trusted: bump the epoch before sending more.
    pub bump: bool,
    /// The producer's metadata is likely stale: ask again.
    pub refresh_metadata: bool,
}

/// How the Java client classifies a code (the `RetriableException` hierarchy
/// and the special cases of `Sender.completeBatch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// DUPLICATE_SEQUENCE_NUMBER: written before; success without offsets.
    Duplicate,
    /// MESSAGE_TOO_LARGE: split when there is more than one record.
    TooLarge,
    /// A `RetriableException`.
    Retriable {
        /// An `InvalidMetadataException`: the client refreshes metadata.
        metadata: bool,
        /// The leader may have written the batch before answering.
        maybe_appended: bool,
    },
    /// OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_EPOCH:
    /// retried by an idempotent producer, with an epoch bump.
    Sequence,
    /// Anything else: the batch fails.
    Fatal,
}

/// The Java client's class of `code`.
fn classify(code: ErrorCode) -> Class {
    use ErrorCode as C;
    let retriable = |metadata, maybe_appended| Class::Retriable {
        metadata,
        maybe_appended,
    };
    match code {
        C::DuplicateSequenceNumber => Class::Duplicate,
        C::MessageTooLarge => Class::TooLarge,
        // InvalidMetadataException subclasses.
        C::UnknownTopicOrPartition
        | C::LeaderNotAvailable
        | C::NotLeaderOrFollower
        | C::ReplicaNotAvailable
        | C::NetworkException
        | C::KafkaStorageError
        | C::FencedLeaderEpoch
        | C::UnknownLeaderEpoch => retriable(true, false),
        // Other RetriableException subclasses.
        C::CorruptMessage | C::NotEnoughReplicas => retriable(false, false),
        C::RequestTimedOut | C::NotEnoughReplicasAfterAppend => retriable(false, true),
        C::OutOfOrderSequenceNumber | C::UnknownProducerId | C::InvalidProducerEpoch => {
            Class::Sequence
        }
        _ => Class::Fatal,
    }
}

/// Decides what `answer` means for a batch described by `attempt`.
pub(crate) fn decide(answer: Answer, attempt: &Attempt) -> Decision {
    let (code, base_offset) = match answer {
        Answer::Missing => return retry_or_give_up(attempt, true, false, true, None),
        Answer::Answered { code, base_offset } => (code, base_offset),
    };
    if code == ErrorCode::None {
        return ack(attempt, Some(base_offset));
    }
    match classify(code) {
        Class::Duplicate if attempt.bugs.duplicate_answer_offsets() => {
            ack(attempt, Some(base_offset))
        }
        Class::Duplicate => ack(attempt, None),
        Class::TooLarge if attempt.records > 1 && !attempt.maybe_written => Decision {
            outcome: Outcome::Split,
            maybe_written: false,
            bump: false,
            refresh_metadata: false,
        },
        Class::Retriable {
            metadata,
            maybe_appended,
        } => retry_or_give_up(attempt, maybe_appended, false, metadata, Some(code)),
        Class::Sequence if attempt.idempotent => {
            // A gap explained by an earlier failure in the same window is just
            // a retry; otherwise the broker's view of our sequences differs from
            // ours and only a new epoch reconciles them.
            let explained =
                code == ErrorCode::OutOfOrderSequenceNumber && attempt.window_had_failed;
            retry_or_give_up(attempt, false, !explained, false, Some(code))
        }
        Class::Sequence if code == ErrorCode::InvalidProducerEpoch => {
            retry_or_give_up(attempt, false, false, false, Some(code))
        }
        Class::TooLarge | Class::Sequence | Class::Fatal => fail(attempt, code),
    }
}

/// Acknowledges the batch, at `base_offset` when known.
fn ack(attempt: &Attempt, base_offset: Option<i64>) -> Decision {
    Decision {
        outcome: Outcome::Ack { base_offset },
        maybe_written: attempt.maybe_written,
        bump: false,
        refresh_metadata: false,
    }
}

/// A definite rejection of this attempt. If an earlier attempt may have been
/// written, the records' fate is unknown, whatever this answer says.
fn fail(attempt: &Attempt, code: ErrorCode) -> Decision {
    let definite = !attempt.maybe_written || attempt.bugs.definite_error_after_maybe_written();
    Decision {
        outcome: Outcome::Fail(if definite {
            Error::Broker { code: code.code() }
        } else {
            Error::OutcomeUnknown
        }),
        maybe_written: attempt.maybe_written,
        bump: attempt.idempotent,
        refresh_metadata: false,
    }
}

/// Retries while the budget lasts, else fails naming why. `appended`: this
/// answer says the broker may hold the batch; `bump`: sequences need a new
/// epoch even if it is retried; `code`: the broker's error, if it gave one.
fn retry_or_give_up(
    attempt: &Attempt,
    appended: bool,
    bump: bool,
    refresh_metadata: bool,
    code: Option<ErrorCode>,
) -> Decision {
    let maybe_written = attempt.maybe_written || appended;
    let outcome = match (attempt.budget, code) {
        (Budget::Left, _) => Outcome::Retry,
        (Budget::Expired, _) => Outcome::Fail(Error::DeliveryTimeout { maybe_written }),
        (Budget::Exhausted, Some(c)) if !maybe_written => {
            Outcome::Fail(Error::Broker { code: c.code() })
        }
        (Budget::Exhausted, _) => Outcome::Fail(Error::OutcomeUnknown),
    };
    let gave_up = outcome != Outcome::Retry;
    Decision {
        outcome,
        maybe_written,
        bump: attempt.idempotent && (bump || gave_up),
        refresh_metadata,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorCode as C;

    fn attempt() -> Attempt {
        Attempt {
            idempotent: true,
            records: 3,
            maybe_written: false,
            budget: Budget::Left,
            window_had_failed: false,
            bugs: Bugs::default(),
        }
    }

    fn answered(code: ErrorCode) -> Answer {
        Answer::Answered {
            code,
            base_offset: if code == C::None { 40 } else { -1 },
        }
    }

    /// Short names for the table.
    const RETRY: Outcome = Outcome::Retry;
    const SPLIT: Outcome = Outcome::Split;

    fn broker(c: ErrorCode) -> Outcome {
        Outcome::Fail(Error::Broker { code: c.code() })
    }

    /// Every code the producer names, a fresh idempotent batch of 3 records with
    /// retries left: (code, outcome, bump, refresh metadata, maybe written after,
    /// the Java client's behaviour this row follows).
    #[test]
    fn every_code_is_decided_as_the_java_client_does() {
        let ack40 = Outcome::Ack {
            base_offset: Some(40),
        };
        let ack_none = Outcome::Ack { base_offset: None };
        #[rustfmt::skip]
        let table: &[(ErrorCode, Outcome, bool, bool, bool, &str)] = &[
            (C::None, ack40, false, false, false,
             "completeBatch: error NONE -> batch.done(baseOffset)"),
            (C::DuplicateSequenceNumber, ack_none, false, false, false,
             "completeBatch: DUPLICATE_SEQUENCE_NUMBER -> success, no valid offset (RecordMetadata offset -1)"),
            (C::MessageTooLarge, SPLIT, false, false, false,
             "completeBatch: MESSAGE_TOO_LARGE, recordCount > 1, magic v2 -> splitAndReenqueue, attempts not spent"),
            (C::CorruptMessage, RETRY, false, false, false,
             "CorruptRecordException extends RetriableException -> reenqueue"),
            (C::UnknownTopicOrPartition, RETRY, false, true, false,
             "UnknownTopicOrPartitionException is an InvalidMetadataException -> reenqueue + metadata.requestUpdate"),
            (C::LeaderNotAvailable, RETRY, false, true, false,
             "LeaderNotAvailableException is an InvalidMetadataException -> reenqueue + requestUpdate"),
            (C::NotLeaderOrFollower, RETRY, false, true, false,
             "NotLeaderOrFollowerException is an InvalidMetadataException -> reenqueue + requestUpdate"),
            (C::RequestTimedOut, RETRY, false, false, true,
             "TimeoutException extends RetriableException -> reenqueue (the leader may have appended)"),
            (C::ReplicaNotAvailable, RETRY, false, true, false,
             "ReplicaNotAvailableException is an InvalidMetadataException -> reenqueue + requestUpdate"),
            (C::NetworkException, RETRY, false, true, false,
             "NetworkException is an InvalidMetadataException -> reenqueue + requestUpdate"),
            (C::NotEnoughReplicas, RETRY, false, false, false,
             "NotEnoughReplicasException extends RetriableException -> reenqueue"),
            (C::NotEnoughReplicasAfterAppend, RETRY, false, false, true,
             "NotEnoughReplicasAfterAppendException extends RetriableException -> reenqueue (it was appended)"),
            (C::KafkaStorageError, RETRY, false, true, false,
             "KafkaStorageException is an InvalidMetadataException -> reenqueue + requestUpdate"),
            (C::FencedLeaderEpoch, RETRY, false, true, false,
             "FencedLeaderEpochException is an InvalidMetadataException -> reenqueue + requestUpdate"),
            (C::UnknownLeaderEpoch, RETRY, false, true, false,
             "UnknownLeaderEpochException is an InvalidMetadataException -> reenqueue + requestUpdate"),
            (C::OutOfOrderSequenceNumber, RETRY, true, false, false,
             "TransactionManager.canRetry: idempotent producer retries OUT_OF_ORDER_SEQUENCE_NUMBER and bumps the epoch when no unresolved sequence explains the gap"),
            (C::UnknownProducerId, RETRY, true, false, false,
             "TransactionManager.canRetry: idempotent producer always retries UNKNOWN_PRODUCER_ID, requesting an epoch bump"),
            (C::InvalidProducerEpoch, RETRY, true, false, false,
             "InvalidProducerEpochException extends RetriableException -> reenqueue; prodsim also bumps: a fenced epoch only recovers under a new one"),
            (C::RecordListTooLarge, broker(C::RecordListTooLarge), true, false, false,
             "RecordBatchTooLargeException is not retriable -> failBatch; handleFailedBatch bumps the epoch (idempotent)"),
            (C::InvalidRecord, broker(C::InvalidRecord), true, false, false,
             "InvalidRecordException is not retriable -> failBatch + epoch bump"),
            (C::InvalidTimestamp, broker(C::InvalidTimestamp), true, false, false,
             "InvalidTimestampException is not retriable -> failBatch + epoch bump"),
            (C::TopicAuthorizationFailed, broker(C::TopicAuthorizationFailed), true, false, false,
             "TopicAuthorizationException -> failBatch"),
            (C::ClusterAuthorizationFailed, broker(C::ClusterAuthorizationFailed), true, false, false,
             "ClusterAuthorizationException -> failBatch (fatal for the Java producer)"),
            (C::UnsupportedVersion, broker(C::UnsupportedVersion), true, false, false,
             "UnsupportedVersionException -> failBatch (fatal for the Java producer)"),
            (C::InvalidRequiredAcks, broker(C::InvalidRequiredAcks), true, false, false,
             "InvalidRequiredAcksException is not retriable -> failBatch"),
            (C::InvalidTopic, broker(C::InvalidTopic), true, false, false,
             "InvalidTopicException is not retriable -> failBatch"),
            (C::InvalidRequest, broker(C::InvalidRequest), true, false, false,
             "InvalidRequestException is not retriable -> failBatch"),
            (C::UnsupportedForMessageFormat, broker(C::UnsupportedForMessageFormat), true, false, false,
             "UnsupportedForMessageFormatException is not retriable -> failBatch"),
            (C::PolicyViolation, broker(C::PolicyViolation), true, false, false,
             "PolicyViolationException is not retriable -> failBatch"),
            (C::TransactionalIdAuthorizationFailed, broker(C::TransactionalIdAuthorizationFailed), true, false, false,
             "TransactionalIdAuthorizationException -> failBatch"),
            (C::ProducerFenced, broker(C::ProducerFenced), true, false, false,
             "ProducerFencedException is not retriable -> failBatch"),
            (C::UnknownServerError, broker(C::UnknownServerError), true, false, false,
             "UnknownServerException is not retriable -> failBatch + epoch bump"),
            (C::Other(999), broker(C::Other(999)), true, false, false,
             "an unknown code maps to UnknownServerException -> failBatch"),
        ];
        for (code, outcome, bump, refresh, maybe_written, java) in table {
            let d = decide(answered(*code), &attempt());
            assert_eq!(
                (&d.outcome, d.bump, d.refresh_metadata, d.maybe_written),
                (outcome, *bump, *refresh, *maybe_written),
                "{} ({java})",
                code.name()
            );
        }
    }

    #[test]
    fn no_answer_is_retried_as_maybe_written_with_a_metadata_refresh() {
        // Java: a disconnect completes the batch with NETWORK_EXCEPTION
        // (handleProduceResponse), an InvalidMetadataException.
        let d = decide(Answer::Missing, &attempt());
        assert_eq!(d.outcome, Outcome::Retry);
        assert!(d.maybe_written && d.refresh_metadata && !d.bump);
    }

    #[test]
    fn a_definite_error_after_a_maybe_written_attempt_is_outcome_unknown() {
        let earlier_lost = Attempt {
            maybe_written: true,
            ..attempt()
        };
        for code in [C::InvalidRecord, C::RecordListTooLarge, C::MessageTooLarge] {
            let d = decide(answered(code), &earlier_lost);
            assert_eq!(d.outcome, Outcome::Fail(Error::OutcomeUnknown), "{code:?}");
            assert!(d.bump);
        }
        let fresh = decide(answered(C::InvalidRecord), &attempt());
        assert_eq!(fresh.outcome, broker(C::InvalidRecord));
    }

    #[test]
    fn a_duplicate_is_success_without_invented_offsets() {
        let d = decide(
            Answer::Answered {
                code: C::DuplicateSequenceNumber,
                base_offset: -1,
            },
            &attempt(),
        );
        assert_eq!(d.outcome, Outcome::Ack { base_offset: None });
    }

    #[test]
    fn message_too_large_fails_a_single_record_and_splits_only_unwritten_batches() {
        let one = Attempt {
            records: 1,
            ..attempt()
        };
        assert_eq!(
            decide(answered(C::MessageTooLarge), &one).outcome,
            broker(C::MessageTooLarge)
        );
        let exhausted = Attempt {
            budget: Budget::Exhausted,
            ..attempt()
        };
        assert_eq!(
            decide(answered(C::MessageTooLarge), &exhausted).outcome,
            SPLIT,
            "a split does not spend a retry"
        );
    }

    #[test]
    fn giving_up_names_the_reason_and_bumps() {
        let exhausted = Attempt {
            budget: Budget::Exhausted,
            ..attempt()
        };
        let d = decide(answered(C::NotLeaderOrFollower), &exhausted);
        assert_eq!(d.outcome, broker(C::NotLeaderOrFollower));
        assert!(d.bump);
        let d = decide(answered(C::RequestTimedOut), &exhausted);
        assert_eq!(d.outcome, Outcome::Fail(Error::OutcomeUnknown));
        let d = decide(Answer::Missing, &exhausted);
        assert_eq!(d.outcome, Outcome::Fail(Error::OutcomeUnknown));
        let expired = Attempt {
            budget: Budget::Expired,
            ..attempt()
        };
        let d = decide(answered(C::NotEnoughReplicas), &expired);
        assert_eq!(
            d.outcome,
            Outcome::Fail(Error::DeliveryTimeout {
                maybe_written: false
            })
        );
        let plain = Attempt {
            idempotent: false,
            ..exhausted
        };
        assert!(!decide(Answer::Missing, &plain).bump, "no epoch to bump");
    }

    #[test]
    fn an_out_of_order_answer_explained_by_an_earlier_failure_does_not_bump() {
        let explained = Attempt {
            window_had_failed: true,
            ..attempt()
        };
        let d = decide(answered(C::OutOfOrderSequenceNumber), &explained);
        assert_eq!((d.outcome, d.bump), (Outcome::Retry, false));
        let d = decide(answered(C::UnknownProducerId), &explained);
        assert!(d.bump, "an unknown producer id always needs a new epoch");
    }

    #[test]
    fn without_idempotence_sequence_errors_fail() {
        let plain = Attempt {
            idempotent: false,
            ..attempt()
        };
        let d = decide(answered(C::OutOfOrderSequenceNumber), &plain);
        assert_eq!(
            (d.outcome, d.bump),
            (broker(C::OutOfOrderSequenceNumber), false)
        );
    }
}
