//! `slotline call`: a terminal stand-in for Telnyx, for newcomers and for operators checking
//! a line after an edit. It signs each request like Telnyx (the demo key by default), sends
//! the voice request, prints what the caller hears, answers each `<AIGather>` the way
//! Telnyx posts its result (`Base64Result` in the `{status, result}` envelope, the message
//! history carried), and follows the line turn by turn until the call ends. Then it reads
//! through the admin API whether the call booked and which texts were queued.

pub mod answers;
pub mod heard;

use std::{io::Write, time::Duration};

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use ed25519_dalek::{Signer, SigningKey};
use rand::RngCore;
use reqwest::{Client, StatusCode};
use serde_json::{Map, Value, json};

pub use answers::Answers;
use answers::{Field, fields};
use heard::{AiGather, Verb};

use crate::config::Secret;

/// A call has at most this many turns; a line that keeps asking is a bug worth reporting.
const MAX_TURNS: usize = 12;
/// The account id placed in requests (Telnyx's documentation example).
const ACCOUNT_SID: &str = "6a9a7976-012e-45d2-9258-6f5dc68d861e";
/// How long to wait for the SMS worker to handle a text that is already due.
const TEXTS_SETTLE: Duration = Duration::from_secs(5);

/// What to call and how to sign.
pub struct Options {
    /// Base URL of the slotline server, without a trailing slash.
    pub server: String,
    /// Base URL of its admin API (the same server unless `SLOTLINE_ADMIN_LISTEN` splits it).
    pub admin: String,
    /// The caller's number.
    pub from: String,
    /// The dialled number (the tenant's line).
    pub to: String,
    /// The key requests are signed with.
    pub key: SigningKey,
    /// Where the key came from, for error messages.
    pub key_source: String,
    /// The admin token, to look up the line, its appointments and texts.
    pub token: Secret,
}

/// What `slotline call` was given on its command line.
pub struct Request {
    /// `--server`.
    pub server: Option<String>,
    /// `--admin`.
    pub admin: Option<String>,
    /// `--from`.
    pub from: String,
    /// The number dialled.
    pub to: String,
    /// `--key-file`.
    pub key_file: Option<std::path::PathBuf>,
    /// `--token`.
    pub token: Option<String>,
}

impl Options {
    /// Fills in the defaults from `settings`: the server from `SLOTLINE_LISTEN`, the admin
    /// API from `SLOTLINE_ADMIN_LISTEN` (else the server), the demo
    /// key and token from beside `SLOTLINE_DB`, the token from `SLOTLINE_ADMIN_TOKEN`.
    pub fn resolve(req: Request, settings: &crate::config::Settings) -> Result<Self, CallError> {
        let number = |flag: &str, raw: &str| {
            crate::domain::PhoneNumber::parse(raw)
                .map(|n| n.as_str().to_string())
                .map_err(|e| CallError::Other(format!("{flag} {raw:?}: {e}")))
        };
        let to = number("TO_NUMBER", &req.to)?;
        let from = number("--from", &req.from)?;
        let base_url = |flag: &str, url: String| {
            let url = url.trim_end_matches('/').to_string();
            if url.starts_with("http://") || url.starts_with("https://") {
                Ok(url)
            } else {
                Err(CallError::Other(format!(
                    "{flag} {url:?}: give a base URL, e.g. http://127.0.0.1:8080"
                )))
            }
        };
        let server = base_url(
            "--server",
            req.server
                .unwrap_or_else(|| format!("http://{}", settings.listen)),
        )?;
        let admin = match req.admin.or_else(|| {
            settings
                .admin_listen
                .as_ref()
                .map(|addr| format!("http://{addr}"))
        }) {
            Some(url) => base_url("--admin", url)?,
            None => server.clone(),
        };
        let dir = crate::demo::dir_for(&settings.db_path);
        let (key_path, is_demo_key) = match req.key_file {
            Some(path) => (path, false),
            None => (dir.join(crate::demo::KEY_FILE), true),
        };
        if is_demo_key && !key_path.exists() {
            return Err(CallError::Other(format!(
                "no demo signing key at {}: start the server once with `cargo run --release -- serve --demo` (it creates the key beside its database), or name a key with --key-file",
                key_path.display()
            )));
        }
        let key = crate::demo::read_signing_key(&key_path)
            .map_err(|e| CallError::Other(e.to_string()))?;
        let token_file = dir.join(crate::demo::TOKEN_FILE);
        let token = match req.token.or_else(|| {
            settings
                .admin_token
                .as_ref()
                .map(|t| t.expose().to_string())
        }) {
            Some(t) => Secret::new(t),
            None => match std::fs::read_to_string(&token_file) {
                Ok(t) if !t.trim().is_empty() => Secret::new(t.trim()),
                _ => {
                    return Err(CallError::Other(format!(
                        "no admin token: pass --token, set SLOTLINE_ADMIN_TOKEN, or start `serve --demo` without it once (it writes {})",
                        token_file.display()
                    )));
                }
            },
        };
        Ok(Self {
            server,
            admin,
            from,
            to,
            key,
            key_source: key_path.display().to_string(),
            token,
        })
    }
}

