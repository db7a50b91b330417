//! prodsim: a deterministic simulation test harness for a Kafka producer.
//!
//! This root package only owns the integration tests in `tests/`; the producer lives
//! in `producer-core` and the simulated world in `sim`. See README.md.
