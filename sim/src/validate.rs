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
//! checks every count as it reads.

/// A cursor over a byte slice that fails instead of reading past the end.
struct Walker<'a> {
    buf: &'a [u8],
    pos: usize,
}

type Check = Result<(), String>;

impl<'a> Walker<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Walker { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn skip(&mut self, n: usize) -> Check {
        if n > self.remaining() {
            return Err(format!(
                "needs {n} bytes at offset {}, {} left",
                self.pos,
                self.remaining()
            ));
        }
        self.pos += n;
        Ok(())
    }

    fn int(&mut self, width: usize) -> Result<i64, String> {
        let start = self.pos;
        self.skip(width)?;
        let mut v: i64 = 0;
        for &b in &self.buf[start..start + width] {
            v = (v << 8) | b as i64;
        }
        // Sign-extend.
        let shift = 64 - 8 * width as u32;
        Ok((v << shift) >> shift)
    }

    fn unsigned_varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = *self.buf.get(self.pos).ok_or("varint runs past the end")?;
            self.pos += 1;
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    /// A length-prefixed string or bytes field (nullable allowed).
    fn sized(&mut self, flexible: bool, prefix_width: usize) -> Check {
        let len = if flexible {
            self.unsigned_varint()? as i64 - 1
        } else {
            self.int(prefix_width)?
        };
        if len < -1 {
            return Err(format!("negative length {len}"));
        }
        if len > 0 {
            self.skip(len as usize)?;
        }
        Ok(())
    }

    fn string(&mut self, flexible: bool) -> Check {
        self.sized(flexible, 2)
    }

    fn bytes(&mut self, flexible: bool) -> Check {
        self.sized(flexible, 4)
    }

    /// An array count that cannot exceed the bytes left (every element takes one).
    fn array_len(&mut self, flexible: bool) -> Result<usize, String> {
        let n = if flexible {
            self.unsigned_varint()? as i64 - 1
        } else {
            self.int(4)?
        };
        if n < -1 {
            return Err(format!("negative array length {n}"));
        }
        let n = n.max(0) as usize;
        if n > self.remaining() {
            return Err(format!(
                "array of {n} elements with {} bytes left",
                self.remaining()
            ));
        }
        Ok(n)
    }

    fn tagged_fields(&mut self) -> Check {
        let n = self.unsigned_varint()?;
        if n as usize > self.remaining() {
            return Err(format!(
                "{n} tagged fields with {} bytes left",
                self.remaining()
            ));
        }
        for _ in 0..n {
            self.unsigned_varint()?;
            let size = self.unsigned_varint()?;
            self.skip(usize::try_from(size).map_err(|_| "tagged field too large")?)?;
        }
        Ok(())
    }
}

/// Checks a Produce request body (after the header) of `version`.
pub fn produce_request(body: &[u8], version: i16) -> Check {
    let flexible = version >= 9;
    let mut w = Walker::new(body);
    w.string(flexible)?; // transactional_id
    w.skip(2 + 4)?; // acks, timeout_ms
    for _ in 0..w.array_len(flexible)? {
        if version >= 13 {
            w.skip(16)?;
        } else {
            w.string(flexible)?;
        }
        for _ in 0..w.array_len(flexible)? {
            w.skip(4)?;
            w.bytes(flexible)?;
            if flexible {
                w.tagged_fields()?;
            }
        }
        if flexible {
            w.tagged_fields()?;
        }
    }
    if flexible {
        w.tagged_fields()?;
    }
    Ok(())
}

/// Checks a Metadata request body of `version`.
pub fn metadata_request(body: &[u8], version: i16) -> Check {
    let flexible = version >= 9;
    let mut w = Walker::new(body);
    for _ in 0..w.array_len(flexible)? {
        if version >= 10 {
            w.skip(16)?;
        }
        w.string(flexible)?;
        if flexible {
            w.tagged_fields()?;
        }
    }
    Ok(())
}

/// Checks an InitProducerId request body of `version`.
pub fn init_producer_id_request(body: &[u8], version: i16) -> Check {
    let flexible = version >= 2;
    let mut w = Walker::new(body);
    w.string(flexible)?; // transactional_id
    w.skip(4)?; // transaction_timeout_ms
    if version >= 3 {
        w.skip(8 + 2)?; // producer_id, producer_epoch
    }
    if flexible {
        w.tagged_fields()?;
    }
    Ok(())
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

impl Walker<'_> {
    /// Walks `fields` of a (non-)flexible version; a flexible struct ends with
    /// tagged fields.
    fn walk(&mut self, fields: &[F], flexible: bool) -> Check {
        for f in fields {
            match f {
                Fixed(n) => self.skip(*n)?,
                Str => self.string(flexible)?,
                B => self.bytes(flexible)?,
                Array(inner) => {
                    let n = self.array_len(flexible)?;
                    // kafka-protocol reserves room for `n` decoded elements,
                    // each many times its smallest encoding: bound `n` by what
                    // the bytes left can hold, not by one byte an element.
                    let least = min_size(inner, flexible);
                    if n.saturating_mul(least) > self.remaining() {
                        return Err(format!(
                            "array of {n} elements of at least {least} bytes with {} bytes left",
                            self.remaining()
                        ));
                    }
                    for _ in 0..n {
                        self.walk(inner, flexible)?;
                    }
                }
            }
        }
        if flexible {
            self.tagged_fields()?;
        }
        Ok(())
    }
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
    Walker::new(body).walk(fields, flexible)
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
