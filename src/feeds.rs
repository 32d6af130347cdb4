//! Feed URLs and what they serve: secrets (32 random bytes, base64url, shown once; only
//! their SHA-256 is stored and compared in constant time), the per-feed request limit, and
//! the calendar document for a request. The URL is `{public_url}/ics/{feed}/{secret}.ics`;
//! logs only ever see it through [`redacted_path`].

use std::{collections::HashMap, sync::Mutex};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{
    calendar::{self, Calendar, Detail},
    db::{DbError, feeds::Feed, store::Store},
};

/// A new URL secret and the hash to store for it.
pub fn new_secret() -> (String, [u8; 32]) {
    let bytes: [u8; 32] = rand::random();
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&secret);
    (secret, hash)
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The feed's public URL with `secret`.
pub fn url(public_url: &str, feed: i64, secret: &str) -> String {
    format!("{public_url}/ics/{feed}/{secret}.ics")
}

/// `path` with the secret of an `/ics/…` URL replaced, for logs; other paths unchanged.
pub fn redacted_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix("/ics/") {
        Some(rest) => {
            let feed = rest.split('/').next().unwrap_or_default();
            format!("/ics/{feed}/[redacted].ics").into()
        }
        None => path.into(),
    }
}

/// Requests one feed may make per window.
pub const REQUESTS_PER_WINDOW: u32 = 30;
/// The window, in seconds.
pub const WINDOW_SECONDS: i64 = 60;
/// Feeds remembered at once; expired windows are dropped first.
const MAX_FEEDS: usize = 10_000;

/// Requests per feed in the current window (wrong secrets count too).
#[derive(Debug, Default)]
pub struct FeedLimiter(Mutex<HashMap<i64, (i64, u32)>>);

impl FeedLimiter {
    /// Counts a request for `feed` at `now`; `Err(seconds to wait)` once over the limit.
    pub fn check(&self, feed: i64, now: i64) -> Result<(), u64> {
        let Ok(mut map) = self.0.lock() else {
            return Ok(());
        };
        if map.len() >= MAX_FEEDS && !map.contains_key(&feed) {
            map.retain(|_, (started, _)| now < *started + WINDOW_SECONDS);
            // Still full (requests for many made-up feed ids): the least-used window goes,
            // so a flood of new ids never frees a feed that is over its limit.
            if map.len() >= MAX_FEEDS
                && let Some(least) = map
                    .iter()
                    .min_by_key(|(_, (started, count))| (*count, *started))
                    .map(|(k, _)| *k)
            {
                map.remove(&least);
            }
        }
        let entry = map.entry(feed).or_insert((now, 0));
        if now >= entry.0 + WINDOW_SECONDS {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 > REQUESTS_PER_WINDOW {
            Err(u64::try_from(entry.0 + WINDOW_SECONDS - now)
                .unwrap_or(1)
                .max(1))
        } else {
            Ok(())
        }
    }
}

/// A served feed: its document and its name for `Content-Disposition`.
pub struct Served {
    /// The iCalendar object.
    pub body: String,
    /// `<slug>.ics`.
    pub filename: String,
}

/// The document of feed `id` if `secret` is its current secret; `None` for an unknown,
/// revoked or rotated URL (all look the same to the caller).
pub async fn serve(
    store: &Store,
    public_url: &str,
    id: i64,
    secret: &str,
    now: i64,
) -> Result<Option<Served>, DbError> {
    let given = hash(secret);
    let uid_domain = reqwest::Url::parse(public_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "slotline".into());
    let Some(access) = store.feeds().for_url(id).await? else {
        return Ok(None);
    };
    if !bool::from(given.as_slice().ct_eq(access.secret_hash.as_slice())) {
        return Ok(None);
    }
    let feed = access.feed;
    let horizon = (access.horizon_days + 2) * 86_400;
    let window = (now - calendar::DAYS_BACK * 86_400, now + horizon);
    let cancelled_since = now - calendar::CANCELLED_KEPT_DAYS * 86_400;
    let events = store
        .feeds()
        .events(
            feed.tenant_id,
            feed.provider_id,
            window,
            cancelled_since,
            now,
        )
        .await?;
    let detail = Detail::parse(&feed.detail)
        .ok_or_else(|| DbError::Corrupt(format!("feed {id} has detail {:?}", feed.detail)))?;
    let name = name(&access.tenant_name, &feed, detail);
    let body = calendar::render(&Calendar {
        name: &name,
        uid_domain: &uid_domain,
        detail,
        events: &events,
    });
    Ok(Some(Served {
        body,
        filename: format!("{}.ics", access.tenant_slug),
    }))
}

/// The calendar's display name: "Salon", "Salon — Anna", "Salon (busy)".
fn name(tenant: &str, feed: &Feed, detail: Detail) -> String {
    let mut name = tenant.to_string();
    if let Some(provider) = &feed.provider {
        name.push_str(" — ");
        name.push_str(provider);
    }
    if detail == Detail::Busy {
        name.push_str(" (busy)");
    }
    name
}

/// A strong ETag for `body`.
pub fn etag(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether `If-None-Match` names `etag` (or `*`); weak tags compare by their value.
pub fn not_modified(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_43_url_safe_characters_and_hash_to_what_is_stored() {
        let (secret, stored) = new_secret();
        assert_eq!(secret.len(), 43);
        assert!(
            secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(hash(&secret), stored);
        assert_ne!(new_secret().0, secret);
    }

    #[test]
    fn logged_feed_paths_hide_the_secret() {
        assert_eq!(
            redacted_path("/ics/12/abcDEF_-x.ics"),
            "/ics/12/[redacted].ics"
        );
        assert_eq!(redacted_path("/ics/12"), "/ics/12/[redacted].ics");
        assert_eq!(redacted_path("/texml/voice"), "/texml/voice");
    }

    #[test]
    fn a_feed_is_limited_per_window() {
        let limiter = FeedLimiter::default();
        for _ in 0..REQUESTS_PER_WINDOW {
            limiter.check(1, 100).unwrap();
        }
        assert_eq!(limiter.check(1, 110), Err(50));
        assert!(
            limiter.check(2, 110).is_ok(),
            "other feeds are not affected"
        );
        assert!(limiter.check(1, 160).is_ok(), "a new window");
    }

    #[test]
    fn a_flood_of_made_up_feed_ids_does_not_reset_a_busy_feed() {
        let limiter = FeedLimiter::default();
        for _ in 0..=REQUESTS_PER_WINDOW {
            let _ = limiter.check(1, 100);
        }
        for id in 2..(MAX_FEEDS as i64 + 100) {
            let _ = limiter.check(id, 101);
        }
        assert!(
            limiter.check(1, 102).is_err(),
            "feed 1 is still over its limit"
        );
    }

    #[test]
    fn if_none_match_compares_tags() {
        assert!(not_modified("\"a\"", "\"a\""));
        assert!(not_modified("W/\"a\", \"b\"", "\"a\""));
        assert!(not_modified("*", "\"a\""));
        assert!(!not_modified("\"b\"", "\"a\""));
    }
}
