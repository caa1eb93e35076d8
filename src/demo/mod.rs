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
    /// Replace a landing zone written with other options (or by hand).
    pub force: bool,
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
    /// `out` holds a landing zone that these options did not write: replacing it silently
    /// would lose it, and mixing the two would give builds batches of both.
    #[error(
        "{} already holds a landing zone ({batches} batches) written with other options; \
         write elsewhere with --out <folder>, or replace it with --force",
        out.display()
    )]
    Occupied { out: PathBuf, batches: usize },
}

/// What a landing zone was written with, kept beside it: a second run with the same options
/// (the other format of the same rows) may add to it; other options may not.
const STAMP: &str = ".etlx-generate.json";

fn stamp(opts: &Options) -> String {
    serde_json::json!({
        "seed": opts.seed,
        "batches": opts.batches,
        "events": opts.events,
        "users": opts.users,
        "songs": opts.songs,
    })
    .to_string()
}

/// Make `opts.out` ready: refused if it holds another landing zone and `force` is not set;
/// with `force`, that zone's events and songs are removed first, so no stale batch of it
/// stays for a build to mix in.
fn prepare_out(opts: &Options) -> Result<(), LandingError> {
    let events = opts.out.join("events");
    let batches = std::fs::read_dir(&events)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .count()
        })
        .unwrap_or(0);
    let same = std::fs::read_to_string(opts.out.join(STAMP)).is_ok_and(|s| s.trim() == stamp(opts));
    let io = |path: PathBuf| move |source| LandingError::Io { path, source };
    if batches > 0 && !same {
        if !opts.force {
            return Err(LandingError::Occupied {
                out: opts.out.clone(),
                batches,
            });
        }
        for dir in [events, opts.out.join("songs")] {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(io(dir.clone()))?;
            }
        }
    }
    std::fs::create_dir_all(&opts.out).map_err(io(opts.out.clone()))?;
    let path = opts.out.join(STAMP);
    std::fs::write(&path, stamp(opts) + "\n").map_err(io(path.clone()))
}

/// Write the song catalog and `batches` event batches under `opts.out`.
pub fn generate(opts: &Options) -> Result<Vec<Written>, LandingError> {
    prepare_out(opts)?;
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
            force: false,
        }
    }

    #[test]
    fn another_landing_zone_is_kept_unless_forced_and_then_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        generate(&opts(dir.path())).unwrap();
        // The same options again (the Parquet of the same rows) may add to it.
        generate(&Options {
            format: Format::Parquet,
            ..opts(dir.path())
        })
        .unwrap();
        let fewer = Options {
            batches: 1,
            ..opts(dir.path())
        };
        assert!(matches!(
            generate(&fewer),
            Err(LandingError::Occupied { batches: 2, .. })
        ));
        assert!(
            dir.path().join("events/batch_002").exists(),
            "kept when refused"
        );
        generate(&Options {
            force: true,
            ..fewer
        })
        .unwrap();
        assert!(
            !dir.path().join("events/batch_002").exists(),
            "no stale batch"
        );
        assert!(dir.path().join("events/batch_001/events.json").exists());
        assert!(!dir.path().join("events/batch_001/events.parquet").exists());
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
