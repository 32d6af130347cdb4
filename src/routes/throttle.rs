//! Slows down guessing of the admin token: after [`FAILURES_ALLOWED`] wrong tokens from one
//! client within [`WINDOW_SECONDS`], every admin request from that client is answered 429
//! (with `Retry-After`) until the window, which starts at its first failure, is over. A
//! client is an IPv4 address or an IPv6 /64 (one subscriber's usual allocation). Memory is
//! bounded: at most [`MAX_CLIENTS`] are remembered, expired ones first to go.
//!
//! Behind a reverse proxy every client has the proxy's address, so one guesser locks
//! everyone out for a minute; the admin API belongs on `SLOTLINE_ADMIN_LISTEN` anyway.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    sync::Mutex,
};

/// Wrong tokens a client may send per window before it is made to wait.
pub const FAILURES_ALLOWED: u32 = 5;
/// Length of the window, in seconds.
pub const WINDOW_SECONDS: i64 = 60;
/// Most clients remembered at once.
pub const MAX_CLIENTS: usize = 10_000;

/// Failed attempts per client.
#[derive(Debug, Default)]
pub struct Throttle(Mutex<HashMap<IpAddr, Window>>);

#[derive(Debug, Clone, Copy)]
struct Window {
    started: i64,
    failures: u32,
}

impl Window {
    fn ends(&self) -> i64 {
        self.started + WINDOW_SECONDS
    }
}

/// The address that stands for `ip`'s client: IPv4 as is (also when mapped into IPv6),
/// IPv6 cut to its /64.
fn client(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

impl Throttle {
    /// `Err(seconds to wait)` while `ip` has used up its failures, at `now` (Unix s).
    pub fn check(&self, ip: IpAddr, now: i64) -> Result<(), u64> {
        let Ok(map) = self.0.lock() else {
            return Ok(());
        };
        match map.get(&client(ip)) {
            Some(w) if w.failures >= FAILURES_ALLOWED && now < w.ends() => {
                Err(u64::try_from(w.ends() - now).unwrap_or(1).max(1))
            }
            _ => Ok(()),
        }
    }

    /// Records a wrong token from `ip` at `now`.
    pub fn failed(&self, ip: IpAddr, now: i64) {
        let Ok(mut map) = self.0.lock() else {
            return;
        };
        let key = client(ip);
        if !map.contains_key(&key) && map.len() >= MAX_CLIENTS {
            map.retain(|_, w| now < w.ends());
            if map.len() >= MAX_CLIENTS
                && let Some(oldest) = map.iter().min_by_key(|(_, w)| w.started).map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        let w = map.entry(key).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now >= w.ends() {
            *w = Window {
                started: now,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
    }

    /// How many clients are remembered (tests).
    pub fn len(&self) -> usize {
        self.0.lock().map_or(0, |m| m.len())
    }

    /// Whether no client is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn five_failures_in_a_minute_make_the_client_wait_until_the_minute_is_over() {
        let t = Throttle::default();
        for i in 0..FAILURES_ALLOWED {
            assert_eq!(t.check(ip("192.0.2.1"), T0 + i64::from(i)), Ok(()));
            t.failed(ip("192.0.2.1"), T0 + i64::from(i));
        }
        assert_eq!(t.check(ip("192.0.2.1"), T0 + 10), Err(50));
        assert_eq!(
            t.check(ip("192.0.2.2"), T0 + 10),
            Ok(()),
            "others are not held"
        );
        assert_eq!(t.check(ip("192.0.2.1"), T0 + WINDOW_SECONDS), Ok(()));
        t.failed(ip("192.0.2.1"), T0 + WINDOW_SECONDS);
        assert_eq!(
            t.check(ip("192.0.2.1"), T0 + WINDOW_SECONDS),
            Ok(()),
            "a new window starts"
        );
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64() {
        let t = Throttle::default();
        for i in 0..FAILURES_ALLOWED {
            t.failed(ip(&format!("2001:db8:1:2::{i}")), T0);
        }
        assert!(t.check(ip("2001:db8:1:2:ffff::1"), T0).is_err());
        assert!(t.check(ip("2001:db8:1:3::1"), T0).is_ok());
        for _ in 0..FAILURES_ALLOWED {
            t.failed(ip("::ffff:192.0.2.9"), T0);
        }
        assert!(t.check(ip("192.0.2.9"), T0).is_err(), "IPv4-mapped is IPv4");
    }

    #[test]
    fn memory_stays_bounded_however_many_clients_fail() {
        let t = Throttle::default();
        for i in 0..(MAX_CLIENTS as u32 + 500) {
            t.failed(IpAddr::V4(i.into()), T0);
        }
        assert_eq!(t.len(), MAX_CLIENTS);
    }
}
