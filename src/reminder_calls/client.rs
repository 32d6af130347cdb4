//! `TexmlCalls`: the one typed client for the TeXML Calls API (PROTOCOL.md §7). It dials
//! (`POST /texml/Accounts/{account}/Calls` by default; the deprecated app-scoped
//! `POST /texml/calls/{application_id}` when `TELNYX_CALLS_ENDPOINT=app`) and redirects or
//! hangs up a live call (`POST /texml/Accounts/{account}/Calls/{call_sid}`). It maps
//! Telnyx's answers onto [`DialError`], which says what the dialer does: wait (429/90103),
//! retry (Telnyx provably did not take the call), hold (it may have), or give up — and for
//! 10005, fail loudly naming both fixes. It never retries by itself.
//!
//! Calls are correlated by our own signed token in `Url`, never by the response, which
//! may or may not carry a call id (`call_sid`, `data.call_sid`, or nothing).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{config::Secret, sms::client::first_error};

/// Which dial endpoint to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /texml/Accounts/{TELNYX_ACCOUNT_SID}/Calls` (the documented one; default).
    Accounts,
    /// `POST /texml/calls/{TELNYX_TEXML_APP_ID}` (deprecated; answers for accounts where
    /// the other returns 10005).
    App,
}

impl Endpoint {
    /// The setting's value.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Accounts => "accounts",
            Endpoint::App => "app",
        }
    }
}

/// The body of a dial (SPEC `InitiateCallRequest`; only the fields a reminder uses).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DialRequest {
    /// The TeXML application (account-scoped endpoint only; the app-scoped one has it in
    /// its path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_sid: Option<String>,
    /// The customer (E.164).
    pub to: String,
    /// The tenant's number.
    pub from: String,
    /// The business name shown to the callee (≤128 characters of the allowed set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
    /// Fetched when the callee answers: `/texml/reminder?s=<token>`.
    pub url: String,
    /// Always `POST`.
    pub url_method: &'static str,
    /// Call progress: `/texml/reminder/status?s=<token>`.
    pub status_callback: String,
    /// Always `POST`.
    pub status_callback_method: &'static str,
    /// `initiated ringing answered completed`.
    pub status_callback_event: &'static str,
    /// `DetectMessageEnd`: the machine result comes after the greeting (and its beep).
    pub machine_detection: &'static str,
    /// AMD runs beside the TeXML, so a person hears the reminder without dead air.
    pub async_amd: bool,
    /// Where the AMD result goes: `/texml/reminder/amd?s=<token>`.
    pub async_amd_status_callback: String,
    /// Always `POST`.
    pub async_amd_status_callback_method: &'static str,
    /// Seconds of ringing.
    pub timeout: u32,
    /// Hard cap on the call, seconds.
    pub time_limit: u32,
}

/// What Telnyx answered to a dial.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dialled {
    /// The call id, when the answer had one.
    pub call_sid: Option<String>,
}

#[derive(Deserialize, Default)]
struct Answer {
    #[serde(default)]
    call_sid: Option<String>,
    #[serde(default)]
    data: Option<Box<Answer>>,
}

/// Why a dial (or an update of a live call) failed, by what to do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DialError {
    /// 404 / 10005: the account or application id does not name a resource.
    #[error(
        "10005 resource not found at {endpoint}: set TELNYX_ACCOUNT_SID to the organization_id from GET /v2/whoami (and TELNYX_TEXML_APP_ID to the TeXML application id), or set TELNYX_CALLS_ENDPOINT=app to use the app-scoped /texml/calls/{{application_id}} endpoint ({detail})"
    )]
    NotFound {
        /// The path that answered 404.
        endpoint: String,
        /// Telnyx's words.
        detail: String,
    },
    /// 429 / 90103 (dials per second) / 10011 (API rate): wait, then dial the same call.
    #[error("429 rate limited by Telnyx (code {code}; retry in {retry_after:?})")]
    RateLimited {
        /// Telnyx's code.
        code: String,
        /// From `Retry-After` or `x-ratelimit-reset`, when given.
        retry_after: Option<Duration>,
    },
    /// No connection, or 503: Telnyx did not take the call; dialling again cannot double it.
    #[error("transient: {0}")]
    Transient(String),
    /// The request may have reached Telnyx but the answer was lost: never dialled again.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// Any other refusal (401, 403, 422, ...): retrying will not help.
    #[error("refused ({status} {code}): {detail}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Telnyx error code, or empty.
        code: String,
        /// Title and detail from Telnyx.
        detail: String,
    },
}

