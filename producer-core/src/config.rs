//! Producer configuration and its validation.

use crate::batch::BATCH_HEADER_LEN;
use crate::error::ConfigError;
use std::time::Duration;

/// Settings of one producer. Defaults follow the Java client where it has one.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Name sent in every request header; brokers (and prodsim's checker) use it
    /// to tell producers apart.
    pub client_id: String,
    /// `host:port` addresses to fetch the first metadata from.
    pub bootstrap: Vec<String>,
    /// Idempotent delivery: producer id, epoch and per-partition sequences.
    pub idempotence: bool,
    /// How long a batch may wait for more records before it is sent.
    pub linger: Duration,
    /// Target batch size: a batch reaching it is sent without waiting for linger.
    pub batch_size: usize,
    /// Hard limit on one batch (the broker's `message.max.bytes`).
    pub max_message_bytes: usize,
    /// Hard limit on one produce request frame, size prefix included.
    pub max_request_size: usize,
    /// Most records in one batch.
    pub max_records_per_batch: usize,
    /// Most unanswered requests per broker connection (1..=5 with idempotence).
    pub max_in_flight: usize,
    /// How many times a batch is sent again after a retriable failure.
    pub retries: u32,
    /// Pause before a failed batch is sent again.
    pub retry_backoff: Duration,
    /// How long to wait for a response before closing the connection.
    pub request_timeout: Duration,
    /// Upper bound on the time from `send` to the record's outcome.
    pub delivery_timeout: Duration,
    /// Bytes of records waiting to be acknowledged before `send` blocks.
    pub buffer_memory: usize,
    /// How long `send` blocks for buffer memory or metadata before failing.
    pub max_block: Duration,
    /// Seed of the producer's own RNG (sticky partitioning).
    pub seed: u64,
    /// Milliseconds added to the producer's clock for records without a timestamp.
    /// The producer never reads the system clock; callers who want wall-clock
    /// timestamps pass the current time here when they create the producer.
    pub timestamp_origin_ms: i64,
    /// The codec batches are compressed with (Java's `compression.type`).
    /// Batches are filled from an estimate of the compressed size and sealed
    /// compressed; buffer memory counts uncompressed bytes.
    pub compression: crate::compression::Compression,
    /// Deliberately broken behaviours for the harness's self-tests; a
    /// zero-sized "none" unless producer-core is built with `bug-injection`.
    pub bugs: crate::bugs::Bugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            client_id: "prodsim-producer".to_string(),
            bootstrap: Vec::new(),
            idempotence: true,
            linger: Duration::from_millis(5),
            batch_size: 16 * 1024,
            max_message_bytes: 1_048_588,
            max_request_size: 1_048_576,
            max_records_per_batch: i32::MAX as usize,
            max_in_flight: 5,
            retries: u32::MAX,
            retry_backoff: Duration::from_millis(100),
            request_timeout: Duration::from_secs(30),
            delivery_timeout: Duration::from_secs(120),
            buffer_memory: 32 * 1024 * 1024,
            max_block: Duration::from_secs(60),
            seed: 0,
            timestamp_origin_ms: 0,
            compression: Default::default(),
            bugs: Default::default(),
        }
    }
}

/// The smallest possible batch: header plus one empty record.
pub const MIN_BATCH_BYTES: usize = BATCH_HEADER_LEN + 7;

/// Largest batch or request: lengths on the wire are `i32`.
pub const MAX_WIRE_BYTES: usize = i32::MAX as usize;

/// Largest `buffer_memory`: one semaphore permit per byte, and tokio's
/// semaphore holds at most this many.
pub const MAX_BUFFER_MEMORY: usize = tokio::sync::Semaphore::MAX_PERMITS;

/// Longest duration setting: the Java client's `int` milliseconds (about 24.8
/// days). Far beyond it, `now + duration` overflows the clock and panics.
pub const MAX_DURATION: Duration = Duration::from_millis(i32::MAX as u64);

/// Latest timestamp origin: the last millisecond of year 9999, so that adding
/// the producer's uptime never overflows.
pub const MAX_TIMESTAMP_ORIGIN_MS: i64 = 253_402_300_799_999;

fn err(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field,
        message: message.into(),
    }
}

