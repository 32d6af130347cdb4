//! Test harness: spawns slotline on port 0 with a temp database, a manual clock and the
//! fixtures' test signing key, and sends requests signed the way Telnyx signs them.
//!
//! The temp database is a SQLite file, or with `SLOTLINE_TEST_STORE=postgres` a fresh
//! database on the PostgreSQL server of `SLOTLINE_TEST_POSTGRES` (`.ci/run` runs the
//! suite both ways). A test about the SQLite file itself says so with [`Options::sqlite`].

use std::{path::PathBuf, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signer, SigningKey};
use jiff::Timestamp;
use reqwest::{Client, Response};
use serde_json::Value;
use slotline::{
    clock::Clock,
    config::{HttpLimits, Secret, Settings, SmsTuning, WebhookTuning},
    startup::Application,
};
use tokio::sync::oneshot;

/// The fixtures' TEST-ONLY Ed25519 seed (see tests/fixtures/telnyx/README.md).
pub const FIXTURE_SEED_HEX: &str =
    "f5720b7d80d90be95efe5d25e6609c6aabdb5de3988f02fe571fb5b3c7c73782";
/// Its public key, as TELNYX_PUBLIC_KEY would hold it.
pub const FIXTURE_PUBLIC_KEY: &str = "GzOl8c8NI5MxkZ8QIv+xlORAyBVdmziMrUgVM7Db8pc=";
/// The timestamp the fixture requests were signed at.
pub const FIXTURE_TS: i64 = 1_752_591_600;
/// Bearer token of the test admin API.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef0123";

/// A fixture file's exact bytes.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/telnyx")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The demo tenant JSON shipped in `data/`.
pub fn demo_tenant() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/demo-tenant.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The fixture signing key.
pub fn fixture_key() -> SigningKey {
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = u8::from_str_radix(&FIXTURE_SEED_HEX[2 * i..2 * i + 2], 16).unwrap();
    }
    SigningKey::from_bytes(&seed)
}

/// A running slotline and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// HTTP client.
    pub client: Client,
    /// The app's clock; tests move it.
    pub clock: Clock,
    /// The app's state (database access for assertions).
    pub state: slotline::startup::AppState,
    /// The app's TeXML documents directory (`SLOTLINE_TEXML_DIR`), empty at start.
    pub texml_dir: PathBuf,
    /// The app's SQLite file (on PostgreSQL: where it would be; the documents and the demo
    /// files sit beside it).
    pub db_path: PathBuf,
    /// The app's PostgreSQL URL, when it runs on PostgreSQL.
    pub db_url: Option<String>,
    /// The database made for this app when the suite runs on PostgreSQL.
    _database: Option<std::sync::Arc<SuiteDatabase>>,
    /// `http://127.0.0.1:PORT` of the admin listener, with [`Options::admin_listen`].
    pub admin_base: Option<String>,
    key: SigningKey,
    _dir: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Options for [`spawn_with`].
pub struct Options {
    /// Start time of the manual clock.
    pub now: Timestamp,
    /// `SLOTLINE_ADMIN_TOKEN`.
    pub admin_token: Option<&'static str>,
    /// Load the demo tenant.
    pub demo: bool,
    /// Messaging API base (a fake); sets a test `TELNYX_API_KEY`. `None`: SMS dry run.
    pub messaging_api: Option<String>,
    /// Reuse this database file instead of a fresh temp one (restart tests).
    pub db_path: Option<PathBuf>,
    /// Run on this PostgreSQL database instead of a SQLite file (several nodes share one).
    pub db_url: Option<String>,
    /// The test is about the SQLite file (backups, checkpoints, the writer thread, the
    /// demo's files): it runs on SQLite whichever store the suite runs on.
    pub sqlite: bool,
    /// Send attempts before a text fails.
    pub sms_max_attempts: u32,
    /// Run as `serve --demo` does: the demo key beside the database is accepted too, and
    /// without `admin_token` the token comes from the file beside it.
    pub demo_mode: bool,
    /// `SLOTLINE_REQUEST_DEADLINE_MS`.
    pub request_deadline: Duration,
    /// Serve the admin API on a second listener (`SLOTLINE_ADMIN_LISTEN`, port 0).
    pub admin_listen: bool,
    /// Connection limits and timeouts (defaults: the server's).
    pub http: HttpLimits,
    /// How long a text of unknown outcome is held before it fails.
    pub sms_unknown_hold: Duration,
    /// Whole-request timeout of the Messaging API (the lease is kept longer).
    pub sms_request_timeout: Duration,
    /// `SLOTLINE_WEBHOOKS_ALLOW_PRIVATE` (on by default: test receivers are on loopback).
    pub webhooks_allow_private: bool,
    /// Reminder-call settings (set `app_id` and `messaging_api` to dial a fake Calls API).
    pub calls: slotline::reminder_calls::settings::CallSettings,
    /// Last changes to the settings before the app is built (readiness thresholds, a
    /// missing key, retention).
    pub tweak: fn(&mut Settings),
}

