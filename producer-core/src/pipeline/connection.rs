//! One broker connection: connect, then a reader and a writer task that move
//! frames between the socket and the sender's driver. Pure I/O: the handshake
//! (ApiVersions) and every deadline are the sender state's.
//!
//! The driver owns the connection through [`ConnTasks`]; dropping it aborts the
//! tasks and closes the socket. Every event carries the connection's generation so
//! the sender's state can ignore news from a connection it has already replaced.

use crate::network::Network;
use crate::wire::frame::{self, OutFrame, MAX_RESPONSE_FRAME};
use bytes::Bytes;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// News from a connection task.
#[derive(Debug)]
pub(crate) enum ConnEvent {
    /// Connected; frames go into `tx`.
    Connected {
        /// Which broker.
        broker: i32,
        /// Which dial of it.
        generation: u64,
        /// The writer task's input.
        tx: mpsc::UnboundedSender<OutFrame>,
    },
    /// A response frame (header included, size prefix stripped).
    Response {
        /// Which broker.
        broker: i32,
        /// Which dial of it.
        generation: u64,
        /// The frame.
        body: Bytes,
    },
    /// The connection failed or closed.
    Closed {
        /// Which broker.
        broker: i32,
        /// Which dial of it.
        generation: u64,
        /// Why, for the observer.
        reason: String,
    },
}

/// Aborts a task when dropped.
#[derive(Debug)]
pub(crate) struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The tasks of one connection; dropping this closes it.
pub(crate) type ConnTasks = AbortOnDrop;

/// Parameters of a connection attempt.
pub(crate) struct Dial {
    /// Broker id, reported back with every event.
    pub broker: i32,
    /// The state's generation of this dial, reported back with every event.
    pub generation: u64,
    /// `host:port`.
    pub addr: String,
}

/// Starts connecting; the outcome arrives as a [`ConnEvent`].
pub(crate) fn spawn(
    dial: Dial,
    network: Arc<dyn Network>,
    events: mpsc::UnboundedSender<ConnEvent>,
) -> ConnTasks {
    AbortOnDrop(tokio::spawn(async move {
        let (broker, generation) = (dial.broker, dial.generation);
        let reason = match run(dial, network, events.clone()).await {
            Ok(()) => "closed by broker".to_string(),
            Err(e) => e,
        };
        let _ = events.send(ConnEvent::Closed {
            broker,
            generation,
            reason,
        });
    }))
}

/// Connects, then runs the writer task and reads responses until the
/// connection ends (`Err`: why it failed).
async fn run(
    dial: Dial,
    network: Arc<dyn Network>,
    events: mpsc::UnboundedSender<ConnEvent>,
) -> Result<(), String> {
    let stream = network
        .connect(&dial.addr)
        .await
        .map_err(|e| format!("connect to {}: {e}", dial.addr))?;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::unbounded_channel::<OutFrame>();
    let (broker, generation) = (dial.broker, dial.generation);
    let writer_events = events.clone();
    let _writer = AbortOnDrop(tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            let mut written = Ok(());
            for segment in frame.segments() {
                written = writer.write_all(segment).await;
                if written.is_err() {
                    break;
                }
            }
            if let Err(e) = written {
                let _ = writer_events.send(ConnEvent::Closed {
                    broker,
                    generation,
                    reason: format!("write: {e}"),
                });
                return;
            }
        }
    }));
    if events
        .send(ConnEvent::Connected {
            broker,
            generation,
            tx,
        })
        .is_err()
    {
        return Ok(());
    }
    loop {
        match frame::read_frame(&mut reader, MAX_RESPONSE_FRAME).await {
            Ok(Some(body)) => {
                if events
                    .send(ConnEvent::Response {
                        broker,
                        generation,
                        body,
                    })
                    .is_err()
                {
                    return Ok(());
                }
            }
            Ok(None) => return Ok(()),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}
