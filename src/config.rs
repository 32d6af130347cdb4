//! Settings: the only place that reads the environment. Defaults live in code; secrets are
//! redacted in `Debug` so a logged `Settings` never leaks a key.

use std::{fmt, path::PathBuf, time::Duration};

/// A secret string whose `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Timing of the SMS worker. Defaults live in code (no environment variables); tests
/// shorten them so retries take milliseconds.
#[derive(Debug, Clone)]
pub struct SmsTuning {
    /// How often the worker looks for due texts (it is also woken after each booking).
    pub poll_interval: Duration,
    /// First retry delay; doubled per attempt, with jitter.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Attempts before a text is marked failed.
    pub max_attempts: u32,
    /// How long a claimed text is reserved; a text still `sending` after this (the process
    /// died mid-send) is tried again. Must exceed `request_timeout`.
    pub lease: Duration,
    /// Connect timeout of the Messaging API.
    pub connect_timeout: Duration,
    /// Whole-request timeout of the Messaging API.
    pub request_timeout: Duration,
    /// How long a text whose send outcome is unknown is held, waiting for a delivery
    /// webhook to say Telnyx has it, before it is failed (never re-sent).
    pub unknown_hold: Duration,
    /// Sends in flight at once (across senders; each sender keeps its own pace).
    pub in_flight: usize,
    /// Times a lease-expired text that was never sent is put back before it fails.
    pub max_reclaims: u32,
    /// Texts sent to one number per 24 h, across tenants (`SLOTLINE_SMS_DAILY_CAP`).
    pub daily_cap_per_number: u32,
}

impl Default for SmsTuning {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(250),
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(600),
            max_attempts: 8,
            lease: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            unknown_hold: Duration::from_secs(30 * 60),
            in_flight: 4,
            max_reclaims: 3,
            daily_cap_per_number: 10,
        }
    }
}

/// Timing of the webhook worker (`crate::webhooks`). Defaults live in code; tests shorten
/// them so retries take milliseconds.
#[derive(Debug, Clone)]
pub struct WebhookTuning {
    /// How often the worker looks for due deliveries.
    pub poll_interval: Duration,
    /// First retry delay; doubled per attempt, with jitter.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// How long a delivery is retried before it is given up (at least 24 h in production).
    pub retry_for: Duration,
    /// How long an endpoint may fail every attempt before it is disabled.
    pub disable_after: Duration,
    /// Whole-request timeout of one attempt.
    pub timeout: Duration,
    /// Attempts in flight at once, across endpoints (each endpoint has at most one).
    pub in_flight: usize,
}

impl Default for WebhookTuning {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(500),
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(3600),
            retry_for: Duration::from_secs(26 * 3600),
            disable_after: Duration::from_secs(3 * 86_400),
            timeout: Duration::from_secs(10),
            in_flight: 8,
        }
    }
}

/// Limits on every HTTP connection, so idle or slow clients cannot hold the server (see
/// [`crate::serve`]). Only `max_connections` has an environment variable; tests shorten
/// the timeouts.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Open connections per listener, across all serving threads; more are closed at once.
    pub max_connections: usize,
    /// How long a client has to send a whole request header block (from the connection's
    /// start, or from the previous answer on a kept-alive connection). Trickled bytes do
    /// not extend it.
    pub header_timeout: Duration,
    /// How long a client has to send a request body, once its headers are in.
    pub body_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
        }
    }
}

/// Shortest admin token accepted at start.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;

