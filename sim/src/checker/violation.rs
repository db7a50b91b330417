//! What a broken invariant looks like: its kind, where it happened and why.

use producer_core::TopicPartition;
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// Declares the violation kinds once, with the names scenario files use.
macro_rules! kinds {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// Kinds of violation.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Kind {
            $($(#[$doc])* $variant,)*
        }

        impl Kind {
            /// Names as written in scenario files.
            pub const NAMES: &'static [&'static str] = &[$($name,)*];
            /// Every kind, in the order of [`Kind::NAMES`].
            pub const ALL: &'static [Kind] = &[$(Kind::$variant,)*];

            /// The name as written in scenario files.
            pub fn name(self) -> &'static str {
                match self {
                    $(Kind::$variant => $name,)*
                }
            }
        }
    };
}

kinds! {
    /// Acked but absent.
    Lost => "lost",
    /// Acked offset holds something else.
    OffsetMismatch => "offset_mismatch",
    /// Stored twice.
    Duplicate => "duplicate",
    /// Stored, never sent.
    Phantom => "phantom",
    /// Out of send order.
    Reorder => "reorder",
    /// Idempotent sequence numbers not contiguous from 0 within an epoch.
    Sequence => "sequence",
    /// Never resolved (liveness).
    Unresolved => "unresolved",
    /// Resolved twice.
    ResolvedTwice => "resolved_twice",
    /// Sizes or counters wrong.
    Accounting => "accounting",
    /// Broker found the batch corrupt.
    Corrupt => "corrupt",
    /// Failed where all must be acked.
    NotAcked => "not_acked",
    /// A caller's record changed.
    Mutated => "mutated",
    /// In the log, although the producer reported it definitely not written.
    FailedButWritten => "failed_but_written",
    /// More produce requests in flight to one broker than allowed.
    InFlight => "in_flight",
    /// `flush()` or `close()` returned too early, or a send after `close()`
    /// did not fail with "producer closed".
    Lifecycle => "lifecycle",
    /// Held unresolved records and did nothing for longer than any of its
    /// timers allows: no request, answer or connection event.
    Stalled => "stalled",
    /// The broker answered OUT_OF_ORDER_SEQUENCE_NUMBER (or UNKNOWN_PRODUCER_ID)
    /// with no fault to explain it (judged from the wire, `sim serve`).
    OutOfOrderAnswer => "out_of_order_answer",
    /// The broker answered INVALID_PRODUCER_EPOCH with no fault to explain it.
    FencedAnswer => "fenced_answer",
    /// A produce reached a broker that does not lead the partition, with no
    /// leader change to explain it.
    Misrouted => "misrouted",
    /// The broker answered a batch as the duplicate of one it stored under the
    /// same producer id, epoch and sequence, but with other records: they are
    /// acknowledged and never stored (judged from the wire, `sim serve`).
    SequenceReused => "sequence_reused",
    /// A batch's buffer memory went back to the pool twice, in the wrong
    /// amount, or never before `close()` returned.
    Memory => "memory",
}

impl Kind {
    /// The kind with this name.
    pub fn parse(s: &str) -> Option<Kind> {
        Self::NAMES
            .iter()
            .position(|n| *n == s)
            .map(|i| Self::ALL[i])
    }
}

/// Why a violation is an anomaly the run was expected to show rather than a
/// failure (set by the rule that found it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expected {
    /// A producer without idempotence retried the batch: Kafka promises at
    /// least once, so the copy is allowed.
    RetriedWithoutIdempotence,
    /// A broker-side fault shortly before it (a crash, restart, leader move,
    /// producer-state expiry, injected error or lost response) explains it.
    BrokerFault,
    /// A retry stored twice because the partition had lost the producer's
    /// state between the two copies (its producer id expired, or a restart
    /// left only the last batch of its snapshot): Kafka does not promise to
    /// catch it.
    ProducerStateLost,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::RetriedWithoutIdempotence => f.write_str("idempotence off, retried"),
            Expected::BrokerFault => f.write_str("a broker-side fault explains it"),
            Expected::ProducerStateLost => {
                f.write_str("the broker had lost the producer's state between the copies")
            }
        }
    }
}

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Violation {
    /// Kind.
    pub kind: Kind,
    /// Producer (None for records of no known producer).
    pub producer: Option<u32>,
    /// Partition.
    pub tp: Option<TopicPartition>,
    /// Index of the record in the producer's workload.
    pub record: Option<usize>,
    /// Offset involved.
    pub offset: Option<i64>,
    /// Simulated time of the event that shows it.
    pub at: Duration,
    /// Explanation.
    pub detail: String,
    /// Set when the rule itself knows this anomaly is allowed.
    pub expected: Option<Expected>,
}

impl Violation {
    /// A violation of `kind` seen at `at`; the builder methods below add where.
    pub fn new(kind: Kind, at: Duration, detail: impl Into<String>) -> Self {
        Violation {
            kind,
            producer: None,
            tp: None,
            record: None,
            offset: None,
            at,
            detail: detail.into(),
            expected: None,
        }
    }

    /// Names the producer.
    pub fn producer(mut self, p: impl Into<Option<u32>>) -> Self {
        self.producer = p.into();
        self
    }

    /// Names the partition.
    pub fn tp(mut self, tp: impl Into<Option<TopicPartition>>) -> Self {
        self.tp = tp.into();
        self
    }

    /// Names the workload record.
    pub fn record(mut self, index: impl Into<Option<usize>>) -> Self {
        self.record = index.into();
        self
    }

    /// Names the offset.
    pub fn offset(mut self, offset: impl Into<Option<i64>>) -> Self {
        self.offset = offset.into();
        self
    }

    /// Marks the anomaly as expected, and why.
    pub fn expected(mut self, why: Expected) -> Self {
        self.expected = Some(why);
        self
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] t={:.3}s", self.kind.name(), self.at.as_secs_f64())?;
        if let Some(p) = self.producer {
            write!(f, " producer-{p}")?;
        }
        if let Some(TopicPartition {
            topic: t,
            partition: p,
        }) = &self.tp
        {
            write!(f, " {t}/{p}")?;
        }
        if let Some(r) = self.record {
            write!(f, " record #{r}")?;
        }
        if let Some(o) = self.offset {
            write!(f, " offset {o}")?;
        }
        write!(f, ": {}", self.detail)?;
        if let Some(why) = self.expected {
            write!(f, " (expected: {why})")?;
        }
        Ok(())
    }
}

/// The checker's answer.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// Failures.
    pub violations: Vec<Violation>,
    /// Anomalies the scenario expects (reported, not failures).
    pub expected: Vec<Violation>,
}

impl Verdict {
    /// Sorts violations into failures and expected anomalies: expected when the
    /// rule said so or the scenario allows the kind.
    pub fn split(all: Vec<Violation>, allowed: &[Kind]) -> Verdict {
        let (expected, violations) = all
            .into_iter()
            .partition(|v| v.expected.is_some() || allowed.contains(&v.kind));
        Verdict {
            violations,
            expected,
        }
    }

    /// True when nothing failed.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// Kinds present among failures and expected anomalies.
    pub fn kinds(&self) -> BTreeSet<Kind> {
        self.violations
            .iter()
            .chain(&self.expected)
            .map(|v| v.kind)
            .collect()
    }
}
