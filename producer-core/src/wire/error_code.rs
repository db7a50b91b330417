//! Kafka error codes, declared once for the whole workspace: as a type (as
//! rskafka's `protocol/error.rs` does), built from the `i16` on the wire and
//! matched on by the sender's policy instead of bare numbers, and as `i16`
//! constants ([`code`]) for the simulated broker and the checker. Codes with no
//! name here stay distinct as `Other(code)`. kafka-protocol's `ResponseError`
//! is not used: it has no `NONE` and no constants to match on.

/// Defines [`ErrorCode`] with its wire value and protocol name, from one list.
macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $name:ident; )*) => {
        /// A Kafka error code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
            /// A code this producer has no name for.
            Other(i16),
        }

        impl From<i16> for ErrorCode {
            fn from(code: i16) -> Self {
                match code {
                    $( $code => ErrorCode::$variant, )*
                    other => ErrorCode::Other(other),
                }
            }
        }

        impl ErrorCode {
            /// The value on the wire.
            pub fn code(self) -> i16 {
                match self {
                    $( ErrorCode::$variant => $code, )*
                    ErrorCode::Other(c) => c,
                }
            }

            /// The protocol's name, for messages and traces.
            pub fn name(self) -> &'static str {
                match self {
                    $( ErrorCode::$variant => stringify!($name), )*
                    ErrorCode::Other(_) => "UNKNOWN_SERVER_ERROR",
                }
            }
        }

        /// The same codes as plain `i16` constants named as the protocol
        /// names them, for code that builds or checks wire messages (the
        /// simulated broker, the checker); the producer's own decisions match
        /// on [`ErrorCode`].
        pub mod code {
            $( $(#[$doc])* pub const $name: i16 = $code; )*

            /// The protocol's name for a code, for messages and traces.
            pub fn name(code: i16) -> &'static str {
                super::ErrorCode::from(code).name()
            }
        }
    };
}

