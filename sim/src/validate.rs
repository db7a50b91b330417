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
