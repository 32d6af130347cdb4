//! Requests by route template, method and status, and their latency by route template and
//! method, without a lock on the request path: each (template, method) gets a slot the
//! first time it is seen (under a mutex, once), and every later request finds its slot
//! with atomic loads and counts with two or three relaxed atomic additions. Templates come
//! from poem's matched route (`/tenants/:id`), never the raw path, so the labels stay
//! bounded; requests no route matched share `route="unmatched"`.

use std::{
    sync::{
        Mutex, OnceLock, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use poem::http::Method;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter},
};

use super::histogram::AtomicHistogram;

/// Most (template, method) pairs tracked; beyond them requests count as `route="other"`.
/// The route table has about 60 pairs today (Telnyx's, the admin API's, feeds, webhooks,
/// calls), so there is room for the console's pages and more.
const SLOTS: usize = 128;
/// Statuses counted one by one; any other is counted as `status="other"`.
const STATUSES: [u16; 22] = [
    200, 201, 204, 304, 400, 401, 403, 404, 405, 408, 409, 411, 412, 413, 415, 422, 429, 500, 502,
    503, 504, 505,
];

/// The route label of requests no route matched.
pub const UNMATCHED: &str = "unmatched";

#[derive(Debug)]
struct Slot {
    route: Box<str>,
    method: &'static str,
    statuses: [AtomicU64; STATUSES.len() + 1],
    latency: AtomicHistogram,
}

/// The request counters; one per server, shared by every serving thread.
#[derive(Debug)]
pub struct HttpMetrics {
    slots: Box<[OnceLock<Slot>]>,
    overflow: OnceLock<Slot>,
    adding: Mutex<()>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| OnceLock::new()).collect(),
            overflow: OnceLock::new(),
            adding: Mutex::new(()),
        }
    }
}

/// The label of a method (bounded: unusual methods share one).
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn new_slot(route: &str, method: &'static str) -> Slot {
    Slot {
        route: route.into(),
        method,
        statuses: Default::default(),
        latency: AtomicHistogram::default(),
    }
}

impl HttpMetrics {
    /// Counts one answered request: `route` is the matched template (or [`UNMATCHED`]).
    pub fn observe(&self, route: &str, method: &Method, status: u16, took: Duration) {
        let slot = self.slot(route, method_label(method));
        let i = STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(STATUSES.len());
        slot.statuses[i].fetch_add(1, Ordering::Relaxed);
        slot.latency.observe(took);
    }

    fn find(&self, route: &str, method: &str) -> Result<&Slot, usize> {
        for (i, cell) in self.slots.iter().enumerate() {
            match cell.get() {
                Some(s) if s.method == method && &*s.route == route => return Ok(s),
                Some(_) => {}
                None => return Err(i),
            }
        }
        Err(SLOTS)
    }

    fn slot(&self, route: &str, method: &'static str) -> &Slot {
        if let Ok(slot) = self.find(route, method) {
            return slot;
        }
        let _adding = self.adding.lock().unwrap_or_else(PoisonError::into_inner);
        match self.find(route, method) {
            Ok(slot) => slot,
            Err(free) if free < SLOTS => self.slots[free].get_or_init(|| new_slot(route, method)),
            Err(_) => self.overflow.get_or_init(|| new_slot("other", "other")),
        }
    }

    fn filled(&self) -> impl Iterator<Item = &Slot> {
        self.slots
            .iter()
            .map_while(OnceLock::get)
            .chain(self.overflow.get())
    }

    /// Requests answered so far for `route` and `method` with `status` (tests).
    pub fn requests(&self, route: &str, method: &str, status: u16) -> u64 {
        let Ok(slot) = self.find(route, method) else {
            return 0;
        };
        STATUSES
            .iter()
            .position(|s| *s == status)
            .map_or(0, |i| slot.statuses[i].load(Ordering::Relaxed))
    }
}

impl Collector for HttpMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut requests = encoder.encode_descriptor(
            "http_requests",
            "HTTP requests answered, by route template, method and status.",
            None,
            MetricType::Counter,
        )?;
        for slot in self.filled() {
            for (i, count) in slot.statuses.iter().enumerate() {
                let n = count.load(Ordering::Relaxed);
                if n == 0 {
                    continue;
                }
                let status = STATUSES.get(i).map_or("other".to_string(), u16::to_string);
                let labels = [
                    ("route", &*slot.route),
                    ("method", slot.method),
                    ("status", status.as_str()),
                ];
                ConstCounter::new(n).encode(requests.encode_family(&labels)?)?;
            }
        }
        let mut latency = encoder.encode_descriptor(
            "http_request_duration_seconds",
            "Time from the request's arrival at the router to its answer, by route template and method.",
            None,
            MetricType::Histogram,
        )?;
        for slot in self.filled() {
            let labels = [("route", &*slot.route), ("method", slot.method)];
            slot.latency.encode(latency.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_per_template_method_and_status() {
        let m = HttpMetrics::default();
        let d = Duration::from_micros(300);
        m.observe("/texml/voice", &Method::POST, 200, d);
        m.observe("/texml/voice", &Method::POST, 200, d);
        m.observe("/texml/voice", &Method::POST, 403, d);
        m.observe("/tenants/:id", &Method::GET, 200, d);
        m.observe("/tenants/:id", &Method::GET, 299, d);
        assert_eq!(m.requests("/texml/voice", "POST", 200), 2);
        assert_eq!(m.requests("/texml/voice", "POST", 403), 1);
        assert_eq!(m.requests("/tenants/:id", "GET", 200), 1);
        assert_eq!(m.requests("/tenants/:id", "PATCH", 200), 0);
        assert_eq!(m.filled().count(), 2);
    }

    #[test]
    fn templates_beyond_the_slots_share_one_other_label() {
        let m = HttpMetrics::default();
        for i in 0..SLOTS + 5 {
            m.observe(&format!("/r{i}"), &Method::GET, 200, Duration::ZERO);
        }
        assert_eq!(m.filled().count(), SLOTS + 1);
        let other = m.overflow.get().unwrap();
        assert_eq!(other.statuses[0].load(Ordering::Relaxed), 5);
    }
}
