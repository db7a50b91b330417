//! The Kafka wire protocol as the producer speaks it: size-prefixed frames,
//! request headers with correlation ids, and the few APIs a producer needs.
//! Message structs come from the `kafka-protocol` crate; record batches come from
//! our own encoder ([`crate::batch`]) and travel inside Produce requests unchanged.
//! Every response is checked by [`precheck`] before `kafka-protocol` decodes it.

pub mod error_code;
pub mod frame;
pub mod precheck;
pub mod produce;
pub mod reader;
pub mod requests;
pub mod responses;

pub use error_code::ErrorCode;
