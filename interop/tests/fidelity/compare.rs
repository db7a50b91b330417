//! Comparing two targets' observations of a case, and the table of documented
//! divergences in `docs/fidelity.md` (its rows are read here, so the table a
//! reader sees is the one the suite applies).

use super::run::Observations;
use std::path::Path;

/// One observation on which the two brokers differ.
#[derive(Clone, Debug)]
pub struct Divergence {
    pub case: String,
    pub key: String,
    pub kafka: String,
    pub sim: String,
}

/// What a missing observation reads as.
pub const ABSENT: &str = "(absent)";

/// Every key on which `kafka` and `sim` differ, in the order Kafka's answers
/// came, then keys only the simulation wrote.
pub fn diff(case: &str, kafka: &Observations, sim: &Observations) -> Vec<Divergence> {
    let find = |obs: &Observations, key: &str| {
        obs.iter()
            .find(|(k, _)| k == key)
            .map_or(ABSENT.to_string(), |(_, v)| v.clone())
    };
    let mut out = Vec::new();
    for (key, k) in kafka {
        let s = find(sim, key);
        if *k != s {
            out.push(Divergence {
                case: case.into(),
                key: key.clone(),
                kafka: k.clone(),
                sim: s,
            });
        }
    }
    for (key, s) in sim {
        if !kafka.iter().any(|(k, _)| k == key) {
            out.push(Divergence {
                case: case.into(),
                key: key.clone(),
                kafka: ABSENT.into(),
                sim: s.clone(),
            });
        }
    }
    out
}

/// A row of the documented-divergences table: each of the first four cells a
/// pattern (`*` matches any run of characters).
#[derive(Clone, Debug)]
pub struct Documented {
    pub line: usize,
    pub case: String,
    pub key: String,
    pub kafka: String,
    pub sim: String,
    pub why: String,
}

impl Documented {
    pub fn matches(&self, d: &Divergence) -> bool {
        glob(&self.case, &d.case)
            && glob(&self.key, &d.key)
            && glob(&self.kafka, &d.kafka)
            && glob(&self.sim, &d.sim)
    }
}

/// Reads the rows of the table under `## Documented divergences` in `path`.
pub fn documented(path: &Path) -> Vec<Documented> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut rows = Vec::new();
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("## ") {
            inside = line.trim() == "## Documented divergences";
            continue;
        }
        if !inside
            || !line.starts_with('|')
            || line.starts_with("|---")
            || line.starts_with("| case")
        {
            continue;
        }
        let cells: Vec<String> = line
            .trim()
            .trim_matches('|')
            .split(" | ")
            .map(|c| c.trim().trim_matches('`').replace("\\|", "|"))
            .collect();
        assert!(
            cells.len() == 5,
            "{}:{}: a documented divergence needs 5 cells (case | observation | real Kafka | sim serve | why), found {}",
            path.display(),
            i + 1,
            cells.len()
        );
        assert!(
            !cells[4].is_empty(),
            "{}:{}: a documented divergence needs its reason",
            path.display(),
            i + 1
        );
        rows.push(Documented {
            line: i + 1,
            case: cells[0].clone(),
            key: cells[1].clone(),
            kafka: cells[2].clone(),
            sim: cells[3].clone(),
            why: cells[4].clone(),
        });
    }
    rows
}

/// `*` matches any run of characters; everything else itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[test]
fn glob_matches_runs_of_characters() {
    assert!(glob("a*c", "abbbc"));
    assert!(glob("*", ""));
    assert!(glob("dedup/*", "dedup/window-of-five"));
    assert!(!glob("dedup/*", "sequence/gap"));
    assert!(glob("*error=45*", "error=45 base_offset=-1"));
    assert!(!glob("a*b*c", "acb"));
    assert!(glob("exact", "exact"));
    assert!(!glob("exact", "exactly"));
}
