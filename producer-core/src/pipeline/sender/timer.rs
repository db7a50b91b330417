//! The sender's deadlines, one named slot each (as quinn-proto's `TimerTable`):
//! the driver sleeps until [`TimerTable::next_timeout`], and tests can ask which
//! deadline that is.

use crate::clock::Instant;

/// A kind of deadline the sender waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// The earliest open batch's linger runs out (none while flushing or closing:
    /// then batches go at once).
    Linger,
    /// The oldest unresolved batch reaches its `delivery_timeout`.
    DeliveryExpiry,
    /// A partition's retry backoff ends.
    RetryBackoff,
    /// The oldest unanswered request of some connection times out.
    RequestTimeout,
    /// A broker may be dialled again.
    ConnectionBackoff,
    /// Metadata may be asked for again.
    MetadataRetry,
    /// A producer id may be asked for again.
    ProducerIdRetry,
}

impl Timer {
    /// Every timer, in slot order.
    pub const ALL: [Timer; 7] = [
        Timer::Linger,
        Timer::DeliveryExpiry,
        Timer::RetryBackoff,
        Timer::RequestTimeout,
        Timer::ConnectionBackoff,
        Timer::MetadataRetry,
        Timer::ProducerIdRetry,
    ];
}

/// One optional deadline per [`Timer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TimerTable {
    /// Indexed by `Timer as usize`.
    slots: [Option<Instant>; 7],
}

impl TimerTable {
    /// Sets (or clears) one deadline.
    pub fn set(&mut self, timer: Timer, at: Option<Instant>) {
        self.slots[timer as usize] = at;
    }

    /// One deadline.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.slots[timer as usize]
    }

    /// The earliest deadline and which it is (the first slot on a tie).
    pub fn next_timeout(&self) -> Option<(Timer, Instant)> {
        Timer::ALL
            .iter()
            .filter_map(|&t| self.get(t).map(|at| (t, at)))
            .min_by_key(|&(t, at)| (at, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_earliest_slot_is_the_next_timeout() {
        let t0 = Instant::START;
        let mut table = TimerTable::default();
        assert_eq!(table.next_timeout(), None);
        table.set(Timer::MetadataRetry, Some(t0 + Duration::from_millis(50)));
        table.set(Timer::Linger, Some(t0 + Duration::from_millis(5)));
        table.set(Timer::RequestTimeout, Some(t0 + Duration::from_millis(5)));
        assert_eq!(
            table.next_timeout(),
            Some((Timer::Linger, t0 + Duration::from_millis(5)))
        );
        table.set(Timer::Linger, None);
        table.set(Timer::RequestTimeout, None);
        assert_eq!(
            table.next_timeout(),
            Some((Timer::MetadataRetry, t0 + Duration::from_millis(50)))
        );
    }
}
