//! slotline-loadgen: the Rust half of slotline's benchmark harness (`bench/run`).
//!
//! Subcommands (run without arguments for the usage text):
//! - `public-key`: the base64 public key of the fixed test seed (for `TELNYX_PUBLIC_KEY`);
//! - `free-port`: a free TCP port on 127.0.0.1;
//! - `tenants`: writes N benchmark tenants as JSON lines;
//! - `load-tenants`: POSTs them to `/tenants` over parallel keep-alive connections;
//! - `sign-requests`: pre-signs N distinct `POST /texml/voice` requests (for wrk and `paced`);
//! - `paced`: open-loop load at a fixed rate, latency from the scheduled send time;
//! - `timer-lateness`: how late the same schedule fires with nothing sent (machine floor);
//! - `pool`: latencies of several `paced` rounds as one sample (percentiles, counts over
//!   1, 2 and 5 ms);
//! - `book`: voice call then booking gather callback, on distinct free slots;
//! - `count`: sends a fixed number of requests from a `sign-requests` file, closed loop
//!   (for instruction counts per request: `bench/instructions`);
//! - `verify-us`: microseconds per Ed25519 `verify_strict` over a ~400-byte message.
//!
//! Every request is signed the way Telnyx signs: Ed25519 over `timestamp|body`, headers
//! `telnyx-timestamp` and `telnyx-signature-ed25519` (base64 of the 64-byte signature).

mod book;
mod http;
mod paced;

use std::{
    collections::HashMap,
    fs,
    io::{BufWriter, Write},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

use http::{Conn, Url, format_request};

/// The project's published TEST-ONLY seed (`tests/fixtures/telnyx/README.md`):
/// SHA-256 of "telnyx-texml-research-test-vector-v1". Never a production key.
const TEST_SEED_HEX: &str = "f5720b7d80d90be95efe5d25e6609c6aabdb5de3988f02fe571fb5b3c7c73782";

const USAGE: &str = "usage: slotline-loadgen <command> [options]
  public-key
  free-port
  tenants       --count N --out FILE
  load-tenants  --url BASE --token T --tenants FILE [--connections 16]
  sign-requests --count N --tenants FILE --out FILE [--prefix P]
  paced         --url URL --rate R --duration 10s --requests FILE [--connections 64] [--latencies FILE]
  timer-lateness [--rate 2000] [--duration 5s]
  pool          --files A,B,.. (latency files written by paced --latencies)
  book          --url BASE --tenants FILE [--connections 64] [--duration 10s] [--count N] [--between CMD]
  count         --url URL --requests FILE [--connections 8] [--skip 0] [--count all] [--expect TEXT]
  verify-us     [--iterations 20000]";

type Res<T> = Result<T, String>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first().cloned() else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let opts = match Opts::parse(&args[1..]) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("slotline-loadgen: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let result = match cmd.as_str() {
        "public-key" => {
            println!(
                "{}",
                STANDARD.encode(signing_key().verifying_key().to_bytes())
            );
            Ok(())
        }
        "free-port" => free_port(),
        "tenants" => tenants(&opts),
        "load-tenants" => runtime().and_then(|rt| rt.block_on(load_tenants(&opts))),
        "sign-requests" => sign_requests(&opts),
        "paced" => runtime().and_then(|rt| rt.block_on(paced::run(&opts))),
        "timer-lateness" => runtime().and_then(|rt| rt.block_on(paced::timer_lateness(&opts))),
        "pool" => paced::pool(&opts),
        "book" => runtime().and_then(|rt| rt.block_on(book::run(&opts))),
        "count" => runtime().and_then(|rt| rt.block_on(count(&opts))),
        "verify-us" => verify_us(&opts),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}")),
    };
    if let Err(e) = result {
        eprintln!("slotline-loadgen {cmd}: {e}");
        std::process::exit(1);
    }
}

/// One thread: the client must not take the server's cores (2-core machine).
fn runtime() -> Res<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------
// Options

struct Opts(HashMap<String, String>);