/// Everything slotline needs to start; see the README's environment table.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to bind; port 0 picks a free port (tests).
    pub listen: String,
    /// Separate address for the admin API (`/tenants…`); when set, the admin API is served
    /// there only and the main listener answers 404 for it.
    pub admin_listen: Option<String>,
    /// Connection and request-reading limits of both listeners.
    pub http: HttpLimits,
    /// SQLite file.
    pub db_path: PathBuf,
    /// The PostgreSQL database, when `SLOTLINE_DB` is a `postgres://` URL instead of a
    /// file (with its TLS settings: [`crate::db::postgres::tls`]; see
    /// [`Settings::sqlite_file`] for the commands that need a file).
    pub db_url: Option<String>,
    /// Base of the absolute URLs placed in TeXML and SMS, without a trailing slash.
    pub public_url: String,
    /// Bearer token for the admin API; `None` makes the admin API answer 503.
    pub admin_token: Option<Secret>,
    /// HMAC key for state tokens; `None` means "generated once and stored in the database".
    pub url_secret: Option<Secret>,
    /// Messaging API key; required unless SMS runs dry (see [`Settings::sms_mode`]).
    pub telnyx_api_key: Option<Secret>,
    /// `SLOTLINE_SMS_DRY_RUN=1`: record texts as `dry_run`, send nothing.
    pub sms_dry_run: bool,
    /// Base64 Ed25519 public key that signs Telnyx requests.
    pub telnyx_public_key: Option<String>,
    /// Development only: accept unsigned Telnyx requests.
    pub insecure_skip_signatures: bool,
    /// Messaging API base URL (tests point it at a local fake).
    pub telnyx_api_base: String,
    /// Default messaging profile for tenants without their own.
    pub messaging_profile_id: Option<String>,
    /// Operator-edited TeXML documents (`_default/` and one directory per tenant slug).
    pub texml_dir: PathBuf,
    /// SMS worker timing.
    pub sms: SmsTuning,
    /// Webhook worker timing.
    pub webhooks: WebhookTuning,
    /// `SLOTLINE_WEBHOOKS_ALLOW_PRIVATE=1`: webhook URLs may be `http://` and reach
    /// loopback, private and link-local addresses (tests, self-hosted receivers).
    pub webhooks_allow_private: bool,
    /// How long a Telnyx request may take (`SLOTLINE_REQUEST_DEADLINE_MS`): Telnyx waits
    /// about 2 s before it retries or fails over. Past it the caller hears the apology (and
    /// is handed to the tenant's human), and nothing the request started is committed.
    pub request_deadline: Duration,
    /// AI Inference, for a gather result that came back without its fields: the model
    /// (`SLOTLINE_INFERENCE_MODEL`) and the longest wait (`SLOTLINE_INFERENCE_TIMEOUT_MS`,
    /// 0 = never ask; it is also cut to what the request deadline leaves). Used only with
    /// `TELNYX_API_KEY`.
    pub inference: InferenceSettings,
    /// Reminder calls through the TeXML Calls API (`TELNYX_TEXML_APP_ID`,
    /// `TELNYX_ACCOUNT_SID`, `TELNYX_CALLS_ENDPOINT`, `SLOTLINE_CALLS_*`).
    pub calls: crate::reminder_calls::settings::CallSettings,
    /// `serve --demo` (a command-line flag, not an environment variable): the demo signing
    /// key beside the database is accepted too, and without `SLOTLINE_ADMIN_TOKEN` the
    /// admin token is read from (or generated into) the file beside it. See [`crate::demo`].
    pub demo: bool,
    /// Readiness thresholds, retention and checkpoints ([`Upkeep`]).
    pub upkeep: Upkeep,
}

/// What `/ready` holds the server to, how long rows are kept, and whether slotline
/// checkpoints the WAL itself (see docs/operations.md).
#[derive(Debug, Clone)]
pub struct Upkeep {
    /// How long the writer thread may take to answer `/ready`'s probe
    /// (`SLOTLINE_READY_WRITER_MS`).
    pub writer_deadline: Duration,
    /// Least free space on the database's file system (`SLOTLINE_READY_MIN_FREE_MB`).
    pub min_free_bytes: u64,
    /// Largest WAL file that is still healthy (`SLOTLINE_READY_MAX_WAL_MB`).
    pub max_wal_bytes: u64,
    /// Longest a due text may wait unsent (`SLOTLINE_READY_MAX_TEXT_LAG_SECONDS`).
    pub max_text_lag: Duration,
    /// Handled messaging webhook events and finished texts are deleted after this many days
    /// (`SLOTLINE_RETAIN_DAYS`).
    pub retain_days: u32,
    /// Calls are kept one row each for this many days, then only as daily per-tenant counts
    /// (`SLOTLINE_CALL_RETAIN_DAYS`).
    pub call_retain_days: u32,
    /// slotline checkpoints the WAL itself; `SLOTLINE_CHECKPOINTS=0` leaves it to
    /// Litestream.
    pub checkpoints: bool,
    /// The writer commits with `synchronous = FULL` (durable on power loss);
    /// `SLOTLINE_SYNCHRONOUS=normal` trades the last commits for one fsync less each.
    pub synchronous_full: bool,
}