impl Config {
    /// Checks every field and the rules between them. A config that passes
    /// cannot make the producer panic or abort later: sizes fit the wire's
    /// `i32` lengths and the memory semaphore, durations fit the clock.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check_names()?;
        self.check_sizes()?;
        self.check_times()?;
        self.check_memory()
    }

    /// The client id and the bootstrap addresses.
    fn check_names(&self) -> Result<(), ConfigError> {
        if self.client_id.is_empty() {
            return Err(err("client_id", "must not be empty"));
        }
        if self.client_id.len() > i16::MAX as usize {
            return Err(err(
                "client_id",
                format!(
                    "{} bytes is over the protocol's 32767",
                    self.client_id.len()
                ),
            ));
        }
        if self.bootstrap.is_empty() {
            return Err(err("bootstrap", "needs at least one host:port address"));
        }
        for addr in &self.bootstrap {
            match addr.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
                _ => return Err(err("bootstrap", format!("`{addr}` is not host:port"))),
            }
        }
        Ok(())
    }

    /// Batch, request and window sizes.
    fn check_sizes(&self) -> Result<(), ConfigError> {
        if self.max_message_bytes < MIN_BATCH_BYTES {
            return Err(err(
                "max_message_bytes",
                format!(
                    "{} is below the smallest batch ({MIN_BATCH_BYTES} bytes)",
                    self.max_message_bytes
                ),
            ));
        }
        for (field, value) in [
            ("max_message_bytes", self.max_message_bytes),
            ("max_request_size", self.max_request_size),
        ] {
            if value > MAX_WIRE_BYTES {
                return Err(err(
                    field,
                    format!("{value} is over {MAX_WIRE_BYTES} (an i32 length on the wire)"),
                ));
            }
        }
        if self.batch_size == 0 {
            return Err(err("batch_size", "must be at least 1"));
        }
        if self.max_request_size < MIN_BATCH_BYTES {
            return Err(err(
                "max_request_size",
                format!(
                    "{} cannot hold even the smallest batch ({MIN_BATCH_BYTES} bytes)",
                    self.max_request_size
                ),
            ));
        }
        if self.max_records_per_batch == 0 || self.max_records_per_batch > i32::MAX as usize {
            return Err(err("max_records_per_batch", "must be in 1..=2147483647"));
        }
        if self.max_in_flight == 0 {
            return Err(err("max_in_flight", "must be at least 1"));
        }
        if self.idempotence && self.max_in_flight > 5 {
            return Err(err(
                "max_in_flight",
                format!(
                    "{} is over 5: with idempotence the broker remembers only the last 5 batches",
                    self.max_in_flight
                ),
            ));
        }
        Ok(())
    }

    /// Durations and the timestamp origin.
    fn check_times(&self) -> Result<(), ConfigError> {
        for (field, value) in [
            ("linger", self.linger),
            ("retry_backoff", self.retry_backoff),
            ("request_timeout", self.request_timeout),
            ("delivery_timeout", self.delivery_timeout),
            ("max_block", self.max_block),
        ] {
            if value > MAX_DURATION {
                return Err(err(
                    field,
                    format!("{value:?} is over {MAX_DURATION:?} (i32 milliseconds)"),
                ));
            }
        }
        if !(0..=MAX_TIMESTAMP_ORIGIN_MS).contains(&self.timestamp_origin_ms) {
            return Err(err(
                "timestamp_origin_ms",
                format!(
                    "{} is outside 0..={MAX_TIMESTAMP_ORIGIN_MS} (milliseconds since 1970)",
                    self.timestamp_origin_ms
                ),
            ));
        }
        if self.request_timeout.is_zero() {
            return Err(err("request_timeout", "must be greater than zero"));
        }
        if self.delivery_timeout < self.linger + self.request_timeout {
            return Err(err(
                "delivery_timeout",
                format!(
                    "{:?} must be at least linger + request_timeout ({:?})",
                    self.delivery_timeout,
                    self.linger + self.request_timeout
                ),
            ));
        }
        Ok(())
    }

    /// Buffer memory: within the semaphore, and room for one batch.
    fn check_memory(&self) -> Result<(), ConfigError> {
        if self.buffer_memory > MAX_BUFFER_MEMORY {
            return Err(err(
                "buffer_memory",
                format!(
                    "{} is over {MAX_BUFFER_MEMORY}, the most the memory semaphore holds",
                    self.buffer_memory
                ),
            ));
        }
        if self.buffer_memory < self.max_message_bytes.min(self.max_request_size) {
            return Err(err(
                "buffer_memory",
                format!(
                    "{} cannot hold one batch of max_message_bytes ({})",
                    self.buffer_memory,
                    self.max_message_bytes.min(self.max_request_size)
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Config {
        Config {
            bootstrap: vec!["broker-0:9092".into()],
            ..Config::default()
        }
    }

    fn field_of(c: Config) -> &'static str {
        c.validate().expect_err("config should be rejected").field
    }

    #[test]
    fn defaults_with_a_bootstrap_address_are_valid() {
        good().validate().unwrap();
    }

    #[test]
    fn idempotence_limits_in_flight_to_five() {
        let c = Config {
            max_in_flight: 6,
            ..good()
        };
        let e = c.validate().unwrap_err();
        assert_eq!(e.field, "max_in_flight");
        assert!(e.to_string().contains("over 5"), "{e}");
        Config {
            max_in_flight: 6,
            idempotence: false,
            ..good()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn values_that_would_panic_or_abort_later_are_rejected_with_their_field() {
        let huge = Duration::MAX;
        let cases: Vec<(Config, &str)> = vec![
            (
                Config {
                    buffer_memory: usize::MAX,
                    ..good()
                },
                "buffer_memory",
            ),
            (
                Config {
                    max_message_bytes: usize::MAX,
                    ..good()
                },
                "max_message_bytes",
            ),
            (
                Config {
                    max_request_size: 1 << 40,
                    ..good()
                },
                "max_request_size",
            ),
            (
                Config {
                    linger: huge,
                    ..good()
                },
                "linger",
            ),
            (
                Config {
                    retry_backoff: huge,
                    ..good()
                },
                "retry_backoff",
            ),
            (
                Config {
                    request_timeout: huge,
                    delivery_timeout: huge,
                    ..good()
                },
                "request_timeout",
            ),
            (
                Config {
                    delivery_timeout: huge,
                    ..good()
                },
                "delivery_timeout",
            ),
            (
                Config {
                    max_block: huge,
                    ..good()
                },
                "max_block",
            ),
            (
                Config {
                    timestamp_origin_ms: i64::MAX,
                    ..good()
                },
                "timestamp_origin_ms",
            ),
            (
                Config {
                    client_id: "c".repeat(40_000),
                    ..good()
                },
                "client_id",
            ),
        ];
        for (config, field) in cases {
            assert_eq!(field_of(config), field);
        }
        // The largest accepted values still build a producer's shared state:
        // the semaphore takes its maximum, deadlines fit the clock.
        let edge = Config {
            buffer_memory: MAX_BUFFER_MEMORY,
            delivery_timeout: MAX_DURATION,
            max_block: MAX_DURATION,
            linger: MAX_DURATION - Duration::from_secs(60),
            ..good()
        };
        edge.validate().unwrap();
        let _ = tokio::sync::Semaphore::new(edge.buffer_memory);
        let _ = tokio::time::Instant::now() + edge.delivery_timeout + edge.max_block;
    }

    #[test]
    fn zero_and_inconsistent_values_name_their_field() {
        assert_eq!(
            field_of(Config {
                batch_size: 0,
                ..good()
            }),
            "batch_size"
        );
        assert_eq!(
            field_of(Config {
                max_message_bytes: 0,
                ..good()
            }),
            "max_message_bytes"
        );
        assert_eq!(
            field_of(Config {
                max_request_size: 10,
                ..good()
            }),
            "max_request_size"
        );
        assert_eq!(
            field_of(Config {
                max_in_flight: 0,
                ..good()
            }),
            "max_in_flight"
        );
        assert_eq!(
            field_of(Config {
                bootstrap: vec!["nohostport".into()],
                ..good()
            }),
            "bootstrap"
        );
        assert_eq!(
            field_of(Config {
                delivery_timeout: Duration::from_millis(1),
                ..good()
            }),
            "delivery_timeout"
        );
        assert_eq!(
            field_of(Config {
                buffer_memory: 1000,
                ..good()
            }),
            "buffer_memory"
        );
        assert_eq!(
            field_of(Config {
                client_id: String::new(),
                ..good()
            }),
            "client_id"
        );
    }
}