/// How the call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An appointment was booked on this call (the admin API's view of it).
    Booked(Value),
    /// The call ended without a booking.
    NotBooked,
}

/// Why the call could not be made; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Nothing answered at the server URL.
    #[error(
        "cannot reach slotline at {server} ({reason}). Is it running? Start it with `cargo run --release -- serve --demo`, or name another server with --server URL"
    )]
    Unreachable {
        /// The base URL.
        server: String,
        /// The transport error.
        reason: String,
    },
    /// The server refused the request signature.
    #[error(
        "{server} refused the signed request: 403 {reason}. The key in {key} is not one it accepts: `serve --demo` accepts the demo-signing.key beside its own database (the default --key-file when SLOTLINE_DB is the same for both), any other server only the key in its TELNYX_PUBLIC_KEY"
    )]
    BadKey {
        /// The base URL.
        server: String,
        /// The server's reason.
        reason: String,
        /// Where the key came from.
        key: String,
    },
    /// The admin API refused the token.
    #[error(
        "the admin API at {server} refused the token: {status} {reason}. Pass the server's SLOTLINE_ADMIN_TOKEN with --token (with `serve --demo` and no SLOTLINE_ADMIN_TOKEN it is in demo-admin.token beside the database)"
    )]
    BadToken {
        /// The base URL.
        server: String,
        /// HTTP status.
        status: u16,
        /// The server's reason.
        reason: String,
    },
    /// Anything else: an unexpected answer, the terminal, a broken document.
    #[error("{0}")]
    Other(String),
}

impl From<std::io::Error> for CallError {
    fn from(e: std::io::Error) -> Self {
        Self::Other(e.to_string())
    }
}

impl From<heard::ReadError> for CallError {
    fn from(e: heard::ReadError) -> Self {
        Self::Other(e.to_string())
    }
}

/// Places the call, printing every turn to `out`, and reports how it ended.
pub async fn place(
    opts: &Options,
    answers: &mut Answers<'_>,
    out: &mut dyn Write,
) -> Result<Outcome, CallError> {
    let line = Line::new(opts)?;
    let tenant = line.tenant_for(&opts.to).await?;
    writeln!(
        out,
        "Calling {} from {} on {}",
        opts.to, opts.from, opts.server
    )?;
    match &tenant {
        Some(t) => writeln!(
            out,
            "  the line of {} ({})",
            text(&t["name"]),
            text(&t["slug"])
        )?,
        None => writeln!(out, "  no tenant has this number")?,
    }
    let call_sid = new_call_sid();
    let started = std::time::Instant::now();
    // Texts already queued are not this call's (a move or a cancellation has no booking
    // to find its texts by).
    let before = match &tenant {
        Some(t) => line.message_ids(&t["id"].to_string()).await?,
        None => Vec::new(),
    };
    let mut doc = line
        .post("/texml/voice", &line.voice_form(&call_sid))
        .await?;
    let mut turn = 1;
    loop {
        writeln!(out, "\n[turn {turn}]")?;
        let Some(gather) = play(&heard::read(&doc)?, out)? else {
            break;
        };
        if turn == MAX_TURNS {
            return Err(CallError::Other(format!(
                "the line was still asking after {MAX_TURNS} turns; check its wording and documents (`slotline texml check`)"
            )));
        }
        show_gather(&gather, out)?;
        let fields = fields(&gather.parameters);
        if !answers.can_answer(&fields) {
            writeln!(out, "  caller:   (has nothing more to say and hangs up)")?;
            break;
        }
        let result = answers.answer(&fields, out)?;
        writeln!(out, "  caller:   {}", said(&result))?;
        let path = path_of(&gather.action).ok_or_else(|| {
            CallError::Other(format!(
                "the <AIGather> action {:?} is not a URL slotline call can follow",
                gather.action
            ))
        })?;
        let form = line.gather_form(&call_sid, &gather, &fields, result);
        doc = line.post(path, &form).await?;
        turn += 1;
    }
    line.post(
        "/texml/status",
        &line.status_form(&call_sid, started.elapsed()),
    )
    .await?;
    let unused = answers.never_asked();
    if turn > 1 && !unused.is_empty() {
        writeln!(
            out,
            "\nNote: the line never asked for {} (check the field names above)",
            unused.join(", ")
        )?;
    }
    let Some(tenant) = tenant else {
        writeln!(out, "\nNot booked: no line answers {}.", opts.to)?;
        return Ok(Outcome::NotBooked);
    };
    line.report(&tenant, &call_sid, &before, out).await
}