/// The key the tests give slotline when a fake Messaging API is used.
pub const TEST_API_KEY: &str = "test-api-key";

impl Default for Options {
    fn default() -> Self {
        Self {
            // A Friday afternoon in Chicago: 2026-11-20 09:00 CST.
            now: "2026-11-20T15:00:00Z".parse().unwrap(),
            admin_token: Some(ADMIN_TOKEN),
            demo: true,
            messaging_api: None,
            db_path: None,
            db_url: None,
            sqlite: false,
            sms_max_attempts: 4,
            demo_mode: false,
            request_deadline: Duration::from_millis(1500),
            admin_listen: false,
            http: HttpLimits::default(),
            sms_unknown_hold: Duration::from_secs(60),
            sms_request_timeout: Duration::from_millis(700),
            webhooks_allow_private: true,
            calls: slotline::reminder_calls::settings::CallSettings {
                account_sid: Some("test-account".into()),
                poll_interval: Duration::from_millis(20),
                lease: Duration::from_secs(3),
                request_timeout: Duration::from_secs(1),
                rate_limit_wait: Duration::from_millis(50),
                transient_wait: Duration::from_secs(1),
                ..Default::default()
            },
            tweak: |_| {},
        }
    }
}

/// Spawns slotline with the demo tenant, at 2026-11-20 09:00 Chicago time.
pub async fn spawn_app() -> TestApp {
    spawn_with(Options::default()).await
}

/// Spawns slotline with `opts`.
pub async fn spawn_with(opts: Options) -> TestApp {
    // Logs only on request: `TEST_LOG=1 cargo test` (the suite is noisy otherwise).
    if std::env::var_os("TEST_LOG").is_some() {
        slotline::telemetry::init();
    }
    let database = if opts.db_url.is_none() && opts.db_path.is_none() && !opts.sqlite {
        suite_database().await
    } else {
        None
    };
    let db_url = opts
        .db_url
        .clone()
        .or_else(|| database.as_ref().map(|p| p.url.clone()));
    let (dir, db_path) = match opts.db_path {
        Some(path) => (None, path),
        None => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("test.db");
            (Some(dir), path)
        }
    };
    // Documents live beside the database, so a restarted app finds the same ones.
    let texml_dir = db_path
        .parent()
        .map(|d| d.join("texml"))
        .unwrap_or_else(|| "texml".into());
    let mut settings = Settings {
        listen: "127.0.0.1:0".into(),
        db_path,
        db_url,
        admin_token: opts.admin_token.map(Secret::new),
        telnyx_public_key: Some(FIXTURE_PUBLIC_KEY.into()),
        public_url: "https://booking.example.com".into(),
        texml_dir,
        telnyx_api_key: opts
            .messaging_api
            .as_ref()
            .map(|_| Secret::new(TEST_API_KEY)),
        // Without a fake Messaging API, tests ask for dry run explicitly (as an operator must).
        sms_dry_run: opts.messaging_api.is_none(),
        telnyx_api_base: opts
            .messaging_api
            .clone()
            .unwrap_or_else(|| "http://127.0.0.1:9".into()),
        // Fast enough that retries and leases take milliseconds.
        sms: SmsTuning {
            poll_interval: Duration::from_millis(20),
            backoff_base: Duration::from_millis(40),
            backoff_max: Duration::from_millis(300),
            max_attempts: opts.sms_max_attempts,
            lease: Duration::from_secs(3).max(opts.sms_request_timeout + Duration::from_secs(2)),
            connect_timeout: Duration::from_millis(500),
            request_timeout: opts.sms_request_timeout,
            unknown_hold: opts.sms_unknown_hold,
            ..SmsTuning::default()
        },
        // Retries in milliseconds, like the SMS worker's.
        webhooks: WebhookTuning {
            poll_interval: Duration::from_millis(20),
            backoff_base: Duration::from_millis(30),
            backoff_max: Duration::from_millis(200),
            timeout: Duration::from_secs(2),
            ..WebhookTuning::default()
        },
        webhooks_allow_private: opts.webhooks_allow_private,
        demo: opts.demo_mode,
        request_deadline: opts.request_deadline,
        admin_listen: opts.admin_listen.then(|| "127.0.0.1:0".into()),
        http: opts.http,
        calls: opts.calls,
        ..Settings::default()
    };
    (opts.tweak)(&mut settings);
    let (texml_dir, db_path, db_url) = (
        settings.texml_dir.clone(),
        settings.db_path.clone(),
        settings.db_url.clone(),
    );
    let clock = Clock::manual(opts.now);
    let app = Application::build(settings, clock.clone())
        .await
        .expect("app builds");
    if opts.demo {
        let spec = slotline::domain::TenantSpec::from_json(&demo_tenant()).unwrap();
        app.seed_if_empty(&spec).await.unwrap();
    }
    let base = format!("http://{}", app.addr());
    let admin_base = app.admin_addr().map(|a| format!("http://{a}"));
    let state = app.state().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        base,
        client: Client::new(),
        clock,
        state,
        texml_dir,
        db_path,
        db_url,
        _database: database,
        admin_base,
        key: fixture_key(),
        _dir: dir,
        stop: Some(tx),
        server: Some(server),
    }
}

