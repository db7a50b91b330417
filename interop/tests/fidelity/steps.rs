//! What a differential case does: a list of steps, each one request (or a few,
//! pipelined) that the runner sends to a target and whose answer it writes
//! down, normalised, as observations.

use super::batch::RawBatch;

/// One step of a case.
#[derive(Clone, Debug)]
pub enum Step {
    /// CreateTopics for topic `t` of the case.
    CreateTopic(CreateTopic),
    /// Metadata for some of the case's topics (`auto_create`: allow
    /// auto-creation).
    Metadata {
        topics: Vec<Topic>,
        version: i16,
        auto_create: bool,
    },
    /// InitProducerId without a transactional id; the answer's id becomes
    /// symbolic producer `p` for the rest of the case.
    InitProducerId { p: usize, version: i16 },
    /// One Produce request.
    Produce(Produce),
    /// Several Produce requests written back to back on one connection before
    /// the first answer is read.
    Pipelined(Vec<Produce>),
    /// Fetch from one partition.
    Fetch {
        t: usize,
        partition: i32,
        offset: i64,
        max_bytes: i32,
        version: i16,
    },
    /// ListOffsets of one partition.
    ListOffsets {
        t: usize,
        partition: i32,
        at: At,
        version: i16,
    },
    /// ApiVersions at `version`.
    ApiVersions { version: i16 },
    /// A clean restart of the (single) broker: SIGTERM and start on real
    /// Kafka, crash and restart in the simulation.
    Restart,
    /// `kill -9` of the broker, then a start (real Kafka recovers from its
    /// log); the simulation has one kind of crash.
    KillAndRestart,
    /// A group API step.
    Group(GroupStep),
    /// Waits this many milliseconds (so two appends fall in different
    /// milliseconds of the broker's clock).
    Sleep(u64),
    /// Waits until every partition of topic `t` has a leader that answers
    /// (a topic created in the background).
    AwaitTopic(usize),
}

/// What ListOffsets asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// -2: the log start offset.
    Earliest,
    /// -1: the log end offset.
    Latest,
    /// -3: the offset of the record with the largest timestamp (v7+).
    MaxTimestamp,
    /// The first offset whose timestamp is at or after this time, in ms
    /// relative to the case's clock.
    Time(i64),
}

/// A topic a step names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Topic {
    /// Topic `t` of the case (each run of a case has fresh names).
    Case(usize),
    /// This name, as it is (invalid names, unknown topics).
    Named(&'static str),
}

/// CreateTopics for one topic.
#[derive(Clone, Debug)]
pub struct CreateTopic {
    pub topic: Topic,
    pub partitions: i32,
    pub replication: i16,
    pub configs: Vec<(&'static str, &'static str)>,
    pub validate_only: bool,
    pub version: i16,
}

impl CreateTopic {
    /// Topic `t` with `partitions` partitions, replication 1, version 4.
    pub fn new(t: usize, partitions: i32) -> CreateTopic {
        CreateTopic {
            topic: Topic::Case(t),
            partitions,
            replication: 1,
            configs: Vec::new(),
            validate_only: false,
            version: 4,
        }
    }

    pub fn config(mut self, key: &'static str, value: &'static str) -> CreateTopic {
        self.configs.push((key, value));
        self
    }
}

/// One Produce request.
#[derive(Clone, Debug)]
pub struct Produce {
    pub version: i16,
    pub acks: i16,
    pub timeout_ms: i32,
    pub parts: Vec<Part>,
}

/// The records for one partition of a Produce request.
#[derive(Clone, Debug)]
pub struct Part {
    pub topic: Topic,
    pub partition: i32,
    /// Batches, concatenated in the request (a valid request has one).
    pub batches: Vec<RawBatch>,
}

impl Produce {
    /// acks=all (-1), version 9, one batch to partition `partition` of topic `t`.
    pub fn one(t: usize, partition: i32, batch: RawBatch) -> Produce {
        Produce {
            version: 9,
            acks: -1,
            timeout_ms: 10_000,
            parts: vec![Part {
                topic: Topic::Case(t),
                partition,
                batches: vec![batch],
            }],
        }
    }

    pub fn version(mut self, v: i16) -> Produce {
        self.version = v;
        self
    }

    pub fn acks(mut self, acks: i16) -> Produce {
        self.acks = acks;
        self
    }
}

/// A step of the classic group protocol. Members are symbolic (`m`), their ids
/// are what the coordinator assigned; generations are the last one the
/// member's JoinGroup answered unless a literal is given.
#[derive(Clone, Debug)]
pub enum GroupStep {
    FindCoordinator {
        g: usize,
        version: i16,
    },
    JoinGroup {
        g: usize,
        m: usize,
        version: i16,
    },
    SyncGroup {
        g: usize,
        m: usize,
        version: i16,
        assignment: bool,
    },
    Heartbeat {
        g: usize,
        m: usize,
        version: i16,
        generation: Option<i32>,
    },
    OffsetCommit {
        g: usize,
        m: Option<usize>,
        version: i16,
        t: usize,
        partition: i32,
        offset: i64,
    },
    OffsetFetch {
        g: usize,
        version: i16,
        t: usize,
        partition: i32,
    },
    LeaveGroup {
        g: usize,
        m: usize,
        version: i16,
    },
}

/// A named case: steps and a line on what it pins down.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub about: &'static str,
    pub steps: Vec<Step>,
}
