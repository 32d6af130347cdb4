//! Booking benchmarks (`cargo bench --bench booking`): the free-slot search of the pure
//! core, and gather callbacks that book under 64 concurrent callers, end to end over HTTP
//! on loopback. Prints figures; asserts nothing about time (the machines are shared).

use std::{sync::Arc, time::Instant};

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signer, SigningKey};
use jiff::{
    SignedDuration, Timestamp,
    civil::{Date, Time, Weekday},
    tz::TimeZone,
};
use slotline::{
    booking::{self, Busy, ProviderBusy, Rules, WeeklyHours},
    clock::Clock,
    config::{Secret, Settings},
    startup::Application,
};

const PROVIDERS: usize = 20;
const APPOINTMENTS: usize = 10_000;
const DAYS: i64 = 60;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A tiny deterministic generator, so runs are comparable.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn rules() -> Rules {
    let mut hours = WeeklyHours::new();
    for d in [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
    ] {
        hours
            .set_day(
                d,
                vec![(Time::constant(8, 0, 0, 0), Time::constant(20, 0, 0, 0))],
            )
            .unwrap();
    }
    let mut r = Rules::new(TimeZone::get("America/Chicago").unwrap(), hours);
    r.slot_minutes = 15;
    r.horizon_days = DAYS as u32 + 5;
    r
}

fn free_slot_search() {
    let rules = rules();
    let now: Timestamp = "2026-11-20T12:00:00Z".parse().unwrap();
    let start = Date::constant(2026, 11, 21);
    // 10,000 non-overlapping 30-minute appointments over 60 days and 20 providers.
    let mut rng = Lcg(7);
    let mut busy: Vec<Vec<Busy>> = vec![Vec::new(); PROVIDERS];
    let mut placed = 0;
    while placed < APPOINTMENTS {
        let p = rng.next(PROVIDERS as u64) as usize;
        let day = start + SignedDuration::from_hours(24 * rng.next(DAYS as u64) as i64);
        let t = Time::constant(8, 0, 0, 0) + SignedDuration::from_mins(15 * rng.next(46) as i64);
        let s = day
            .to_datetime(t)
            .to_zoned(rules.tz.clone())
            .unwrap()
            .timestamp();
        let b = Busy {
            start: s,
            end: s + SignedDuration::from_mins(30),
        };
        if busy[p].iter().all(|o| o.end <= b.start || b.end <= o.start) {
            busy[p].push(b);
            placed += 1;
        }
    }
    for list in &mut busy {
        list.sort();
    }
    let pool: Vec<ProviderBusy> = busy
        .iter()
        .enumerate()
        .map(|(i, b)| ProviderBusy {
            provider_id: i as i64,
            offers_service: true,
            busy: b,
        })
        .collect();

    let mut one = Vec::new();
    let mut all = Vec::new();
    let mut alts = Vec::new();
    for i in 0..2000 {
        let date = start + SignedDuration::from_hours(24 * (i % DAYS));
        let t = Instant::now();
        std::hint::black_box(booking::free_starts(
            &rules,
            45,
            date,
            &busy[i as usize % PROVIDERS],
            now,
        ));
        one.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        for b in &busy {
            std::hint::black_box(booking::free_starts(&rules, 45, date, b, now));
        }
        all.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        std::hint::black_box(booking::alternatives(
            &rules,
            45,
            date,
            Time::constant(12, 0, 0, 0),
            None,
            &pool,
            now,
            3,
        ));
        alts.push(t.elapsed().as_secs_f64() * 1e6);
    }
    println!(
        "free-slot search: {PROVIDERS} providers, {APPOINTMENTS} appointments over {DAYS} days, 2000 runs each"
    );
    for (name, v) in [
        ("one provider, one day", &mut one),
        ("all 20 providers, one day", &mut all),
        ("3 nearest alternatives, any provider", &mut alts),
    ] {
        v.sort_by(f64::total_cmp);
        println!(
            "  {name:<38} median {:>8.1} µs   p99 {:>8.1} µs",
            percentile(v, 0.5),
            percentile(v, 0.99)
        );
    }
}

