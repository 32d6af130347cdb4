//! The webhook worker: its own supervised tokio task, apart from the SMS worker and the
//! request path, so a slow or dead endpoint delays nothing but its own deliveries. Each
//! round it claims due deliveries (at most one in flight per endpoint, at most
//! `in_flight` in all, each endpoint's events for one appointment in order), signs them
//! per the Standard Webhooks specification and POSTs them with a 10 s timeout, no
//! redirects, no proxy, and a DNS resolver that refuses internal addresses
//! ([`address`]). Every attempt is recorded; a failure is retried with exponential
//! backoff until the retry period ends, and an endpoint failing for 3 days is disabled.

pub mod address;
pub mod sign;

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{sync::watch, task::JoinSet};

use crate::{
    clock::Clock,
    config::WebhookTuning,
    db::{
        self,
        leases::Wall,
        store::Store,
        webhooks::{Attempt, Claimed, Then, wall_ms},
    },
};

/// What the worker needs, and nothing more.
#[derive(Clone)]
pub struct Deps {
    /// Storage.
    pub store: Store,
    /// Business time (when an endpoint was disabled).
    pub clock: Clock,
    /// Timing and pool size.
    pub tuning: WebhookTuning,
    /// `SLOTLINE_WEBHOOKS_ALLOW_PRIVATE`.
    pub allow_private: bool,
    /// Beaten every round, so `/ready` sees a wedged worker.
    pub beat: crate::heartbeat::Beat,
}

/// The HTTP client for deliveries: no redirects, no proxy, the checking resolver.
pub fn client(tuning: &WebhookTuning, allow_private: bool) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(tuning.timeout)
        .connect_timeout(tuning.timeout.min(Duration::from_secs(5)))
        .dns_resolver(address::CheckedResolver { allow_private })
        .user_agent(concat!("slotline-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Starts the worker; it stops when `shutdown` turns true, after the attempts in flight.
pub fn spawn(deps: Deps, shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let deps = Arc::new(deps);
    // Supervised: a panic restarts the worker; the queue and its leases are in the database.
    crate::supervise::spawn("webhook worker", move || {
        let deps = deps.clone();
        let shutdown = shutdown.clone();
        async move {
            match client(&deps.tuning, deps.allow_private) {
                Ok(client) => run(deps, client, shutdown).await,
                Err(e) => {
                    tracing::error!(error = %e, "cannot build the webhook client; no webhooks are sent")
                }
            }
        }
    })
}

async fn run(deps: Arc<Deps>, client: reqwest::Client, mut shutdown: watch::Receiver<bool>) {
    let mut tasks: JoinSet<()> = JoinSet::new();
    // The endpoint each attempt in flight is for.
    let mut busy: Busy = HashMap::new();
    let in_flight = deps.tuning.in_flight.max(1);
    loop {
        deps.beat.beat();
        while let Some(done) = tasks.try_join_next_with_id() {
            settle(&mut busy, done);
        }
        if *shutdown.borrow() {
            break;
        }
        if tasks.len() < in_flight {
            let room = in_flight - tasks.len();
            match start_due(&deps, &client, &mut tasks, &mut busy, room).await {
                Ok(n) if n > 0 && tasks.len() < in_flight => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "webhook worker could not read its queue; retrying")
                }
            }
        }
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = tokio::time::sleep(deps.tuning.poll_interval) => {}
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => settle(&mut busy, done),
        }
    }
    while let Some(done) = tasks.join_next_with_id().await {
        settle(&mut busy, done);
    }
    tracing::info!("webhook worker stopped");
}

/// Attempts in flight: task id → endpoint.
type Busy = HashMap<tokio::task::Id, i64>;

/// Frees the endpoint of a finished attempt. One that panicked is tried again when its
/// lease ends; until then its lease keeps that appointment's later events waiting.
fn settle(busy: &mut Busy, done: Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
    let id = match done {
        Ok((id, ())) => id,
        Err(e) => {
            tracing::error!(error = %e, "a webhook delivery task failed");
            e.id()
        }
    };
    busy.remove(&id);
}

/// Claims up to `room` due deliveries of endpoints not busy and starts them; how many.
async fn start_due(
    deps: &Arc<Deps>,
    client: &reqwest::Client,
    tasks: &mut JoinSet<()>,
    busy: &mut Busy,
    room: usize,
) -> Result<usize, db::DbError> {
    let skip: Vec<i64> = busy.values().copied().collect();
    let hooks = deps.store.webhooks();
    let due = hooks.candidates(Wall::Now, skip, room).await?;
    let lease = lease_ms(&deps.tuning);
    let mut started = 0;
    for candidate in due {
        let claimed = hooks.claim(candidate.id, Wall::Now, lease).await?;
        let Some(claimed) = claimed else { continue };
        let endpoint = claimed.endpoint;
        let (deps, client) = (deps.clone(), client.clone());
        let task = tasks.spawn(async move { deliver(&deps, &client, claimed).await });
        busy.insert(task.id(), endpoint);
        started += 1;
    }
    Ok(started)
}

