//! Size-prefixed frames and request/response headers.

use super::precheck;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest frame the producer accepts from a broker (responses are small; this
/// only guards against garbage length prefixes).
pub const MAX_RESPONSE_FRAME: usize = 64 * 1024 * 1024;

/// A frame to write: its bytes in order, as segments. Small parts are copied
/// together; record batches travel as the very `Bytes` the encoder sealed, so a
/// produce request does not copy its payload a second time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutFrame {
    segments: Vec<Bytes>,
}

impl OutFrame {
    /// The frame's segments, in write order.
    pub fn segments(&self) -> &[Bytes] {
        &self.segments
    }

    /// Total size on the wire, size prefix included.
    pub fn len(&self) -> usize {
        self.segments.iter().map(Bytes::len).sum()
    }

    /// True for a frame with no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All segments copied into one buffer (tests, raw clients).
    pub fn to_vec(&self) -> Vec<u8> {
        self.segments.concat()
    }

    pub(crate) fn push(&mut self, segment: Bytes) {
        if !segment.is_empty() {
            self.segments.push(segment);
        }
    }
}

impl From<BytesMut> for OutFrame {
    fn from(b: BytesMut) -> Self {
        OutFrame {
            segments: vec![b.freeze()],
        }
    }
}

/// Encodes `[size][request header][body]` for `api` at `version`.
pub fn encode_request<M: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: &str,
    body: &M,
) -> BytesMut {
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_string())));
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    header
        .encode(&mut buf, api.request_header_version(version))
        .expect("request header encodes");
    body.encode(&mut buf, version)
        .expect("request body within its version's limits");
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf
}

/// Encodes `[size][response header][body]` for `api` at `version`.
pub fn encode_response<M: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &M,
) -> BytesMut {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, api.response_header_version(version))
        .expect("response header encodes");
    body.encode(&mut buf, version)
        .expect("response body within its version's limits");
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf
}

/// The first room a frame's buffer gets, and the least it grows by.
pub const READ_CHUNK: usize = 8 * 1024;

/// Reads one frame body (without its size prefix). `Ok(None)` on a clean end of
/// stream before a new frame starts. The body is read as it arrives, never
/// past its end, into a buffer that grows only when full (by what it holds, at
/// least [`READ_CHUNK`]): a peer that declares a large frame and sends little
/// costs about what it sent, never what it declared.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> io::Result<Option<Bytes>> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = i32::from_be_bytes(len);
    let len = match usize::try_from(len) {
        Ok(n) if n <= max => n,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("frame length {len} outside 0..={max}"),
            ))
        }
    };
    let mut body = BytesMut::new();
    while body.len() < len {
        let missing = len - body.len();
        if body.capacity() == body.len() {
            body.reserve(missing.min(READ_CHUNK));
        }
        let room = missing.min(body.capacity() - body.len());
        if reader.read_buf(&mut (&mut body).limit(room)).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("stream ended after {} of a frame's {len} bytes", body.len()),
            ));
        }
    }
    Ok(Some(body.freeze()))
}

/// The correlation id at the start of a response frame body.
pub fn peek_correlation_id(body: &Bytes) -> Option<i32> {
    (body.len() >= 4).then(|| i32::from_be_bytes([body[0], body[1], body[2], body[3]]))
}

/// Decodes a response frame body (header included, skipped) for `api` at
/// `version`, after [`precheck::check_response`] found its structure sound:
/// no count or length in it can make the decoder allocate without bound.
pub fn decode_response<M: Decodable + HeaderVersion>(
    api: ApiKey,
    version: i16,
    mut body: Bytes,
) -> Result<M, String> {
    precheck::check_response(api, version, &body)
        .map_err(|e| format!("bad {api:?} v{version} response: {e}"))?;
    ResponseHeader::decode(&mut body, api.response_header_version(version))
        .map_err(|e| format!("bad {api:?} response header: {e}"))?;
    let m = M::decode(&mut body, version)
        .map_err(|e| format!("bad {api:?} v{version} response: {e}"))?;
    if body.has_remaining() {
        return Err(format!(
            "{} trailing bytes after {api:?} v{version} response",
            body.remaining()
        ));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;
    use tokio::io::ReadBuf;

    /// Serves `data` at most `step` bytes per read, then waits forever (or
    /// ends the stream when `eof`); remembers the most room a read offered.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        step: usize,
        eof: bool,
        largest_offer: usize,
    }

    impl Trickle {
        fn new(data: Vec<u8>, step: usize, eof: bool) -> Self {
            Trickle {
                data,
                at: 0,
                step,
                eof,
                largest_offer: 0,
            }
        }
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            self.largest_offer = self.largest_offer.max(buf.remaining());
            let left = self.data.len() - self.at;
            if left == 0 {
                return if self.eof {
                    Poll::Ready(Ok(()))
                } else {
                    Poll::Pending
                };
            }
            let n = left.min(self.step).min(buf.remaining());
            buf.put_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Poll::Ready(Ok(()))
        }
    }

    fn frame(declared: usize, body: &[u8]) -> Vec<u8> {
        let mut f = (declared as i32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_declared_at_64_mib_with_4_bytes_sent_costs_one_chunk() {
        let mut r = Trickle::new(frame(MAX_RESPONSE_FRAME, &[1, 2, 3, 4]), 1 << 20, false);
        let read = read_frame(&mut r, MAX_RESPONSE_FRAME);
        let waited = tokio::time::timeout(Duration::from_secs(1), read).await;
        assert!(waited.is_err(), "still waiting for the rest");
        assert_eq!(r.at, 8, "every byte sent was read");
        assert!(
            r.largest_offer <= READ_CHUNK,
            "the buffer ran {} bytes ahead of what arrived",
            r.largest_offer
        );
    }

    #[tokio::test]
    async fn a_frame_arriving_in_small_pieces_is_read_whole_and_no_further() {
        let body: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let mut data = frame(body.len(), &body);
        data.extend_from_slice(&frame(3, b"abc"));
        let mut r = Trickle::new(data, 777, true);
        let first = read_frame(&mut r, MAX_RESPONSE_FRAME).await.unwrap();
        assert_eq!(first.as_deref(), Some(&body[..]));
        let second = read_frame(&mut r, MAX_RESPONSE_FRAME).await.unwrap();
        assert_eq!(second.as_deref(), Some(&b"abc"[..]));
        assert_eq!(read_frame(&mut r, MAX_RESPONSE_FRAME).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_stream_ending_inside_a_frame_or_a_bad_length_is_an_error() {
        let mut r = Trickle::new(frame(10, b"abc"), 2, true);
        let e = read_frame(&mut r, 100).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(e.to_string(), "stream ended after 3 of a frame's 10 bytes");
        for declared in [-1, 101, i32::MIN, i32::MAX] {
            let mut r = Trickle::new(declared.to_be_bytes().to_vec(), 4, true);
            let e = read_frame(&mut r, 100).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{declared}");
        }
    }
}