/// Whether the suite runs on PostgreSQL (`SLOTLINE_TEST_STORE=postgres`).
pub fn suite_on_postgres() -> bool {
    match std::env::var("SLOTLINE_TEST_STORE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Ok("") | Err(_) => false,
        Ok(other) => panic!("SLOTLINE_TEST_STORE is {other:?}; use sqlite or postgres"),
    }
}

/// A PostgreSQL database made for one test when the suite runs on PostgreSQL; dropped
/// (whoever is still connected) when the last [`TestApp`] holding it is.
pub struct SuiteDatabase {
    server: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl Drop for SuiteDatabase {
    fn drop(&mut self) {
        // Off the test's runtime, which may be shutting down: a thread with its own.
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let admin = slotline::db::postgres::connect(&server)
                        .await
                        .map_err(|e| e.to_string())?;
                    admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                        .map_err(|e| e.to_string())
                })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

/// A fresh database for one app when the suite runs on PostgreSQL.
async fn suite_database() -> Option<std::sync::Arc<SuiteDatabase>> {
    if !suite_on_postgres() {
        return None;
    }
    let server = crate::postgres::server().expect(
        "SLOTLINE_TEST_STORE=postgres needs SLOTLINE_TEST_POSTGRES (.ci/postgres start DIR)",
    );
    let admin = slotline::db::postgres::connect(&server).await.unwrap();
    let (name, url) = crate::postgres::create_database(&admin, &server, "slotline_suite").await;
    Some(std::sync::Arc::new(SuiteDatabase { server, name, url }))
}

/// A tenant open 09:00–17:00 every day in `tz`, with `providers` all offering a 30-minute
/// "Cut" and a 60-minute "Colour".
pub fn open_every_day(slug: &str, number: &str, tz: &str, providers: &[&str]) -> Value {
    let day = serde_json::json!([["09:00", "17:00"]]);
    serde_json::json!({
        "slug": slug, "name": slug, "phone_number": number, "timezone": tz,
        "hours": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day},
        "slot_minutes": 15, "min_notice_minutes": 60, "horizon_days": 60,
        "services": [{"name": "Cut", "duration_minutes": 30}, {"name": "Colour", "duration_minutes": 60}],
        "providers": providers.iter().map(|p| serde_json::json!({"name": p, "services": ["Cut", "Colour"]})).collect::<Vec<_>>(),
    })
}

/// Form-encodes `pairs`.
pub fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap()
}

