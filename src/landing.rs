//! Synthetic landing data for the demo warehouse and for load tests.
//!
//! The demo needs a landing zone with every problem real event feeds have, and benchmarks
//! need gigabytes of it: the same users come back batch after batch and some change level,
//! sessions arrive a batch late, events are re-sent, and a few rows are bad (null user,
//! malformed timestamp, pages that are not plays). Everything is drawn from one seeded PCG,
//! so the same options always write the same bytes. Events are written as JSON lines
//! directly; Parquet is the same rows converted by DuckDB.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::adapter::Adapter;
use crate::adapter::duckdb::DuckDb;

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

const DAY_MS: i64 = 86_400_000;
/// 2018-11-01 00:00:00 UTC; batch k covers the k-th week after it.
const T0: i64 = 1_541_030_400_000;
const BATCH_DAYS: i64 = 7;

const WORDS: &[&str] = &[
    "Love", "Night", "Heart", "Fire", "Rain", "Dream", "Light", "Road", "Blue", "Gold", "River",
    "Shadow", "Dance", "Stone", "Summer", "Winter", "Wild", "City", "Ghost", "Echo", "Star",
    "Ocean", "Silver", "Paper", "Glass", "Sugar", "Thunder", "Broken", "Electric", "Midnight",
];
const BAND_FIRST: &[&str] = &[
    "The Lost", "Velvet", "Neon", "Silver", "Broken", "Midnight", "Electric", "Paper", "Crystal",
    "Golden", "Little", "Big", "Black", "White", "Young",
];
const BAND_SECOND: &[&str] = &[
    "Foxes",
    "Harbors",
    "Engines",
    "Saints",
    "Tigers",
    "Lanterns",
    "Rivers",
    "Echoes",
    "Machines",
    "Owls",
    "Kings",
    "Sisters",
    "Pilots",
    "Strangers",
];
const ARTIST_PLACES: &[&str] = &[
    "Austin, TX",
    "Chicago, IL",
    "",
    "London, England",
    "Nashville, TN",
    "",
    "Seattle, WA",
    "Los Angeles, CA",
    "Berlin, Germany",
    "",
    "New York, NY",
    "Atlanta, GA",
];
const FIRST_M: &[&str] = &[
    "James", "John", "Robert", "Michael", "David", "Kevin", "Jacob", "Liam", "Noah", "Ethan",
    "Lucas", "Mason", "Aiden", "Carlos",
];
const FIRST_F: &[&str] = &[
    "Mary", "Linda", "Sarah", "Emily", "Chloe", "Olivia", "Ava", "Sophia", "Mia", "Lily", "Zoe",
    "Kate", "Tegan", "Jayden",
];
const LAST: &[&str] = &[
    "Smith", "Johnson", "Brown", "Garcia", "Miller", "Davis", "Lopez", "Wilson", "Taylor", "Moore",
    "Lee", "Clark", "Lewis", "Young", "King",
];
const LOCATIONS: &[&str] = &[
    "San Jose-Sunnyvale-Santa Clara, CA",
    "New York-Newark-Jersey City, NY-NJ-PA",
    "Los Angeles-Long Beach-Anaheim, CA",
    "Chicago-Naperville-Elgin, IL-IN-WI",
    "Atlanta-Sandy Springs-Roswell, GA",
    "Seattle-Tacoma-Bellevue, WA",
    "Houston-The Woodlands-Sugar Land, TX",
    "Phoenix-Mesa-Scottsdale, AZ",
    "Boston-Cambridge-Newton, MA-NH",
    "Denver-Aurora-Lakewood, CO",
    "Miami-Fort Lauderdale-West Palm Beach, FL",
    "Portland-Vancouver-Hillsboro, OR-WA",
    "Detroit-Warren-Dearborn, MI",
    "Nashville-Davidson--Murfreesboro--Franklin, TN",
    "Columbus, OH",
    "Salt Lake City, UT",
    "Kansas City, MO-KS",
    "Minneapolis-St. Paul-Bloomington, MN-WI",
    "Raleigh, NC",
    "Washington-Arlington-Alexandria, DC-VA-MD-WV",
    "Burlington, VT",
    "Anchorage, AK",
    "Urban Honolulu, HI",
    "Omaha-Council Bluffs, NE-IA",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 6.1) Chrome/36.0",
    "Mozilla/5.0 (Macintosh) Safari/537.78",
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/31.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 7_1_2) Mobile Safari",
];
const OTHER_PAGES: &[&str] = &["Settings", "About", "Help", "Home", "Error"];
const BAD_TS: &[&str] = &["2025-13-45T99", "", "2018-11-31T25:61", "", "NaN", "1e"];

struct Song {
    id: String,
    title: String,
    artist_id: String,
    artist: String,
    artist_location: &'static str,
    year: u32,
    duration: f64,
}

