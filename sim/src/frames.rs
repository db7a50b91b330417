//! Reading request frames from untrusted clients without trusting their length
//! prefix: a frame's buffer grows with the bytes that actually arrive, and every
//! byte held in a frame being read is charged to a budget shared by all
//! connections of a server. A client that declares a 100 MiB frame and sends 4
//! bytes holds 4 bytes (plus one read chunk), not 100 MiB; when the budget is
//! spent, the connection that wanted more is closed with a one-line reason.

use bytes::{Bytes, BytesMut};
use std::cell::Cell;
use std::rc::Rc;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest request frame a broker reads (Kafka's `socket.request.max.bytes`).
pub const MAX_REQUEST_FRAME: usize = 100 * 1024 * 1024;

/// Bytes read per step while a frame arrives.
const CHUNK: usize = 64 * 1024;

/// Memory for frames being read, shared by the connections of one server (a
/// world or `sim serve`; single-threaded, hence `Rc<Cell>`).
#[derive(Clone, Debug)]
pub struct FrameBudget {
    used: Rc<Cell<usize>>,
    limit: usize,
}

impl FrameBudget {
    /// A budget of `limit` bytes across all connections.
    pub fn new(limit: usize) -> Self {
        FrameBudget {
            used: Rc::new(Cell::new(0)),
            limit,
        }
    }

    /// Bytes charged now.
    pub fn used(&self) -> usize {
        self.used.get()
    }

    fn charge(&self, n: usize) -> Result<(), String> {
        let used = self.used.get();
        if used + n > self.limit {
            return Err(format!(
                "frame memory budget of {} bytes exhausted ({used} held by frames being read)",
                self.limit
            ));
        }
        self.used.set(used + n);
        Ok(())
    }

    fn release(&self, n: usize) {
        self.used.set(self.used.get().saturating_sub(n));
    }
}

/// A received frame; its bytes stay charged to the budget until it is dropped.
#[derive(Debug)]
pub struct Frame {
    /// The frame, size prefix stripped.
    pub body: Bytes,
    budget: FrameBudget,
    charged: usize,
}

impl Drop for Frame {
    fn drop(&mut self) {
        self.budget.release(self.charged);
    }
}

/// Releases a partial frame's charge if reading it fails.
struct Charge<'a> {
    budget: &'a FrameBudget,
    n: usize,
}

impl Drop for Charge<'_> {
    fn drop(&mut self) {
        self.budget.release(self.n);
    }
}

/// Reads one size-prefixed frame. `Ok(None)` on a clean end of stream before a
/// frame starts; `Err` with a one-line reason for a bad length, an early end,
/// an I/O error or an exhausted budget.
pub async fn read_request<R: AsyncRead + Unpin>(
    reader: &mut R,
    budget: &FrameBudget,
) -> Result<Option<Frame>, String> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(format!("read: {e}")),
    }
    let len = i32::from_be_bytes(len);
    if len < 0 || len as usize > MAX_REQUEST_FRAME {
        return Err(format!(
            "frame length {len} outside 0..={MAX_REQUEST_FRAME}"
        ));
    }
    let len = len as usize;
    let mut charge = Charge { budget, n: 0 };
    let mut body = BytesMut::new();
    while body.len() < len {
        let step = CHUNK.min(len - body.len());
        budget.charge(step)?;
        charge.n += step;
        let start = body.len();
        body.resize(start + step, 0);
        let mut filled = start;
        while filled < start + step {
            match reader.read(&mut body[filled..start + step]).await {
                Ok(0) => {
                    return Err(format!(
                        "connection closed {} bytes into a {len}-byte frame",
                        filled
                    ))
                }
                Ok(n) => filled += n,
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }
    let charged = std::mem::take(&mut charge.n);
    Ok(Some(Frame {
        body: body.freeze(),
        budget: budget.clone(),
        charged,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_declared_length_is_not_allocated_before_its_bytes_arrive() {
        let budget = FrameBudget::new(10 * CHUNK);
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        client
            .write_all(&(100_000_000i32).to_be_bytes())
            .await
            .unwrap();
        client.write_all(b"abcd").await.unwrap();
        drop(client);
        let e = read_request(&mut server, &budget).await.unwrap_err();
        assert!(e.contains("closed 4 bytes into"), "{e}");
        assert_eq!(budget.used(), 0, "a failed frame releases its charge");
    }

    #[tokio::test]
    async fn frames_are_charged_until_dropped_and_the_budget_refuses_more() {
        let budget = FrameBudget::new(CHUNK);
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        client.write_all(&5i32.to_be_bytes()).await.unwrap();
        client.write_all(b"hello").await.unwrap();
        client
            .write_all(&(2 * CHUNK as i32).to_be_bytes())
            .await
            .unwrap();
        let frame = read_request(&mut server, &budget).await.unwrap().unwrap();
        assert_eq!(&frame.body[..], b"hello");
        assert_eq!(budget.used(), 5);
        let e = read_request(&mut server, &budget).await.unwrap_err();
        assert!(e.contains("budget"), "{e}");
        drop(frame);
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test]
    async fn negative_and_oversized_lengths_are_refused() {
        let budget = FrameBudget::new(1 << 30);
        for len in [-1i32, (MAX_REQUEST_FRAME + 1) as i32] {
            let (mut client, mut server) = tokio::io::duplex(64);
            client.write_all(&len.to_be_bytes()).await.unwrap();
            let e = read_request(&mut server, &budget).await.unwrap_err();
            assert!(e.contains("outside"), "{e}");
        }
    }
}