/// A voice-URL body for a call from `from` to `to`.
pub fn voice_body(call_sid: &str, from: &str, to: &str) -> String {
    form(&[
        ("AccountSid", "6a9a7976-012e-45d2-9258-6f5dc68d861e"),
        ("CallSid", call_sid),
        ("CallSidLegacy", call_sid),
        ("CallStatus", "in-progress"),
        ("From", from),
        ("To", to),
    ])
}

/// A gather-callback body carrying `result` in the documented `{status, result}` envelope.
pub fn gather_body(call_sid: &str, result: &Value) -> String {
    gather_body_with_history(
        call_sid,
        result,
        &[
            ("assistant", "What can I book for you?"),
            ("user", "A haircut please"),
        ],
    )
}

/// [`gather_body`] with the conversation `history` as (role, content).
pub fn gather_body_with_history(
    call_sid: &str,
    result: &Value,
    history: &[(&str, &str)],
) -> String {
    let envelope = serde_json::json!({"status": "valid", "result": result});
    let history: Vec<Value> = history
        .iter()
        .map(|(role, content)| serde_json::json!({"role": role, "content": content}))
        .collect();
    let history = STANDARD.encode(Value::Array(history).to_string());
    form(&[
        ("AccountSid", "6a9a7976-012e-45d2-9258-6f5dc68d861e"),
        ("CallSid", call_sid),
        ("From", "+13125550199"),
        ("To", "+13125550100"),
        ("Status", "valid"),
        ("Base64Result", &STANDARD.encode(envelope.to_string())),
        ("Base64MessageHistory", &history),
    ])
}

impl TestApp {
    /// Stops background task `name` (e.g. "SMS worker") once the server has started it;
    /// panics after 10 s.
    pub async fn stop_task(&self, name: &str) {
        let stopped = || {
            self.state
                .heartbeats
                .report()
                .iter()
                .any(|t| t.name == name && t.state == slotline::heartbeat::TaskState::Stopped)
        };
        for _ in 0..200 {
            if stopped() {
                return;
            }
            self.state.heartbeats.stop(name);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("task {name:?} never started or never stopped");
    }

    /// Stops the server and its SMS worker and waits until both have ended.
    pub async fn shut_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    /// POSTs a JSON body signed like Telnyx (messaging webhooks).
    pub async fn post_json_signed(&self, path: &str, body: &Value) -> Response {
        let body = body.to_string().into_bytes();
        let (ts, sig) = self.sign(&body);
        self.post_raw(path, body, Some((&ts, &sig)), "application/json")
            .await
    }

    /// Signature headers for `body` at the app's current time.
    pub fn sign(&self, body: &[u8]) -> (String, String) {
        self.sign_with(&self.key, self.clock.now().as_second(), body)
    }

    /// Signature headers with any key and timestamp.
    pub fn sign_with(&self, key: &SigningKey, ts: i64, body: &[u8]) -> (String, String) {
        let mut msg = ts.to_string().into_bytes();
        msg.push(b'|');
        msg.extend_from_slice(body);
        (ts.to_string(), STANDARD.encode(key.sign(&msg).to_bytes()))
    }

    /// POSTs a form body signed like Telnyx.
    pub async fn post_signed(&self, path_and_query: &str, body: impl Into<Vec<u8>>) -> Response {
        let body = body.into();
        let (ts, sig) = self.sign(&body);
        self.post_raw(
            path_and_query,
            body,
            Some((&ts, &sig)),
            "application/x-www-form-urlencoded",
        )
        .await
    }

    /// POSTs a form body signed with `key` at the app's current time.
    pub async fn post_signed_by(&self, key: &SigningKey, path: &str, body: String) -> Response {
        let (ts, sig) = self.sign_with(key, self.clock.now().as_second(), body.as_bytes());
        self.post_raw(
            path,
            body.into_bytes(),
            Some((&ts, &sig)),
            "application/x-www-form-urlencoded",
        )
        .await
    }

    /// POSTs with explicit signature headers (or none) and content type.
    pub async fn post_raw(
        &self,
        path_and_query: &str,
        body: Vec<u8>,
        sig: Option<(&str, &str)>,
        content_type: &str,
    ) -> Response {
        let mut req = self
            .client
            .post(format!("{}{}", self.base, path_and_query))
            .header("content-type", content_type)
            .body(body);
        if let Some((ts, sig)) = sig {
            req = req
                .header("telnyx-timestamp", ts)
                .header("telnyx-signature-ed25519", sig);
        }
        req.send().await.unwrap()
    }

    /// The signed voice-URL request for a call from `from` to `to`; its TeXML (checked).
    pub async fn voice(&self, call_sid: &str, from: &str, to: &str) -> String {
        texml_ok(
            self.post_signed("/texml/voice", voice_body(call_sid, from, to))
                .await,
        )
        .await
    }

    /// Starts a call to `to` and returns the TeXML and the gather path (with token).
    pub async fn start_call(&self, call_sid: &str, to: &str) -> (String, String) {
        let doc = self.voice(call_sid, "+13125550199", to).await;
        let action = attr(&doc, "AIGather", "action").expect("an AIGather with an action");
        (doc, gather_path(&action))
    }

    /// Sends the gather callback for `result` to `path`, returning the TeXML.
    pub async fn answer(&self, path: &str, call_sid: &str, result: &Value) -> String {
        texml_ok(self.post_signed(path, gather_body(call_sid, result)).await).await
    }

    /// An admin request with the test token.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(ADMIN_TOKEN)
    }