impl Default for Upkeep {
    fn default() -> Self {
        Self {
            writer_deadline: Duration::from_millis(1000),
            min_free_bytes: 512 << 20,
            max_wal_bytes: 512 << 20,
            max_text_lag: Duration::from_secs(300),
            retain_days: 90,
            call_retain_days: 400,
            checkpoints: true,
            synchronous_full: true,
        }
    }
}

impl Upkeep {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut u = Upkeep::default();
        let num = |variable: &'static str, min: u64, max: u64, what: &str| {
            get(variable)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| (min..=max).contains(n))
                        .ok_or_else(|| ConfigError {
                            variable,
                            message: format!(
                                "{v:?} must be a whole number of {what} from {min} to {max}"
                            ),
                        })
                })
                .transpose()
        };
        if let Some(ms) = num("SLOTLINE_READY_WRITER_MS", 10, 60_000, "milliseconds")? {
            u.writer_deadline = Duration::from_millis(ms);
        }
        if let Some(mb) = num("SLOTLINE_READY_MIN_FREE_MB", 0, 1 << 30, "megabytes")? {
            u.min_free_bytes = mb << 20;
        }
        if let Some(mb) = num("SLOTLINE_READY_MAX_WAL_MB", 1, 1 << 20, "megabytes")? {
            u.max_wal_bytes = mb << 20;
        }
        if let Some(s) = num("SLOTLINE_READY_MAX_TEXT_LAG_SECONDS", 1, 86_400, "seconds")? {
            u.max_text_lag = Duration::from_secs(s);
        }
        if let Some(d) = num("SLOTLINE_RETAIN_DAYS", 7, 36_500, "days")? {
            u.retain_days = d as u32;
        }
        if let Some(d) = num("SLOTLINE_CALL_RETAIN_DAYS", 7, 36_500, "days")? {
            u.call_retain_days = d as u32;
        }
        if let Some(v) = get("SLOTLINE_CHECKPOINTS") {
            u.checkpoints = flag("SLOTLINE_CHECKPOINTS", &v)?;
        }
        if let Some(v) = get("SLOTLINE_SYNCHRONOUS") {
            u.synchronous_full = match v.trim().to_ascii_lowercase().as_str() {
                "full" => true,
                "normal" => false,
                _ => {
                    return Err(ConfigError {
                        variable: "SLOTLINE_SYNCHRONOUS",
                        message: format!("{v:?} must be full (the default) or normal"),
                    });
                }
            };
        }
        Ok(u)
    }
}

/// How the conversation is read when a gather result lacks its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InferenceSettings {
    /// Model asked (`SLOTLINE_INFERENCE_MODEL`).
    pub model: String,
    /// Longest wait for the answer; zero switches the fallback off.
    pub timeout: Duration,
}

/// The model Telnyx's chat completions use by default (PROTOCOL.md §9).
pub const DEFAULT_INFERENCE_MODEL: &str = "meta-llama/Meta-Llama-3.1-8B-Instruct";

impl Default for InferenceSettings {
    fn default() -> Self {
        Self {
            model: DEFAULT_INFERENCE_MODEL.into(),
            timeout: Duration::from_millis(900),
        }
    }
}

/// How texts go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsMode {
    /// Through the Telnyx Messaging API with this key.
    Send(Secret),
    /// Recorded as `dry_run`, nothing sent; the reason is logged at start.
    DryRun(&'static str),
}

