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

/// Reads one frame body (without its size prefix). `Ok(None)` on a clean end of
/// stream before a new frame starts.
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
    if len < 0 || len as usize > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame length {len} outside 0..={max}"),
        ));
    }
    let mut body = BytesMut::zeroed(len as usize);
    reader.read_exact(&mut body).await?;
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