    /// An admin request with the test token and no body; its JSON answer, whatever the
    /// status.
    pub async fn admin_json<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> T {
        self.admin(method, path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// POSTs `body` to an admin route; its JSON, panicking unless it answers 201.
    pub async fn post_created(&self, path: &str, body: &Value) -> Value {
        let resp = self
            .admin(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(status, 201, "{v}");
        v
    }

    /// Sends `method` to an admin route with `body`; panics unless it answers `status`.
    pub async fn admin_expect(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        status: u16,
    ) {
        let mut req = self.admin(method, path);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.unwrap();
        let got = resp.status();
        assert_eq!(got, status, "{path}: {}", resp.text().await.unwrap());
    }

    /// POSTs `body` to an admin route; panics unless it answers 422 naming `field` with an
    /// error that contains `says`.
    pub async fn assert_invalid(&self, path: &str, body: &Value, field: &str, says: &str) {
        let resp = self
            .admin(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 422, "{body}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["field"], field, "{body}: {v}");
        assert!(v["error"].as_str().unwrap().contains(says), "{body}: {v}");
    }

    /// Creates a tenant through the admin API; panics unless it answers 201.
    pub async fn create_tenant(&self, body: &Value) -> Value {
        self.post_created("/tenants", body).await
    }

    /// The tenant's appointments, as the admin API lists them.
    pub async fn appointments(&self, tenant: &str) -> Vec<Value> {
        let resp = self
            .admin(
                reqwest::Method::GET,
                &format!("/tenants/{tenant}/appointments"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }
}

/// GETs `url` with bearer `token`; its JSON, whatever the status (for servers and tokens
/// other than [`TestApp`]'s own).
pub async fn get_json<T: serde::de::DeserializeOwned>(
    client: &Client,
    url: &str,
    token: &str,
) -> T {
    client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The path and query of an absolute action URL.
pub fn gather_path(action: &str) -> String {
    let rest = action
        .strip_prefix("https://booking.example.com")
        .expect("action is under SLOTLINE_PUBLIC_URL");
    rest.to_string()
}

/// Asserts a TeXML answer: HTTP 200, `application/xml`, and a document the strict validator accepts.
pub async fn texml_ok(resp: Response) -> String {
    assert_eq!(resp.status(), 200, "TeXML routes answer 200");
    let ct = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("application/xml"), "content type was {ct}");
    let doc = resp.text().await.unwrap();
    assert_valid(&doc);
    doc
}

/// Fails the test with every problem if `doc` is not valid TeXML.
pub fn assert_valid(doc: &str) {
    if let Err(problems) = slotline::texml::validate::validate(doc) {
        let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        panic!("invalid TeXML:\n{}\n---\n{doc}", list.join("\n"));
    }
}

/// The value of `name` on the first `<element>`, unescaped.
pub fn attr(doc: &str, element: &str, name: &str) -> Option<String> {
    use quick_xml::{Reader, events::Event};
    let mut reader = Reader::from_str(doc);
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) | Event::Empty(e) if e.name().into_inner() == element => {
                let a = e.try_get_attribute(name).ok()??;
                return Some(
                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .ok()?
                        .into_owned(),
                );
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// The text of every `<element>`, unescaped, in order.
pub fn texts(doc: &str, element: &str) -> Vec<String> {
    use quick_xml::{Reader, events::Event};
    let mut reader = Reader::from_str(doc);
    let mut out = Vec::new();
    let mut inside = false;
    let mut current = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) if e.name().into_inner() == element => {
                inside = true;
                current.clear();
            }
            Ok(Event::Text(t)) if inside => current.push_str(&t),
            Ok(Event::GeneralRef(r)) if inside => match r.resolve_char_ref() {
                Ok(Some(c)) => current.push(c),
                _ => {
                    let name: &str = &r;
                    current.push_str(&quick_xml::escape::unescape(&format!("&{name};")).unwrap());
                }
            },
            Ok(Event::CData(c)) if inside => current.push_str(&c),
            Ok(Event::End(e)) if e.name().into_inner() == element => {
                inside = false;
                out.push(current.clone());
            }
            Ok(Event::Eof) | Err(_) => return out,
            _ => {}
        }
    }
}

/// A line for booking bursts: a roomy request deadline (on a busy machine many callers
/// at once may take longer than Telnyx's, and an apology would fail a count) and tenant
/// `slug` at `number`, open every day, whose one test caller may book past the usual cap.
pub async fn burst_line(slug: &str, number: &str, providers: &[&str]) -> std::sync::Arc<TestApp> {
    let app = spawn_with(Options {
        request_deadline: Duration::from_secs(20),
        // The burst's file is what the backup and the copy to PostgreSQL read.
        sqlite: true,
        ..Options::default()
    })
    .await;
    let mut tenant = open_every_day(slug, number, "America/Chicago", providers);
    tenant["max_future_bookings_per_caller"] = serde_json::json!(100);
    app.create_tenant(&tenant).await;
    std::sync::Arc::new(app)
}

/// `callers` calls to `number` at once, each booking a Cut on its own slot (`per_day`
/// callers a day from 2026-11-23, one an hour from 09:00); each task answers what the
/// caller heard last.
pub fn book_burst(
    app: &std::sync::Arc<TestApp>,
    number: &'static str,
    callers: usize,
    per_day: usize,
) -> Vec<tokio::task::JoinHandle<String>> {
    (0..callers)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let sid = format!("v3:burst-{i}");
                let (_, path) = app.start_call(&sid, number).await;
                let ask = serde_json::json!({"customer_name": "Sam", "service": "Cut",
                    "preferred_date": format!("2026-11-{}", 23 + i % per_day),
                    "preferred_time": format!("{}:00", 9 + i / per_day),
                    "phone": "+13125550199"});
                app.answer(&path, &sid, &ask).await
            })
        })
        .collect()
}

