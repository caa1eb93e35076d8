//! What the users do each week, and what the feed does to it: sessions of plays and page
//! views, upgrades and downgrades, then re-sent and spoiled events. Apart from the world
//! because this is the part that changes batch after batch.

use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};

use super::vocabulary::{BAD_TS, OTHER_PAGES};
use super::world::{BATCH_DAYS, DAY_MS, Event, T0, World, pick};

impl World {
    /// Sessions that start inside batch `b`'s week, until about `events` events.
    pub(super) fn sessions(&mut self, b: i64, events: usize) -> Vec<Vec<Event>> {
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
    pub(super) fn resend_and_spoil(&mut self, events: &mut Vec<Event>, previous: &[Event]) {
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