impl Opts {
    fn parse(args: &[String]) -> Res<Self> {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let Some(name) = a.strip_prefix("--") else {
                return Err(format!("unexpected argument {a:?}"));
            };
            let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            map.insert(name.to_string(), value.clone());
        }
        Ok(Self(map))
    }
    fn str(&self, name: &str) -> Res<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("--{name} is required"))
    }
    fn usize_or(&self, name: &str, default: usize) -> Res<usize> {
        match self.0.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: {v:?} is not a count")),
        }
    }
    fn f64_or(&self, name: &str, default: f64) -> Res<f64> {
        match self.0.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: {v:?} is not a number")),
        }
    }
    /// `10s`, `500ms`, `2m` or plain seconds.
    fn duration_or(&self, name: &str, default: Duration) -> Res<Duration> {
        let Some(v) = self.0.get(name) else {
            return Ok(default);
        };
        let err = || format!("--{name}: {v:?} is not a duration like 10s");
        let (num, mult) = if let Some(n) = v.strip_suffix("ms") {
            (n, 0.001)
        } else if let Some(n) = v.strip_suffix('s') {
            (n, 1.0)
        } else if let Some(n) = v.strip_suffix('m') {
            (n, 60.0)
        } else {
            (v.as_str(), 1.0)
        };
        let x: f64 = num.parse().map_err(|_| err())?;
        Ok(Duration::from_secs_f64(x * mult))
    }
}

// ---------------------------------------------------------------------------------------
// Small helpers

fn signing_key() -> SigningKey {
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = u8::from_str_radix(&TEST_SEED_HEX[2 * i..2 * i + 2], 16).expect("hex seed");
    }
    SigningKey::from_bytes(&seed)
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// base64 of the Ed25519 signature over `timestamp|body`.
fn sign(key: &SigningKey, ts: i64, body: &str) -> String {
    let mut msg = Vec::with_capacity(body.len() + 12);
    msg.extend_from_slice(ts.to_string().as_bytes());
    msg.push(b'|');
    msg.extend_from_slice(body.as_bytes());
    STANDARD.encode(key.sign(&msg).to_bytes())
}

/// `application/x-www-form-urlencoded` value encoding.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// splitmix64: deterministic, dependency-free pseudo-random numbers.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Proleptic Gregorian (y, m, d) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The `p`th percentile (nearest rank) of sorted values; NaN when there are none.
fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest rank; the small allowance keeps 99.9 / 100 * 1000 (999.0000000000001 in
    // floating point) at rank 999.
    let rank = (p * sorted.len() as f64 / 100.0 - 1e-9).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

/// Runs `f(i)` for i in 0..n on all cores, keeping the order of results.
fn parallel_map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = n.div_ceil(threads).max(1);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| {
                s.spawn(move || (start..(start + chunk).min(n)).map(f).collect::<Vec<T>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread"))
            .collect()
    })
}

// ---------------------------------------------------------------------------------------
// Tenants

/// What the load commands need from a tenant line.
struct TenantRow {
    phone: String,
    services: Vec<String>,
}

fn read_tenants(path: &str) -> Res<Vec<TenantRow>> {
    let text = fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("{path}:{}: {e}", n + 1))?;
        let phone = v["phone_number"]
            .as_str()
            .ok_or_else(|| format!("{path}:{}: no phone_number", n + 1))?
            .to_string();
        let services = v["services"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        out.push(TenantRow { phone, services });
    }
    if out.is_empty() {
        return Err(format!("{path}: no tenants"));
    }
    Ok(out)
}

const ZONES: [&str; 4] = [
    "America/Chicago",
    "America/New_York",
    "America/Denver",
    "America/Los_Angeles",
];
const SERVICES: [(&str, u32); 3] = [("Haircut", 30), ("Beard Trim", 15), ("Consultation", 30)];
const PROVIDERS: [&str; 3] = ["Anna", "Ben", "Carla"];

