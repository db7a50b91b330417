//! `sim explore --html REPORT.html`: one static, self-contained page (inline
//! CSS, SVG and a few lines of script; no network, no server): the table of
//! each search that ran, every failure with the command that replays it, and
//! coverage growth over runs for random and guided search on one chart.

use super::{Mode, SearchResult};
use std::fmt::Write;

/// One search as the page shows it.
pub struct Series<'a> {
    /// Random or guided.
    pub mode: Mode,
    /// Its search seed (guided) or first world seed (random).
    pub seed: u64,
    /// What it found.
    pub result: &'a SearchResult,
    /// Wall seconds it took.
    pub wall_seconds: f64,
    /// For each failure (in order), the commands that replay it.
    pub replay: Vec<Vec<String>>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn color(mode: Mode) -> &'static str {
    match mode {
        Mode::Random => "#d95f02",
        Mode::Guided => "#1b9e77",
    }
}

const W: f64 = 860.0;
const H: f64 = 360.0;
const PAD: f64 = 50.0;

/// Maps run index and coverage to chart coordinates.
struct Scale {
    max_x: f64,
    max_y: f64,
}

impl Scale {
    fn of(series: &[Series<'_>]) -> Scale {
        let longest = series.iter().map(|s| s.result.curve.len()).max();
        let highest = series
            .iter()
            .flat_map(|s| s.result.curve.iter().copied())
            .max();
        Scale {
            max_x: longest.unwrap_or(0).max(1) as f64,
            max_y: highest.unwrap_or(0).max(1) as f64,
        }
    }

    fn x(&self, i: usize) -> f64 {
        PAD + (i as f64 + 1.0) / self.max_x * (W - 2.0 * PAD)
    }

    fn y(&self, c: f64) -> f64 {
        H - PAD - c / self.max_y * (H - 2.0 * PAD)
    }
}

/// Axes, ticks and axis labels.
fn axes(svg: &mut String, sc: &Scale) {
    let _ = write!(
        svg,
        r##"<line x1="{PAD}" y1="{b}" x2="{r}" y2="{b}" stroke="#444"/><line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{b}" stroke="#444"/>"##,
        b = H - PAD,
        r = W - PAD
    );
    for k in 0..=4 {
        let (cx, cy) = (sc.max_x * k as f64 / 4.0, sc.max_y * k as f64 / 4.0);
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{:.0}</text><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{:.0}</text>"##,
            PAD + cx / sc.max_x * (W - 2.0 * PAD),
            H - PAD + 16.0,
            cx,
            PAD - 6.0,
            sc.y(cy.floor()) + 4.0,
            cy
        );
    }
    let _ = write!(
        svg,
        r##"<text x="{:.0}" y="{:.0}" font-size="12" text-anchor="middle">runs</text><text x="14" y="{:.0}" font-size="12" transform="rotate(-90 14 {:.0})" text-anchor="middle">features covered</text>"##,
        W / 2.0,
        H - 10.0,
        H / 2.0,
        H / 2.0
    );
}

/// One search's line and its points (failed runs larger).
fn line(svg: &mut String, sc: &Scale, s: &Series<'_>) {
    let (c, m) = (color(s.mode), s.mode.name());
    let points: Vec<String> = s
        .result
        .curve
        .iter()
        .enumerate()
        .map(|(i, &v)| format!("{:.1},{:.1}", sc.x(i), sc.y(v as f64)))
        .collect();
    let _ = write!(
        svg,
        r##"<polyline class="series" data-mode="{m}" fill="none" stroke="{c}" stroke-width="2" points="{}"/>"##,
        points.join(" ")
    );
    let failed: std::collections::BTreeSet<u64> = s.result.failures.iter().map(|f| f.run).collect();
    for (i, &v) in s.result.curve.iter().enumerate() {
        let run = i as u64 + 1;
        let fail = failed.contains(&run);
        let _ = write!(
            svg,
            r##"<circle class="point" data-mode="{m}" data-run="{run}" data-coverage="{v}" data-failed="{fail}" cx="{:.1}" cy="{:.1}" r="{r}" fill="{f}" stroke="{c}"><title>{m} run {run}: {v} features{t}</title></circle>"##,
            sc.x(i),
            sc.y(v as f64),
            r = if fail { 5 } else { 2 },
            f = if fail { "#e7298a" } else { c },
            t = if fail { " (failed)" } else { "" }
        );
    }
}

