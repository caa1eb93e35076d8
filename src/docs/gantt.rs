//! The last run as a timeline: one lane per worker thread, one bar per node, the critical
//! path marked.
//!
//! A run's wall time is set by its longest chain of dependent nodes, not by its slowest
//! node; drawing each thread's bars and the chain that ended last shows where waiting
//! happened and which models to make faster first. Drawn here as SVG, so the page shows it
//! without laying anything out.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

/// One node's span in a run, as `run_results.json` records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub unique_id: String,
    pub status: String,
    pub thread: String,
    /// Seconds since the run's first start.
    pub start: f64,
    pub end: f64,
    pub message: Option<String>,
    pub failures: Option<u64>,
}

/// A run, ready to draw.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub spans: Vec<Span>,
    /// The chain of nodes, first to last, that ended the run.
    pub critical: Vec<String>,
    pub elapsed: f64,
}

const LANE: f64 = 24.0;
const LABEL: f64 = 90.0;
const WIDTH: f64 = 1100.0;
const AXIS: f64 = 26.0;

/// The spans of a `run_results.json`; nodes without timing (skipped ones) are left out.
/// `parents` maps a node to the nodes it depends on (the manifest's `parent_map`).
pub fn timeline(run_results: &Value, parents: &HashMap<String, Vec<String>>) -> Timeline {
    let results = run_results["results"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let mut raw: Vec<(Span, DateTime<FixedOffset>, DateTime<FixedOffset>)> = Vec::new();
    for r in results {
        let Some((start, end)) = execute_span(r) else {
            continue;
        };
        let span = Span {
            unique_id: r["unique_id"].as_str().unwrap_or_default().to_string(),
            status: r["status"].as_str().unwrap_or("unknown").to_string(),
            thread: r["thread_id"].as_str().unwrap_or("Thread-0").to_string(),
            start: 0.0,
            end: 0.0,
            message: r["message"].as_str().map(str::to_string),
            failures: r["failures"].as_u64(),
        };
        raw.push((span, start, end));
    }
    let Some(first) = raw.iter().map(|(_, s, _)| *s).min() else {
        return Timeline::default();
    };
    let seconds =
        |t: DateTime<FixedOffset>| (t - first).num_microseconds().unwrap_or(0) as f64 / 1e6;
    let spans: Vec<Span> = raw
        .into_iter()
        .map(|(mut span, s, e)| {
            span.start = seconds(s);
            span.end = seconds(e).max(span.start);
            span
        })
        .collect();
    let elapsed = spans.iter().map(|s| s.end).fold(0.0, f64::max);
    let critical = critical_path(&spans, parents);
    Timeline {
        spans,
        critical,
        elapsed,
    }
}

fn execute_span(r: &Value) -> Option<(DateTime<FixedOffset>, DateTime<FixedOffset>)> {
    let timing = r["timing"].as_array()?;
    let execute = timing
        .iter()
        .find(|t| t["name"] == "execute")
        .or_else(|| timing.last())?;
    let parse = |key: &str| DateTime::parse_from_rfc3339(execute[key].as_str()?).ok();
    Some((parse("started_at")?, parse("completed_at")?))
}

/// From the node that ended last, back through the parent that ended last before it
/// started: the chain that set the run's length.
fn critical_path(spans: &[Span], parents: &HashMap<String, Vec<String>>) -> Vec<String> {
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.unique_id.as_str(), s)).collect();
    let Some(mut at) = spans.iter().max_by(|a, b| a.end.total_cmp(&b.end)) else {
        return Vec::new();
    };
    let mut chain = vec![at.unique_id.clone()];
    let mut seen = HashSet::new();
    while seen.insert(at.unique_id.as_str()) {
        let before = parents
            .get(&at.unique_id)
            .into_iter()
            .flatten()
            .filter_map(|p| by_id.get(p.as_str()))
            .filter(|p| p.end <= at.start + 1e-3)
            .max_by(|a, b| a.end.total_cmp(&b.end));
        let Some(parent) = before else { break };
        chain.push(parent.unique_id.clone());
        at = parent;
    }
    chain.reverse();
    chain
}

