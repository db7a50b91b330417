//! The corpus (fault schedules whose runs reached new coverage) and the bandit
//! that chooses mutation operators by how often each found new coverage.

use super::mutate::Op;
use crate::faults::Fault;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// One schedule worth mutating.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The swarm part of the schedule (the scenario's own faults come on top).
    pub faults: Vec<Fault>,
    /// The world seed it ran with.
    pub seed: u64,
    /// Features its run added to the coverage.
    pub found: usize,
    /// Times it was chosen as a parent.
    pub picked: u32,
}

/// Schedules that reached new coverage, in the order they were found.
#[derive(Clone, Debug, Default)]
pub struct Corpus {
    /// The entries.
    pub entries: Vec<Entry>,
}

impl Corpus {
    /// Chooses a parent: entries that found more and were mutated less weigh
    /// more (`(1 + found) / (1 + picked)`).
    pub fn pick(&mut self, rng: &mut ChaCha8Rng) -> usize {
        let weight = |e: &Entry| (1 + e.found) as f64 / (1 + e.picked) as f64;
        let total: f64 = self.entries.iter().map(weight).sum();
        let mut x = rng.gen_range(0.0..total);
        let mut chosen = self.entries.len() - 1;
        for (i, e) in self.entries.iter().enumerate() {
            x -= weight(e);
            if x < 0.0 {
                chosen = i;
                break;
            }
        }
        self.entries[chosen].picked += 1;
        chosen
    }

    /// A fingerprint of the corpus (schedules and seeds, in order), for the
    /// determinism test and reports.
    pub fn hash(&self) -> u64 {
        let mut h = Fnv::default();
        for e in &self.entries {
            h.write(&e.seed.to_le_bytes());
            for f in &e.faults {
                h.write(f.to_string().as_bytes());
            }
            h.write(b";");
        }
        h.0
    }
}

/// FNV-1a, 64 bits: stable across Rust versions, unlike `DefaultHasher`.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// How each operator has done: chosen `uses` times, `wins` of them found new
/// coverage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Arm {
    /// Mutants it took part in.
    pub uses: u64,
    /// Of those, mutants that reached new coverage.
    pub wins: u64,
}

/// A bandit over the operators: each is chosen with probability proportional
/// to its smoothed success rate `(wins + 1) / (uses + 2)`, so an operator that
/// finds nothing fades but is never ruled out.
#[derive(Clone, Debug, Default)]
pub struct Bandit {
    /// One arm per [`Op::ALL`] entry.
    pub arms: [Arm; Op::ALL.len()],
}

impl Bandit {
    fn weight(a: &Arm) -> f64 {
        (a.wins + 1) as f64 / (a.uses + 2) as f64
    }

    /// Chooses an operator.
    pub fn choose(&self, rng: &mut ChaCha8Rng) -> Op {
        let total: f64 = self.arms.iter().map(Self::weight).sum();
        let mut x = rng.gen_range(0.0..total);
        for (op, a) in Op::ALL.iter().zip(&self.arms) {
            x -= Self::weight(a);
            if x < 0.0 {
                return *op;
            }
        }
        Op::ALL[Op::ALL.len() - 1]
    }

    /// Records the outcome of a mutant made with `ops`.
    pub fn credit(&mut self, ops: &[Op], won: bool) {
        for op in ops {
            let i = Op::ALL.iter().position(|o| o == op).expect("a known op");
            self.arms[i].uses += 1;
            self.arms[i].wins += won as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_bandit_prefers_an_operator_that_keeps_winning() {
        let mut b = Bandit::default();
        for _ in 0..50 {
            b.credit(&[Op::Shift], true);
            b.credit(&[Op::Drop], false);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let shifts = (0..1000)
            .filter(|_| b.choose(&mut rng) == Op::Shift)
            .count();
        let drops = (0..1000).filter(|_| b.choose(&mut rng) == Op::Drop).count();
        assert!(shifts > 5 * drops, "shift {shifts}, drop {drops}");
        assert!(drops > 0, "a losing operator is never ruled out");
    }
}
