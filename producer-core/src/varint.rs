//! Zigzag variable-length integers as used inside RecordBatch v2 records.
//!
//! Each `*_len` function returns exactly the number of bytes the matching `put_*`
//! writes; the batch accounting is built on that equality.

use bytes::BufMut;

/// Zigzag-encodes a signed 64-bit value.
fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Bytes needed for an unsigned LEB128 value.
fn unsigned_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_unsigned(buf: &mut impl BufMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Encoded length of a zigzag varint (32-bit fields).
pub fn varint_len(v: i32) -> usize {
    unsigned_len(zigzag64(v as i64))
}

/// Encoded length of a zigzag varlong (64-bit fields).
pub fn varlong_len(v: i64) -> usize {
    unsigned_len(zigzag64(v))
}

/// Writes a zigzag varint.
pub fn put_varint(buf: &mut impl BufMut, v: i32) {
    put_unsigned(buf, zigzag64(v as i64));
}

/// Writes a zigzag varlong.
pub fn put_varlong(buf: &mut impl BufMut, v: i64) {
    put_unsigned(buf, zigzag64(v));
}

/// Reads a zigzag varlong at `*at`, advancing it; `None` past the end or
/// beyond 10 bytes.
pub fn get_varlong(buf: &[u8], at: &mut usize) -> Option<i64> {
    let mut v: u64 = 0;
    for shift in (0..70).step_by(7) {
        let b = *buf.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some((v >> 1) as i64 ^ -((v & 1) as i64));
        }
    }
    None
}

/// Reads a zigzag varint at `*at`, advancing it.
pub fn get_varint(buf: &[u8], at: &mut usize) -> Option<i32> {
    i32::try_from(get_varlong(buf, at)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        let enc = |v: i64| {
            let mut b = Vec::new();
            put_varlong(&mut b, v);
            b
        };
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(-1), [0x01]);
        assert_eq!(enc(1), [0x02]);
        assert_eq!(enc(63), [0x7e]);
        assert_eq!(enc(-64), [0x7f]);
        assert_eq!(enc(64), [0x80, 0x01]);
        assert_eq!(enc(i64::MIN).len(), 10);
    }

    proptest! {
        #[test]
        fn lengths_match_written_bytes(v in any::<i64>(), w in any::<i32>()) {
            let mut b = Vec::new();
            put_varlong(&mut b, v);
            prop_assert_eq!(b.len(), varlong_len(v));
            let mut b = Vec::new();
            put_varint(&mut b, w);
            prop_assert_eq!(b.len(), varint_len(w));
        }

        #[test]
        fn reads_back_what_was_written(v in any::<i64>(), w in any::<i32>()) {
            let mut b = Vec::new();
            put_varlong(&mut b, v);
            put_varint(&mut b, w);
            let mut at = 0;
            prop_assert_eq!(get_varlong(&b, &mut at), Some(v));
            prop_assert_eq!(get_varint(&b, &mut at), Some(w));
            prop_assert_eq!(at, b.len());
            prop_assert_eq!(get_varlong(&b[..varlong_len(v) - 1], &mut 0), None, "cut short");
        }
    }
}