struct User {
    id: String,
    first: &'static str,
    last: &'static str,
    gender: &'static str,
    location: &'static str,
    agent: &'static str,
    registration: i64,
    paid: bool,
}

/// One event as it will be written; `ts` and `user` can be made bad on purpose.
#[derive(Clone)]
struct Event {
    user: Option<usize>,
    /// For guests: "Guest" or "Logged Out".
    guest_auth: Option<&'static str>,
    page: &'static str,
    paid: bool,
    session: u64,
    item: u32,
    ts: i64,
    bad_ts: Option<&'static str>,
    null_user: bool,
    /// Index into the songs, or into the unknown songs when negative.
    song: Option<isize>,
}

struct World {
    rng: Pcg64Mcg,
    songs: Vec<Song>,
    unknown: Vec<(String, String, f64)>,
    users: Vec<User>,
    next_session: u64,
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

impl World {
    fn new(opts: &Options) -> World {
        let mut rng = Pcg64Mcg::seed_from_u64(opts.seed);
        let artists: Vec<(String, String, &'static str)> = (0..(opts.songs / 5).max(1))
            .map(|i| {
                let name = format!(
                    "{} {}",
                    BAND_FIRST[i % BAND_FIRST.len()],
                    BAND_SECOND[(i / BAND_FIRST.len() + i) % BAND_SECOND.len()]
                );
                let place = *ARTIST_PLACES.choose(&mut rng).unwrap_or(&"");
                (format!("AR{:05}", i + 1), name, place)
            })
            .collect();
        let mut songs: Vec<Song> = (0..opts.songs)
            .map(|i| {
                let (artist_id, artist, artist_location) = &artists[i % artists.len()];
                let words = rng.random_range(1..=3);
                let title: Vec<&str> = WORDS.choose_multiple(&mut rng, words).copied().collect();
                Song {
                    id: format!("SO{:06}", i + 1),
                    title: title.join(" "),
                    artist_id: artist_id.clone(),
                    artist: artist.clone(),
                    artist_location,
                    year: if rng.random_bool(0.1) {
                        0
                    } else {
                        rng.random_range(1965..2019)
                    },
                    duration: (rng.random_range(120.0..420.0_f64) * 1e5).round() / 1e5,
                }
            })
            .collect();
        // The same song listed twice under two ids, as in the Million Song Dataset.
        let n = songs.len();
        for src in [10, 77].into_iter().filter(|i| *i < n) {
            let s = &songs[src];
            let dup = Song {
                id: format!("SO{:06}", songs.len() + 1),
                title: s.title.clone(),
                artist_id: s.artist_id.clone(),
                artist: s.artist.clone(),
                artist_location: s.artist_location,
                year: s.year,
                duration: s.duration + 7.5,
            };
            songs.push(dup);
        }
        let unknown = (0..40)
            .map(|i| {
                let length = (rng.random_range(90.0..400.0_f64) * 1e5).round() / 1e5;
                (
                    format!("Untitled Track {i}"),
                    format!("Garage Band {}", i % 7),
                    length,
                )
            })
            .collect();
        let n_users = opts.users.unwrap_or((opts.events / 16).max(20));
        let users = (0..n_users)
            .map(|i| {
                let male = rng.random_bool(0.5);
                User {
                    id: (i + 1).to_string(),
                    first: pick(&mut rng, if male { FIRST_M } else { FIRST_F }),
                    last: pick(&mut rng, LAST),
                    gender: if male { "M" } else { "F" },
                    location: pick(&mut rng, LOCATIONS),
                    agent: pick(&mut rng, AGENTS),
                    registration: T0
                        - rng.random_range(5..400) * DAY_MS
                        - rng.random_range(0..DAY_MS),
                    paid: rng.random_bool(0.3),
                }
            })
            .collect();
        World {
            rng,
            songs,
            unknown,
            users,
            next_session: 1000,
        }
    }

    /// Sessions that start inside batch `b`'s week, until about `events` events.
    fn sessions(&mut self, b: i64, events: usize) -> Vec<Vec<Event>> {
        let start = T0 + b * BATCH_DAYS * DAY_MS;
        let span = BATCH_DAYS * DAY_MS - 3_600_000;
        let mut out = Vec::new();
        let mut count = 0;
        while count < events {
            let at = start + self.rng.random_range(0..span);
            let session = if self.rng.random_bool(0.03) {
                self.guest_session(at)
            } else {
                let user = self.rng.random_range(0..self.users.len());
                self.user_session(user, at)
            };
            count += session.len();
            out.push(session);
        }
        out
    }

    fn event(&mut self, user: Option<usize>, page: &'static str, ts: i64, item: u32) -> Event {
        Event {
            user,
            guest_auth: None,
            page,
            paid: user.is_some_and(|u| self.users[u].paid),
            session: self.next_session,
            item,
            ts,
            bad_ts: None,
            null_user: false,
            song: None,
        }
    }

    fn user_session(&mut self, u: usize, start: i64) -> Vec<Event> {
        self.next_session += 1;
        let (mut ts, mut item, mut out) = (start, 0u32, Vec::new());
        let push = |w: &mut World, page: &'static str, ts: i64, item: &mut u32| {
            let e = w.event(Some(u), page, ts, *item);
            *item += 1;
            e
        };
        if self.rng.random_bool(0.5) {
            out.push(push(self, "Home", ts, &mut item));
            ts += self.rng.random_range(5..60) * 1000;
        }
        for _ in 0..self.rng.random_range(3..=13) {
            let r: f64 = self.rng.random();
            if r < 0.025 && !self.users[u].paid {
                out.push(push(self, "Upgrade", ts, &mut item));
                ts += self.rng.random_range(5..40) * 1000;
                out.push(push(self, "Submit Upgrade", ts, &mut item));
                ts += self.rng.random_range(5..40) * 1000;
                self.users[u].paid = true;
            } else if r < 0.003 && self.users[u].paid {
                out.push(push(self, "Downgrade", ts, &mut item));
                ts += 10_000;
                self.users[u].paid = false;
            } else if (0.03..0.10).contains(&r) {
                let page = pick(&mut self.rng, OTHER_PAGES);
                out.push(push(self, page, ts, &mut item));
                ts += self.rng.random_range(5..60) * 1000;
            } else {
                let song = self.pick_song();
                let mut e = push(self, "NextSong", ts, &mut item);
                e.song = Some(song);
                ts += (self.song_length(song) * 1000.0) as i64;
                out.push(e);
            }
        }
        if self.rng.random_bool(0.6) {
            out.push(push(self, "Logout", ts, &mut item));
        }
        out
    }

