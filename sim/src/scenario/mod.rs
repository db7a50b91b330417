//! Scenario files: TOML in, a validated [`Scenario`] out, or an error that names
//! the file, the line and column, the field and what was expected.
//!
//! The schema is documented with a full annotated example in `docs/scenarios.md`.

mod check;
mod file;

pub use file::*;

use crate::cluster::ClusterSpec;
use crate::mechanisms::MechanismExpect;
use std::fmt;
use std::path::Path;
use toml::Spanned;

/// A scenario file that could not be loaded: its first mistake, and every
/// other one found (`more`), each with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file.
    pub file: String,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// What is wrong (field and expectation).
    pub message: String,
    /// The file's other mistakes, in file order of discovery.
    pub more: Vec<ScenarioError>,
}

impl ScenarioError {
    /// Every mistake, one line each: `file:line:column: message`.
    pub fn lines(&self) -> Vec<String> {
        std::iter::once(self)
            .chain(self.more.iter())
            .map(|e| match e.position {
                Some((line, col)) => format!("{}:{line}:{col}: {}", e.file, e.message),
                None => format!("{}: {}", e.file, e.message),
            })
            .collect()
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lines().join("\n"))
    }
}

impl std::error::Error for ScenarioError {}

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name.
    pub name: String,
    /// The file it came from (for replay commands).
    pub path: String,
    /// Everything as written, defaults applied.
    pub file: ScenarioFile,
    /// The cluster to build.
    pub cluster: ClusterSpec,
    /// Timed faults, resolved and checked.
    pub faults: Vec<crate::faults::Fault>,
    /// Violation kinds accepted as expected anomalies.
    pub allowed: Vec<crate::checker::Kind>,
    /// Violation kinds that must appear.
    pub required: Vec<crate::checker::Kind>,
    /// What every run must have exercised.
    pub mechanisms: MechanismExpect,
}

/// Line and column (1-based) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// Builds errors for one file.
pub struct Reporter<'a> {
    file: &'a str,
    text: &'a str,
}

impl Reporter<'_> {
    fn error(&self, position: Option<(usize, usize)>, message: String) -> ScenarioError {
        ScenarioError {
            file: self.file.to_string(),
            position,
            message,
            more: Vec::new(),
        }
    }

    /// An error at a spanned value.
    pub fn at<T>(&self, spanned: &Spanned<T>, message: impl Into<String>) -> ScenarioError {
        self.error(
            Some(line_col(self.text, spanned.span().start)),
            message.into(),
        )
    }

    /// An error without a position.
    pub fn plain(&self, message: impl Into<String>) -> ScenarioError {
        self.error(None, message.into())
    }

    /// An error at the line where `key = ` first appears (best effort).
    pub fn at_key(&self, key: &str, message: impl Into<String>) -> ScenarioError {
        let position = self.text.lines().enumerate().find_map(|(i, l)| {
            let t = l.trim_start();
            (t.starts_with(key) && t[key.len()..].trim_start().starts_with('='))
                .then(|| (i + 1, l.len() - t.len() + 1))
        });
        self.error(position, message.into())
    }
}

impl Scenario {
    /// The fault schedule of a run with `seed`: the file's `[[faults]]` and,
    /// with a `[swarm]`, the faults drawn from the seed, in time order. The
    /// simulated world and `sim serve` both play this list.
    pub fn schedule(&self, seed: u64) -> Vec<crate::faults::Fault> {
        let mut faults = self.faults.clone();
        if let Some(sw) = &self.file.swarm {
            let producers = self.file.producers.count;
            faults.extend(crate::faults::draw_swarm(
                sw.get_ref(),
                &self.cluster,
                producers,
                seed,
            ));
            faults.sort_by_key(|x| x.at);
        }
        faults
    }

    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.display().to_string(),
            position: None,
            message: format!("cannot read: {e}"),
            more: Vec::new(),
        })?;
        Scenario::parse(&text, &path.display().to_string())
    }

    /// Parses and validates scenario text; `file` names it in errors. Every
    /// mistake the file has is reported (a section whose mistakes make the
    /// next checks meaningless stops there).
    pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let parsed: ScenarioFile = toml::from_str(text).map_err(|e| ScenarioError {
            file: file.to_string(),
            position: e.span().map(|s| line_col(text, s.start)),
            message: e.message().to_string(),
            more: Vec::new(),
        })?;
        let r = Reporter { file, text };
        let name = parsed.name.clone().unwrap_or_else(|| {
            Path::new(file)
                .file_stem()
                .map_or("scenario".into(), |s| s.to_string_lossy().into_owned())
        });
        let mut errors = Vec::new();
        let checked = check::check(&parsed, &r, &mut errors);
        let mut errors = errors.into_iter();
        match (checked, errors.next()) {
            (Some(c), None) => Ok(Scenario {
                name,
                path: file.to_string(),
                cluster: c.cluster,
                faults: c.faults,
                allowed: c.allowed,
                required: c.required,
                mechanisms: c.mechanisms,
                file: parsed,
            }),
            (_, Some(first)) => Err(ScenarioError {
                more: errors.collect(),
                ..first
            }),
            (None, None) => Err(r.plain("invalid scenario")),
        }
    }

    /// The seeds the file lists.
    pub fn seeds(&self) -> Vec<u64> {
        self.file.seeds.to_vec()
    }
}