/// The chart: one polyline and one circle per run for each series.
fn chart(series: &[Series<'_>]) -> String {
    let sc = Scale::of(series);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg id="coverage-chart" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="coverage over runs">"##
    );
    axes(&mut svg, &sc);
    for s in series {
        line(&mut svg, &sc, s);
    }
    for (k, s) in series.iter().enumerate() {
        let _ = write!(
            svg,
            r##"<rect x="{:.0}" y="{:.0}" width="12" height="12" fill="{c}"/><text x="{:.0}" y="{:.0}" font-size="12">{m} (seed {seed})</text>"##,
            PAD + 12.0,
            PAD + 4.0 + 18.0 * k as f64,
            PAD + 30.0,
            PAD + 14.0 + 18.0 * k as f64,
            c = color(s.mode),
            m = s.mode.name(),
            seed = s.seed
        );
    }
    svg.push_str("</svg>");
    svg
}

fn table(series: &[Series<'_>]) -> String {
    let mut t = String::from(
        "<table id=\"runs\"><tr><th>search</th><th>seed</th><th>runs</th><th>passed</th><th>failed</th><th>first failure at run</th><th>features covered</th><th>corpus</th><th>sim s</th><th>wall s</th><th>runs/s</th></tr>",
    );
    for s in series {
        let r = s.result;
        let first = r
            .failures
            .first()
            .map_or("-".to_string(), |f| f.run.to_string());
        let _ = write!(
            t,
            "<tr data-mode=\"{m}\"><td>{m}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{first}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.2}</td><td>{:.1}</td></tr>",
            s.seed,
            r.runs,
            r.passed,
            r.failures.len(),
            r.curve.last().copied().unwrap_or(0),
            if s.mode == Mode::Guided { r.corpus_len.to_string() } else { "-".into() },
            r.sim_time.as_secs_f64(),
            s.wall_seconds,
            r.runs as f64 / s.wall_seconds.max(1e-9),
            m = s.mode.name()
        );
    }
    t.push_str("</table>");
    if let Some(g) = series.iter().find(|s| s.mode == Mode::Guided) {
        t.push_str("<h3>Mutation operators (guided)</h3><table id=\"arms\"><tr><th>operator</th><th>uses</th><th>found new coverage</th></tr>");
        for (op, arm) in &g.result.arms {
            let _ = write!(
                t,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                op.name(),
                arm.uses,
                arm.wins
            );
        }
        t.push_str("</table>");
    }
    t
}

fn failures(series: &[Series<'_>]) -> String {
    let mut out = String::new();
    let total: usize = series.iter().map(|s| s.result.failures.len()).sum();
    if total == 0 {
        out.push_str("<p id=\"no-failures\">No run failed.</p>");
    }
    for s in series {
        for (f, replay) in s.result.failures.iter().zip(&s.replay) {
            let _ = write!(
                out,
                "<div class=\"failure\" data-mode=\"{m}\"><h3>{m} run {} (world seed {})</h3><ul>",
                f.run,
                f.seed,
                m = s.mode.name()
            );
            for w in &f.why {
                let _ = write!(out, "<li>{}</li>", esc(w));
            }
            out.push_str("</ul>");
            for c in replay {
                let _ = write!(out, "<pre class=\"replay\">{}</pre>", esc(c));
            }
            out.push_str("</div>");
        }
    }
    out
}

/// The page for `scenario` (the file as given) and the searches that ran.
pub fn render(scenario: &str, series: &[Series<'_>]) -> String {
    let expected: usize = series.iter().map(|s| s.result.curve.len()).sum();
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>prodsim explore: {name}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1000px; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th {{ background: #f3f3f3; }}
pre.replay {{ background: #f6f6f6; padding: 6px; overflow-x: auto; }}
.failure {{ border-left: 4px solid #e7298a; padding-left: 10px; margin: 10px 0; }}
</style></head>
<body data-expected-points="{expected}">
<h1>prodsim explore: {name}</h1>
<p>Each search ran the scenario with the same run budget. <b>random</b>: swarm seeds in order, each drawing its own fault schedule (what <code>sim explore</code> runs). <b>guided</b>: <code>sim explore --guided</code>, mutating schedules that reached new coverage. Coverage is the number of distinct protocol situations reached so far (docs/guided.md says what counts). A search stops at its first failure unless <code>--keep-going</code>; failed runs are drawn larger.</p>
<h2>Runs</h2>
{table}
<h2>Coverage growth</h2>
{chart}
<p id="chart-status">the chart's script did not run</p>
<h2>Failures</h2>
{failures}
<script>
(function () {{
  var points = document.querySelectorAll('#coverage-chart circle.point');
  var byMode = {{}};
  points.forEach(function (p) {{ byMode[p.dataset.mode] = (byMode[p.dataset.mode] || 0) + 1; }});
  var status = document.getElementById('chart-status');
  status.textContent = points.length + ' points: ' + Object.keys(byMode).map(function (m) {{ return m + ' ' + byMode[m]; }}).join(', ');
  document.body.dataset.renderedPoints = String(points.length);
}})();
</script>
</body></html>
"#,
        name = esc(scenario),
        table = table(series),
        chart = chart(series),
        failures = failures(series),
    )
}
