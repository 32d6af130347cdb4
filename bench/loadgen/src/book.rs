//! `book`: whole booking calls against a running server, each a signed voice request (for
//! the `<AIGather>` action and its state token) then a signed gather callback naming a
//! distinct free slot; reports bookings/s over the gather phase.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::json;

use crate::{
    ACCOUNT_SID, Opts, Res, Rng, caller, civil_from_days, form_encode,
    http::{Conn, Url, format_request},
    now_unix, parallel_map, percentile, read_tenants, sign, signing_key, voice_body,
};

/// The `action` attribute of the `<AIGather>`, XML-unescaped, as a path on the server.
fn action_path(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let tag = text.find("<AIGather")?;
    let rest = &text[tag..];
    let a = rest.find("action=\"")? + "action=\"".len();
    let end = rest[a..].find('"')?;
    let url = rest[a..a + end]
        .replace("&amp;", "&")
        .replace("&#38;", "&")
        .replace("&quot;", "\"");
    match url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    {
        Some(r) => r.find('/').map(|i| r[i..].to_string()),
        None => url.starts_with('/').then_some(url),
    }
}

/// Time slots used per day: 06:00 to 21:30 every 30 min (clear of any DST change hour).
const SLOTS_PER_DAY: usize = 32;

struct BookItem {
    voice: Vec<u8>,
    gather_body: String,
    gather_ts: i64,
    gather_sig: String,
}

