//! Structural pre-checks of untrusted bytes before `kafka-protocol` decodes them.
//!
//! `kafka-protocol` sizes vectors from length prefixes it has not checked against
//! the bytes that remain (`Vec::with_capacity(n)` for arrays, and for record
//! headers). A random frame can therefore ask for a multi-gigabyte allocation,
//! which aborts the process instead of failing. The simulated broker must survive
//! any input, so before decoding a Produce or Metadata request these walkers
//! check every count against the bytes left. They accept a superset of valid
//! inputs; the real decoding and its errors stay with `kafka-protocol`. Record
//! batches are read by prodsim's own reader ([`crate::log_validator`]), which
//! checks every count as it reads. The walks read with producer-core's
//! [`Reader`], the one the producer checks broker responses with.

use producer_core::wire::reader::{Check, Reader};

/// Checks a Produce request body (after the header) of `version`.
pub fn produce_request(body: &[u8], version: i16) -> Check {
    let mut w = Reader::new(body, version >= 9);
    w.string()?; // transactional_id
    w.skip(2 + 4)?; // acks, timeout_ms
    for _ in 0..w.array("topics", 1)? {
        if version >= 13 {
            w.skip(16)?;
        } else {
            w.string()?;
        }
        for _ in 0..w.array("partitions", 1)? {
            w.skip(4)?;
            w.bytes()?;
            w.tagged_fields()?;
        }
        w.tagged_fields()?;
    }
    w.tagged_fields()
}

/// Checks a Metadata request body of `version`.
pub fn metadata_request(body: &[u8], version: i16) -> Check {
    let mut w = Reader::new(body, version >= 9);
    for _ in 0..w.array("topics", 1)? {
        if version >= 10 {
            w.skip(16)?;
        }
        w.string()?;
        w.tagged_fields()?;
    }
    Ok(())
}

/// Checks an InitProducerId request body of `version`.
pub fn init_producer_id_request(body: &[u8], version: i16) -> Check {
    let mut w = Reader::new(body, version >= 2);
    w.string()?; // transactional_id
    w.skip(4)?; // transaction_timeout_ms
    if version >= 3 {
        w.skip(8 + 2)?; // producer_id, producer_epoch
    }
    w.tagged_fields()
}

/// One field of a request body, as the walkers below see it.
#[derive(Clone, Debug)]
enum F {
    /// A fixed-width integer (or boolean) of this many bytes.
    Fixed(usize),
    /// A string (nullable allowed).
    Str,
    /// A bytes field (nullable allowed).
    Bytes,
    /// An array whose elements are these fields (and, in flexible versions,
    /// their tagged fields).
    Array(Vec<F>),
}

use F::{Array, Bytes as B, Fixed, Str};

/// Walks `fields`; a struct of a flexible version ends with tagged fields.
fn walk_fields(w: &mut Reader<'_>, fields: &[F]) -> Check {
    for f in fields {
        match f {
            Fixed(n) => w.skip(*n)?,
            Str => w.string()?,
            B => w.bytes()?,
            // kafka-protocol reserves room for `n` decoded elements, each many
            // times its smallest encoding: bound `n` by what the bytes left can
            // hold, not by one byte an element.
            Array(inner) => {
                for _ in 0..w.array("elements", min_size(inner, w.flexible))? {
                    walk_fields(w, inner)?;
                }
            }
        }
    }
    w.tagged_fields()
}

/// The fewest bytes `fields` encode in (null strings, empty arrays).
fn min_size(fields: &[F], flexible: bool) -> usize {
    let prefix = |width: usize| if flexible { 1 } else { width };
    let own: usize = fields
        .iter()
        .map(|f| match f {
            Fixed(n) => *n,
            Str => prefix(2),
            B | Array(_) => prefix(4),
        })
        .sum();
    own + usize::from(flexible)
}

fn walk(body: &[u8], fields: &[F], flexible: bool) -> Check {
    walk_fields(&mut Reader::new(body, flexible), fields)
}

/// `f` from `version` on.
fn since(version: i16, from: i16, f: F) -> Option<F> {
    (version >= from).then_some(f)
}

/// Checks a ListOffsets request body (v1..=7; flexible from v6).
pub fn list_offsets_request(body: &[u8], version: i16) -> Check {
    let partition: Vec<F> = [Some(Fixed(4)), since(version, 4, Fixed(4)), Some(Fixed(8))]
        .into_iter()
        .flatten()
        .collect();
    let fields: Vec<F> = [
        Some(Fixed(4)),
        since(version, 2, Fixed(1)),
        Some(Array(vec![Str, Array(partition)])),
        since(version, 10, Fixed(4)),
    ]
    .into_iter()
    .flatten()
    .collect();
    walk(body, &fields, version >= 6)
}