/// Prints the verbs Telnyx would play; returns the `<AIGather>` that ends the turn, or
/// `None` when the call ends (hang-up, hand-off, or the end of the document).
fn play(verbs: &[Verb], out: &mut dyn Write) -> std::io::Result<Option<AiGather>> {
    for verb in verbs {
        match verb {
            Verb::Say { voice, text } => match voice {
                Some(v) => writeln!(out, "  says ({v}): \"{text}\"")?,
                None => writeln!(out, "  says: \"{text}\"")?,
            },
            // Telnyx runs the action's answer next; the verbs after the gather are only its
            // fallback.
            Verb::Gather(g) => return Ok(Some(g.clone())),
            Verb::Dial(numbers) => {
                writeln!(
                    out,
                    "  hands the call to {} (a person would answer here); the call ends for slotline",
                    numbers.join(", ")
                )?;
                return Ok(None);
            }
            Verb::Hangup => {
                writeln!(out, "  hangs up")?;
                return Ok(None);
            }
            Verb::Other(name) => writeln!(out, "  <{name}> (not played by slotline call)")?,
        }
    }
    writeln!(out, "  (the document ends; the call ends)")?;
    Ok(None)
}

fn show_gather(g: &AiGather, out: &mut dyn Write) -> std::io::Result<()> {
    if let Some(voice) = &g.voice {
        writeln!(out, "  voice:    {voice}")?;
    }
    writeln!(out, "  AI says:  \"{}\"", g.greeting)?;
    writeln!(out, "  asks for:")?;
    for f in fields(&g.parameters) {
        writeln!(out, "    {}", describe(&f))?;
    }
    Ok(())
}

fn describe(f: &Field) -> String {
    let mut line = format!("{}{}", f.name, if f.required { " (required)" } else { "" });
    if !f.choices.is_empty() {
        line.push_str(&format!(": one of {}", f.choices.join(" | ")));
    }
    if let Some(d) = &f.description {
        line.push_str(&format!(" — {d}"));
    }
    line
}

/// The caller's answers as one line (also the user turn of the message history).
fn said(result: &Map<String, Value>) -> String {
    if result.is_empty() {
        return "(says nothing the line asked for)".into();
    }
    result
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The path and query of an absolute URL: requests go to `--server`, wherever the
/// server's public URL points.
fn path_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    rest.find('/').map(|i| &rest[i..])
}