/// A setting that is present but unusable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What to fix.
    pub message: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            admin_listen: None,
            http: HttpLimits::default(),
            db_path: PathBuf::from("data/slotline.db"),
            db_url: None,
            public_url: "http://127.0.0.1:8080".into(),
            admin_token: None,
            url_secret: None,
            telnyx_api_key: None,
            sms_dry_run: false,
            telnyx_public_key: None,
            insecure_skip_signatures: false,
            telnyx_api_base: "https://api.telnyx.com/v2".into(),
            messaging_profile_id: None,
            texml_dir: PathBuf::from("texml"),
            sms: SmsTuning::default(),
            webhooks: WebhookTuning::default(),
            webhooks_allow_private: false,
            request_deadline: Duration::from_millis(1500),
            inference: InferenceSettings::default(),
            calls: Default::default(),
            demo: false,
            upkeep: Upkeep::default(),
        }
    }
}

impl Settings {
    /// Reads the `SLOTLINE_*` and `TELNYX_*` variables over the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Same as [`Settings::from_env`] over any lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let mut s = Settings::default();
        if let Some(v) = get("SLOTLINE_LISTEN") {
            s.listen = v;
        }
        if let Some(v) = get("SLOTLINE_DB") {
            if crate::db::postgres::is_url(&v) {
                s.db_url = Some(v);
            } else {
                s.db_path = PathBuf::from(v);
            }
        }
        // Without a public URL, absolute URLs point at the listen address (right for local use).
        s.public_url = format!("http://{}", s.listen);
        if let Some(v) = get("SLOTLINE_PUBLIC_URL") {
            let trimmed = v.trim_end_matches('/').to_string();
            if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
                return Err(ConfigError {
                    variable: "SLOTLINE_PUBLIC_URL",
                    message: format!(
                        "{v:?} must be an absolute http(s) URL such as https://booking.example.com"
                    ),
                });
            }
            s.public_url = trimmed;
        }
        s.admin_listen = get("SLOTLINE_ADMIN_LISTEN").map(|v| v.trim().to_string());
        if let Some(v) = get("SLOTLINE_MAX_CONNECTIONS") {
            s.http.max_connections =
                v.trim()
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ConfigError {
                        variable: "SLOTLINE_MAX_CONNECTIONS",
                        message: format!("{v:?} must be a whole number above 0, e.g. 4096"),
                    })?;
        }
        // The header is compared trimmed, so the configured value is too.
        s.admin_token = get("SLOTLINE_ADMIN_TOKEN").map(|v| Secret::new(v.trim()));
        s.url_secret = get("SLOTLINE_URL_SECRET").map(Secret::new);
        s.telnyx_api_key = get("TELNYX_API_KEY").map(Secret::new);
        s.telnyx_public_key = get("TELNYX_PUBLIC_KEY");
        if let Some(v) = get("SLOTLINE_INSECURE_SKIP_SIGNATURES") {
            s.insecure_skip_signatures = flag("SLOTLINE_INSECURE_SKIP_SIGNATURES", &v)?;
        }
        if let Some(v) = get("SLOTLINE_SMS_DRY_RUN") {
            s.sms_dry_run = flag("SLOTLINE_SMS_DRY_RUN", &v)?;
        }
        if let Some(v) = get("SLOTLINE_WEBHOOKS_ALLOW_PRIVATE") {
            s.webhooks_allow_private = flag("SLOTLINE_WEBHOOKS_ALLOW_PRIVATE", &v)?;
        }
        if let Some(v) = get("SLOTLINE_SMS_DAILY_CAP") {
            s.sms.daily_cap_per_number =
                v.trim()
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ConfigError {
                        variable: "SLOTLINE_SMS_DAILY_CAP",
                        message: format!("{v:?} must be a whole number of texts, 1 or more"),
                    })?;
        }
        if let Some(v) = get("TELNYX_API_BASE") {
            s.telnyx_api_base = v.trim_end_matches('/').to_string();
        }
        s.messaging_profile_id = get("TELNYX_MESSAGING_PROFILE_ID");
        if let Some(v) = get("SLOTLINE_TEXML_DIR") {
            s.texml_dir = PathBuf::from(v);
        }
        if let Some(v) = get("SLOTLINE_REQUEST_DEADLINE_MS") {
            s.request_deadline = v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|ms| (100..=10_000).contains(ms))
                .map(Duration::from_millis)
                .ok_or_else(|| ConfigError {
                    variable: "SLOTLINE_REQUEST_DEADLINE_MS",
                    message: format!(
                        "{v:?} must be whole milliseconds from 100 to 10000 (Telnyx waits about 2000)"
                    ),
                })?;
        }
        if let Some(v) = get("SLOTLINE_INFERENCE_MODEL") {
            s.inference.model = v.trim().to_string();
        }
        if let Some(v) = get("SLOTLINE_INFERENCE_TIMEOUT_MS") {
            s.inference.timeout = v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|ms| *ms <= 5_000)
                .map(Duration::from_millis)
                .ok_or_else(|| ConfigError {
                    variable: "SLOTLINE_INFERENCE_TIMEOUT_MS",
                    message: format!(
                        "{v:?} must be whole milliseconds from 0 (off) to 5000; the caller is waiting, so keep it well inside SLOTLINE_REQUEST_DEADLINE_MS"
                    ),
                })?;
        }
        s.calls = crate::reminder_calls::settings::CallSettings::from_lookup(&get)?;
        s.upkeep = Upkeep::from_lookup(&get)?;
        Ok(s)
    }

    /// Whether texts are sent: dry run only when asked for (`SLOTLINE_SMS_DRY_RUN=1`, or
    /// `serve --demo` without a key); a server without a key is refused, so a lost secret
    /// cannot silently turn every confirmation into `dry_run`.
    pub fn sms_mode(&self) -> Result<SmsMode, ConfigError> {
        match (&self.telnyx_api_key, self.sms_dry_run, self.demo) {
            (_, true, _) => Ok(SmsMode::DryRun("SLOTLINE_SMS_DRY_RUN=1")),
            (Some(key), false, _) => Ok(SmsMode::Send(key.clone())),
            (None, false, true) => Ok(SmsMode::DryRun("serve --demo without TELNYX_API_KEY")),
            (None, false, false) => Err(ConfigError {
                variable: "TELNYX_API_KEY",
                message: "is not set, so no text could be sent; set TELNYX_API_KEY to send \
                          texts, or SLOTLINE_SMS_DRY_RUN=1 to record them without sending"
                    .into(),
            }),
        }
    }

    /// The SQLite file `command` works on, or why it cannot run: `SLOTLINE_DB` names a
    /// PostgreSQL database, which `serve`, `migrate` and `texml preview` run on and the
    /// file commands (backup, restore) do not.
    pub fn sqlite_file(&self, command: &str) -> Result<&std::path::Path, ConfigError> {
        let Some(url) = &self.db_url else {
            return Ok(&self.db_path);
        };
        let instead = match command {
            "backup" | "restore" => {
                "back PostgreSQL up with its own tools (pgBackRest, or pg_dump and pg_restore: docs/several-nodes.md)"
            }
            _ => {
                "run it against a SQLite file (SLOTLINE_DB=data/slotline.db, say), or ask a running server (the admin API)"
            }
        };
        Err(ConfigError {
            variable: "SLOTLINE_DB",
            message: format!(
                "is a PostgreSQL database ({}), and `slotline {command}` works on a SQLite file only: {instead}",
                crate::db::postgres::redacted(url)
            ),
        })
    }

    /// Refuses combinations that must not reach production: a short admin token, the
    /// signature switch next to a real key, and a public URL Telnyx cannot reach (loopback
    /// or plain `http://`) while a real key is set. Run by the server at start, not by CLI
    /// commands that only read.
    pub fn check_for_serving(&self) -> Result<(), ConfigError> {
        if let Some(token) = &self.admin_token
            && token.expose().chars().count() < MIN_ADMIN_TOKEN_CHARS
        {
            return Err(ConfigError {
                variable: "SLOTLINE_ADMIN_TOKEN",
                message: format!(
                    "is {} characters; use at least {MIN_ADMIN_TOKEN_CHARS} random ones, e.g. the output of `openssl rand -base64 32`",
                    token.expose().chars().count()
                ),
            });
        }
        if self.telnyx_public_key.is_none() {
            return Ok(());
        }
        if self.insecure_skip_signatures {
            return Err(ConfigError {
                variable: "SLOTLINE_INSECURE_SKIP_SIGNATURES",
                message: "is 1 while TELNYX_PUBLIC_KEY is set; unset it (it is for development without a key only)".into(),
            });
        }
        if let Some(why) = unreachable_reason(&self.public_url) {
            return Err(ConfigError {
                variable: "SLOTLINE_PUBLIC_URL",
                message: format!(
                    "{:?} {why}, but TELNYX_PUBLIC_KEY is set (production); set it to the HTTPS address Telnyx reaches, e.g. https://booking.example.com",
                    self.public_url
                ),
            });
        }
        Ok(())
    }
}