/// The booking runs with the writer's `synchronous` at `full` (the default) or NORMAL.
async fn concurrent_bookings(full: bool) {
    println!(
        "--- writer synchronous = {}",
        if full { "FULL (default)" } else { "NORMAL" }
    );
    const CALLERS: usize = 64;
    // BENCH_ROUNDS shrinks the run, e.g. under valgrind.
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(16);
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_bytes(&[42u8; 32]);
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        db_path: dir.path().join("bench.db"),
        public_url: "https://bench.example.com".into(),
        telnyx_public_key: Some(STANDARD.encode(key.verifying_key().to_bytes())),
        url_secret: Some(Secret::new("bench")),
        sms_dry_run: true,
        upkeep: slotline::config::Upkeep {
            synchronous_full: full,
            ..Default::default()
        },
        ..Settings::default()
    };
    let now: Timestamp = "2026-11-20T12:00:00Z".parse().unwrap();
    let app = Application::build(settings, Clock::manual(now))
        .await
        .unwrap();
    let day = serde_json::json!([["00:00", "23:55"]]);
    let providers: Vec<_> = (0..PROVIDERS)
        .map(|i| serde_json::json!({"name": format!("P{i}"), "services": ["Cut"]}))
        .collect();
    let spec = serde_json::json!({
        "slug": "bench", "name": "Bench", "phone_number": "+13125550100", "timezone": "America/Chicago",
        "hours": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day},
        "min_notice_minutes": 0, "horizon_days": 180,
        "services": [{"name": "Cut", "duration_minutes": 30}], "providers": providers,
    });
    app.seed_if_empty(&slotline::domain::TenantSpec::from_json(&spec).unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", app.addr());
    let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::new();
    let env = Env {
        client: client.clone(),
        base: base.clone(),
        key: Arc::new(key),
        now,
    };

    // Saturation: every caller sends its next callback as soon as the last is answered, so
    // 64 requests are always in flight and latency is mostly queueing (64 / throughput).
    let jobs = prepare(&env, 0, CALLERS, rounds).await;
    let started = Instant::now();
    let (lat, booked) = run_callers(&env, jobs, None).await;
    report(
        &format!("saturation: {CALLERS} callers, each sends its next callback at once, x {rounds}"),
        &lat,
        booked,
        started.elapsed().as_secs_f64(),
    );

    // Paced: 64 concurrent callers, each sending one callback every PERIOD, staggered; far
    // more than 64 real calls produce (one booking per call of a minute or more). Latency is
    // measured from the scheduled send time, so a slow answer cannot hide later ones.
    // Long enough (about 4 s) to include WAL checkpoints.
    let paced_rounds = rounds * 5;
    let jobs = prepare(&env, CALLERS * rounds, CALLERS, paced_rounds).await;
    let started = Instant::now();
    let (lat, booked) = run_callers(&env, jobs, Some(PERIOD)).await;
    let offered = CALLERS as f64 / PERIOD.as_secs_f64();
    report(
        &format!(
            "paced: {CALLERS} concurrent callers, one callback each every {} ms ({offered:.0}/s offered), x {paced_rounds}",
            PERIOD.as_millis()
        ),
        &lat,
        booked,
        started.elapsed().as_secs_f64(),
    );
}

/// Time between one caller's callbacks in the paced phase.
const PERIOD: std::time::Duration = std::time::Duration::from_millis(50);

/// What the callers share.
struct Env {
    client: reqwest::Client,
    base: String,
    key: Arc<SigningKey>,
    now: Timestamp,
}

/// A signed gather callback, ready to send: (path with token, body, timestamp, signature).
type Job = (String, String, String, String);