fn tenants(o: &Opts) -> Res<()> {
    let count = o.usize_or("count", 1000)?;
    if count > 10_000 {
        return Err("--count: at most 10000 tenants (phone numbers +1312555xxxx)".into());
    }
    let out = o.str("out")?;
    let mut w = BufWriter::new(fs::File::create(out).map_err(|e| format!("{out}: {e}"))?);
    let all_day = json!([["00:00", "23:55"]]);
    for i in 0..count {
        let n_services = 2 + i % 2; // 2 or 3
        let n_providers = 2 + (i / 2) % 2; // 2 or 3
        let services: Vec<Value> = SERVICES[..n_services]
            .iter()
            .map(|(name, minutes)| json!({"name": name, "duration_minutes": minutes}))
            .collect();
        let names: Vec<&str> = SERVICES[..n_services].iter().map(|s| s.0).collect();
        let providers: Vec<Value> = PROVIDERS[..n_providers]
            .iter()
            .map(|p| json!({"name": p, "services": names}))
            .collect();
        let t = json!({
            "slug": format!("bench-{i:04}"),
            "name": format!("Bench Shop {i}"),
            "phone_number": format!("+1312555{i:04}"),
            "timezone": ZONES[i % ZONES.len()],
            "hours": {"mon": all_day, "tue": all_day, "wed": all_day, "thu": all_day,
                      "fri": all_day, "sat": all_day, "sun": all_day},
            "slot_minutes": 15,
            "min_notice_minutes": 0,
            "horizon_days": 120,
            "services": services,
            "providers": providers,
        });
        writeln!(w, "{t}").map_err(|e| e.to_string())?;
    }
    w.flush().map_err(|e| e.to_string())?;
    Ok(())
}

async fn load_tenants(o: &Opts) -> Res<()> {
    let base = Url::parse(o.str("url")?)?;
    let token = o.str("token")?.to_string();
    let path = o.str("tenants")?;
    let text = fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let lines: Arc<Vec<String>> = Arc::new(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(String::from)
            .collect(),
    );
    let conns = o.usize_or("connections", 16)?.max(1);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (lines, next, base, token) = (lines.clone(), next.clone(), base.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&base.authority)
                .await
                .map_err(|e| e.to_string())?;
            let headers = [
                format!("Authorization: Bearer {token}"),
                "Content-Type: application/json".to_string(),
            ];
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(line) = lines.get(i) else {
                    return Ok::<(), String>(());
                };
                let req = format_request(
                    "POST",
                    &base.authority,
                    "/tenants",
                    &headers,
                    line.as_bytes(),
                );
                let resp = conn.send(&req).await.map_err(|e| e.to_string())?;
                if resp.status != 201 {
                    return Err(format!(
                        "POST /tenants answered {}: {}",
                        resp.status,
                        String::from_utf8_lossy(&resp.body)
                    ));
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    println!(
        "loaded {} tenants in {:.2} s",
        lines.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Signed voice requests

const ACCOUNT_SID: &str = "6a9a7976-012e-45d2-9258-6f5dc68d861e";

/// A voice-URL body shaped like Telnyx's (see tests/fixtures/telnyx/voice-url-request.form).
fn voice_body(call_sid: &str, from: &str, to: &str) -> String {
    let (sid, f, t) = (form_encode(call_sid), form_encode(from), form_encode(to));
    format!(
        "AccountSid={ACCOUNT_SID}&CallSid={sid}&CallSidLegacy={sid}&CallStatus=in-progress\
         &CallerId={f}&CallingPartyType=pstn&ConnectionId=1568109700606592442&From={f}\
         &FromSipUri={f}%40192.76.120.10&To={t}&ToSipUri={t}%40sip.telnyx.com"
    )
}

fn caller(rng: &mut Rng) -> String {
    format!("+1773555{:04}", rng.below(10_000))
}

fn sign_requests(o: &Opts) -> Res<()> {
    let count = o.usize_or("count", 10_000)?;
    let tenants = read_tenants(o.str("tenants")?)?;
    let out = o.str("out")?;
    let prefix =
        o.0.get("prefix")
            .cloned()
            .unwrap_or_else(|| format!("{}", now_unix()));
    let key = signing_key();
    let ts = now_unix();
    let started = Instant::now();
    let lines = parallel_map(count, |i| {
        let mut rng = Rng(i as u64 ^ 0x5107_11AE);
        let t = &tenants[rng.below(tenants.len())];
        let body = voice_body(
            &format!("v3:bench-{prefix}-{i}"),
            &caller(&mut rng),
            &t.phone,
        );
        let sig = sign(&key, ts, &body);
        format!("{body}\t{ts}\t{sig}\n")
    });
    let mut w = BufWriter::new(fs::File::create(out).map_err(|e| format!("{out}: {e}"))?);
    for l in &lines {
        w.write_all(l.as_bytes()).map_err(|e| e.to_string())?;
    }
    w.flush().map_err(|e| e.to_string())?;
    eprintln!(
        "signed {count} voice requests in {:.2} s (valid until {})",
        started.elapsed().as_secs_f64(),
        ts + 300
    );
    Ok(())
}

/// Reads `body<TAB>timestamp<TAB>signature` lines into raw HTTP requests for `url`.
fn read_requests(path: &str, url: &Url) -> Res<Vec<Vec<u8>>> {
    let text = fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let mut parts = line.split('\t');
        let (Some(body), Some(ts), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "{path}:{}: expected body<TAB>timestamp<TAB>signature",
                n + 1
            ));
        };
        let headers = [
            "Content-Type: application/x-www-form-urlencoded".to_string(),
            format!("telnyx-timestamp: {ts}"),
            format!("telnyx-signature-ed25519: {sig}"),
        ];
        out.push(format_request(
            "POST",
            &url.authority,
            &url.path,
            &headers,
            body.as_bytes(),
        ));
    }
    if out.is_empty() {
        return Err(format!("{path}: no requests"));
    }
    Ok(out)
}

