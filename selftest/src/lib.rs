//! prodsim's self-tests with producer-core's `bug-injection` feature on.
//!
//! This package only owns `tests/known_bugs.rs`: each known bug class is
//! injected into the producer and must be caught by the properties or the
//! scenarios. It is a workspace of its own so that the feature stays off in the
//! root workspace; the root's `tests/selftest.rs` runs it.
