//! The producer's own time. An [`Instant`] is how long after the producer
//! started something happened: a plain value, with no clock behind it. The
//! sender's state and the produce set take it as their driver (or a test)
//! hands it in; only the driver and the `Producer` handles read tokio's clock,
//! through a [`Clock`].

use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

/// A point in the producer's time: this long after it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(Duration);

impl Instant {
    /// When the producer started.
    pub const START: Instant = Instant(Duration::ZERO);

    /// The instant `since` after the start.
    pub const fn from_start(since: Duration) -> Self {
        Instant(since)
    }

    /// How long after the start this is.
    pub const fn since_start(self) -> Duration {
        self.0
    }

    /// The instant `d` earlier, unless that is before the start.
    pub fn checked_sub(self, d: Duration) -> Option<Instant> {
        self.0.checked_sub(d).map(Instant)
    }

    /// How long after `earlier` this is (zero if it is not after it).
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0 + d)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        self.0 += d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Panics if `earlier` is later (as std's `Instant` may).
    fn sub(self, earlier: Instant) -> Duration {
        self.0 - earlier.0
    }
}

/// Reads tokio's clock as the producer's time (paused and simulated clocks
/// included, so simulation runs replay).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// tokio's time at the producer's start.
    start: tokio::time::Instant,
}

impl Clock {
    /// A clock whose start is now.
    pub fn start_now() -> Self {
        Clock {
            start: tokio::time::Instant::now(),
        }
    }

    /// The producer's time now.
    pub fn now(&self) -> Instant {
        self.at(tokio::time::Instant::now())
    }

    /// The producer's time at tokio's `t` (the start, if `t` is before it).
    pub fn at(&self, t: tokio::time::Instant) -> Instant {
        Instant(t.saturating_duration_since(self.start))
    }

    /// tokio's time at `at`, for sleeping until it.
    pub fn to_tokio(&self, at: Instant) -> tokio::time::Instant {
        self.start + at.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_count_from_the_start() {
        let t = Instant::START + Duration::from_millis(5);
        assert_eq!(t.since_start(), Duration::from_millis(5));
        assert_eq!(t - Instant::START, Duration::from_millis(5));
        assert_eq!(t.checked_sub(Duration::from_millis(6)), None);
        assert_eq!(
            t.checked_sub(Duration::from_millis(5)),
            Some(Instant::START)
        );
        assert_eq!(Instant::START.saturating_duration_since(t), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn the_clock_reads_tokios_time_from_its_start() {
        let clock = Clock::start_now();
        tokio::time::advance(Duration::from_millis(7)).await;
        let now = clock.now();
        assert_eq!(now, Instant::from_start(Duration::from_millis(7)));
        assert_eq!(clock.to_tokio(now), tokio::time::Instant::now());
    }
}
