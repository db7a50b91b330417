//! The record a caller hands to the producer.
//!
//! A [`Record`] is immutable: the producer never writes into it. Everything a send
//! needs to remember (partition, sequence number, retries, offset) lives in the
//! producer's own bookkeeping, never in the caller's value. This is the property
//! whose absence causes Sarama's shared-message panic (IBM/sarama #1969, #3005).
//!
//! Cloning a record is cheap: key, value and header buffers are reference-counted
//! [`Bytes`], and the header list sits behind an [`Arc`]. Several producers can be
//! handed the *same* record value and they will share its buffers.

use bytes::Bytes;
use std::sync::Arc;

/// One record header: a UTF-8 key and an optional value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    key: Bytes,
    value: Option<Bytes>,
}

impl Header {
    /// A header with the given key and value.
    pub fn new(key: &str, value: Option<Bytes>) -> Self {
        Header {
            key: Bytes::copy_from_slice(key.as_bytes()),
            value,
        }
    }

    /// A header from its buffers as they are (read back from our own batch).
    pub(crate) fn from_parts(key: Bytes, value: Option<Bytes>) -> Self {
        Header { key, value }
    }

    /// The header key as bytes (always valid UTF-8).
    pub fn key(&self) -> &Bytes {
        &self.key
    }

    /// The header value, `None` for a null value.
    pub fn value(&self) -> Option<&Bytes> {
        self.value.as_ref()
    }
}

/// An immutable Kafka record: optional key, optional value, headers and an optional
/// creation timestamp (milliseconds). When the timestamp is absent the producer stamps
/// the batch with its own clock, without changing the record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Record {
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Arc<[Header]>,
    timestamp: Option<i64>,
}

impl Record {
    /// A record with a value and nothing else.
    pub fn new(value: impl Into<Bytes>) -> Self {
        Record {
            value: Some(value.into()),
            ..Record::default()
        }
    }

    /// A record with neither key nor value (a tombstone without a key).
    pub fn empty() -> Self {
        Record::default()
    }

    /// Returns this record with the given key.
    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Returns this record with the given (possibly null) value.
    pub fn with_value(mut self, value: Option<Bytes>) -> Self {
        self.value = value;
        self
    }

    /// Returns this record with the given headers (duplicate keys are allowed).
    pub fn with_headers(mut self, headers: Vec<Header>) -> Self {
        self.headers = headers.into();
        self
    }

    /// Returns this record with an explicit creation timestamp in milliseconds.
    pub fn with_timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp = Some(timestamp_ms);
        self
    }

    /// The key, `None` for a null key.
    pub fn key(&self) -> Option<&Bytes> {
        self.key.as_ref()
    }

    /// The value, `None` for a null value.
    pub fn value(&self) -> Option<&Bytes> {
        self.value.as_ref()
    }

    /// The headers, in the order they will be written.
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// The caller's timestamp, if one was set.
    pub fn timestamp(&self) -> Option<i64> {
        self.timestamp
    }

    /// A copy that shares no buffer with `self`: every byte is freshly allocated.
    pub fn deep_clone(&self) -> Record {
        let fresh = |b: &Bytes| Bytes::from(b.to_vec());
        Record {
            key: self.key.as_ref().map(fresh),
            value: self.value.as_ref().map(fresh),
            headers: self
                .headers
                .iter()
                .map(|h| Header {
                    key: fresh(&h.key),
                    value: h.value.as_ref().map(fresh),
                })
                .collect(),
            timestamp: self.timestamp,
        }
    }

    /// True when both records point at the same key, value and header buffers.
    /// Used by tests to show that sending shared records keeps them shared.
    pub fn shares_buffers_with(&self, other: &Record) -> bool {
        fn same(a: Option<&Bytes>, b: Option<&Bytes>) -> bool {
            match (a, b) {
                (None, None) => true,
                (Some(a), Some(b)) => a.as_ptr() == b.as_ptr() && a.len() == b.len(),
                _ => false,
            }
        }
        same(self.key(), other.key())
            && same(self.value(), other.value())
            && Arc::ptr_eq(&self.headers, &other.headers)
    }

    /// Bytes of key, value and headers: the payload the caller handed over.
    pub fn payload_len(&self) -> usize {
        self.key.as_ref().map_or(0, Bytes::len)
            + self.value.as_ref().map_or(0, Bytes::len)
            + self
                .headers
                .iter()
                .map(|h| h.key.len() + h.value.as_ref().map_or(0, Bytes::len))
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_shares_buffers_and_deep_clone_does_not() {
        let r = Record::new("value")
            .with_key("key")
            .with_headers(vec![Header::new("h", Some(Bytes::from_static(b"v")))]);
        let shallow = r.clone();
        let deep = r.deep_clone();
        assert_eq!(r, shallow);
        assert_eq!(r, deep);
        assert!(r.shares_buffers_with(&shallow));
        assert!(!r.shares_buffers_with(&deep));
    }

    #[test]
    fn payload_len_counts_key_value_and_headers() {
        let r = Record::new("12345")
            .with_key("ab")
            .with_headers(vec![Header::new("xyz", None)]);
        assert_eq!(r.payload_len(), 5 + 2 + 3);
        assert_eq!(Record::empty().payload_len(), 0);
    }
}
