//! Synthetic landing data for the demo warehouse and for load tests.
//!
//! The demo needs a landing zone with every problem real event feeds have, and benchmarks
//! need gigabytes of it: the same users come back batch after batch and some change level,
//! sessions arrive a batch late, events are re-sent, and a few rows are bad (null user,
//! malformed timestamp, pages that are not plays). Everything is drawn from one seeded PCG,
//! so the same options always write the same bytes. Events are written as JSON lines
//! directly; Parquet is the same rows converted by DuckDB.

mod files;
mod sessions;
mod vocabulary;
mod world;

use std::path::PathBuf;

use rand::Rng;

use files::{write_events, write_songs};
use world::{Event, World};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Parquet,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub out: PathBuf,
    pub batches: usize,
    /// Events per batch, roughly (sessions are whole).
    pub events: usize,
    /// Distinct users; `None` scales with `events`.
    pub users: Option<usize>,
    pub songs: usize,
    pub seed: u64,
    pub format: Format,
}

/// What was written, per batch.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    pub events: usize,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LandingError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot convert {path} to Parquet: {message}")]
    Parquet { path: PathBuf, message: String },
}

/// Write the song catalog and `batches` event batches under `opts.out`.
pub fn generate(opts: &Options) -> Result<Vec<Written>, LandingError> {
    let mut world = World::new(opts);
    let mut written = vec![write_songs(&world, &opts.out)?];
    let mut late: Vec<Event> = Vec::new();
    let mut previous: Vec<Event> = Vec::new();
    for batch in 0..opts.batches {
        let sessions = world.sessions(batch as i64, opts.events);
        let mut events = std::mem::take(&mut late);
        for session in sessions {
            // About 5% of sessions arrive one batch late.
            if batch + 1 < opts.batches && world.rng.random_bool(0.05) {
                late.extend(session);
            } else {
                events.extend(session);
            }
        }
        world.resend_and_spoil(&mut events, &previous);
        let dir = opts
            .out
            .join("events")
            .join(format!("batch_{:03}", batch + 1));
        written.push(write_events(&world, &dir, &events, opts.format)?);
        previous = events;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn opts(out: &Path) -> Options {
        Options {
            out: out.to_path_buf(),
            batches: 2,
            events: 500,
            users: None,
            songs: 100,
            seed: 7,
            format: Format::Json,
        }
    }

    #[test]
    fn the_same_seed_writes_the_same_bytes() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        generate(&opts(a.path())).unwrap();
        generate(&opts(b.path())).unwrap();
        let read = |d: &Path| std::fs::read(d.join("events/batch_002/events.json")).unwrap();
        assert_eq!(read(a.path()), read(b.path()));
    }

    #[test]
    fn every_line_is_json_with_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let written = generate(&opts(dir.path())).unwrap();
        assert_eq!(written.len(), 3);
        let text =
            std::fs::read_to_string(dir.path().join("events/batch_001/events.json")).unwrap();
        let mut bad_ts = 0;
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v.as_object().unwrap().len(), 18, "{line}");
            bad_ts += usize::from(v["ts"].is_string());
        }
        assert_eq!(bad_ts, 6);
        // About 5% of the sessions of a batch arrive in the next one.
        assert!(text.lines().count() > 400);
    }
}
