//! The one bounds-checked reader of Kafka protocol bytes that prodsim walks
//! before `kafka-protocol` decodes them.
//!
//! `kafka-protocol` sizes arrays from count prefixes it has not compared with
//! the bytes that remain, so a hostile count can ask for gigabytes and abort the
//! process. [`Reader`] reads fields as the decoder will, and fails instead of
//! reading past the end or accepting a count that cannot fit. Three readers use
//! it: the producer's checks of broker responses ([`super::precheck`]), the
//! simulated broker's checks of client requests (sim's `validate.rs`) and its
//! reader of record batches (sim's `log_validator.rs`).

/// What a field is, for fuzzers that break one field at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// A fixed-width number (an id, an error code, an offset, a flag, a uuid).
    Number,
    /// The element count of an array.
    Count,
    /// The length of a string or bytes field.
    Length,
    /// The number of tagged fields (flexible versions).
    TagCount,
    /// The size of one tagged field (flexible versions).
    TagSize,
}

/// Where one field sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// Offset of its first byte in the bytes read.
    pub offset: usize,
    /// Its width in bytes.
    pub len: usize,
    /// What it is.
    pub kind: FieldKind,
    /// Written as an unsigned varint (counts, lengths and tags of flexible versions).
    pub varint: bool,
}

/// The result of a check: `Err` says which field does not fit.
pub type Check = Result<(), String>;

/// A cursor over protocol bytes that fails instead of reading past the end.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Counts and lengths are varints, and structs end in tagged fields. A
    /// walk sets it per version (a response header and its body may differ).
    pub flexible: bool,
    /// Every field read, when asked for ([`Reader::recording`]).
    fields: Option<Vec<Field>>,
}

impl<'a> Reader<'a> {
    /// A reader of `buf` from its first byte.
    pub fn new(buf: &'a [u8], flexible: bool) -> Self {
        Reader {
            buf,
            pos: 0,
            flexible,
            fields: None,
        }
    }

    /// Also note every field read, for [`Reader::into_fields`].
    pub fn recording(mut self) -> Self {
        self.fields = Some(Vec::new());
        self
    }

    /// The fields read so far (empty unless [`Reader::recording`]).
    pub fn into_fields(self) -> Vec<Field> {
        self.fields.unwrap_or_default()
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn note(&mut self, offset: usize, kind: FieldKind, varint: bool) {
        if let Some(fields) = &mut self.fields {
            fields.push(Field {
                offset,
                len: self.pos - offset,
                kind,
                varint,
            });
        }
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Check {
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

    /// A big-endian signed integer of `width` bytes (1, 2, 4 or 8).
    pub fn int(&mut self, width: usize) -> Result<i64, String> {
        let start = self.pos;
        self.skip(width)?;
        let v = self.buf[start..self.pos]
            .iter()
            .fold(0i64, |v, &b| (v << 8) | i64::from(b));
        let shift = 64 - 8 * width as u32;
        Ok((v << shift) >> shift)
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let start = self.pos;
        self.skip(n)?;
        Ok(&self.buf[start..self.pos])
    }

    /// A zigzag-encoded signed varint of at most 10 bytes, as the fields of a
    /// record (v2) are written.
    pub fn varlong(&mut self) -> Result<i64, String> {
        let v = self.unsigned(10)?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A fixed-width field whose value does not matter to the walk.
    pub fn number(&mut self, width: usize) -> Check {
        let start = self.pos;
        self.skip(width)?;
        self.note(start, FieldKind::Number, false);
        Ok(())
    }

    /// An unsigned varint as `kafka-protocol` reads it (at most 5 bytes, 32
    /// bits); longer or wider encodings, which no encoder writes, are refused.
    pub fn varint(&mut self) -> Result<u32, String> {
        let start = self.pos;
        let v = self.unsigned(5)?;
        u32::try_from(v).map_err(|_| format!("varint at offset {start} is wider than 32 bits"))
    }

    /// An unsigned varint of at most `max` bytes.
    fn unsigned(&mut self, max: usize) -> Result<u64, String> {
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..max {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| format!("varint at offset {start} runs past the end"))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!(
            "varint at offset {start} is longer than {max} bytes"
        ))
    }

    /// A count or length prefix of `width` bytes (a varint when flexible):
    /// `None` for null (-1, or 0 as a varint).
    fn prefix(&mut self, width: usize, kind: FieldKind) -> Result<Option<usize>, String> {
        let start = self.pos;
        let n = if self.flexible {
            let n = self.varint()?;
            self.note(start, kind, true);
            n.checked_sub(1).map(i64::from)
        } else {
            let n = self.int(width)?;
            self.note(start, kind, false);
            (n != -1).then_some(n)
        };
        match n {
            None => Ok(None),
            Some(n) if n < 0 => Err(format!("negative length {n} at offset {start}")),
            Some(n) => usize::try_from(n)
                .map(Some)
                .map_err(|_| format!("length {n} at offset {start} does not fit")),
        }
    }

    /// A string (nullable or not: the decoder refuses a null where none is allowed).
    pub fn string(&mut self) -> Check {
        let len = self.prefix(2, FieldKind::Length)?;
        self.skip(len.unwrap_or(0))
    }

    /// A bytes field (nullable or not).
    pub fn bytes(&mut self) -> Check {
        let len = self.prefix(4, FieldKind::Length)?;
        self.skip(len.unwrap_or(0))
    }

    /// An array count: its elements, at least `min` bytes each, must fit in
    /// what is left. Null counts as empty.
    pub fn array(&mut self, what: &str, min: usize) -> Result<usize, String> {
        let n = self.prefix(4, FieldKind::Count)?.unwrap_or(0);
        let left = self.remaining();
        if n.checked_mul(min).is_none_or(|need| need > left) {
            return Err(format!(
                "{n} {what} in {left} bytes (each takes at least {min})"
            ));
        }
        Ok(n)
    }

    /// The tagged fields that end a struct of a flexible version (nothing
    /// otherwise). No walk gives a tag a meaning, so each is skipped by its size.
    pub fn tagged_fields(&mut self) -> Check {
        if !self.flexible {
            return Ok(());
        }
        let start = self.pos;
        let n = self.varint()?;
        self.note(start, FieldKind::TagCount, true);
        let left = self.remaining();
        // A tag and a size: two bytes at least.
        if u64::from(n) * 2 > left as u64 {
            return Err(format!("{n} tagged fields in {left} bytes"));
        }
        for _ in 0..n {
            let tag = self.pos;
            self.varint()?;
            self.note(tag, FieldKind::Number, true);
            let at = self.pos;
            let size = self.varint()?;
            self.note(at, FieldKind::TagSize, true);
            self.skip(size as usize)?;
        }
        Ok(())
    }

    /// Nothing may follow what was read.
    pub fn finish(&self, what: &str) -> Check {
        match self.remaining() {
            0 => Ok(()),
            n => Err(format!("{n} trailing bytes after the {what}")),
        }
    }
}