/// How long a claimed delivery is reserved: longer than any attempt can take, so only a
/// stopped process leaves one to be taken again.
fn lease_ms(tuning: &WebhookTuning) -> i64 {
    (tuning.timeout + Duration::from_secs(30)).as_millis() as i64
}

/// One attempt of `claimed`, recorded.
async fn deliver(deps: &Deps, client: &reqwest::Client, claimed: Claimed) {
    let at_ms = wall_ms();
    let started = Instant::now();
    let (http_status, error) = match send(client, &claimed, deps.allow_private).await {
        Ok(status) if (300..400).contains(&status) => (
            Some(status),
            Some(format!(
                "answered HTTP {status}, a redirect; redirects are not followed, register the final URL"
            )),
        ),
        Ok(status) => (Some(status), None),
        Err(e) => (None, Some(e)),
    };
    let attempt = Attempt {
        at_ms,
        http_status,
        error,
        duration_ms: started.elapsed().as_millis() as i64,
    };
    let then = next_step(&deps.tuning, &claimed, wall_ms());
    let disable_after = deps.tuning.disable_after.as_millis() as i64;
    let now = deps.clock.now().as_second();
    let (id, endpoint) = (claimed.id, claimed.endpoint);
    match deps
        .store
        .webhooks()
        .record_attempt(id, attempt.clone(), then, disable_after, now)
        .await
    {
        Ok(true) => tracing::error!(
            endpoint,
            "webhook endpoint DISABLED: it failed every delivery for the disable period; see GET /tenants/{{id}}/webhooks"
        ),
        Ok(false) => {}
        Err(e) => {
            tracing::error!(error = %e, delivery = id, "could not record a webhook attempt; it will be tried again when its lease ends")
        }
    }
    if !attempt.succeeded() {
        tracing::warn!(
            endpoint,
            delivery = id,
            status = attempt.http_status,
            error = attempt.error.as_deref().unwrap_or(""),
            "webhook delivery failed"
        );
    }
}

/// After a failed attempt: retry with exponential backoff (with jitter) until the retry
/// period since the delivery was queued is over.
fn next_step(tuning: &WebhookTuning, claimed: &Claimed, now_ms: i64) -> Then {
    if now_ms - claimed.created_ms >= tuning.retry_for.as_millis() as i64 {
        return Then::GiveUp;
    }
    let exp = u32::try_from(claimed.attempts.clamp(0, 20)).unwrap_or(20);
    let delay = tuning
        .backoff_base
        .saturating_mul(2u32.saturating_pow(exp))
        .min(tuning.backoff_max);
    let jitter = rand::random_range(0.8..1.2);
    Then::RetryAt(now_ms + (delay.as_millis() as f64 * jitter) as i64)
}

/// POSTs the signed event; the HTTP status, or why no answer came.
async fn send(
    client: &reqwest::Client,
    claimed: &Claimed,
    allow_private: bool,
) -> Result<u16, String> {
    // An IP-literal URL never reaches the resolver, so it is checked here.
    let url = address::parse(&claimed.url, allow_private)?;
    let timestamp = jiff::Timestamp::now().as_second();
    let signature = sign::signature(
        &claimed.secret,
        &claimed.event_id,
        timestamp,
        &claimed.payload,
    )?;
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .header(sign::HEADER_ID, &claimed.event_id)
        .header(sign::HEADER_TIMESTAMP, timestamp.to_string())
        .header(sign::HEADER_SIGNATURE, signature)
        .body(claimed.payload.clone())
        .send()
        .await
        .map_err(|e| chain(&e))?;
    Ok(resp.status().as_u16())
}

/// An error with its causes, `a: b: c` (reqwest hides the refusal in its source chain).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(attempts: i64, created_ms: i64) -> Claimed {
        Claimed {
            id: 1,
            endpoint: 1,
            url: String::new(),
            secret: String::new(),
            event_id: String::new(),
            payload: String::new(),
            attempts,
            created_ms,
        }
    }

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap_and_stop_after_the_period() {
        let t = WebhookTuning::default();
        let delay = |attempts| match next_step(&t, &claimed(attempts, 0), 1000) {
            Then::RetryAt(at) => at - 1000,
            Then::GiveUp => panic!("gave up"),
        };
        assert!((4_000..=6_000).contains(&delay(0)), "{}", delay(0));
        assert!((8_000..=12_000).contains(&delay(1)), "{}", delay(1));
        assert!(delay(30) <= 3_600_000 * 12 / 10, "capped at an hour");
        let day = 86_400_000;
        assert!(
            matches!(next_step(&t, &claimed(40, 0), day), Then::RetryAt(_)),
            "still retried after 24 h"
        );
        assert!(matches!(
            next_step(&t, &claimed(40, 0), 26 * 3_600_000),
            Then::GiveUp
        ));
    }
}
