//! Prometheus metrics (`GET /metrics`, OpenMetrics text): one explicit registry per
//! server, so parallel tests never share counters. Labels are bounded: route templates,
//! methods, statuses, outcomes and reasons, never a tenant, number or call id (per-tenant
//! figures are `GET /tenants/{id}/stats`, from the database). What the request path
//! touches is atomic only ([`http`], [`histogram`]); what needs the database (the outbox's
//! lag and texts by status) is read when scraped.

pub mod histogram;
pub mod http;

use std::sync::{
    Arc,
    atomic::{AtomicI64, AtomicU64},
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use self::{histogram::AtomicHistogram, http::HttpMetrics};
use crate::signature::SignatureError;

/// How a booking turn ended.
#[derive(Debug, Clone, Copy)]
pub enum BookingOutcome {
    /// An appointment was booked.
    Booked,
    /// A slot was held while the caller confirms.
    Held,
    /// A held slot was confirmed.
    Confirmed,
    /// The slot was taken by someone else first.
    Taken,
}

impl BookingOutcome {
    const ALL: [BookingOutcome; 4] = [Self::Booked, Self::Held, Self::Confirmed, Self::Taken];

    fn label(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::Held => "held",
            Self::Confirmed => "confirmed",
            Self::Taken => "taken",
        }
    }
}

/// How writes queue and hold: SQLite's writer thread ([`crate::db::Db`]) or PostgreSQL's
/// pooled transactions ([`crate::db::postgres::Pg`]).
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Jobs waiting for the writer.
    pub depth: AtomicI64,
    /// Time from a job's queueing to its start.
    pub wait: AtomicHistogram,
    /// Group commits (one transaction, one fsync, for up to 64 jobs).
    pub groups: AtomicU64,
    /// Jobs run in those groups.
    pub grouped: AtomicU64,
    /// How long each group held the writer, BEGIN to the end of COMMIT.
    pub hold: AtomicHistogram,
    /// The longest of those holds so far, in microseconds (a benchmark resets it).
    pub longest_hold_us: AtomicU64,
}

type Labels = [(&'static str, &'static str); 1];

/// Every metric of one server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by route template, method and status, and their latency.
    pub http: Arc<HttpMetrics>,
    bookings: [Counter; 4],
    signature_failures: [Counter; 7],
    /// Texts in the outbox by status, set when scraped.
    pub texts: Family<Labels, Gauge>,
    /// Seconds the oldest due text has waited unsent (0 when none waits), set when scraped.
    pub outbox_lag: Gauge<f64, AtomicU64>,
    /// Webhook deliveries by status (the queue is `pending`), set when scraped.
    pub webhook_deliveries: Family<Labels, Gauge>,
    /// Reminder-call attempts by status, set when scraped.
    pub reminder_calls: Family<Labels, Gauge>,
    /// Call starts waiting to be written, set when scraped.
    pub call_log_queue: Gauge,
    /// WAL size, set when scraped.
    pub wal_bytes: Gauge,
    /// How long each pruning batch held the writer.
    pub retention_hold: Arc<AtomicHistogram>,
    pruned: Family<Labels, Counter>,
}

const SIGNATURE_REASONS: [&str; 7] = [
    "no_key",
    "missing",
    "bad_timestamp",
    "stale",
    "malformed",
    "invalid",
    "replayed",
];

fn signature_reason(e: &SignatureError) -> usize {
    match e {
        SignatureError::NoKey => 0,
        SignatureError::Missing => 1,
        SignatureError::BadTimestamp => 2,
        SignatureError::Stale => 3,
        SignatureError::Malformed => 4,
        SignatureError::Invalid => 5,
        SignatureError::Replayed => 6,
    }
}

/// The writer's queue as metrics (read at scrape time from the atomics the writer keeps).
#[derive(Debug)]
struct WriterCollector(Arc<WriterStats>);

impl Collector for WriterCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let depth = self.0.depth.load(std::sync::atomic::Ordering::Relaxed);
        let g = Gauge::<i64>::default();
        g.set(depth.max(0));
        g.encode(encoder.encode_descriptor(
            "db_write_queue_depth",
            "Writes waiting for the database (SQLite: for the writer thread; PostgreSQL: for a pooled connection).",
            None,
            MetricType::Gauge,
        )?)?;
        self.0.wait.encode(encoder.encode_descriptor(
            "db_write_wait_seconds",
            "Time writes waited before they started (SQLite: in the writer's queue; PostgreSQL: for a pooled connection).",
            None,
            MetricType::Histogram,
        )?)?;
        let counter = |v: &AtomicU64| {
            let c = Counter::<u64>::default();
            c.inc_by(v.load(std::sync::atomic::Ordering::Relaxed));
            c
        };
        counter(&self.0.groups).encode(encoder.encode_descriptor(
            "db_write_groups",
            "Commits of the database writer (SQLite: group commits, one transaction and fsync each; PostgreSQL: one per transaction).",
            None,
            MetricType::Counter,
        )?)?;
        counter(&self.0.grouped).encode(encoder.encode_descriptor(
            "db_write_grouped_jobs",
            "Writes run in those commits.",
            None,
            MetricType::Counter,
        )?)?;
        self.0.hold.encode(encoder.encode_descriptor(
            "db_write_group_hold_seconds",
            "How long each commit held the database writer (SQLite) or its connection (PostgreSQL), BEGIN to the end of COMMIT.",
            None,
            MetricType::Histogram,
        )?)?;
        Ok(())
    }
}

