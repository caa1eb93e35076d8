//! The landing files: JSON lines in the field order of the real feed, written by hand so the
//! bytes depend on nothing but the seed, and Parquet as the same rows converted by DuckDB
//! with the types the staging models read them with.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use super::world::{Event, User, World};
use super::{Format, LandingError, Written};
use crate::adapter::Adapter;
use crate::adapter::duckdb::DuckDb;

pub(super) fn write_songs(world: &World, out: &Path) -> Result<Written, LandingError> {
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

pub(super) fn write_events(
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
