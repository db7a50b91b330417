//! Errors a send, a flush or a configuration can end with.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Kafka error codes as plain numbers (declared with [`crate::wire::ErrorCode`]).
pub use crate::wire::error_code::code;

/// Why a send (or flush, or producer start) failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The record cannot fit in any batch: `size` is the smallest batch holding it.
    MessageTooLarge {
        /// Bytes of the smallest batch that could carry the record.
        size: usize,
        /// The limit it exceeds.
        limit: usize,
    },
    /// `send` waited `max_block` for buffer memory or metadata and gave up.
    Timeout {
        /// What the send was waiting for.
        waiting_for: &'static str,
        /// How long it waited.
        waited: Duration,
    },
    /// The batch could not be delivered within `delivery_timeout`; whether the
    /// broker wrote it is unknown when `maybe_written` is true.
    DeliveryTimeout {
        /// An attempt reached the network and no definite answer came back.
        maybe_written: bool,
    },
    /// The broker answered with an error that is not retriable (or retries ran out).
    Broker {
        /// The Kafka error code.
        code: i16,
    },
    /// The producer's identity was reset while this batch's fate was unknown; it
    /// was not sent again to avoid a duplicate. It may or may not be in the log.
    OutcomeUnknown,
    /// The producer was closed before the record could be sent.
    ProducerClosed,
    /// The broker misbehaved at the protocol level (bad frame, unsupported version).
    Protocol(Arc<str>),
    /// The configuration is invalid.
    Config(ConfigError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MessageTooLarge { size, limit } => write!(
                f,
                "record needs a {size}-byte batch, over the {limit}-byte limit"
            ),
            Error::Timeout {
                waiting_for,
                waited,
            } => write!(f, "send waited {waited:?} for {waiting_for}"),
            Error::DeliveryTimeout { maybe_written } => write!(
                f,
                "delivery timed out ({})",
                if *maybe_written {
                    "the broker may have written it"
                } else {
                    "never written"
                }
            ),
            Error::Broker { code: c } => write!(f, "broker error {c} {}", code::name(*c)),
            Error::OutcomeUnknown => write!(f, "outcome unknown after producer epoch bump"),
            Error::ProducerClosed => write!(f, "producer closed"),
            Error::Protocol(m) => write!(f, "protocol error: {m}"),
            Error::Config(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

/// An invalid configuration value: which field, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The offending field of [`crate::Config`].
    pub field: &'static str,
    /// What was expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid config `{}`: {}", self.field, self.message)
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}