/// Starts a call per booking (untimed) and signs its gather callback. Bookings `first..`
/// get distinct free slots spread over the days, 46 half hours a day: the normal case.
/// Many callers racing for one time is the concurrency test's job, not this one's.
async fn prepare(env: &Env, first: usize, callers: usize, rounds: usize) -> Vec<Vec<Job>> {
    let mut per_caller: Vec<Vec<Job>> = vec![Vec::new(); callers];
    for r in 0..rounds {
        for (c, jobs) in per_caller.iter_mut().enumerate() {
            let n = first + r * callers + c;
            let date =
                Date::constant(2026, 11, 22) + SignedDuration::from_hours(24 * (n / 46) as i64);
            let minute = (n % 46) * 30;
            let sid = format!("v3:bench{n}");
            // One caller number per booking: the per-caller cap is not what is measured.
            let from = format!("+1312{:07}", n);
            let body = serde_urlencoded::to_string([
                ("CallSid", sid.as_str()),
                ("From", from.as_str()),
                ("To", "+13125550100"),
            ])
            .unwrap();
            let (ts, sig) = sign_at(&env.key, env.now, &body);
            let doc = env
                .client
                .post(format!("{}/texml/voice", env.base))
                .header("telnyx-timestamp", ts)
                .header("telnyx-signature-ed25519", sig)
                .body(body)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let action = doc
                .split("action=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap()
                .replace("https://bench.example.com", "")
                .replace("&amp;", "&");
            let result = serde_json::json!({"status": "valid", "result": {"customer_name": "Bench", "service": "Cut", "preferred_date": date.to_string(), "preferred_time": format!("{:02}:{:02}", minute / 60, minute % 60)}});
            let body = serde_urlencoded::to_string([
                ("CallSid", sid.as_str()),
                ("Status", "valid"),
                ("From", from.as_str()),
                ("Base64Result", &STANDARD.encode(result.to_string())),
            ])
            .unwrap();
            // Signed now, so the timed phase measures the server, not the client's signing.
            let (ts, sig) = sign_at(&env.key, env.now, &body);
            jobs.push((action, body, ts, sig));
        }
    }
    per_caller
}

/// Runs every caller's jobs concurrently; with `period`, caller `c` sends job `r` at
/// start + r * period + c * period / callers. Returns latencies (ms) and bookings.
async fn run_callers(
    env: &Env,
    jobs: Vec<Vec<Job>>,
    period: Option<std::time::Duration>,
) -> (Vec<f64>, usize) {
    let callers = jobs.len() as u32;
    let start = tokio::time::Instant::now() + std::time::Duration::from_millis(20);
    let tasks: Vec<_> = jobs
        .into_iter()
        .enumerate()
        .map(|(c, calls)| {
            let (client, base) = (env.client.clone(), env.base.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut booked = 0;
                for (r, (action, body, ts, sig)) in calls.into_iter().enumerate() {
                    let sent = match period {
                        Some(p) => {
                            let at = start + p * r as u32 + p * c as u32 / callers;
                            tokio::time::sleep_until(at).await;
                            at.into_std()
                        }
                        None => Instant::now(),
                    };
                    let doc = client
                        .post(format!("{base}{action}"))
                        .header("telnyx-timestamp", ts)
                        .header("telnyx-signature-ed25519", sig)
                        .body(body)
                        .send()
                        .await
                        .unwrap()
                        .text()
                        .await
                        .unwrap();
                    lat.push(sent.elapsed().as_secs_f64() * 1e3);
                    booked += usize::from(doc.contains("is booked for"));
                }
                (lat, booked)
            })
        })
        .collect();
    let mut lat = Vec::new();
    let mut booked = 0;
    for t in tasks {
        let (l, b) = t.await.unwrap();
        lat.extend(l);
        booked += b;
    }
    (lat, booked)
}

fn report(title: &str, lat: &[f64], booked: usize, secs: f64) {
    let mut lat = lat.to_vec();
    lat.sort_by(f64::total_cmp);
    println!("gather callbacks that book, signed, over loopback — {title}");
    println!(
        "  {} requests, {booked} booked, {:.0} bookings/s",
        lat.len(),
        booked as f64 / secs
    );
    println!(
        "  latency p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0)
    );
}

/// Telnyx-style signature headers for `body` at `now`.
fn sign_at(key: &SigningKey, now: Timestamp, body: &str) -> (String, String) {
    let ts = now.as_second().to_string();
    let sig = STANDARD.encode(key.sign(format!("{ts}|{body}").as_bytes()).to_bytes());
    (ts, sig)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // BENCH=search or BENCH=book runs one half (handy under a profiler).
    let only = std::env::var("BENCH").unwrap_or_default();
    if only != "book" {
        free_slot_search();
    }
    if only == "search" {
        return;
    }
    // Both durabilities in one run, so the cost of FULL is read on the same machine state.
    for full in [true, false] {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(concurrent_bookings(full));
    }
}
