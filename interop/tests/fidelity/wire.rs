//! One Kafka connection for the differential suite: any request at any version,
//! written and read with `kafka-protocol` alone (no producer-core parsing, so
//! the suite's reading of an answer owes nothing to the code under test), and
//! requests pipelined on one connection.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any answer may take (a Fetch waits at most its own max wait).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

/// A connection to one broker.
pub struct Conn {
    stream: TcpStream,
    next_correlation: i32,
}

/// Why a call has no answer.
pub type Closed = String;

impl Conn {
    /// Connects to `addr` (`host:port`).
    pub async fn open(addr: &str) -> Result<Conn, String> {
        let stream = tokio::time::timeout(ANSWER_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("connecting to {addr} timed out"))?
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            next_correlation: 1,
        })
    }

    /// Writes one request frame (client id `fidelity`) without waiting.
    pub async fn send<R: Request + HeaderVersion>(
        &mut self,
        version: i16,
        req: &R,
    ) -> Result<(), Closed> {
        let frame = encode(R::KEY, version, self.next_correlation, req);
        self.next_correlation += 1;
        self.send_raw(&frame).await
    }

    /// Writes bytes as they are (a frame the caller built).
    pub async fn send_raw(&mut self, frame: &[u8]) -> Result<(), Closed> {
        self.stream
            .write_all(frame)
            .await
            .map_err(|e| format!("write: {e}"))
    }

    /// Reads the next answer as `R`'s response at `version`.
    pub async fn recv<R: Request>(&mut self, version: i16) -> Result<R::Response, Closed>
    where
        R::Response: Decodable + HeaderVersion,
    {
        let mut body = self.recv_frame().await?;
        let api = ApiKey::try_from(R::KEY).expect("a known API");
        ResponseHeader::decode(&mut body, api.response_header_version(version))
            .map_err(|e| format!("bad {api:?} response header: {e}"))?;
        let m = R::Response::decode(&mut body, version)
            .map_err(|e| format!("bad {api:?} v{version} response: {e}"))?;
        if body.has_remaining() {
            return Err(format!(
                "{} bytes after the {api:?} v{version} response",
                body.remaining()
            ));
        }
        Ok(m)
    }

    /// Reads one response frame (without its size prefix); an error when the
    /// broker closed the connection or took too long.
    pub async fn recv_frame(&mut self) -> Result<Bytes, Closed> {
        let read = async {
            let len = self.stream.read_i32().await.map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => {
                    "closed".to_string()
                }
                _ => format!("read: {e}"),
            })?;
            if !(0..=64 << 20).contains(&len) {
                return Err(format!("frame length {len}"));
            }
            let mut buf = vec![0u8; len as usize];
            self.stream
                .read_exact(&mut buf)
                .await
                .map_err(|_| "closed".to_string())?;
            Ok(Bytes::from(buf))
        };
        tokio::time::timeout(ANSWER_TIMEOUT, read)
            .await
            .map_err(|_| "no answer in time".to_string())?
    }

    /// One request, one answer.
    pub async fn call<R: Request + HeaderVersion>(
        &mut self,
        version: i16,
        req: &R,
    ) -> Result<R::Response, Closed>
    where
        R::Response: Decodable + HeaderVersion,
    {
        self.send(version, req).await?;
        self.recv::<R>(version).await
    }
}

/// `[size][request header][body]` for API `key` at `version`.
pub fn encode<M: Encodable>(key: i16, version: i16, correlation_id: i32, body: &M) -> Vec<u8> {
    let api = ApiKey::try_from(key).expect("a known API");
    let header = RequestHeader::default()
        .with_request_api_key(key)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("fidelity")));
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0);
    header
        .encode(&mut buf, api.request_header_version(version))
        .expect("request header encodes");
    body.encode(&mut buf, version)
        .expect("request body within its version's limits");
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf.to_vec()
}
