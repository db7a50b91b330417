//! # producer-core
//!
//! A Kafka producer whose correctness can be tested: exact batch accounting,
//! idempotent delivery, ordered retries, bounded memory, and a swappable network
//! so the same code runs over real TCP or inside a deterministic simulation.
//!
//! The producer never mutates the records it is given ([`Record`] is immutable),
//! reads time only from `tokio::time` and randomness only from a seeded RNG.

pub mod batch;
pub mod bugs;
pub mod clock;
pub mod compression;
pub mod config;
pub mod delivery;
pub mod error;
pub mod idempotence;
pub mod metadata;
pub mod network;
pub mod observe;
pub mod partitioner;
mod pipeline;
pub mod produce_set;
pub mod record;
mod varint;
pub mod wire;

pub use bugs::Bugs;
pub use config::Config;
pub use delivery::{DeliveryFuture, DeliveryResult, RecordMetadata};
pub use error::{ConfigError, Error};
pub use network::{Network, TokioNetwork};
pub use observe::{Event, Observer};
pub use pipeline::{Producer, Stats};
pub use produce_set::{Overflow, ProduceSet, TopicPartition};
pub use record::{Header, Record};
