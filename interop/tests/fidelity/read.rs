//! What a Fetch returned, written down record by record: the suite's own
//! RecordBatch v2 reader (not producer-core's, not the simulated broker's),
//! so "what Fetch reads back" is compared as bytes a consumer would see.
//! Compressed batches are decompressed here (with the codec crates' own
//! stream readers, not the simulated broker's) and their records written
//! down the same way; the compressed bytes themselves are not compared (two
//! encoders of one codec write different bytes for the same records).

use std::io::Read;

/// One line per batch and per record, in log order; `pid` and `ts` normalise
/// producer ids and timestamps as the case's other observations do.
pub fn describe(
    bytes: &[u8],
    pid: &dyn Fn(i64) -> String,
    ts: &dyn Fn(i64) -> String,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.len() < 12 {
            out.push(format!("tail of {} bytes", rest.len()));
            break;
        }
        let len = i32::from_be_bytes(rest[8..12].try_into().unwrap());
        let total = 12 + len.max(0) as usize;
        if len < 49 || rest.len() < total {
            out.push(format!("partial batch: {} of {total} bytes", rest.len()));
            break;
        }
        describe_batch(&rest[..total], pid, ts, &mut out);
        at += total;
    }
    out
}

fn describe_batch(
    b: &[u8],
    pid: &dyn Fn(i64) -> String,
    ts: &dyn Fn(i64) -> String,
    out: &mut Vec<String>,
) {
    let i64_at = |o: usize| i64::from_be_bytes(b[o..o + 8].try_into().unwrap());
    let i32_at = |o: usize| i32::from_be_bytes(b[o..o + 4].try_into().unwrap());
    let i16_at = |o: usize| i16::from_be_bytes(b[o..o + 2].try_into().unwrap());
    let base_offset = i64_at(0);
    let magic = b[16] as i8;
    if magic != 2 {
        out.push(format!("batch@{base_offset} magic {magic}"));
        return;
    }
    let crc = u32::from_be_bytes(b[17..21].try_into().unwrap());
    let crc_ok = crc32c::crc32c(&b[21..]) == crc;
    let attributes = i16_at(21);
    let base_ts = i64_at(27);
    let count = i32_at(57);
    out.push(format!(
        "batch@{base_offset} leader_epoch={} attributes={attributes} last_offset_delta={} \
         base_ts={} max_ts={} pid={} epoch={} seq={} count={count} crc={}",
        i32_at(12),
        i32_at(23),
        ts(base_ts),
        ts(i64_at(35)),
        pid(i64_at(43)),
        i16_at(51),
        i32_at(53),
        if crc_ok { "ok" } else { "BAD" },
    ));
    let records = match decompress(attributes & 0x07, &b[61..]) {
        Ok(r) => r,
        Err(why) => {
            out.push(format!(
                "  undecodable (codec {}): {why}",
                attributes & 0x07
            ));
            return;
        }
    };
    let b = &records[..];
    let mut r = Reader { b, at: 0 };
    for _ in 0..count.max(0) {
        match r.record(base_offset, base_ts, ts) {
            Some(line) => out.push(line),
            None => {
                out.push("  unreadable record".into());
                return;
            }
        }
    }
    if r.at != b.len() {
        out.push(format!("  {} bytes after the records", b.len() - r.at));
    }
}

/// The records section of a batch of codec `id`, decompressed (at most
/// 64 MiB).
fn decompress(id: i16, data: &[u8]) -> Result<Vec<u8>, &'static str> {
    const LIMIT: u64 = 64 << 20;
    let mut out = Vec::new();
    let read = |r: &mut dyn Read, out: &mut Vec<u8>| {
        r.take(LIMIT)
            .read_to_end(out)
            .map(|_| ())
            .map_err(|_| "the stream does not decode")
    };
    match id {
        0 => out.extend_from_slice(data),
        1 => read(&mut flate2::read::MultiGzDecoder::new(data), &mut out)?,
        2 if data.starts_with(&[0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0]) => {
            // xerial's framing: a 16-byte header, then [i32 length][block].
            let mut at = 16;
            while at + 4 <= data.len() {
                let n = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
                let block = data
                    .get(at + 4..at + 4 + n)
                    .ok_or("a snappy chunk runs past the end")?;
                out.extend(
                    snap::raw::Decoder::new()
                        .decompress_vec(block)
                        .map_err(|_| "a snappy chunk does not decode")?,
                );
                at += 4 + n;
            }
        }
        2 => {
            out = snap::raw::Decoder::new()
                .decompress_vec(data)
                .map_err(|_| "the snappy block does not decode")?
        }
        3 => read(&mut lz4_flex::frame::FrameDecoder::new(data), &mut out)?,
        4 => read(
            &mut zstd::stream::read::Decoder::new(data).map_err(|_| "zstd")?,
            &mut out,
        )?,
        _ => return Err("no such codec"),
    }
    Ok(out)
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn varint(&mut self) -> Option<i64> {
        let mut z: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.at)?;
            self.at += 1;
            z |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        None
    }

    fn bytes(&mut self) -> Option<Option<&[u8]>> {
        let n = self.varint()?;
        if n < 0 {
            return Some(None);
        }
        let end = self.at.checked_add(n as usize)?;
        let s = self.b.get(self.at..end)?;
        self.at = end;
        Some(Some(s))
    }

    fn record(
        &mut self,
        base_offset: i64,
        base_ts: i64,
        ts: &dyn Fn(i64) -> String,
    ) -> Option<String> {
        let len = self.varint()?;
        let end = self.at + len as usize;
        let attributes = *self.b.get(self.at)?;
        self.at += 1;
        let ts_delta = self.varint()?;
        let offset_delta = self.varint()?;
        let key = show(self.bytes()?);
        let value = show(self.bytes()?);
        let headers = self.varint()?;
        let mut hs = Vec::new();
        for _ in 0..headers.clamp(0, 1000) {
            let k = show(self.bytes()?);
            let v = show(self.bytes()?);
            hs.push(format!("{k}={v}"));
        }
        let junk = end.checked_sub(self.at)?;
        self.at = end;
        Some(format!(
            "  record@{} attributes={attributes} ts={} key={key} value={value} headers=[{}]{}",
            base_offset + offset_delta,
            ts(base_ts + ts_delta),
            hs.join(","),
            if junk > 0 {
                format!(" +{junk} bytes")
            } else {
                String::new()
            }
        ))
    }
}

fn show(b: Option<&[u8]>) -> String {
    match b {
        None => "null".into(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) if s.len() <= 40 => format!("{s:?}"),
            Ok(s) => format!("{:?}..({} bytes)", &s[..40], s.len()),
            Err(_) => format!("{} bytes", b.len()),
        },
    }
}
