//! Replayed Telnyx requests. A signed body stays valid for ±300 s, and the signature covers
//! `timestamp|body` but not the URL, so within that window a captured body could be posted
//! to another signed route (a gather body to `/texml/status`, a status body to
//! `/texml/voice`). [`Replays`] remembers each accepted signature with the route (method
//! and path) it came to, for as long as its timestamp is inside the window, and refuses it
//! on any other route. The query is left out: the gather URL's state token already binds
//! the call, and an identical body may legitimately reach two turns of one call.
//!
//! The same signature on the same route is served again. PROTOCOL.md §5 does not say
//! whether Telnyx signs a retried delivery anew (it retries after 2 s without an answer,
//! and duplicates are documented). A messaging webhook's retry differs in its body
//! (`meta.attempt`, §6), so it has a new signature; a TeXML callback carries no such field,
//! so its retry may well repeat the signature, and refusing it would send the caller to
//! the fallback. The handlers are idempotent per CallSid (a
//! retried gather gets its stored answer, a status or a webhook is recorded once), so a
//! same-route replay gains an attacker nothing that the first delivery did not do.
//!
//! Memory is bounded: signatures are dropped as they leave the window, and past [`MAX_SEEN`]
//! the oldest are forgotten (replay protection weakens under such a flood, answering does
//! not stop). Only verified signatures are stored, so only Telnyx's own traffic fills it.

use std::{
    collections::{HashMap, VecDeque},
    hash::{BuildHasher, RandomState},
    sync::Mutex,
};

use crate::signature::TOLERANCE_SECONDS;

/// Most signatures remembered at once. At 80 signed requests a second (some 25 new calls a
/// second, each a voice request, a turn or two and a status callback) the whole window
/// fits; above that the oldest are forgotten first. Both tables are allocated once, at
/// this size (about 1 MB). Measured on the load benchmark (400,000 signed requests in a
/// minute, `bench/README.md`): 200,000 full keys grown as needed put the server's RSS at
/// 89.5 MB, 100,000 small ones at 66-70 MB, 1,000 at 56 MB (51 MB without the window).
pub const MAX_SEEN: usize = 25_000;

/// What [`Replays::observe`] makes of a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not seen in the window: a new request.
    First,
    /// Seen before on this same route: a retried delivery (or a harmless replay).
    Again,
    /// Seen before on another route: a replay, to be refused.
    ElsewhereBefore,
}

/// Accepted signatures in the window, with the route each came to.
#[derive(Debug, Default)]
pub struct Replays {
    hasher: RandomState,
    seen: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    /// The first 8 bytes of the signature (of its `R`, random per signed message, so no
    /// replayed or forged request matches another by chance) → route hash.
    routes: HashMap<u64, u32>,
    /// The same keys with their timestamps, in arrival order, for expiry.
    order: VecDeque<(i64, u64)>,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            routes: HashMap::with_capacity(MAX_SEEN),
            order: VecDeque::with_capacity(MAX_SEEN),
        }
    }
}

impl Replays {
    /// Records `signature` (64 raw bytes) with `timestamp` for `route` (method and path) at
    /// `now`, and says whether it was seen before.
    pub fn observe(&self, signature: &[u8], timestamp: i64, route: &str, now: i64) -> Seen {
        let Some(key) = signature
            .get(..8)
            .and_then(|s| <[u8; 8]>::try_from(s).ok())
            .map(u64::from_le_bytes)
        else {
            return Seen::First;
        };
        // Two routes whose hashes agree in 32 bits would pass each other's replays: one
        // chance in four billion, on a handful of routes.
        let route = self.hasher.hash_one(route) as u32;
        let Ok(mut w) = self.seen.lock() else {
            return Seen::First;
        };
        w.expire(now);
        match w.routes.get(&key) {
            Some(&r) if r == route => Seen::Again,
            Some(_) => Seen::ElsewhereBefore,
            None => {
                while w.order.len() >= MAX_SEEN {
                    w.forget_oldest();
                }
                w.routes.insert(key, route);
                w.order.push_back((timestamp, key));
                Seen::First
            }
        }
    }

    /// How many signatures are remembered (tests).
    pub fn len(&self) -> usize {
        self.seen.lock().map_or(0, |w| w.routes.len())
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Window {
    /// Drops signatures whose timestamps are out of the window at `now`. Arrival order is
    /// close to timestamp order (Telnyx signs as it sends), so this stops at the first
    /// one still valid; a rare older one behind it waits for the next pass.
    fn expire(&mut self, now: i64) {
        while let Some(&(ts, _)) = self.order.front() {
            if ts + TOLERANCE_SECONDS >= now {
                break;
            }
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        if let Some((_, key)) = self.order.pop_front() {
            self.routes.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000;

    fn sig(n: u32) -> [u8; 64] {
        let mut s = [0u8; 64];
        s[..4].copy_from_slice(&n.to_be_bytes());
        s
    }

    #[test]
    fn a_signature_is_new_once_then_again_on_its_route_and_refused_elsewhere() {
        let r = Replays::default();
        assert_eq!(r.observe(&sig(1), T0, "POST /texml/voice", T0), Seen::First);
        assert_eq!(
            r.observe(&sig(1), T0, "POST /texml/voice", T0 + 5),
            Seen::Again
        );
        assert_eq!(
            r.observe(&sig(1), T0, "POST /texml/status", T0 + 5),
            Seen::ElsewhereBefore
        );
        assert_eq!(
            r.observe(&sig(2), T0, "POST /texml/status", T0 + 5),
            Seen::First
        );
    }

    #[test]
    fn signatures_are_forgotten_once_their_timestamp_leaves_the_window() {
        let r = Replays::default();
        r.observe(&sig(1), T0, "POST /texml/voice", T0);
        r.observe(&sig(2), T0 + 200, "POST /texml/voice", T0 + 200);
        assert_eq!(r.len(), 2);
        r.observe(&sig(3), T0 + 301, "POST /texml/voice", T0 + 301);
        assert_eq!(r.len(), 2, "the first expired");
        assert_eq!(
            r.observe(&sig(1), T0, "POST /texml/status", T0 + 301),
            Seen::First,
            "(the signature check refuses it as stale anyway)"
        );
    }

    #[test]
    fn memory_is_bounded_under_a_flood_within_the_window() {
        let r = Replays::default();
        for n in 0..(MAX_SEEN as u32 + 10) {
            r.observe(&sig(n), T0, "POST /texml/voice", T0);
        }
        assert_eq!(r.len(), MAX_SEEN);
        assert_eq!(
            r.observe(&sig(0), T0, "POST /texml/status", T0),
            Seen::First
        );
    }
}