/// How to reach the TeXML Calls API.
#[derive(Debug, Clone)]
pub struct CallsConfig {
    /// `TELNYX_API_BASE`.
    pub base: String,
    /// `TELNYX_API_KEY`.
    pub key: Secret,
    /// `TELNYX_TEXML_APP_ID`.
    pub app_id: String,
    /// `TELNYX_ACCOUNT_SID` (needed by the accounts endpoint and to redirect live calls).
    pub account_sid: Option<String>,
    /// `TELNYX_CALLS_ENDPOINT`.
    pub endpoint: Endpoint,
}

/// A live-call update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Fetch new TeXML from this URL (the voicemail document).
    Redirect(String),
    /// End the call.
    Hangup,
}

/// The TeXML Calls client; cheap to clone.
#[derive(Debug, Clone)]
pub struct TexmlCalls {
    http: reqwest::Client,
    config: CallsConfig,
}

impl TexmlCalls {
    /// A client for `config`; the accounts endpoint needs `account_sid`.
    pub fn new(config: CallsConfig, timeout: Duration) -> Result<Self, String> {
        if config.endpoint == Endpoint::Accounts && config.account_sid.is_none() {
            return Err("TELNYX_ACCOUNT_SID is not set; set it to the organization_id from GET /v2/whoami, or TELNYX_CALLS_ENDPOINT=app".into());
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .timeout(timeout)
            .user_agent(concat!("slotline/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { http, config })
    }

    /// The endpoint in use.
    pub fn endpoint(&self) -> Endpoint {
        self.config.endpoint
    }

    /// The path (below the base) a dial is posted to.
    pub fn dial_path(&self) -> String {
        match (&self.config.endpoint, &self.config.account_sid) {
            (Endpoint::Accounts, Some(sid)) => format!("/texml/Accounts/{sid}/Calls"),
            _ => format!("/texml/calls/{}", self.config.app_id),
        }
    }

    /// A dial request's `ApplicationSid`, as the endpoint wants it.
    pub fn application_sid(&self) -> Option<String> {
        (self.config.endpoint == Endpoint::Accounts).then(|| self.config.app_id.clone())
    }

    /// Places one call.
    pub async fn dial(&self, req: &DialRequest) -> Result<Dialled, DialError> {
        let path = self.dial_path();
        let url = format!("{}{path}", self.config.base.trim_end_matches('/'));
        let sent = self
            .http
            .post(&url)
            .bearer_auth(self.config.key.expose())
            .header(reqwest::header::ACCEPT, "application/json")
            .json(req)
            .send()
            .await;
        let (status, body) = read(sent, &path).await?;
        let answer: Answer = serde_json::from_slice(&body).unwrap_or_default();
        let call_sid = answer
            .call_sid
            .or_else(|| answer.data.and_then(|d| d.call_sid))
            .filter(|s| !s.is_empty());
        tracing::debug!(%status, has_call_sid = call_sid.is_some(), "Telnyx took the reminder call");
        Ok(Dialled { call_sid })
    }

    /// Redirects or ends a live call (form-encoded, as the spec has it).
    pub async fn update(&self, call_sid: &str, update: &Update) -> Result<(), DialError> {
        let Some(account) = &self.config.account_sid else {
            return Err(DialError::Refused {
                status: 0,
                code: String::new(),
                detail: "TELNYX_ACCOUNT_SID is not set, so a live call cannot be redirected; set it to the organization_id from GET /v2/whoami".into(),
            });
        };
        let path = format!("/texml/Accounts/{account}/Calls/{call_sid}");
        let form = match update {
            Update::Redirect(url) => vec![("Url", url.as_str()), ("Method", "POST")],
            Update::Hangup => vec![("Status", "completed")],
        };
        let body = serde_urlencoded::to_string(&form).map_err(|e| DialError::Refused {
            status: 0,
            code: String::new(),
            detail: e.to_string(),
        })?;
        let sent = self
            .http
            .post(format!("{}{path}", self.config.base.trim_end_matches('/')))
            .bearer_auth(self.config.key.expose())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await;
        read(sent, &path).await.map(|_| ())
    }
}

/// The status and body of a successful answer, or the error it means.
async fn read(
    sent: Result<reqwest::Response, reqwest::Error>,
    path: &str,
) -> Result<(u16, Vec<u8>), DialError> {
    let resp = sent.map_err(|e| {
        if e.is_connect() {
            DialError::Transient(format!("cannot connect to the TeXML Calls API: {e}"))
        } else {
            DialError::Unknown(format!("the TeXML Calls API did not answer: {e}"))
        }
    })?;
    let status = resp.status().as_u16();
    let retry_after = ["retry-after", "x-ratelimit-reset"].iter().find_map(|h| {
        resp.headers()
            .get(*h)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(600.0)))
    });
    let body = resp.bytes().await;
    if (200..300).contains(&status) {
        return Ok((status, body.map(|b| b.to_vec()).unwrap_or_default()));
    }
    let (code, detail) = first_error(&body.map(|b| b.to_vec()).unwrap_or_default());
    Err(classify(status, code, detail, retry_after, path))
}

/// Maps an HTTP status and Telnyx error code onto what to do.
fn classify(
    status: u16,
    code: String,
    detail: String,
    retry_after: Option<Duration>,
    path: &str,
) -> DialError {
    match (status, code.as_str()) {
        (429, _) | (_, "90103" | "10011") => DialError::RateLimited { code, retry_after },
        (404, _) | (_, "10005") => DialError::NotFound {
            endpoint: path.to_string(),
            detail,
        },
        (503, _) => DialError::Transient(format!("HTTP 503 {code} {detail}")),
        (500..=599, _) => DialError::Unknown(format!(
            "HTTP {status} {code} {detail} (Telnyx may have placed the call)"
        )),
        _ => DialError::Refused {
            status,
            code,
            detail,
        },
    }
}

/// The business name as a `CallerId`: letters, digits, spaces and `-_~!.+` only, ≤128.
pub fn caller_id(name: &str) -> Option<String> {
    let cleaned: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || " -_~!.+".contains(*c))
        .take(128)
        .collect();
    let cleaned = cleaned.trim().to_string();
    (!cleaned.is_empty()).then_some(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telnyx_answers_map_to_what_the_dialer_does() {
        let c = |s, code: &str| classify(s, code.into(), "d".into(), None, "/texml/x");
        assert!(matches!(c(429, "90103"), DialError::RateLimited { .. }));
        assert!(matches!(c(400, "90103"), DialError::RateLimited { .. }));
        assert!(matches!(c(404, "10005"), DialError::NotFound { .. }));
        assert!(matches!(c(503, ""), DialError::Transient(_)));
        assert!(matches!(c(502, ""), DialError::Unknown(_)));
        assert!(matches!(
            c(422, "10004"),
            DialError::Refused { status: 422, .. }
        ));
    }

    #[test]
    fn the_10005_message_names_both_fixes() {
        let e = classify(
            404,
            "10005".into(),
            "Resource not found".into(),
            None,
            "/texml/Accounts/a/Calls",
        )
        .to_string();
        assert!(
            e.contains("TELNYX_ACCOUNT_SID") && e.contains("whoami"),
            "{e}"
        );
        assert!(e.contains("TELNYX_CALLS_ENDPOINT=app"), "{e}");
    }

    #[test]
    fn the_caller_id_keeps_only_what_telnyx_allows() {
        assert_eq!(
            caller_id("Bella's Salon & Spa").as_deref(),
            Some("Bellas Salon  Spa")
        );
        assert_eq!(caller_id("Café"), Some("Caf".into()));
        assert_eq!(caller_id("&&&"), None);
    }
}