    fn guest_session(&mut self, start: i64) -> Vec<Event> {
        self.next_session += 1;
        let auth = pick(&mut self.rng, &["Guest", "Logged Out"]);
        let pages = self.rng.random_range(1..=3);
        ["Home", "About", "Login"][..pages]
            .iter()
            .enumerate()
            .map(|(i, page)| Event {
                guest_auth: Some(auth),
                ..self.event(None, page, start + i as i64 * 20_000, i as u32)
            })
            .collect()
    }

    fn pick_song(&mut self) -> isize {
        if self.rng.random_bool(0.05) {
            return -(self.rng.random_range(1..=self.unknown.len()) as isize);
        }
        // A few hits: the first fifth of the catalog is played more.
        let pool = if self.rng.random_bool(0.6) {
            self.songs.len()
        } else {
            (self.songs.len() / 5).max(1)
        };
        self.rng.random_range(0..pool) as isize
    }

    fn song_length(&self, song: isize) -> f64 {
        match song {
            i if i < 0 => self.unknown[(-i - 1) as usize].2,
            i => self.songs[i as usize].duration,
        }
    }

    /// Re-send about 2% of the previous batch and 5 events of this one; spoil a few plays.
    fn resend_and_spoil(&mut self, events: &mut Vec<Event>, previous: &[Event]) {
        let resent: Vec<Event> = previous
            .choose_multiple(&mut self.rng, previous.len() / 50)
            .filter(|e| !e.null_user && e.bad_ts.is_none())
            .cloned()
            .collect();
        let dupes: Vec<Event> = events.choose_multiple(&mut self.rng, 5).cloned().collect();
        let plays: Vec<usize> = (0..events.len())
            .filter(|i| events[*i].page == "NextSong")
            .collect();
        let spoiled: Vec<usize> = plays.choose_multiple(&mut self.rng, 10).copied().collect();
        for (k, i) in spoiled.into_iter().enumerate() {
            match k {
                0..4 => events[i].null_user = true,
                _ => events[i].bad_ts = Some(BAD_TS[k - 4]),
            }
        }
        events.extend(resent);
        events.extend(dupes);
        events.shuffle(&mut self.rng);
    }
}

fn pick(rng: &mut Pcg64Mcg, from: &[&'static str]) -> &'static str {
    from.choose(rng).copied().unwrap_or_default()
}

fn write_songs(world: &World, out: &Path) -> Result<Written, LandingError> {
    let path = out.join("songs").join("songs.json");
    let mut text = String::new();
    for s in &world.songs {
        let _ = writeln!(
            text,
            r#"{{"song_id":"{}","title":{},"artist_id":"{}","artist_name":{},"artist_location":{},"year":{},"duration":{}}}"#,
            s.id,
            json(&s.title),
            s.artist_id,
            json(&s.artist),
            json(s.artist_location),
            s.year,
            s.duration
        );
    }
    write_file(&path, text.as_bytes())?;
    Ok(Written {
        bytes: text.len() as u64,
        path,
        events: world.songs.len(),
    })
}

fn write_events(
    world: &World,
    dir: &Path,
    events: &[Event],
    format: Format,
) -> Result<Written, LandingError> {
    let json_path = dir.join("events.json");
    let mut text = String::with_capacity(events.len() * 400);
    for e in events {
        event_json(world, e, &mut text);
    }
    let path = match format {
        Format::Json => {
            write_file(&json_path, text.as_bytes())?;
            json_path
        }
        Format::Parquet => {
            let tmp = dir.join("events.json.tmp");
            write_file(&tmp, text.as_bytes())?;
            let parquet = dir.join("events.parquet");
            let converted = to_parquet(&tmp, &parquet);
            let _ = std::fs::remove_file(&tmp);
            converted?;
            parquet
        }
    };
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    Ok(Written {
        path,
        events: events.len(),
        bytes,
    })
}

/// One JSON line in the field order of the real feed.
fn event_json(world: &World, e: &Event, out: &mut String) {
    let user = e.user.map(|u| &world.users[u]);
    let (song, artist, length) = match e.song {
        Some(i) if i < 0 => {
            let (t, a, l) = &world.unknown[(-i - 1) as usize];
            (json(t), json(a), l.to_string())
        }
        Some(i) => {
            let s = &world.songs[i as usize];
            (json(&s.title), json(&s.artist), s.duration.to_string())
        }
        None => ("null".into(), "null".into(), "null".into()),
    };
    let text = |f: fn(&User) -> &str| user.map_or("null".to_string(), |u| json(f(u)));
    let auth = e.guest_auth.unwrap_or("Logged In");
    let method = match e.page {
        "NextSong" | "Login" | "Submit Upgrade" => "PUT",
        _ => "GET",
    };
    let status = match e.page {
        "Submit Upgrade" | "Logout" => 307,
        "Error" => 404,
        _ => 200,
    };
    let ts = match e.bad_ts {
        Some(bad) => json(bad),
        None => e.ts.to_string(),
    };
    let user_id = match (e.null_user, user) {
        (true, _) => "null".to_string(),
        (false, Some(u)) => json(&u.id),
        (false, None) => "\"\"".to_string(),
    };
    let _ = writeln!(
        out,
        r#"{{"artist":{artist},"auth":"{auth}","firstName":{},"gender":{},"itemInSession":{},"lastName":{},"length":{length},"level":"{}","location":{},"method":"{method}","page":"{}","registration":{},"sessionId":{},"song":{song},"status":{status},"ts":{ts},"userAgent":{},"userId":{user_id}}}"#,
        text(|u| u.first),
        text(|u| u.gender),
        e.item,
        text(|u| u.last),
        if e.paid { "paid" } else { "free" },
        text(|u| u.location),
        e.page,
        user.map_or("null".to_string(), |u| u.registration.to_string()),
        e.session,
        text(|u| u.agent),
    );
}

fn json(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), LandingError> {
    let io = |source| LandingError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = std::fs::File::create(path).map_err(io)?;
    file.write_all(bytes).map_err(io)
}

/// The JSON lines as Parquet, with the types the staging models read them with.
fn to_parquet(json_path: &Path, parquet: &Path) -> Result<(), LandingError> {
    let err = |message: String| LandingError::Parquet {
        path: parquet.to_path_buf(),
        message,
    };
    let db = DuckDb::in_memory(Path::new(".")).map_err(|e| err(e.to_string()))?;
    let mut conn = db.connect().map_err(|e| err(e.to_string()))?;
    let q = |p: &Path| p.display().to_string().replace('\'', "''");
    let sql = format!(
        "copy (select * from read_json('{}', format = 'newline_delimited', columns = {{{COLUMNS}}})) to '{}' (format parquet, compression zstd)",
        q(json_path),
        q(parquet)
    );
    conn.execute(&sql)
        .map(|_| ())
        .map_err(|e| err(e.to_string()))
}

const COLUMNS: &str = "artist: 'VARCHAR', auth: 'VARCHAR', firstName: 'VARCHAR', gender: 'VARCHAR', itemInSession: 'BIGINT', lastName: 'VARCHAR', length: 'DOUBLE', level: 'VARCHAR', location: 'VARCHAR', method: 'VARCHAR', page: 'VARCHAR', registration: 'DOUBLE', sessionId: 'BIGINT', song: 'VARCHAR', status: 'BIGINT', ts: 'VARCHAR', userAgent: 'VARCHAR', userId: 'VARCHAR'";

#[cfg(test)]
mod tests {
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
