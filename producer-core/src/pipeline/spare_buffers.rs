//! Batch buffers kept for reuse, as the Java client's `BufferPool` keeps its
//! free buffers.
//!
//! A batch's buffer is charged against `buffer_memory` from the moment a record
//! opens it until the sender lets go of the batch. Allocating a fresh buffer for
//! every batch costs more than filling it at large batch sizes: the kernel zeroes
//! every page the copy touches. So a released buffer, when the batch was its only
//! holder, is kept here *with its charge*: the permits stay taken, so the bound
//! holds, and the next batch that needs about as much takes it instead of
//! allocating. When a send finds no memory, the spares are dropped first and
//! their charge goes back to the pool.

use bytes::{Bytes, BytesMut};
use std::sync::Mutex;

/// Most buffers kept at once.
const MAX_SPARES: usize = 4;

/// Released batch buffers with their memory still charged.
#[derive(Debug, Default)]
pub(crate) struct SpareBuffers {
    spares: Mutex<Vec<BytesMut>>,
}

impl SpareBuffers {
    fn spares(&self) -> std::sync::MutexGuard<'_, Vec<BytesMut>> {
        self.spares.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A kept buffer for a batch that needs `need` bytes: one that holds at
    /// least that and wastes at most a quarter more. Its charge (its capacity)
    /// comes with it.
    pub fn take(&self, need: usize) -> Option<BytesMut> {
        let mut spares = self.spares();
        let fits = |b: &BytesMut| b.capacity() >= need && b.capacity() <= need + need / 4;
        let at = spares.iter().position(fits)?;
        Some(spares.swap_remove(at))
    }

    /// A batch charged `charged` bytes let go of `buffer`: keeps it when the
    /// batch was its only holder and it is no larger than the charge, dropping
    /// the oldest kept buffer when there are already [`MAX_SPARES`]. Returns
    /// the bytes of charge to give back to the pool (all of it when the buffer
    /// is not kept, plus the evicted buffer's).
    pub fn keep(&self, charged: usize, buffer: Option<Bytes>) -> usize {
        let Some(Ok(mut buffer)) = buffer.map(Bytes::try_into_mut) else {
            return charged;
        };
        let capacity = buffer.capacity();
        if capacity == 0 || capacity > charged {
            return charged;
        }
        let mut spares = self.spares();
        // Full: the oldest goes (its charge with it), as batch sizes drift.
        let evicted = if spares.len() >= MAX_SPARES {
            spares.remove(0).capacity()
        } else {
            0
        };
        buffer.clear();
        spares.push(buffer);
        charged - capacity + evicted
    }

    /// Drops every kept buffer; returns the bytes their charges held.
    pub fn drain(&self) -> usize {
        std::mem::take(&mut *self.spares())
            .iter()
            .map(BytesMut::capacity)
            .sum()
    }

    /// Bytes the kept buffers hold.
    pub fn bytes(&self) -> usize {
        self.spares().iter().map(BytesMut::capacity).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(capacity: usize, len: usize) -> Bytes {
        let mut b = BytesMut::with_capacity(capacity);
        b.resize(len, 7);
        b.freeze()
    }

    #[test]
    fn a_kept_buffer_keeps_its_charge_and_serves_a_batch_of_about_its_size() {
        let spares = SpareBuffers::default();
        assert_eq!(spares.keep(1000, Some(sealed(1000, 300))), 0);
        assert_eq!(spares.bytes(), 1000);
        assert!(spares.take(1001).is_none(), "too small");
        assert!(spares.take(700).is_none(), "wastes more than a quarter");
        let b = spares.take(900).expect("fits");
        assert_eq!((b.capacity(), b.len()), (1000, 0));
        assert_eq!(spares.bytes(), 0);
    }

    #[test]
    fn a_buffer_still_shared_or_larger_than_its_charge_goes_back_and_the_oldest_makes_room() {
        let spares = SpareBuffers::default();
        let shared = sealed(1000, 10);
        let _writer = shared.clone();
        assert_eq!(spares.keep(1000, Some(shared)), 1000);
        assert_eq!(spares.keep(500, Some(sealed(1000, 10))), 500);
        assert_eq!(spares.keep(64, None), 64);
        for _ in 0..MAX_SPARES {
            assert_eq!(spares.keep(100, Some(sealed(100, 1))), 0);
        }
        // Full: the oldest goes, with its charge.
        assert_eq!(spares.keep(200, Some(sealed(200, 1))), 100);
        assert_eq!(spares.drain(), 100 * (MAX_SPARES - 1) + 200);
        assert_eq!(spares.bytes(), 0);
    }
}