/// Sends requests `skip..skip + count` of a `sign-requests` file, each once, over
/// `connections` keep-alive connections (each sends its next as soon as it has the last
/// answer). Fails unless every answer is a 200 containing `--expect` (default
/// `<Response`), so a count of instructions is never a count of errors.
async fn count(o: &Opts) -> Res<()> {
    let url = Url::parse(o.str("url")?)?;
    let all = read_requests(o.str("requests")?, &url)?;
    let skip = o.usize_or("skip", 0)?.min(all.len());
    let n = o.usize_or("count", all.len() - skip)?.min(all.len() - skip);
    let expect =
        o.0.get("expect")
            .cloned()
            .unwrap_or_else(|| "<Response".into());
    let requests = Arc::new(all[skip..skip + n].to_vec());
    let conns = o.usize_or("connections", 8)?.clamp(1, n.max(1));
    let mut pool = Conn::pool(&url.authority, conns).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut conn in pool.drain(..) {
        let (requests, next, expect) = (requests.clone(), next.clone(), expect.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(req) = requests.get(i) else {
                    return Ok::<(), String>(());
                };
                let resp = conn.send(req).await.map_err(|e| e.to_string())?;
                let body = String::from_utf8_lossy(&resp.body);
                if resp.status != 200 || !body.contains(&expect) {
                    return Err(format!(
                        "request {} answered {}: {}",
                        skip + i,
                        resp.status,
                        body.chars().take(300).collect::<String>()
                    ));
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    println!(
        "count: sent={n} connections={conns} seconds={:.2}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Misc

fn free_port() -> Res<()> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    println!("{}", l.local_addr().map_err(|e| e.to_string())?.port());
    Ok(())
}

fn verify_us(o: &Opts) -> Res<()> {
    let iterations = o.usize_or("iterations", 20_000)?.max(100);
    let key = signing_key();
    let public = key.verifying_key();
    let body = voice_body("v3:verify-us", "+17735550000", "+13125550000");
    let mut msg = format!("{}|{body}", now_unix()).into_bytes();
    msg.resize(400, b'x');
    let sig = key.sign(&msg);
    let batch = 200;
    let mut per = Vec::new();
    for _ in 0..iterations / batch {
        let t = Instant::now();
        for _ in 0..batch {
            public
                .verify_strict(std::hint::black_box(&msg), std::hint::black_box(&sig))
                .map_err(|e| e.to_string())?;
        }
        per.push(t.elapsed().as_nanos() as u64 / batch as u64);
    }
    per.sort_unstable();
    println!(
        "verify-us: median_us={:.1} min_us={:.1} iterations={}",
        percentile(&per, 50.0) / 1000.0,
        per[0] as f64 / 1000.0,
        per.len() * batch
    );
    Ok(())
}
