//! Shared helpers for the interop tests live in tests/; this crate has no library code of its own.