fn new_call_sid() -> String {
    let mut bytes = [0u8; 30];
    rand::rng().fill_bytes(&mut bytes);
    format!("v3:{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The server, reached as Telnyx (signed) and as an operator (admin token).
struct Line<'a> {
    opts: &'a Options,
    http: Client,
}

impl<'a> Line<'a> {
    fn new(opts: &'a Options) -> Result<Self, CallError> {
        let http = Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| CallError::Other(e.to_string()))?;
        Ok(Self { opts, http })
    }

    fn unreachable(&self, e: reqwest::Error) -> CallError {
        // reqwest's own message is "error sending request"; the cause is further down.
        let e = e.without_url();
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            reason = format!("{reason}: {cause}");
            source = cause.source();
        }
        CallError::Unreachable {
            server: self.opts.server.clone(),
            reason,
        }
    }

    /// POSTs a form signed like Telnyx; the TeXML it answers.
    async fn post(&self, path: &str, form: &[(&str, String)]) -> Result<String, CallError> {
        let body =
            serde_urlencoded::to_string(form).map_err(|e| CallError::Other(e.to_string()))?;
        let ts = jiff::Timestamp::now().as_second().to_string();
        let mut message = ts.clone().into_bytes();
        message.push(b'|');
        message.extend_from_slice(body.as_bytes());
        let signature = STANDARD.encode(self.opts.key.sign(&message).to_bytes());
        let resp = self
            .http
            .post(format!("{}{path}", self.opts.server))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("telnyx-timestamp", ts)
            .header("telnyx-signature-ed25519", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| self.unreachable(e))?;
        match status {
            StatusCode::OK => Ok(text),
            StatusCode::FORBIDDEN => Err(CallError::BadKey {
                server: self.opts.server.clone(),
                reason: text.trim().to_string(),
                key: self.opts.key_source.clone(),
            }),
            other => Err(CallError::Other(format!(
                "POST {path} answered {other}: {}",
                text.trim()
            ))),
        }
    }

    /// GETs an admin API path; its JSON.
    /// The ids of the tenant's texts on the messages list's first page.
    async fn message_ids(&self, tenant_id: &str) -> Result<Vec<i64>, CallError> {
        let list = self
            .admin(&format!("/tenants/{tenant_id}/messages?limit=1000"))
            .await?;
        Ok(list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["id"].as_i64())
            .collect())
    }

    async fn admin(&self, path: &str) -> Result<Value, CallError> {
        let resp = self
            .http
            .get(format!("{}{path}", self.opts.admin))
            .bearer_auth(self.opts.token.expose())
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::SERVICE_UNAVAILABLE {
            return Err(CallError::BadToken {
                server: self.opts.server.clone(),
                status: status.as_u16(),
                reason: body["error"].as_str().unwrap_or_default().to_string(),
            });
        }
        if status == StatusCode::NOT_FOUND && path == "/tenants" {
            return Err(CallError::Other(format!(
                "no admin API at {} (GET /tenants answered 404); when the server serves it on SLOTLINE_ADMIN_LISTEN, pass --admin http://that-address",
                self.opts.admin
            )));
        }
        if !status.is_success() {
            return Err(CallError::Other(format!(
                "GET {path} answered {status}: {body}"
            )));
        }
        Ok(body)
    }

    /// The tenant whose line is `number`, if any.
    async fn tenant_for(&self, number: &str) -> Result<Option<Value>, CallError> {
        let tenants = self.admin("/tenants").await?;
        Ok(tenants
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["phone_number"] == number)
            .cloned())
    }

    fn voice_form(&self, call_sid: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AccountSid", ACCOUNT_SID.into()),
            ("CallSid", call_sid.into()),
            ("CallSidLegacy", call_sid.into()),
            ("CallStatus", "in-progress".into()),
            ("CallerId", self.opts.from.clone()),
            ("Direction", "inbound".into()),
            ("From", self.opts.from.clone()),
            ("To", self.opts.to.clone()),
        ]
    }

    /// The action request Telnyx posts when the gather ends: the result in its envelope,
    /// `Status` valid when every required field was given, and the conversation so far.
    fn gather_form(
        &self,
        call_sid: &str,
        gather: &AiGather,
        fields: &[Field],
        result: Map<String, Value>,
    ) -> Vec<(&'static str, String)> {
        let complete = fields
            .iter()
            .filter(|f| f.required)
            .all(|f| result.contains_key(&f.name));
        let status = if complete { "valid" } else { "invalid" };
        let mut history: Vec<Value> = gather
            .history
            .iter()
            .map(|(role, content)| json!({"role": role, "content": content}))
            .collect();
        history.push(json!({"role": "assistant", "content": gather.greeting}));
        history.push(json!({"role": "user", "content": said(&result)}));
        let envelope = json!({"status": status, "result": result});
        vec![
            ("AccountSid", ACCOUNT_SID.into()),
            ("CallSid", call_sid.into()),
            ("CallSidLegacy", call_sid.into()),
            ("From", self.opts.from.clone()),
            ("To", self.opts.to.clone()),
            ("Status", status.into()),
            ("Base64Result", STANDARD.encode(envelope.to_string())),
            (
                "Base64MessageHistory",
                STANDARD.encode(Value::Array(history).to_string()),
            ),
        ]
    }

    fn status_form(&self, call_sid: &str, took: Duration) -> Vec<(&'static str, String)> {
        vec![
            ("AccountSid", ACCOUNT_SID.into()),
            ("CallSid", call_sid.into()),
            ("CallSidLegacy", call_sid.into()),
            ("CallStatus", "completed".into()),
            ("CallDuration", took.as_secs().max(1).to_string()),
            ("CallbackSource", "call-progress-events".into()),
            ("Direction", "inbound".into()),
            ("From", self.opts.from.clone()),
            ("To", self.opts.to.clone()),
            ("HangupCause", "normal_clearing".into()),
        ]
    }

    /// Prints whether this call booked and the texts queued for the caller (without a
    /// booking: the ones about a move or a cancellation that were not queued before, `before`).
    async fn report(
        &self,
        tenant: &Value,
        call_sid: &str,
        before: &[i64],
        out: &mut dyn Write,
    ) -> Result<Outcome, CallError> {
        let id = tenant["id"].to_string();
        let appointments = self
            .admin(&format!("/tenants/{id}/appointments?call_sid={call_sid}"))
            .await?;
        let booked = appointments
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["call_sid"] == call_sid && a["status"] == "booked")
            .cloned();
        writeln!(out)?;
        match &booked {
            Some(a) => writeln!(
                out,
                "Booked: {} with {} for {}, {} to {} (appointment {})",
                text(&a["service"]),
                text(&a["provider"]),
                text(&a["customer_name"]),
                text(&a["start"]),
                text(&a["end"]),
                a["id"]
            )?,
            None => writeln!(
                out,
                "Not booked on this call (what the line said last is above)."
            )?,
        }
        let texts = self.texts_for(&id, booked.as_ref(), before).await?;
        if texts.is_empty() {
            writeln!(out, "No texts queued for {}.", self.opts.from)?;
        } else {
            writeln!(out, "Texts:")?;
            for t in &texts {
                let words = t["text"]
                    .as_str()
                    .map(|w| format!("\"{w}\""))
                    .unwrap_or_else(|| format!("(written when sent, due {})", text(&t["due"])));
                writeln!(
                    out,
                    "  {:<12} {:<9} to {}: {words}",
                    text(&t["kind"]),
                    text(&t["status"]),
                    text(&t["to"])
                )?;
            }
        }
        Ok(match booked {
            Some(a) => Outcome::Booked(a),
            None => Outcome::NotBooked,
        })
    }

    /// The texts of this call's appointment (or, without one, the moved, cancelled and reply
    /// texts to the caller's number that are not in `before`), oldest first, once the SMS
    /// worker has handled the ones already due.
    async fn texts_for(
        &self,
        id: &str,
        booked: Option<&Value>,
        before: &[i64],
    ) -> Result<Vec<Value>, CallError> {
        let deadline = std::time::Instant::now() + TEXTS_SETTLE;
        loop {
            let path = match booked {
                Some(a) => format!("/tenants/{id}/messages?appointment={}", a["id"]),
                None => format!("/tenants/{id}/messages"),
            };
            let all = self.admin(&path).await?;
            let now = jiff::Timestamp::now();
            let mut mine: Vec<Value> = all
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| match booked {
                    Some(a) => t["appointment_id"] == a["id"],
                    // A move, a cancellation or an answer, not an earlier booking's texts.
                    None => {
                        t["to"] == self.opts.from.as_str()
                            && !matches!(t["kind"].as_str(), Some("confirmation" | "reminder"))
                            && t["id"].as_i64().is_some_and(|m| !before.contains(&m))
                    }
                })
                .cloned()
                .collect();
            mine.reverse();
            let pending = mine.iter().any(|t| {
                matches!(t["status"].as_str(), Some("queued" | "sending"))
                    && t["due"]
                        .as_str()
                        .and_then(|d| d.parse::<jiff::Timestamp>().ok())
                        .is_some_and(|due| due <= now)
            });
            if !pending || std::time::Instant::now() >= deadline {
                return Ok(mine);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_of_an_action_url_keeps_its_query() {
        assert_eq!(
            path_of("https://booking.example.com/texml/gather?s=abc.def"),
            Some("/texml/gather?s=abc.def")
        );
        assert_eq!(path_of("ftp://x/y"), None);
        assert_eq!(path_of("http://host-without-path"), None);
    }

    #[test]
    fn call_sids_are_fresh_and_shaped_like_telnyx_ones() {
        let (a, b) = (new_call_sid(), new_call_sid());
        assert_ne!(a, b);
        assert!(a.starts_with("v3:") && a.len() == 43, "{a}");
    }

    #[test]
    fn what_the_caller_said_reads_as_field_value_pairs() {
        let mut m = Map::new();
        m.insert("service".into(), "Haircut".into());
        m.insert("customer_name".into(), "Jane Doe".into());
        assert_eq!(said(&m), "customer_name=Jane Doe, service=Haircut");
        assert_eq!(said(&Map::new()), "(says nothing the line asked for)");
    }
}