/// Whether the gather answer `doc` read the booking back (saying `booked`); otherwise it
/// must offer alternatives because the time was taken, `nearest` first.
pub fn booked_else_offered(doc: &str, booked: &str, nearest: &str) -> bool {
    if texts(doc, "Say").join(" ").contains(booked) {
        return true;
    }
    assert!(texts(doc, "Greeting")[0].contains("already taken"), "{doc}");
    let params: serde_json::Value = serde_json::from_str(&texts(doc, "Parameters")[0]).unwrap();
    assert_eq!(
        params["properties"]["offered_time"]["enum"][0], nearest,
        "nearest first: {params}"
    );
    false
}

/// Awaits the answers of callers who all asked for the solo tenant's Tuesday 2026-11-24
/// 10:00 and counts them: (booked, offered alternatives, nearest first 09:30), each checked
/// by [`booked_else_offered`].
pub async fn tally_ten_oclock_race(tasks: Vec<tokio::task::JoinHandle<String>>) -> (usize, usize) {
    let (mut yes, mut no) = (0, 0);
    for t in tasks {
        let doc = t.await.unwrap();
        match booked_else_offered(
            &doc,
            "is booked for Tuesday, November 24 at 10:00 AM",
            "2026-11-24 09:30",
        ) {
            true => yes += 1,
            false => no += 1,
        }
    }
    (yes, no)
}
