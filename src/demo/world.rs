//! Who exists in the generated service: the song catalog (with the duplicates and unknown
//! songs real feeds have) and the users. Drawn once, before any batch, so that the same users
//! and songs come back week after week and every batch refers to the same catalog.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::Options;
use super::vocabulary::{
    AGENTS, ARTIST_PLACES, BAND_FIRST, BAND_SECOND, FIRST_F, FIRST_M, LAST, LOCATIONS, WORDS,
};

pub(super) const DAY_MS: i64 = 86_400_000;
/// 2018-11-01 00:00:00 UTC; batch k covers the k-th week after it.
pub(super) const T0: i64 = 1_541_030_400_000;
pub(super) const BATCH_DAYS: i64 = 7;

pub(super) struct Song {
    pub(super) id: String,
    pub(super) title: String,
    pub(super) artist_id: String,
    pub(super) artist: String,
    pub(super) artist_location: &'static str,
    pub(super) year: u32,
    pub(super) duration: f64,
}

pub(super) struct User {
    pub(super) id: String,
    pub(super) first: &'static str,
    pub(super) last: &'static str,
    pub(super) gender: &'static str,
    pub(super) location: &'static str,
    pub(super) agent: &'static str,
    pub(super) registration: i64,
    pub(super) paid: bool,
}

/// One event as it will be written; `ts` and `user` can be made bad on purpose.
#[derive(Clone)]
pub(super) struct Event {
    pub(super) user: Option<usize>,
    /// For guests: "Guest" or "Logged Out".
    pub(super) guest_auth: Option<&'static str>,
    pub(super) page: &'static str,
    pub(super) paid: bool,
    pub(super) session: u64,
    pub(super) item: u32,
    pub(super) ts: i64,
    pub(super) bad_ts: Option<&'static str>,
    pub(super) null_user: bool,
    /// Index into the songs, or into the unknown songs when negative.
    pub(super) song: Option<isize>,
}

pub(super) struct World {
    pub(super) rng: Pcg64Mcg,
    pub(super) songs: Vec<Song>,
    pub(super) unknown: Vec<(String, String, f64)>,
    pub(super) users: Vec<User>,
    pub(super) next_session: u64,
}

impl World {
    pub(super) fn new(opts: &Options) -> World {
        let mut rng = Pcg64Mcg::seed_from_u64(opts.seed);
        // Drawn in this order from the one generator: the order is part of the output.
        let songs = catalog(&mut rng, opts.songs);
        let unknown = unknown_songs(&mut rng);
        let n_users = opts.users.unwrap_or((opts.events / 16).max(20));
        let users = (0..n_users).map(|i| user(&mut rng, i)).collect();
        World {
            rng,
            songs,
            unknown,
            users,
            next_session: 1000,
        }
    }
}

/// `count` songs by `count / 5` artists, and two of them listed again under new ids.
fn catalog(rng: &mut Pcg64Mcg, count: usize) -> Vec<Song> {
    let artists: Vec<(String, String, &'static str)> = (0..(count / 5).max(1))
        .map(|i| {
            let name = format!(
                "{} {}",
                BAND_FIRST[i % BAND_FIRST.len()],
                BAND_SECOND[(i / BAND_FIRST.len() + i) % BAND_SECOND.len()]
            );
            let place = *ARTIST_PLACES.choose(rng).unwrap_or(&"");
            (format!("AR{:05}", i + 1), name, place)
        })
        .collect();
    let mut songs: Vec<Song> = (0..count)
        .map(|i| {
            let (artist_id, artist, artist_location) = &artists[i % artists.len()];
            let words = rng.random_range(1..=3);
            let title: Vec<&str> = WORDS.choose_multiple(rng, words).copied().collect();
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
    songs
}

/// Plays of songs that are not in the catalog: (title, artist, length).
fn unknown_songs(rng: &mut Pcg64Mcg) -> Vec<(String, String, f64)> {
    (0..40)
        .map(|i| {
            let length = (rng.random_range(90.0..400.0_f64) * 1e5).round() / 1e5;
            (
                format!("Untitled Track {i}"),
                format!("Garage Band {}", i % 7),
                length,
            )
        })
        .collect()
}

/// User `i` (id `i + 1`), registered 5 to 400 days before the first batch.
fn user(rng: &mut Pcg64Mcg, i: usize) -> User {
    let male = rng.random_bool(0.5);
    User {
        id: (i + 1).to_string(),
        first: pick(rng, if male { FIRST_M } else { FIRST_F }),
        last: pick(rng, LAST),
        gender: if male { "M" } else { "F" },
        location: pick(rng, LOCATIONS),
        agent: pick(rng, AGENTS),
        registration: T0 - rng.random_range(5..400) * DAY_MS - rng.random_range(0..DAY_MS),
        paid: rng.random_bool(0.3),
    }
}

pub(super) fn pick(rng: &mut Pcg64Mcg, from: &[&'static str]) -> &'static str {
    from.choose(rng).copied().unwrap_or_default()
}