/// The timeline as one SVG element: lanes, bars coloured by status (`class="bar <status>"`,
/// `critical` on the chain), a time axis, and each bar's node, status and time as its
/// tooltip. `names` gives the short name to print for a unique id.
pub fn svg(timeline: &Timeline, names: &HashMap<String, String>) -> String {
    let mut threads: Vec<&str> = timeline.spans.iter().map(|s| s.thread.as_str()).collect();
    threads.sort_by_key(|t| thread_number(t));
    threads.dedup();
    let lane_of: HashMap<&str, usize> = threads.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let critical: HashSet<&str> = timeline.critical.iter().map(String::as_str).collect();
    let span = timeline.elapsed.max(1e-3);
    let scale = (WIDTH - LABEL - 10.0) / span;
    let height = AXIS + LANE * threads.len() as f64 + 6.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="gantt" class="gantt" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="Run timeline">"#
    );
    axis(&mut out, span, scale, height);
    for (i, thread) in threads.iter().enumerate() {
        let y = AXIS + LANE * i as f64;
        let _ = write!(
            out,
            r#"<text class="lane" x="4" y="{:.1}">{}</text>"#,
            y + LANE * 0.65,
            escape(thread)
        );
    }
    for s in &timeline.spans {
        let y = AXIS + LANE * lane_of[s.thread.as_str()] as f64 + 3.0;
        let x = LABEL + s.start * scale;
        let w = ((s.end - s.start) * scale).max(1.5);
        let name = names.get(&s.unique_id).unwrap_or(&s.unique_id);
        let class = if critical.contains(s.unique_id.as_str()) {
            format!("bar {} critical", css_class(&s.status))
        } else {
            format!("bar {}", css_class(&s.status))
        };
        let _ = write!(
            out,
            r#"<g class="{class}" data-id="{}"><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{:.1}" rx="2"/><title>{} · {} · {:.2}s ({:.2}s → {:.2}s)</title>"#,
            escape(&s.unique_id),
            LANE - 6.0,
            escape(name),
            escape(&s.status),
            s.end - s.start,
            s.start,
            s.end
        );
        // A name fits in a bar about 6.5 px per character wide.
        if w > 6.5 * name.len() as f64 + 8.0 {
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                x + 4.0,
                y + LANE * 0.55,
                escape(name)
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// Gridlines every 1, 2 or 5 × 10ⁿ seconds, about eight of them.
fn axis(out: &mut String, span: f64, scale: f64, height: f64) {
    let rough = span / 8.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(magnitude * 10.0);
    let mut t = 0.0;
    while t <= span + step * 1e-6 {
        let x = LABEL + t * scale;
        let label = if step < 1.0 {
            format!("{t:.1}s")
        } else {
            format!("{t:.0}s")
        };
        let _ = write!(
            out,
            r#"<line class="tick" x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{height:.1}"/><text class="tick" x="{:.1}" y="14">{label}</text>"#,
            AXIS - 6.0,
            x + 2.0
        );
        t += step;
    }
}

fn thread_number(thread: &str) -> u64 {
    thread
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX)
}

fn css_class(status: &str) -> &'static str {
    match status {
        "success" | "pass" => "ok",
        "warn" => "warn",
        "error" | "fail" | "runtime error" => "failed",
        "skipped" => "skipped",
        _ => "other",
    }
}

/// Text and attribute escaping for SVG/HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(id: &str, thread: u32, start: &str, end: &str, status: &str) -> Value {
        json!({
            "unique_id": id, "status": status, "thread_id": format!("Thread-{thread}"),
            "timing": [
                {"name": "compile", "started_at": format!("2026-12-01T10:00:{start}Z"), "completed_at": format!("2026-12-01T10:00:{start}Z")},
                {"name": "execute", "started_at": format!("2026-12-01T10:00:{start}Z"), "completed_at": format!("2026-12-01T10:00:{end}Z")},
            ],
        })
    }

    fn run() -> (Value, HashMap<String, Vec<String>>) {
        let results = json!({"results": [
            result("a", 0, "00.0", "01.0", "success"),
            result("b", 1, "00.0", "03.0", "success"),
            result("c", 0, "01.0", "02.0", "success"),
            result("d", 0, "03.0", "04.5", "error"),
            json!({"unique_id": "e", "status": "skipped", "thread_id": "Thread-0", "timing": []}),
        ]});
        let parents = HashMap::from([
            ("c".to_string(), vec!["a".to_string()]),
            ("d".to_string(), vec!["b".to_string(), "c".to_string()]),
            ("e".to_string(), vec!["d".to_string()]),
        ]);
        (results, parents)
    }

    #[test]
    fn the_critical_path_follows_the_parent_that_ended_last() {
        let (results, parents) = run();
        let t = timeline(&results, &parents);
        // d waited for b (ended at 3 s), not for c (ended at 2 s).
        assert_eq!(t.critical, vec!["b", "d"]);
        assert_eq!(t.spans.len(), 4, "the skipped node has no span");
        assert!((t.elapsed - 4.5).abs() < 1e-9);
    }

    #[test]
    fn the_svg_has_a_lane_per_thread_and_a_bar_per_span() {
        let (results, parents) = run();
        let t = timeline(&results, &parents);
        let svg = svg(&t, &HashMap::from([("d".to_string(), "<d>".to_string())]));
        assert_eq!(svg.matches("<text class=\"lane\"").count(), 2);
        assert_eq!(svg.matches("<g class=\"bar").count(), 4);
        assert_eq!(svg.matches("critical").count(), 2);
        assert!(svg.contains("bar failed critical"), "{svg}");
        assert!(svg.contains("&lt;d&gt;"), "names are escaped: {svg}");
    }

    #[test]
    fn an_empty_run_draws_nothing() {
        let t = timeline(&json!({"results": []}), &HashMap::new());
        assert!(t.spans.is_empty() && t.critical.is_empty());
    }
}