/// Why Telnyx could not (or should not) call `url`, if it could not.
pub fn unreachable_reason(url: &str) -> Option<&'static str> {
    let Some(rest) = url.strip_prefix("https://") else {
        return Some("is not https://");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified());
    loopback.then_some("is a loopback address")
}

/// A 1/0 switch.
fn flag(variable: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(ConfigError {
            variable,
            message: format!("{v:?} must be 1 or 0"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn upkeep_settings_are_read_and_bad_ones_say_what_to_fix() {
        let s = settings(&[
            ("SLOTLINE_READY_WRITER_MS", "250"),
            ("SLOTLINE_READY_MIN_FREE_MB", "1024"),
            ("SLOTLINE_RETAIN_DAYS", "30"),
            ("SLOTLINE_CHECKPOINTS", "0"),
        ])
        .unwrap();
        assert_eq!(s.upkeep.writer_deadline, Duration::from_millis(250));
        assert_eq!(s.upkeep.min_free_bytes, 1024 << 20);
        assert_eq!(s.upkeep.retain_days, 30);
        assert!(!s.upkeep.checkpoints);
        assert_eq!(s.upkeep.call_retain_days, 400);
        let e = settings(&[("SLOTLINE_RETAIN_DAYS", "3")]).unwrap_err();
        assert_eq!(e.variable, "SLOTLINE_RETAIN_DAYS");
        assert_eq!(
            e.message,
            "\"3\" must be a whole number of days from 7 to 36500"
        );
        let e = settings(&[("SLOTLINE_SYNCHRONOUS", "extra")]).unwrap_err();
        assert_eq!(e.message, "\"extra\" must be full (the default) or normal");
        assert!(
            !settings(&[("SLOTLINE_SYNCHRONOUS", "NORMAL")])
                .unwrap()
                .upkeep
                .synchronous_full
        );
        let e = settings(&[("SLOTLINE_CHECKPOINTS", "off")]).unwrap_err();
        assert_eq!(e.message, "\"off\" must be 1 or 0");
    }

    #[test]
    fn a_postgres_url_in_slotline_db_is_kept_and_file_commands_refuse_it() {
        let s = settings(&[("SLOTLINE_DB", "postgres://app:pw@db.example.com/slotline")]).unwrap();
        assert_eq!(
            s.db_url.as_deref(),
            Some("postgres://app:pw@db.example.com/slotline")
        );
        let e = s.sqlite_file("serve").unwrap_err();
        assert_eq!(e.variable, "SLOTLINE_DB");
        assert!(
            e.message.contains("run it against a SQLite file")
                && e.message
                    .contains("postgres://app:***@db.example.com/slotline"),
            "{}",
            e.message
        );
        assert!(
            s.sqlite_file("backup")
                .unwrap_err()
                .message
                .contains("pg_dump")
        );
        let s = settings(&[("SLOTLINE_DB", "/var/lib/slotline/s.db")]).unwrap();
        assert_eq!(s.db_path, PathBuf::from("/var/lib/slotline/s.db"));
        assert_eq!(s.sqlite_file("serve").unwrap(), s.db_path);
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.listen, "127.0.0.1:8080");
        assert_eq!(s.public_url, "http://127.0.0.1:8080");
        assert!(s.admin_token.is_none());
    }

    #[test]
    fn the_public_url_follows_the_listen_address_unless_set() {
        let s = settings(&[("SLOTLINE_LISTEN", "127.0.0.1:9000")]).unwrap();
        assert_eq!(s.public_url, "http://127.0.0.1:9000");
        let s = settings(&[("SLOTLINE_PUBLIC_URL", "https://b.example.com/")]).unwrap();
        assert_eq!(s.public_url, "https://b.example.com");
    }

    #[test]
    fn a_relative_public_url_is_refused() {
        let err = settings(&[("SLOTLINE_PUBLIC_URL", "booking.example.com")]).unwrap_err();
        assert_eq!(err.variable, "SLOTLINE_PUBLIC_URL");
    }

    const LONG_TOKEN: &str = "0123456789abcdef0123456789abcdef";
    const KEY: &str = "GzOl8c8NI5MxkZ8QIv+xlORAyBVdmziMrUgVM7Db8pc=";

    #[test]
    fn an_admin_token_shorter_than_32_characters_is_refused_with_how_to_make_one() {
        let s = settings(&[("SLOTLINE_ADMIN_TOKEN", "salon123")]).unwrap();
        let err = s.check_for_serving().unwrap_err();
        assert_eq!(err.variable, "SLOTLINE_ADMIN_TOKEN");
        assert!(err.message.contains("openssl rand -base64 32"), "{err}");
        let s = settings(&[("SLOTLINE_ADMIN_TOKEN", LONG_TOKEN)]).unwrap();
        assert!(s.check_for_serving().is_ok());
    }

    #[test]
    fn the_admin_token_is_trimmed_like_the_header_it_is_compared_with() {
        let padded = format!("  {LONG_TOKEN} ");
        let s = settings(&[("SLOTLINE_ADMIN_TOKEN", &padded)]).unwrap();
        assert_eq!(s.admin_token.unwrap().expose(), LONG_TOKEN);
    }

    #[test]
    fn skipping_signatures_is_refused_when_a_public_key_is_set() {
        let s = settings(&[
            ("TELNYX_PUBLIC_KEY", KEY),
            ("SLOTLINE_PUBLIC_URL", "https://booking.example.com"),
            ("SLOTLINE_INSECURE_SKIP_SIGNATURES", "1"),
        ])
        .unwrap();
        let err = s.check_for_serving().unwrap_err();
        assert_eq!(err.variable, "SLOTLINE_INSECURE_SKIP_SIGNATURES");
        let dev = settings(&[("SLOTLINE_INSECURE_SKIP_SIGNATURES", "1")]).unwrap();
        assert!(dev.check_for_serving().is_ok());
    }

    #[test]
    fn with_a_public_key_the_public_url_must_be_https_and_not_loopback() {
        for url in [
            "http://booking.example.com",
            "https://127.0.0.1:8080",
            "https://localhost",
            "https://[::1]:8443/x",
            "https://0.0.0.0",
        ] {
            let s = settings(&[("TELNYX_PUBLIC_KEY", KEY), ("SLOTLINE_PUBLIC_URL", url)]).unwrap();
            let err = s.check_for_serving().unwrap_err();
            assert_eq!(err.variable, "SLOTLINE_PUBLIC_URL", "{url}");
        }
        let unset = settings(&[("TELNYX_PUBLIC_KEY", KEY)]).unwrap();
        assert!(
            unset.check_for_serving().is_err(),
            "the http://listen default"
        );
        let good = settings(&[
            ("TELNYX_PUBLIC_KEY", KEY),
            ("SLOTLINE_PUBLIC_URL", "https://booking.example.com"),
        ])
        .unwrap();
        assert!(good.check_for_serving().is_ok());
        let dev = settings(&[]).unwrap();
        assert!(
            dev.check_for_serving().is_ok(),
            "no key: local http is fine"
        );
    }

    #[test]
    fn max_connections_must_be_a_positive_number() {
        let err = settings(&[("SLOTLINE_MAX_CONNECTIONS", "lots")]).unwrap_err();
        assert_eq!(err.variable, "SLOTLINE_MAX_CONNECTIONS");
        let s = settings(&[("SLOTLINE_MAX_CONNECTIONS", "100")]).unwrap();
        assert_eq!(s.http.max_connections, 100);
    }

    #[test]
    fn the_request_deadline_is_read_in_milliseconds_and_bounded() {
        assert_eq!(
            settings(&[]).unwrap().request_deadline,
            Duration::from_millis(1500)
        );
        let s = settings(&[("SLOTLINE_REQUEST_DEADLINE_MS", "900")]).unwrap();
        assert_eq!(s.request_deadline, Duration::from_millis(900));
        for bad in ["0", "fast", "60000"] {
            let err = settings(&[("SLOTLINE_REQUEST_DEADLINE_MS", bad)]).unwrap_err();
            assert_eq!(err.variable, "SLOTLINE_REQUEST_DEADLINE_MS");
        }
    }

    #[test]
    fn the_inference_wait_is_read_in_milliseconds_and_bounded_and_zero_is_off() {
        let s = settings(&[
            ("SLOTLINE_INFERENCE_TIMEOUT_MS", "0"),
            ("SLOTLINE_INFERENCE_MODEL", " openai/gpt-4o "),
        ])
        .unwrap();
        assert_eq!(s.inference.timeout, Duration::ZERO);
        assert_eq!(s.inference.model, "openai/gpt-4o");
        for bad in ["soon", "-1", "9000"] {
            let err = settings(&[("SLOTLINE_INFERENCE_TIMEOUT_MS", bad)]).unwrap_err();
            assert_eq!(err.variable, "SLOTLINE_INFERENCE_TIMEOUT_MS");
            assert!(err.message.contains("0 (off) to 5000"), "{}", err.message);
        }
    }

    #[test]
    fn without_a_key_serve_refuses_unless_dry_run_is_asked_for() {
        let err = settings(&[]).unwrap().sms_mode().unwrap_err();
        assert_eq!(err.variable, "TELNYX_API_KEY");
        assert!(err.message.contains("SLOTLINE_SMS_DRY_RUN=1"), "{err}");
        let dry = settings(&[("SLOTLINE_SMS_DRY_RUN", "1")]).unwrap();
        assert!(matches!(dry.sms_mode(), Ok(SmsMode::DryRun(_))));
        let demo = Settings {
            demo: true,
            ..settings(&[]).unwrap()
        };
        assert!(matches!(demo.sms_mode(), Ok(SmsMode::DryRun(_))));
        let keyed = settings(&[("TELNYX_API_KEY", "k")]).unwrap();
        assert_eq!(keyed.sms_mode().unwrap(), SmsMode::Send(Secret::new("k")));
        let both = settings(&[("TELNYX_API_KEY", "k"), ("SLOTLINE_SMS_DRY_RUN", "1")]).unwrap();
        assert!(matches!(both.sms_mode(), Ok(SmsMode::DryRun(_))));
    }

    #[test]
    fn bad_sms_switches_say_what_to_fix() {
        let err = settings(&[("SLOTLINE_SMS_DRY_RUN", "maybe")]).unwrap_err();
        assert_eq!(err.variable, "SLOTLINE_SMS_DRY_RUN");
        let err = settings(&[("SLOTLINE_SMS_DAILY_CAP", "0")]).unwrap_err();
        assert_eq!(err.variable, "SLOTLINE_SMS_DAILY_CAP");
        assert!(err.message.contains("1 or more"));
        let s = settings(&[("SLOTLINE_SMS_DAILY_CAP", "25")]).unwrap();
        assert_eq!(s.sms.daily_cap_per_number, 25);
    }

    #[test]
    fn private_webhook_addresses_are_refused_unless_allowed() {
        assert!(!settings(&[]).unwrap().webhooks_allow_private);
        let s = settings(&[("SLOTLINE_WEBHOOKS_ALLOW_PRIVATE", "1")]).unwrap();
        assert!(s.webhooks_allow_private);
        let err = settings(&[("SLOTLINE_WEBHOOKS_ALLOW_PRIVATE", "sure")]).unwrap_err();
        assert_eq!(err.variable, "SLOTLINE_WEBHOOKS_ALLOW_PRIVATE");
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let s = settings(&[("SLOTLINE_ADMIN_TOKEN", "hunter2")]).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