pub async fn run(o: &Opts) -> Res<()> {
    let base = Url::parse(o.str("url")?)?;
    let tenants = read_tenants(o.str("tenants")?)?;
    let conns = o.usize_or("connections", 64)?.max(1);
    let duration = o.duration_or("duration", Duration::from_secs(10))?;
    let count = o.usize_or("count", 30_000)?;
    let key = signing_key();
    let ts = now_unix();
    let first_day = ts.div_euclid(86_400) + 2; // local "tomorrow" or later in every US zone
    let run = format!("{ts}");

    // Phase 0 (untimed): sign both requests of every booking; the signature covers only
    // the body, so the gather body can be signed before its action URL is known.
    let t0 = Instant::now();
    let items: Vec<BookItem> = parallel_map(count, |k| {
        let t = &tenants[k % tenants.len()];
        let slot = k / tenants.len();
        let (y, m, d) = civil_from_days(first_day + (slot / SLOTS_PER_DAY) as i64);
        let minutes = 6 * 60 + 30 * (slot % SLOTS_PER_DAY);
        let mut rng = Rng(k as u64 ^ 0xB00C);
        let from = caller(&mut rng);
        let sid = format!("v3:book-{run}-{k}");
        let voice = voice_body(&sid, &from, &t.phone);
        let voice_sig = sign(&key, ts, &voice);
        let service = t
            .services
            .get(k % t.services.len().max(1))
            .cloned()
            .unwrap_or_default();
        let result = json!({
            "status": "valid",
            "result": {
                "customer_name": format!("Caller {k}"),
                "service": service,
                "preferred_date": format!("{y:04}-{m:02}-{d:02}"),
                "preferred_time": format!("{:02}:{:02}", minutes / 60, minutes % 60),
            }
        });
        let gather_body = format!(
            "AccountSid={ACCOUNT_SID}&Base64Result={}&CallSid={}&ConnectionId=1568109700606592442\
             &From={}&Status=valid&To={}",
            form_encode(&STANDARD.encode(result.to_string())),
            form_encode(&sid),
            form_encode(&from),
            form_encode(&t.phone),
        );
        let gather_sig = sign(&key, ts, &gather_body);
        let headers = [
            "Content-Type: application/x-www-form-urlencoded".to_string(),
            format!("telnyx-timestamp: {ts}"),
            format!("telnyx-signature-ed25519: {voice_sig}"),
        ];
        BookItem {
            voice: format_request(
                "POST",
                &base.authority,
                "/texml/voice",
                &headers,
                voice.as_bytes(),
            ),
            gather_body,
            gather_ts: ts,
            gather_sig,
        }
    });
    let items = Arc::new(items);
    eprintln!(
        "book: signed {count} calls x 2 requests in {:.2} s",
        t0.elapsed().as_secs_f64()
    );

    // Phase 1: the calls arrive (voice URL) and yield the gather action URLs.
    let pool = Conn::pool(&base.authority, conns).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let t1 = Instant::now();
    let deadline1 = t1 + duration;
    let mut tasks = Vec::new();
    for mut conn in pool {
        let (items, next) = (items.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < deadline1 {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(k) else { break };
                match conn.send(&item.voice).await {
                    Ok(r) if r.status == 200 => match action_path(&r.body) {
                        Some(p) => got.push((k, p)),
                        None => errors += 1,
                    },
                    _ => errors += 1,
                }
            }
            (conn, got, errors)
        }));
    }
    let mut pool = Vec::new();
    let mut actions: Vec<(usize, String)> = Vec::new();
    let mut voice_errors = 0;
    for t in tasks {
        let (c, g, e) = t.await.map_err(|e| e.to_string())?;
        pool.push(c);
        actions.extend(g);
        voice_errors += e;
    }
    let voice_secs = t1.elapsed().as_secs_f64();
    if actions.is_empty() {
        return Err(format!(
            "no voice answer carried an <AIGather action>; {voice_errors} errors"
        ));
    }

    // Between the phases, untimed: `--between CMD` runs a shell command (bench/bookings
    // zeroes callgrind's counters there, so only the gather phase is counted).
    if let Some(cmd) = o.0.get("between") {
        let status = std::process::Command::new("sh")
            .args(["-c", cmd])
            .status()
            .map_err(|e| format!("--between: {e}"))?;
        if !status.success() {
            return Err(format!("--between {cmd:?} failed: {status}"));
        }
    }

    // Phase 2 (timed): the gather callbacks that book.
    let actions = Arc::new(actions);
    let next = Arc::new(AtomicUsize::new(0));
    let t2 = Instant::now();
    let deadline2 = t2 + duration;
    let mut tasks = Vec::new();
    for mut conn in pool {
        let (items, actions, next, authority) = (
            items.clone(),
            actions.clone(),
            next.clone(),
            base.authority.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (mut booked, mut other, mut errors) = (0usize, 0usize, 0usize);
            let mut lat = Vec::new();
            let mut sample_other: Option<String> = None;
            while Instant::now() < deadline2 {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((k, path)) = actions.get(i) else {
                    break;
                };
                let item = &items[*k];
                let headers = [
                    "Content-Type: application/x-www-form-urlencoded".to_string(),
                    format!("telnyx-timestamp: {}", item.gather_ts),
                    format!("telnyx-signature-ed25519: {}", item.gather_sig),
                ];
                let req = format_request(
                    "POST",
                    &authority,
                    path,
                    &headers,
                    item.gather_body.as_bytes(),
                );
                let sent = Instant::now();
                match conn.send(&req).await {
                    Ok(r) if r.status == 200 => {
                        lat.push(sent.elapsed().as_micros() as u64);
                        if find_bytes(&r.body, b"is booked for") {
                            booked += 1;
                        } else {
                            other += 1;
                            if sample_other.is_none() {
                                sample_other = Some(String::from_utf8_lossy(&r.body).into_owned());
                            }
                        }
                    }
                    _ => errors += 1,
                }
            }
            (booked, other, errors, lat, sample_other)
        }));
    }
    let (mut booked, mut other, mut errors) = (0, 0, 0);
    let mut lat = Vec::new();
    let mut sample = None;
    for t in tasks {
        let (b, o, e, l, s) = t.await.map_err(|e| e.to_string())?;
        booked += b;
        other += o;
        errors += e;
        lat.extend(l);
        sample = sample.or(s);
    }
    let gather_secs = t2.elapsed().as_secs_f64();
    lat.sort_unstable();
    if let Some(s) = sample {
        eprintln!("book: a gather answer without a booking:\n{s}");
    }
    println!(
        "book: calls={} voice_s={voice_secs:.2} voice_errors={voice_errors} gathers={} booked={booked} \
         not_booked={other} errors={errors} gather_s={gather_secs:.2} bookings_per_s={:.0} \
         end_to_end_per_s={:.0} gather_p50_ms={:.2} gather_p99_ms={:.2}",
        actions.len(),
        booked + other + errors,
        booked as f64 / gather_secs,
        booked as f64 / (voice_secs + gather_secs),
        percentile(&lat, 50.0) / 1000.0,
        percentile(&lat, 99.0) / 1000.0,
    );
    Ok(())
}

fn find_bytes(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_action_path_is_taken_from_http_and_https_urls_alike() {
        for base in ["http://127.0.0.1:8080", "https://bench.example.com"] {
            let doc = format!("<Response><AIGather action=\"{base}/texml/gather?s=a&amp;b\"/>");
            assert_eq!(
                action_path(doc.as_bytes()).as_deref(),
                Some("/texml/gather?s=a&b")
            );
        }
    }
}
