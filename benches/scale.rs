//! A database ten years full (`bench/scale`, or `cargo bench --bench scale`): the same
//! measurements on an empty database and on one with 10,000 tenants, 1,000,000
//! appointments, 10,000,000 calls (each with a recorded turn), 1,000,000 queued texts and
//! a year of messaging webhook events (`SCALE=0.1` builds a tenth of each). Everything runs in this process over
//! loopback, one after the other; figures are printed side by side with their ratio.
//! Asserts nothing about time (the machines are shared).

use std::{
    path::Path,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signer, SigningKey};
use jiff::Timestamp;
use rusqlite::params;
use serde_json::{Value, json};
use slotline::{
    clock::Clock,
    config::{Secret, Settings},
    db::{self, Db},
    startup::Application,
};

const TOKEN: &str = "scale-admin-token-0123456789abcdef0123456789";
const NUMBER: &str = "+13125550100";
const DAY: i64 = 86_400;

/// The sizes of the full database, times `SCALE`.
struct Sizes {
    tenants: usize,
    appointments: usize,
    calls: usize,
    texts: usize,
    events: usize,
}

impl Sizes {
    fn scaled(f: f64) -> Self {
        let n = |x: f64| (x * f) as usize;
        Self {
            tenants: n(10_000.0),
            appointments: n(1_000_000.0),
            calls: n(10_000_000.0),
            texts: n(1_000_000.0),
            events: n(2_000_000.0),
        }
    }
}

/// One figure: name, value, unit.
type Figure = (&'static str, f64, &'static str);

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn sign(key: &SigningKey, now: Timestamp, body: &str) -> (String, String) {
    let ts = now.as_second().to_string();
    let sig = STANDARD.encode(key.sign(format!("{ts}|{body}").as_bytes()).to_bytes());
    (ts, sig)
}

fn tenant_spec(slug: &str, number: &str, providers: usize) -> Value {
    let day = json!([["00:00", "23:55"]]);
    let providers: Vec<Value> = (0..providers)
        .map(|i| json!({"name": format!("P{i}"), "services": ["Cut"]}))
        .collect();
    json!({
        "slug": slug, "name": slug, "phone_number": number, "timezone": "America/Chicago",
        "hours": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day},
        "min_notice_minutes": 0, "horizon_days": 365, "max_future_bookings_per_caller": 100,
        "services": [{"name": "Cut", "duration_minutes": 30}], "providers": providers,
    })
}