error_codes! {
    /// The server hit an unexpected error.
    UnknownServerError = -1, UNKNOWN_SERVER_ERROR;
    /// No error.
    None = 0, NONE;
    /// The requested offset is outside the partition's log.
    OffsetOutOfRange = 1, OFFSET_OUT_OF_RANGE;
    /// The batch failed its CRC check or could not be parsed.
    CorruptMessage = 2, CORRUPT_MESSAGE;
    /// The broker does not know this topic or partition.
    UnknownTopicOrPartition = 3, UNKNOWN_TOPIC_OR_PARTITION;
    /// The partition has no leader right now (an election is under way).
    LeaderNotAvailable = 5, LEADER_NOT_AVAILABLE;
    /// The broker is not the leader of the partition.
    NotLeaderOrFollower = 6, NOT_LEADER_OR_FOLLOWER;
    /// The request timed out on the broker (it may have appended the batch).
    RequestTimedOut = 7, REQUEST_TIMED_OUT;
    /// A replica is not available (a reassignment is under way).
    ReplicaNotAvailable = 9, REPLICA_NOT_AVAILABLE;
    /// The batch is larger than the broker accepts.
    MessageTooLarge = 10, MESSAGE_TOO_LARGE;
    /// The server disconnected before a response was received.
    NetworkException = 13, NETWORK_EXCEPTION;
    /// The coordinator is not available (it is loading, or no broker is up).
    CoordinatorNotAvailable = 15, COORDINATOR_NOT_AVAILABLE;
    /// This broker is not the coordinator of the group.
    NotCoordinator = 16, NOT_COORDINATOR;
    /// The topic name is invalid.
    InvalidTopic = 17, INVALID_TOPIC_EXCEPTION;
    /// The request's record set is larger than the broker's segment size.
    RecordListTooLarge = 18, RECORD_LIST_TOO_LARGE;
    /// Not enough in-sync replicas to accept the write.
    NotEnoughReplicas = 19, NOT_ENOUGH_REPLICAS;
    /// Written to the leader, but not enough replicas acknowledged it.
    NotEnoughReplicasAfterAppend = 20, NOT_ENOUGH_REPLICAS_AFTER_APPEND;
    /// The request's acks value is invalid.
    InvalidRequiredAcks = 21, INVALID_REQUIRED_ACKS;
    /// The group member's generation is not the group's.
    IllegalGeneration = 22, ILLEGAL_GENERATION;
    /// The member's protocols do not match the group's.
    InconsistentGroupProtocol = 23, INCONSISTENT_GROUP_PROTOCOL;
    /// The group id is empty or invalid.
    InvalidGroupId = 24, INVALID_GROUP_ID;
    /// The coordinator does not know this member id.
    UnknownMemberId = 25, UNKNOWN_MEMBER_ID;
    /// The session timeout is outside the broker's allowed range.
    InvalidSessionTimeout = 26, INVALID_SESSION_TIMEOUT;
    /// The group is rebalancing: the member must join again.
    RebalanceInProgress = 27, REBALANCE_IN_PROGRESS;
    /// Not authorized to write to the topic.
    TopicAuthorizationFailed = 29, TOPIC_AUTHORIZATION_FAILED;
    /// Not authorized for idempotent writes.
    ClusterAuthorizationFailed = 31, CLUSTER_AUTHORIZATION_FAILED;
    /// A record's timestamp is out of the broker's accepted range.
    InvalidTimestamp = 32, INVALID_TIMESTAMP;
    /// The request's API version is not supported.
    UnsupportedVersion = 35, UNSUPPORTED_VERSION;
    /// The topic already exists.
    TopicAlreadyExists = 36, TOPIC_ALREADY_EXISTS;
    /// The number of partitions is invalid.
    InvalidPartitions = 37, INVALID_PARTITIONS;
    /// The replication factor is invalid.
    InvalidReplicationFactor = 38, INVALID_REPLICATION_FACTOR;
    /// A configuration is invalid.
    InvalidConfig = 40, INVALID_CONFIG;
    /// This broker is not the controller.
    NotController = 41, NOT_CONTROLLER;
    /// The request is malformed.
    InvalidRequest = 42, INVALID_REQUEST;
    /// The broker's message format does not support the request.
    UnsupportedForMessageFormat = 43, UNSUPPORTED_FOR_MESSAGE_FORMAT;
    /// A broker policy rejected the request.
    PolicyViolation = 44, POLICY_VIOLATION;
    /// A sequence gap: the broker expected a different first sequence.
    OutOfOrderSequenceNumber = 45, OUT_OF_ORDER_SEQUENCE_NUMBER;
    /// The batch was written before; the broker kept no offset for it.
    DuplicateSequenceNumber = 46, DUPLICATE_SEQUENCE_NUMBER;
    /// The producer's epoch is older than the broker's.
    InvalidProducerEpoch = 47, INVALID_PRODUCER_EPOCH;
    /// Not authorized for the transactional id.
    TransactionalIdAuthorizationFailed = 53, TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    /// A disk error on the broker (the partition moves to another log dir or broker).
    KafkaStorageError = 56, KAFKA_STORAGE_ERROR;
    /// The broker has no state for this producer id.
    UnknownProducerId = 59, UNKNOWN_PRODUCER_ID;
    /// The fetch session id is not known to the broker.
    FetchSessionIdNotFound = 70, FETCH_SESSION_ID_NOT_FOUND;
    /// The request's leader epoch is older than the broker's.
    FencedLeaderEpoch = 74, FENCED_LEADER_EPOCH;
    /// The request's leader epoch is newer than the broker's.
    UnknownLeaderEpoch = 75, UNKNOWN_LEADER_EPOCH;
    /// The broker does not take this codec (zstd before Produce v7, or a
    /// topic that forbids it).
    UnsupportedCompressionType = 76, UNSUPPORTED_COMPRESSION_TYPE;
    /// A JoinGroup (v4+) without a member id: the coordinator gives one and asks the member to join again with it.
    MemberIdRequired = 79, MEMBER_ID_REQUIRED;
    /// A record in the batch is invalid (for instance no key on a compacted topic).
    InvalidRecord = 87, INVALID_RECORD;
    /// Another producer with the same transactional id has a newer epoch.
    ProducerFenced = 90, PRODUCER_FENCED;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_stay_distinct() {
        for c in -1i16..=120 {
            assert_eq!(ErrorCode::from(c).code(), c);
        }
        assert_eq!(ErrorCode::from(6), ErrorCode::NotLeaderOrFollower);
        assert_eq!(ErrorCode::from(46).name(), "DUPLICATE_SEQUENCE_NUMBER");
        assert_eq!(ErrorCode::from(999), ErrorCode::Other(999));
        assert_eq!(ErrorCode::from(999).name(), "UNKNOWN_SERVER_ERROR");
    }
}
