//! Fault variants tried so far, so that fresh draws go where the search has
//! not been. A variant is a fault's kind, with the injected error or
//! injection for `inject` faults (`partition`, `crash`, `inject 46`,
//! `inject lose_response`, ...), and a trigger if it has one.
//!
//! Why: many bugs fail on first contact with one rare variant (an injected
//! DUPLICATE_SEQUENCE_NUMBER is 1 in 120 of the swarm's draws). Coverage
//! cannot lead to such a variant, since the run that reaches it is the first
//! to show its features; what helps is sampling the variants without
//! repeating the common ones, as stratified sampling does. Fresh candidates
//! are therefore the most novel of a few swarm seeds: still plain swarm
//! draws, replayed by their world seed alone.

use crate::cluster::Injection;
use crate::faults::{Action, Fault};
use std::collections::BTreeMap;

/// How many times each variant was in a candidate's schedule.
#[derive(Clone, Debug, Default)]
pub struct Tried {
    counts: BTreeMap<String, u64>,
}

/// The variant of a fault (see the module docs).
pub fn variant(f: &Fault) -> String {
    let kind = match &f.action {
        Action::Inject(_, what, _) => match what {
            Injection::Error(code) => format!("inject {code}"),
            Injection::LoseResponse => "inject lose_response".into(),
            Injection::CrashAfterAppend(_) => "inject crash_after_append".into(),
            Injection::HoldResponse => "inject hold_response".into(),
        },
        other => other.kind_name().into(),
    };
    match &f.when {
        Some(t) => format!("{kind} when {:?}", t.api),
        None => kind,
    }
}

impl Tried {
    /// How new `faults` would be: the sum over its faults of 1 / (1 + times
    /// the variant was tried), each variant counted once per schedule.
    pub fn novelty(&self, faults: &[Fault]) -> f64 {
        let mut seen: Vec<String> = faults.iter().map(variant).collect();
        seen.sort();
        seen.dedup();
        seen.iter()
            .map(|v| 1.0 / (1 + self.counts.get(v).copied().unwrap_or(0)) as f64)
            .sum()
    }

    /// Counts the variants of a schedule that was made into a candidate.
    pub fn note(&mut self, faults: &[Fault]) {
        for f in faults {
            *self.counts.entry(variant(f)).or_default() += 1;
        }
    }

    /// Variants tried at least once.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// No variant tried yet.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Target;
    use producer_core::TopicPartition;
    use std::time::Duration;

    fn inject(code: i16) -> Fault {
        Fault::once(
            Duration::from_millis(5),
            Action::Inject(TopicPartition::new("t", 0), Injection::Error(code), 1),
        )
    }

    #[test]
    fn an_untried_variant_is_more_novel_than_a_tried_one() {
        let crash = Fault::once(Duration::ZERO, Action::Crash(Target::Broker(1)));
        let mut tried = Tried::default();
        tried.note(&[crash.clone(), inject(6)]);
        assert_eq!(variant(&crash), "crash");
        assert_eq!(variant(&inject(46)), "inject 46");
        assert!(tried.novelty(&[inject(46)]) > tried.novelty(&[inject(6)]));
        assert!(tried.novelty(&[inject(6), inject(6)]) == tried.novelty(&[inject(6)]));
        assert_eq!(tried.len(), 2);
    }
}
