//! A topic's configuration, as the `configs` of CreateTopics set it: the keys
//! the produce path depends on, checked as Kafka's `LogConfig` checks them.

use crate::codec::Codec;

/// A topic's configuration (the `configs` of CreateTopics), as Kafka's
/// `LogConfig` reads the keys the produce path depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicConfig {
    /// The topic's id (Metadata v10+): derived from its name and creation order,
    /// so a run is a function of its seed.
    pub id: uuid::Uuid,
    /// `max.message.bytes`; `None`: the broker's. A larger batch is refused
    /// (MESSAGE_TOO_LARGE).
    pub max_message_bytes: Option<usize>,
    /// `cleanup.policy` includes `compact`: a record without a key is refused
    /// (INVALID_RECORD).
    pub compact: bool,
    /// `message.timestamp.type=LogAppendTime`: the broker stamps its clock
    /// on appended records instead of keeping the producer's.
    pub log_append_time: bool,
    /// `message.timestamp.after.max.ms` (Kafka 4.0+: 1 hour): a record further
    /// in the future is refused (INVALID_TIMESTAMP).
    pub timestamp_after_max_ms: i64,
    /// `message.timestamp.before.max.ms` (unlimited): a record further in the
    /// past is refused (INVALID_TIMESTAMP).
    pub timestamp_before_max_ms: i64,
    /// `compression.type`: the codec the broker stores batches in; `None`
    /// for `producer` (the default): each batch in the codec it came in.
    pub compression: Option<Codec>,
    /// `max.decompressed.message.bytes` (Kafka 4.4): the most bytes one
    /// record of a compressed batch may hold; a larger one is refused.
    pub max_decompressed_record_bytes: i64,
}

impl TopicConfig {
    /// Kafka's defaults, for the `n`-th topic, named `name`.
    pub fn new(name: &str, n: usize) -> TopicConfig {
        let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        TopicConfig {
            id: uuid::Uuid::from_u64_pair(h, n as u64 + 1),
            max_message_bytes: None,
            compact: false,
            log_append_time: false,
            timestamp_after_max_ms: 3_600_000,
            timestamp_before_max_ms: i64::MAX,
            compression: None,
            max_decompressed_record_bytes: crate::log_validator::DEFAULT_MAX_DECOMPRESSED_RECORD,
        }
    }

    /// Applies one `configs` entry; `Err`: Kafka's INVALID_CONFIG (40) with why.
    pub fn set(&mut self, key: &str, value: Option<&str>) -> Result<(), String> {
        let Some(value) = value else {
            return Err(format!("`{key}` has no value"));
        };
        let number = || -> Result<i64, String> {
            value
                .trim()
                .parse::<i64>()
                .map_err(|_| format!("`{key}` must be a number, got {value:?}"))
        };
        match key {
            "max.message.bytes" => {
                let n = number()?;
                if n < 0 {
                    return Err(format!("`{key}` must be at least 0, got {n}"));
                }
                self.max_message_bytes = Some(n as usize);
            }
            "cleanup.policy" => self.compact = compacted(key, value)?,
            "message.timestamp.type" => match value {
                "CreateTime" => self.log_append_time = false,
                "LogAppendTime" => self.log_append_time = true,
                v => {
                    return Err(format!(
                        "`{key}` must be CreateTime or LogAppendTime, got {v:?}"
                    ))
                }
            },
            "message.timestamp.after.max.ms" => self.timestamp_after_max_ms = number()?.max(0),
            "message.timestamp.before.max.ms" => self.timestamp_before_max_ms = number()?.max(0),
            "compression.type" => self.compression = stored_codec(key, value)?,
            "max.decompressed.message.bytes" => {
                let n = number()?;
                if !(0..=i64::from(i32::MAX)).contains(&n) {
                    return Err(format!("`{key}` must be in 0..={}, got {n}", i32::MAX));
                }
                self.max_decompressed_record_bytes = n;
            }
            // Levels change the bytes a recompressed batch takes, not what
            // it holds: checked as Kafka checks them, then ignored.
            "compression.gzip.level" | "compression.lz4.level" | "compression.zstd.level" => {
                compression_level(key, number()?)?
            }
            k if WITHOUT_EFFECT.contains(&k) => {}
            k => return Err(format!("unknown topic config `{k}`")),
        }
        Ok(())
    }
}

/// Keys Kafka accepts that change nothing the simulation models.
const WITHOUT_EFFECT: &[&str] = &[
    "retention.ms",
    "retention.bytes",
    "segment.bytes",
    "segment.ms",
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "min.compaction.lag.ms",
    "delete.retention.ms",
    "flush.messages",
    "flush.ms",
    "index.interval.bytes",
    "message.downconversion.enable",
    "preallocate",
    "file.delete.delay.ms",
    "max.compaction.lag.ms",
    "min.cleanable.dirty.ratio",
    "segment.index.bytes",
    "segment.jitter.ms",
    "local.retention.ms",
    "local.retention.bytes",
    "remote.storage.enable",
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas",
    "message.timestamp.difference.max.ms",
];

/// `cleanup.policy`: whether it includes `compact`.
fn compacted(key: &str, value: &str) -> Result<bool, String> {
    let policies: Vec<&str> = value.split(',').map(str::trim).collect();
    if policies.iter().any(|p| !["compact", "delete"].contains(p)) {
        return Err(format!(
            "`{key}` must be delete and/or compact, got {value:?}"
        ));
    }
    Ok(policies.contains(&"compact"))
}

/// `compression.type`: the codec batches are stored in (`None`: as sent).
fn stored_codec(key: &str, value: &str) -> Result<Option<Codec>, String> {
    if value == "producer" {
        return Ok(None);
    }
    Codec::ALL
        .into_iter()
        .find(|c| c.name() == value)
        .map(Some)
        .ok_or_else(|| {
            format!(
                "`{key}` must be one of uncompressed, zstd, lz4, snappy, gzip, producer, got {value:?}"
            )
        })
}

/// A codec's level, in the range Kafka allows for it.
fn compression_level(key: &str, n: i64) -> Result<(), String> {
    let ok = match key {
        "compression.gzip.level" => n == -1 || (1..=9).contains(&n),
        "compression.lz4.level" => (1..=17).contains(&n),
        _ => (-131_072..=22).contains(&n),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("`{key}` is out of range: {n}"))
    }
}