/// One [`AtomicHistogram`] under a name.
#[derive(Debug)]
struct HistogramCollector {
    name: &'static str,
    help: &'static str,
    histogram: Arc<AtomicHistogram>,
}

impl Collector for HistogramCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.histogram.encode(encoder.encode_descriptor(
            self.name,
            self.help,
            None,
            MetricType::Histogram,
        )?)
    }
}

/// `slotline_build_info{version}`.
#[derive(Debug)]
struct BuildInfo;

impl Collector for BuildInfo {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let info =
            prometheus_client::metrics::info::Info::new([("version", env!("CARGO_PKG_VERSION"))]);
        info.encode(encoder.encode_descriptor(
            "build",
            "slotline's version.",
            None,
            MetricType::Info,
        )?)
    }
}

impl Metrics {
    /// A fresh registry with every metric at zero; `writer` is the database's queue.
    pub fn new(writer: Arc<WriterStats>) -> Self {
        let mut registry = Registry::with_prefix("slotline");
        let http = Arc::new(HttpMetrics::default());
        registry.register_collector(Box::new(http.clone()));
        registry.register_collector(Box::new(WriterCollector(writer)));
        registry.register_collector(Box::new(BuildInfo));
        let bookings_family = Family::<Labels, Counter>::default();
        let bookings = BookingOutcome::ALL
            .map(|o| bookings_family.get_or_create_owned(&[("outcome", o.label())]));
        registry.register(
            "bookings",
            "Booking turns on the phone line, by outcome.",
            bookings_family,
        );
        let signatures = Family::<Labels, Counter>::default();
        let signature_failures =
            SIGNATURE_REASONS.map(|r| signatures.get_or_create_owned(&[("reason", r)]));
        registry.register(
            "signature_failures",
            "Telnyx requests refused for their signature, by reason.",
            signatures,
        );
        let texts = Family::<Labels, Gauge>::default();
        registry.register(
            "outbox_texts",
            "Texts in the outbox, by status (finished ones until retention deletes them).",
            texts.clone(),
        );
        let outbox_lag = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "outbox_lag_seconds",
            "How long the oldest due text has waited unsent (0 when none waits).",
            outbox_lag.clone(),
        );
        let webhook_deliveries = Family::<Labels, Gauge>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries, by status (pending ones are the queue).",
            webhook_deliveries.clone(),
        );
        let reminder_calls = Family::<Labels, Gauge>::default();
        registry.register(
            "reminder_calls",
            "Reminder-call attempts, by status (queued, dialing and live ones are the queue).",
            reminder_calls.clone(),
        );
        let call_log_queue = Gauge::default();
        registry.register(
            "call_log_queue_depth",
            "Call starts waiting to be written to the database.",
            call_log_queue.clone(),
        );
        let wal_bytes = Gauge::default();
        registry.register(
            "db_wal_bytes",
            "Size of the SQLite write-ahead log.",
            wal_bytes.clone(),
        );
        let retention_hold = Arc::new(AtomicHistogram::default());
        registry.register_collector(Box::new(HistogramCollector {
            name: "retention_batch_hold_seconds",
            help: "How long each pruning batch held the database writer.",
            histogram: retention_hold.clone(),
        }));
        let pruned = Family::<Labels, Counter>::default();
        registry.register(
            "retention_pruned_rows",
            "Rows deleted by retention, by table.",
            pruned.clone(),
        );
        Self {
            registry,
            http,
            retention_hold,
            pruned,
            bookings,
            signature_failures,
            texts,
            outbox_lag,
            webhook_deliveries,
            reminder_calls,
            call_log_queue,
            wal_bytes,
        }
    }

    /// Counts a booking turn's outcome.
    pub fn booking(&self, outcome: BookingOutcome) {
        self.bookings[outcome as usize].inc();
    }

    /// Counts a refused signature.
    pub fn signature_failure(&self, e: &SignatureError) {
        self.signature_failures[signature_reason(e)].inc();
    }

    /// Counts `n` rows pruned from `table`.
    pub fn pruned(&self, table: &'static str, n: u64) {
        self.pruned.get_or_create(&[("table", table)]).inc_by(n);
    }

    /// Bookings counted with `outcome` so far.
    pub fn bookings(&self, outcome: BookingOutcome) -> u64 {
        self.bookings[outcome as usize].get()
    }

    /// The exposition, in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