/// Checks a Fetch request body (v4..=11, none of them flexible).
pub fn fetch_request(body: &[u8], version: i16) -> Check {
    let partition: Vec<F> = [
        Some(Fixed(4)),
        since(version, 9, Fixed(4)),
        Some(Fixed(8)),
        since(version, 5, Fixed(8)),
        Some(Fixed(4)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let fields: Vec<F> = [
        Some(Fixed(4 + 4 + 4 + 4 + 1)),
        since(version, 7, Fixed(8)),
        Some(Array(vec![Str, Array(partition)])),
        since(version, 7, Array(vec![Str, Array(vec![Fixed(4)])])),
        since(version, 11, Str),
    ]
    .into_iter()
    .flatten()
    .collect();
    walk(body, &fields, false)
}

/// Checks a CreateTopics request body (v2..=4, none of them flexible).
pub fn create_topics_request(body: &[u8], _version: i16) -> Check {
    let topic = vec![
        Str,
        Fixed(4 + 2),
        Array(vec![Fixed(4), Array(vec![Fixed(4)])]),
        Array(vec![Str, Str]),
    ];
    walk(body, &[Array(topic), Fixed(4 + 1)], false)
}

/// Checks a FindCoordinator request body (v0..=3; flexible from v3).
pub fn find_coordinator_request(body: &[u8], version: i16) -> Check {
    let fields: Vec<F> = [Some(Str), since(version, 1, Fixed(1))]
        .into_iter()
        .flatten()
        .collect();
    walk(body, &fields, version >= 3)
}

/// Checks a JoinGroup request body (v0..=5, none of them flexible).
pub fn join_group_request(body: &[u8], version: i16) -> Check {
    let fields: Vec<F> = [
        Some(Str),
        Some(Fixed(4)),
        since(version, 1, Fixed(4)),
        Some(Str),
        since(version, 5, Str),
        Some(Str),
        Some(Array(vec![Str, B])),
    ]
    .into_iter()
    .flatten()
    .collect();
    walk(body, &fields, false)
}

/// Checks a SyncGroup request body (v0..=3, none of them flexible).
pub fn sync_group_request(body: &[u8], version: i16) -> Check {
    let fields: Vec<F> = [
        Some(Str),
        Some(Fixed(4)),
        Some(Str),
        since(version, 3, Str),
        Some(Array(vec![Str, B])),
    ]
    .into_iter()
    .flatten()
    .collect();
    walk(body, &fields, false)
}

/// Checks a Heartbeat request body (v0..=3, none of them flexible).
pub fn heartbeat_request(body: &[u8], version: i16) -> Check {
    let fields: Vec<F> = [Some(Str), Some(Fixed(4)), Some(Str), since(version, 3, Str)]
        .into_iter()
        .flatten()
        .collect();
    walk(body, &fields, false)
}

/// Checks a LeaveGroup request body (v0..=3, none of them flexible).
pub fn leave_group_request(body: &[u8], version: i16) -> Check {
    let fields = if version >= 3 {
        vec![Str, Array(vec![Str, Str])]
    } else {
        vec![Str, Str]
    };
    walk(body, &fields, false)
}

/// Checks an OffsetCommit request body (v2..=7, none of them flexible).
pub fn offset_commit_request(body: &[u8], version: i16) -> Check {
    let partition: Vec<F> = [Some(Fixed(4 + 8)), since(version, 6, Fixed(4)), Some(Str)]
        .into_iter()
        .flatten()
        .collect();
    let fields: Vec<F> = [
        Some(Str),
        Some(Fixed(4)),
        Some(Str),
        since(version, 7, Str),
        (version <= 4).then_some(Fixed(8)),
        Some(Array(vec![Str, Array(partition)])),
    ]
    .into_iter()
    .flatten()
    .collect();
    walk(body, &fields, false)
}

/// Checks an OffsetFetch request body (v1..=5, none of them flexible).
pub fn offset_fetch_request(body: &[u8], _version: i16) -> Check {
    walk(body, &[Str, Array(vec![Str, Array(vec![Fixed(4)])])], false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_array_counts_are_refused() {
        // transactional_id null, acks, timeout, then 2^31-1 topics.
        let mut body = vec![0xff, 0xff, 0, 1, 0, 0, 0, 100];
        body.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(produce_request(&body, 3).is_err());
        assert!(metadata_request(&i32::MAX.to_be_bytes(), 1).is_err());
    }
}