/// Fills the database with `s`'s rows around `now`, in large transactions.
fn fill(db: &Db, s: &Sizes, now: i64) {
    let started = Instant::now();
    for t in 0..s.tenants {
        let spec = slotline::domain::TenantSpec::from_json(&tenant_spec(
            &format!("t{t}"),
            &format!("+1415{t:07}"),
            2,
        ))
        .unwrap();
        db.run_blocking(|c| db::tenants::insert(c, &spec)).unwrap();
    }
    let ids: Vec<(i64, i64, i64)> = db
        .run_blocking(|c| {
            let mut st = c.prepare(
                "SELECT t.id, (SELECT MIN(id) FROM services WHERE tenant_id = t.id),
                        (SELECT MIN(id) FROM providers WHERE tenant_id = t.id)
                 FROM tenants t WHERE slug <> 'bench'",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .unwrap();
    let n = ids.len().max(1);
    let chunk =
        |total: usize, f: &dyn Fn(&rusqlite::Transaction, usize) -> rusqlite::Result<()>| {
            for start in (0..total).step_by(100_000) {
                db.run_blocking(|c| {
                    let tx = c.transaction()?;
                    for i in start..(start + 100_000).min(total) {
                        f(&tx, i)?;
                    }
                    tx.commit()?;
                    Ok(())
                })
                .unwrap();
            }
        };
    // Appointments: each tenant's spread from a year back to a month ahead on the half
    // hour; one in ten cancelled; the booked ones hold their 5-minute cells.
    let per_tenant = (s.appointments / n).max(1) as i64;
    let step = (395 * DAY / per_tenant) / 1800 * 1800;
    chunk(s.appointments, &|tx, i| {
        let (tenant, service, provider) = ids[i % n];
        let start = now - 365 * DAY + (i / n) as i64 * step.max(1800);
        let status = if i % 10 == 0 { "cancelled" } else { "booked" };
        tx.prepare_cached(
            "INSERT INTO appointments (tenant_id, service_id, provider_id, customer_name, customer_phone,
                start_at, end_at, blocked_until, status, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'Scale', ?4, ?5, ?5 + 1800, ?5 + 1800, ?6, ?5 - 86400, ?5 - 86400)",
        )?
        .execute(params![tenant, service, provider, format!("+1312{:07}", i % 9_000_000), start, status])?;
        if status == "booked" {
            let id = tx.last_insert_rowid();
            for cell in (start / 300)..((start + 1800) / 300) {
                tx.prepare_cached(
                    "INSERT INTO appointment_cells (provider_id, cell, appointment_id) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![provider, cell, id])?;
            }
        }
        Ok(())
    });
    // Calls over the last 450 days (the oldest past the 400-day retention), each with its
    // greeting and one turn as the calls page records them (a booking in one answer).
    chunk(s.calls, &|tx, i| {
        let (tenant, _, _) = ids[i % n];
        let sid = format!("v3:scale-{i}");
        let start = now - 450 * DAY + (i as i64 * 450 * DAY) / s.calls.max(1) as i64;
        tx.prepare_cached(
            "INSERT INTO calls (call_sid, tenant_id, from_number, to_number, status, started_at, ended_at,
                                duration_seconds, first_said)
             VALUES (?1, ?2, ?3, ?4, 'completed', ?5, ?5 + 90, 90,
                     'Thanks for calling Scale Salon. What can I book for you?')",
        )?
        .execute(params![
            sid,
            tenant,
            format!("+1312{:07}", i % 9_000_000),
            format!("+1415{:07}", i % n),
            start
        ])?;
        tx.prepare_cached(
            "INSERT INTO call_turns (call_sid, step, seq, at, heard, said, outcome)
             VALUES (?1, 'g1', 1, ?2 + 40, 'A cut tomorrow at three, please. It is Sam.',
                     'Thanks Sam. Your cut with Ana is booked for Tuesday, December 8 at 3:00 PM. We''ll text you a confirmation. Goodbye.
(hung up)', 'booked')",
        )?
        .execute(params![sid, start])?;
        Ok(())
    });
    // Queued texts: a reminder a day before every future booked appointment, and the rest
    // queued answers, all due later than the run (nobody sends them meanwhile).
    let future: Vec<(i64, i64, i64)> = db
        .run_blocking(move |c| {
            let mut st = c.prepare(
                "SELECT id, tenant_id, start_at FROM appointments WHERE status = 'booked' AND start_at > ?1 + 2 * 86400",
            )?;
            let rows = st.query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .unwrap();
    chunk(s.texts, &|tx, i| {
        let to = format!("+1312{:07}", i % 9_000_000);
        if let Some((appt, tenant, start)) = future.get(i) {
            tx.prepare_cached(
                "INSERT INTO outbox (tenant_id, appointment_id, kind, to_number, from_number, due_at, created_at, updated_at)
                 VALUES (?1, ?2, 'reminder', ?3, '+13125550100', ?4, ?5, ?5)",
            )?
            .execute(params![tenant, appt, to, start - DAY, now])?;
        } else {
            let (tenant, _, _) = ids[i % n];
            tx.prepare_cached(
                "INSERT INTO outbox (tenant_id, kind, to_number, from_number, due_at, text, created_at, updated_at)
                 VALUES (?1, 'reply', ?2, '+13125550100', ?3, 'See you soon', ?4, ?4)",
            )?
            .execute(params![tenant, to, now + 3600 + (i as i64 % (30 * DAY)), now])?;
        }
        Ok(())
    });
    // A year of messaging webhook events.
    chunk(s.events, &|tx, i| {
        tx.prepare_cached(
            "INSERT INTO messaging_events (event_id, event_type, telnyx_message_id, status, received_at)
             VALUES (?1, 'message.finalized', ?2, 'delivered', ?3)",
        )?
        .execute(params![
            format!("scale-{i}"),
            format!("m-{i}"),
            now - 365 * DAY + (i as i64 * 365 * DAY) / s.events.max(1) as i64
        ])?;
        Ok(())
    });
    db.run_blocking(|c| Ok(c.execute_batch("ANALYZE")?))
        .unwrap();
    println!("  filled in {:.0} s", started.elapsed().as_secs_f64());
}

/// p50 and p99 of `samples` (ms) as two figures.
fn latency(name_p50: &'static str, name_p99: &'static str, mut samples: Vec<f64>) -> [Figure; 2] {
    samples.sort_by(f64::total_cmp);
    [
        (name_p50, percentile(&samples, 0.5), "ms"),
        (name_p99, percentile(&samples, 0.99), "ms"),
    ]
}

struct Run {
    client: reqwest::Client,
    base: String,
    key: Arc<SigningKey>,
    now: Timestamp,
}

impl Run {
    async fn voice(&self, sid: &str, from: &str) -> String {
        let body = serde_urlencoded::to_string([("CallSid", sid), ("From", from), ("To", NUMBER)])
            .unwrap();
        self.post_signed("/texml/voice", body).await
    }

    async fn post_signed(&self, path: &str, body: String) -> String {
        let (ts, sig) = sign(&self.key, self.now, &body);
        self.client
            .post(format!("{}{path}", self.base))
            .header("telnyx-timestamp", ts)
            .header("telnyx-signature-ed25519", sig)
            .body(body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Duration) {
        let started = Instant::now();
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let _ = resp.bytes().await.unwrap();
        (status, started.elapsed())
    }

    /// Latencies (ms) of `n` sequential admin requests to `path`.
    async fn admin_series(&self, path: &str, n: usize) -> Vec<f64> {
        let mut out = Vec::new();
        for _ in 0..n {
            let (status, took) = self.admin(reqwest::Method::GET, path, None).await;
            assert_eq!(status, 200, "{path}");
            out.push(took.as_secs_f64() * 1e3);
        }
        out
    }
}

/// Signed voice requests for distinct calls to the measured tenant, one per line as
/// `body<TAB>timestamp<TAB>signature` (what `bench/loadgen paced --requests` reads).
fn voice_requests(run: &Run, tag: &str, n: u32) -> String {
    (0..n)
        .map(|i| {
            let body = serde_urlencoded::to_string([
                ("CallSid", format!("v3:{tag}-paced-{i}").as_str()),
                ("From", format!("+1773{i:07}").as_str()),
                ("To", NUMBER),
            ])
            .unwrap();
            let (ts, sig) = sign(&run.key, run.now, &body);
            format!("{body}\t{ts}\t{sig}\n")
        })
        .collect()
}

/// Voice URL at `rate`/s open loop for `secs`, in process: latencies (ms) from each
/// scheduled send. Only without `SCALE_LOADGEN` (the client shares this process and the
/// two cores with the server, so its tail is the machine's).
async fn paced_voice(run: &Arc<Run>, tag: &str, rate: u32, secs: u32) -> Vec<f64> {
    let total = rate * secs;
    let gap = Duration::from_secs(1) / rate;
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let mut tasks = Vec::with_capacity(total as usize);
    let bodies: Vec<(String, String, String)> = voice_requests(run, tag, total)
        .lines()
        .map(|l| {
            let mut p = l.split('\t').map(str::to_string);
            (p.next().unwrap(), p.next().unwrap(), p.next().unwrap())
        })
        .collect();
    for (i, (body, ts, sig)) in bodies.into_iter().enumerate() {
        let at = start + gap * i as u32;
        let run = run.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let resp = run
                .client
                .post(format!("{}/texml/voice", run.base))
                .header("telnyx-timestamp", ts)
                .header("telnyx-signature-ed25519", sig)
                .body(body)
                .send()
                .await
                .unwrap();
            let _ = resp.bytes().await.unwrap();
            at.into_std().elapsed().as_secs_f64() * 1e3
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// `bench/loadgen paced` (`loadgen`) at `rate`/s for `secs` against `url` with the
/// requests in `file`, over 64 connections, as bench/run runs it: (p50, p99, p99.9) in ms,
/// and the answers that failed.
async fn loadgen_paced(loadgen: &Path, url: &str, file: &Path, rate: u32, secs: u32) -> [f64; 4] {
    let mut cmd = std::process::Command::new(loadgen);
    cmd.args(["paced", "--url", url, "--rate", &rate.to_string()])
        .args(["--duration", &format!("{secs}s"), "--connections", "64"])
        .arg("--requests")
        .arg(file);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("bench/loadgen runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "loadgen paced failed: {text}");
    let kv = |key: &str| -> f64 {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    [kv("p50_ms"), kv("p99_ms"), kv("p999_ms"), kv("errors")]
}

/// nginx (`SCALE_NGINX`) serving `doc` as a static file to every request on a free port in
/// `dir`, 2 workers, no access log, as in bench/run. Stopped when dropped.
struct Nginx {
    child: std::process::Child,
    url: String,
}

impl Nginx {
    fn start(bin: &Path, dir: &Path, doc: &str) -> Self {
        let www = dir.join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("voice.xml"), doc).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.display();
        let conf = format!(
            "worker_processes 2;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 1024; }}\nhttp {{\n access_log off;\n\
             client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
             server {{\n  listen 127.0.0.1:{port};\n  root {w};\n  location / {{\n\
             default_type application/xml;\n   try_files /voice.xml =404;\n   error_page 405 =200 $uri;\n  }}\n }}\n}}\n",
            w = www.display()
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = std::process::Command::new(bin)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx starts");
        let url = format!("http://127.0.0.1:{port}/texml/voice");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, url }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT: nginx's master stops its workers and exits.
        let _ = std::process::Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The voice URL at 2,000/s: from `bench/loadgen paced` with nginx in the same run when
/// `SCALE_LOADGEN` and `SCALE_NGINX` are set (bench/scale sets them), else in process.
async fn voice_figures(run: &Arc<Run>, label: &str, dir: &Path) -> Vec<Figure> {
    let secs: u32 = std::env::var("SCALE_PACED_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let (Some(loadgen), Some(nginx)) = (
        std::env::var_os("SCALE_LOADGEN"),
        std::env::var_os("SCALE_NGINX"),
    ) else {
        let _ = paced_voice(run, &format!("{label}-warm"), 500, 1).await;
        return latency(
            "voice URL at 2,000/s (in process), p50",
            "voice URL at 2,000/s (in process), p99",
            paced_voice(run, label, 2000, secs).await,
        )
        .to_vec();
    };
    let (loadgen, nginx) = (Path::new(&loadgen), Path::new(&nginx));
    let url = format!("{}/texml/voice", run.base);
    let warm = dir.join("warm.tsv");
    std::fs::write(&warm, voice_requests(run, &format!("{label}-warm"), 1000)).unwrap();
    let _ = loadgen_paced(loadgen, &url, &warm, 500, 2).await;
    let file = dir.join("paced.tsv");
    std::fs::write(&file, voice_requests(run, label, 2000 * secs)).unwrap();
    let [p50, p99, p999, errors] = loadgen_paced(loadgen, &url, &file, 2000, secs).await;
    // One real answer for nginx to serve, then the same requests.
    let doc = run.voice(&format!("v3:{label}-doc"), "+17730000000").await;
    let server = Nginx::start(nginx, &dir.join("nginx"), &doc);
    let [n50, n99, n999, _] = loadgen_paced(loadgen, &server.url, &file, 2000, secs).await;
    drop(server);
    vec![
        ("voice URL at 2,000/s (loadgen), p50", p50, "ms"),
        ("voice URL at 2,000/s (loadgen), p99", p99, "ms"),
        ("voice URL at 2,000/s (loadgen), p99.9", p999, "ms"),
        ("  voice URL errors", errors, ""),
        ("  nginx, same requests, p50", n50, "ms"),
        ("  nginx, same requests, p99", n99, "ms"),
        ("  nginx, same requests, p99.9", n999, "ms"),
    ]
}

/// Bookings on the measured tenant by 32 concurrent callers, `per` each: (bookings/s,
/// booked appointment ids' count).
async fn bookings(run: &Arc<Run>, tag: &str, per: usize) -> (f64, usize) {
    let mut prepared = Vec::new();
    for c in 0..32usize {
        let mut jobs = Vec::new();
        for r in 0..per {
            let n = c * per + r;
            let sid = format!("v3:{tag}-book-{n}");
            let from = format!("+1708{n:07}");
            let doc = run.voice(&sid, &from).await;
            let action = doc
                .split("action=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap()
                .replace("https://bench.example.com", "")
                .replace("&amp;", "&");
            let date = jiff::civil::Date::constant(2026, 12, 1)
                + jiff::SignedDuration::from_hours(24 * (n / 46) as i64);
            let minute = (n % 46) * 30;
            let result = json!({"status": "valid", "result": {"customer_name": "Scale", "service": "Cut",
                "preferred_date": date.to_string(), "preferred_time": format!("{:02}:{:02}", minute / 60, minute % 60),
                "phone": from}});
            let body = serde_urlencoded::to_string([
                ("CallSid", sid.as_str()),
                ("Status", "valid"),
                ("From", from.as_str()),
                ("Base64Result", &STANDARD.encode(result.to_string())),
            ])
            .unwrap();
            jobs.push((action, body));
        }
        prepared.push(jobs);
    }
    let started = Instant::now();
    let tasks: Vec<_> = prepared
        .into_iter()
        .map(|jobs| {
            let run = run.clone();
            tokio::spawn(async move {
                let mut booked = 0;
                for (path, body) in jobs {
                    booked +=
                        usize::from(run.post_signed(&path, body).await.contains("is booked for"));
                }
                booked
            })
        })
        .collect();
    let mut booked = 0;
    for t in tasks {
        booked += t.await.unwrap();
    }
    (booked as f64 / started.elapsed().as_secs_f64(), booked)
}

/// The longest single batch of each pruning function over up to `batches` batches (ms),
/// and the number of batches that deleted rows.
async fn pruning_hold(db: &Db, now: i64, batches: usize) -> Vec<Figure> {
    use slotline::{
        db::{retention::Step, store::Store},
        retention::{BATCH, CALL_BATCH, EVENT_BATCH},
    };
    let store = Store::Sqlite(db.clone());
    let steps: [(&'static str, Step, i64, usize); 3] = [
        (
            "pruning, longest batch hold: events",
            Step::MessagingEvents,
            now - 90 * DAY,
            EVENT_BATCH,
        ),
        (
            "pruning, longest batch hold: calls",
            Step::Calls,
            now - 400 * DAY,
            CALL_BATCH,
        ),
        (
            "pruning, longest batch hold: texts",
            Step::FinishedTexts,
            now - 90 * DAY,
            BATCH,
        ),
    ];
    let mut figures = Vec::new();
    for (name, step, cutoff, batch) in steps {
        let mut longest = Duration::ZERO;
        for _ in 0..batches {
            // The writer's own hold, BEGIN to the end of COMMIT (its fsync included), of
            // the group the batch ran in: with nothing else queued, the batch alone.
            let stats = db.writer_stats();
            stats.longest_hold_us.store(0, Ordering::Relaxed);
            let (n, _) = store.retention().prune(step, cutoff, batch).await.unwrap();
            let held = Duration::from_micros(stats.longest_hold_us.load(Ordering::Relaxed));
            longest = longest.max(held);
            if n < batch {
                break;
            }
        }
        figures.push((name, longest.as_secs_f64() * 1e3, "ms"));
    }
    figures
}

/// Latencies (ms) of 50 GETs of a provider's calendar feed (`P0` of the measured tenant,
/// initials), 25 on each of two feeds: one feed may be fetched 30 times a minute.
async fn feed_series(run: &Run) -> Vec<f64> {
    let mut out = Vec::new();
    for _ in 0..2 {
        let created: Value = run
            .client
            .post(format!("{}/tenants/bench/feeds", run.base))
            .bearer_auth(TOKEN)
            .json(&json!({"scope": "provider", "provider": "P0", "detail": "initials"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let url = created["url"].as_str().expect("a feed URL");
        let path = url.replace("https://bench.example.com", "");
        for _ in 0..25 {
            let started = Instant::now();
            let resp = run
                .client
                .get(format!("{}{path}", run.base))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200, "feed {path}");
            let body = resp.text().await.unwrap();
            out.push(started.elapsed().as_secs_f64() * 1e3);
            assert!(body.starts_with("BEGIN:VCALENDAR"));
        }
    }
    out
}

fn file_bytes(p: &Path) -> u64 {
    let wal = slotline::readiness::wal_path(p);
    std::fs::metadata(p).map_or(0, |m| m.len()) + std::fs::metadata(wal).map_or(0, |m| m.len())
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

async fn measure(label: &str, sizes: Option<&Sizes>) -> Vec<Figure> {
    println!("--- {label} database");
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("scale.db");
    let key = SigningKey::from_bytes(&[42u8; 32]);
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        db_path: db_path.clone(),
        public_url: "https://bench.example.com".into(),
        telnyx_public_key: Some(STANDARD.encode(key.verifying_key().to_bytes())),
        admin_token: Some(Secret::new(TOKEN)),
        url_secret: Some(Secret::new("scale")),
        sms_dry_run: true,
        ..Settings::default()
    };
    let now: Timestamp = "2026-11-20T12:00:00Z".parse().unwrap();
    let app = Application::build(settings, Clock::manual(now))
        .await
        .unwrap();
    let spec = slotline::domain::TenantSpec::from_json(&tenant_spec("bench", NUMBER, 20)).unwrap();
    app.seed_if_empty(&spec).await.unwrap();
    let db = app.state().db().clone();
    if let Some(s) = sizes {
        fill(&db, s, now.as_second());
    }
    let base = format!("http://{}", app.addr());
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let run = Arc::new(Run {
        client: reqwest::Client::new(),
        base,
        key: Arc::new(key),
        now,
    });
    let mut figures = Vec::new();
    figures.extend(voice_figures(&run, label, dir.path()).await);
    let (rate, booked) = bookings(&run, label, 10).await;
    figures.push(("bookings/s (32 callers)", rate, "/s"));
    figures.push(("  booked", booked as f64, ""));
    // The bookings' appointments, for the operator's cancel and reschedule.
    let ids: Vec<i64> = db
        .run_blocking(|c| {
            let mut st = c.prepare(
                "SELECT a.id FROM appointments a JOIN tenants t ON t.id = a.tenant_id
                 WHERE t.slug = 'bench' AND a.status = 'booked' ORDER BY a.id",
            )?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .unwrap();
    let mut replies = Vec::new();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for (i, _) in ids.iter().enumerate().take(50) {
        let customer = format!("+1708{i:07}");
        let event = json!({"data": {"event_type": "message.received", "id": format!("{label}-c-{i}"),
            "payload": {"direction": "inbound", "text": "C", "from": {"phone_number": customer},
                "to": [{"phone_number": NUMBER}], "id": format!("{label}-msg-{i}"), "type": "SMS"}}});
        let started = Instant::now();
        let answer = run
            .post_signed("/messaging/webhook", event.to_string())
            .await;
        replies.push(started.elapsed().as_secs_f64() * 1e3);
        let outcome = serde_json::from_str::<Value>(&answer)
            .ok()
            .and_then(|v| v["outcome"].as_str().map(str::to_string))
            .unwrap_or(answer);
        *outcomes.entry(outcome).or_default() += 1;
    }
    println!("  reply \"C\" outcomes: {outcomes:?}");
    figures.extend(latency("reply \"C\", p50", "reply \"C\", p99", replies));
    let mut cancels = Vec::new();
    for id in ids.iter().skip(50).take(50) {
        let (status, took) = run
            .admin(
                reqwest::Method::DELETE,
                &format!("/tenants/bench/appointments/{id}"),
                None,
            )
            .await;
        assert_eq!(status, 200);
        cancels.push(took.as_secs_f64() * 1e3);
    }
    figures.extend(latency(
        "operator cancel, p50",
        "operator cancel, p99",
        cancels,
    ));
    let mut moves = Vec::new();
    for (i, id) in ids.iter().skip(100).take(50).enumerate() {
        let body =
            json!({"date": "2027-01-15", "time": format!("{:02}:{:02}", 8 + i / 4, (i % 4) * 15)});
        let (status, took) = run
            .admin(
                reqwest::Method::PATCH,
                &format!("/tenants/bench/appointments/{id}"),
                Some(body),
            )
            .await;
        assert!(
            status == 200 || status == 409,
            "reschedule answered {status}"
        );
        moves.push(took.as_secs_f64() * 1e3);
    }
    figures.extend(latency(
        "operator reschedule, p50",
        "operator reschedule, p99",
        moves,
    ));
    for (p50, p99, path) in [
        (
            "appointments, first page, p50",
            "appointments, first page, p99",
            "/tenants/bench/appointments",
        ),
        (
            "messages, first page, p50",
            "messages, first page, p99",
            "/tenants/bench/messages",
        ),
        (
            "calls, first page, p50",
            "calls, first page, p99",
            "/tenants/bench/calls",
        ),
        (
            "stats for 30 days, p50",
            "stats for 30 days, p99",
            "/tenants/bench/stats?period=30d",
        ),
        (
            "stats of a filled tenant, 30 days, p50",
            "stats of a filled tenant, 30 days, p99",
            "/tenants/t1/stats?period=30d",
        ),
    ] {
        if path.contains("/t1/") && sizes.is_none() {
            continue;
        }
        figures.extend(latency(p50, p99, run.admin_series(path, 50).await));
    }
    figures.extend(latency(
        "a provider's feed (ICS), p50",
        "a provider's feed (ICS), p99",
        feed_series(&run).await,
    ));
    let mut ready = Vec::new();
    for _ in 0..5 {
        tokio::time::sleep(slotline::readiness::REUSE + Duration::from_millis(50)).await;
        let started = Instant::now();
        let report = state.readiness.report().await;
        ready.push(started.elapsed().as_secs_f64() * 1e3);
        assert!(report.writer_round_trip_ms.is_some());
    }
    figures.extend(latency("/ready check, p50", "/ready check, p99", ready));
    figures.extend(pruning_hold(&db, now.as_second(), 40).await);
    figures.push(("database size", file_bytes(&db_path) as f64 / 1e6, "MB"));
    figures.push(("process RSS", rss_mb(), "MB"));
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    if std::env::var_os("SCALE_KEEP").is_some() {
        println!("  kept {}", dir.keep().display());
    }
    figures
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let scale: f64 = std::env::var("SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let sizes = Sizes::scaled(scale);
    println!(
        "bench/scale, {}: full = {} tenants, {} appointments, {} calls, {} queued texts, {} webhook events (SCALE={scale})",
        Timestamp::now().strftime("%Y-%m-%d %H:%MZ"),
        sizes.tenants,
        sizes.appointments,
        sizes.calls,
        sizes.texts,
        sizes.events
    );
    let rt = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let empty = rt().block_on(measure("empty", None));
    let full = rt().block_on(measure("full", Some(&sizes)));
    println!(
        "\n{:<44} | {:>12} | {:>12} | {:>7}",
        "metric", "empty", "full", "full/empty"
    );
    for (name, f, unit) in &full {
        let e = empty.iter().find(|(n, ..)| n == name).map(|(_, v, _)| *v);
        let ratio = e
            .filter(|e| *e > 0.0)
            .map_or("-".to_string(), |e| format!("{:.2}", f / e));
        let e = e.map_or("-".to_string(), |e| format!("{e:.3} {unit}"));
        println!(
            "{name:<44} | {e:>12} | {:>12} | {ratio:>7}",
            format!("{f:.3} {unit}")
        );
    }
}
