//! The cluster metadata the sender publishes for `send` to read.
//!
//! Not a `tokio::sync::watch` channel: `watch` shards its waiters over eight
//! `Notify`s chosen by tokio's thread RNG, so several sends waiting for the
//! same metadata would wake in a different order from run to run, and a
//! simulation seed would no longer replay bit for bit. One `Notify`, woken in
//! the order its waiters registered, keeps the order a function of events.

use crate::metadata::ClusterMetadata;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The latest metadata, and a way to wait for a change.
#[derive(Debug, Default)]
pub(crate) struct MetadataCell {
    /// The current snapshot (a std mutex: held only to clone or swap an `Arc`).
    current: Mutex<Arc<ClusterMetadata>>,
    /// Wakes every waiter when a new snapshot is published.
    changed: Notify,
}

impl MetadataCell {
    /// The current snapshot.
    pub fn borrow(&self) -> Arc<ClusterMetadata> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Publishes a new snapshot and wakes every waiter.
    pub fn send_replace(&self, metadata: Arc<ClusterMetadata>) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = metadata;
        self.changed.notify_waiters();
    }

    /// Waits until `pick` finds what it needs in a snapshot, or `deadline`.
    pub async fn wait_for<T>(
        &self,
        deadline: Instant,
        pick: impl Fn(&ClusterMetadata) -> Option<T>,
    ) -> Option<T> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the check, so a publish in between is not missed.
            changed.as_mut().enable();
            if let Some(v) = pick(&self.borrow()) {
                return Some(v);
            }
            tokio::time::timeout_at(deadline, changed).await.ok()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::PartitionMeta;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn waiters_see_a_published_snapshot_and_time_out_without_one() {
        let cell = Arc::new(MetadataCell::default());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        let waiter = {
            let cell = cell.clone();
            tokio::spawn(async move { cell.wait_for(deadline, |m| m.partition_count("t")).await })
        };
        tokio::task::yield_now().await;
        let mut m = ClusterMetadata::default();
        m.topics.insert(
            "t".into(),
            vec![
                PartitionMeta {
                    leader: Some(0),
                    leader_epoch: 0
                };
                3
            ],
        );
        cell.send_replace(Arc::new(m));
        assert_eq!(waiter.await.unwrap(), Some(3));
        let none = cell.wait_for(deadline, |m| m.partition_count("u")).await;
        assert_eq!(none, None, "gives up at the deadline");
    }
}
