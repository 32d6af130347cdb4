//! `MessagingClient`: the one typed client for the Telnyx Messaging API
//! (`POST {TELNYX_API_BASE}/messages`, PROTOCOL.md §6). It owns the timeouts and the
//! mapping of Telnyx's error envelope onto [`SendError`], which says what to do: retry
//! (Telnyx provably did not take the text), hold (it may have: the outcome is unknown),
//! pause (the account is refused), or give up. It never retries by itself: the outbox
//! worker decides.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Secret;

/// The body of `POST /messages` (SPEC `CreateMessageRequest`; only the fields we use).
#[derive(Debug, Clone, Serialize)]
pub struct SendRequest {
    /// Sender: the tenant's number.
    pub from: String,
    /// Recipient, E.164.
    pub to: String,
    /// The text.
    pub text: String,
    /// Messaging profile, when one is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messaging_profile_id: Option<String>,
    /// Where Telnyx posts this message's delivery status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Always `SMS`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// What Telnyx answered to a send (the part of `OutboundMessagePayload` we keep).
#[derive(Debug, Clone, Deserialize)]
pub struct SentMessage {
    /// Telnyx message id; delivery webhooks name it.
    pub id: String,
    /// Segments billed.
    #[serde(default)]
    pub parts: Option<u32>,
    /// `GSM-7` or `UCS-2`.
    #[serde(default)]
    pub encoding: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    data: SentMessage,
}

#[derive(Deserialize, Default)]
struct ErrorEnvelope {
    #[serde(default)]
    errors: Vec<ApiError>,
}

#[derive(Deserialize, Default)]
struct ApiError {
    #[serde(default)]
    code: serde_json::Value,
    #[serde(default)]
    title: String,
    #[serde(default)]
    detail: String,
}

/// Why a send failed, by what to do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// 40300: the recipient texted STOP; nothing more may be sent to them on this profile.
    #[error("40300 recipient opted out (texted STOP): {0}")]
    OptedOut(String),
    /// 40305: the `from` number is not on the messaging profile (fix the tenant's
    /// `sms_from` or `messaging_profile_id`).
    #[error("40305 invalid sender; check the tenant's sms_from and messaging_profile_id: {0}")]
    BadSender(String),
    /// 40310: the recipient is not a valid number.
    #[error("40310 invalid recipient number: {0}")]
    BadRecipient(String),
    /// 429 / 10011: too many requests; retry after `reset` when Telnyx said.
    #[error("429 rate limited by Telnyx (retry in {reset:?})")]
    RateLimited {
        /// From `x-ratelimit-reset` (seconds).
        reset: Option<Duration>,
    },
    /// 5xx, or no connection could be made: Telnyx answered with an error or never got
    /// the request, so sending again cannot duplicate the text.
    #[error("transient: {0}")]
    Transient(String),
    /// The request may have reached Telnyx, but its answer was lost (a timeout or reset
    /// after the request was written, a 2xx whose body could not be read): the text may
    /// have been sent, so it must not be sent again blindly.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// A refusal of the account or profile, not of this text (401, 403, 408, 40318 queue
    /// full, 40333 spend limit): sending pauses until a probe is accepted.
    #[error("account refused ({status}{code}): {detail}")]
    Account {
        /// HTTP status.
        status: u16,
        /// Telnyx error code with a leading space, or empty.
        code: String,
        /// Title and detail from Telnyx.
        detail: String,
        /// True when only this messaging profile is refused (40333), not the whole key.
        profile_only: bool,
    },
    /// Any other refusal (other 4xx codes): retrying will not help.
    #[error("refused ({status}{code}): {detail}")]
    Permanent {
        /// HTTP status.
        status: u16,
        /// Telnyx error code with a leading space, or empty.
        code: String,
        /// Title and detail from Telnyx.
        detail: String,
    },
}

impl SendError {
    /// True when sending the same text again may succeed and cannot duplicate it.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SendError::RateLimited { .. } | SendError::Transient(_)
        )
    }
}

/// Timeouts for the Messaging API.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP (and TLS) connect.
    pub connect: Duration,
    /// The whole request, answer included.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            total: Duration::from_secs(15),
        }
    }
}

/// A client for `POST /messages`; cheap to clone.
#[derive(Clone, Debug)]
pub struct MessagingClient {
    http: reqwest::Client,
    url: String,
    key: Secret,
}

impl MessagingClient {
    /// A client for `{base}/messages` authenticating with `key`.
    pub fn new(base: &str, key: Secret, timeouts: Timeouts) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.total)
            .user_agent(concat!("slotline/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            url: format!("{}/messages", base.trim_end_matches('/')),
            key,
        })
    }

    /// Sends one text.
    pub async fn send(&self, req: &SendRequest) -> Result<SentMessage, SendError> {
        let resp = self
            .http
            .post(&self.url)
            .bearer_auth(self.key.expose())
            .header(reqwest::header::ACCEPT, "application/json")
            .json(req)
            .send()
            .await
            .map_err(|e| lost(&e))?;
        let status = resp.status();
        let reset = resp
            .headers()
            .get("x-ratelimit-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            // A broken header must not stall a sender for days (or overflow an Instant).
            .map(|s| Duration::from_secs_f64(s.min(MAX_RESET_SECONDS)));
        let body = resp.bytes().await;
        if status.is_success() {
            // Telnyx took the text; only its id may be missing.
            let body = body.map_err(|e| {
                SendError::Unknown(format!(
                    "Telnyx answered {status} but the answer could not be read ({})",
                    describe(&e)
                ))
            })?;
            return serde_json::from_slice::<Envelope>(&body)
                .map(|e| e.data)
                .map_err(|e| {
                    SendError::Unknown(format!(
                        "Telnyx answered {status} with an unreadable body ({e})"
                    ))
                });
        }
        // An error status was answered: whatever the body, the text was not taken.
        let (code, detail) = first_error(&body.unwrap_or_default());
        Err(classify(status.as_u16(), &code, detail, reset))
    }
}

/// The first error of a Telnyx error envelope (`{"errors":[{code,title,detail}]}`): its
/// code (empty when none) and "title: detail". Every Telnyx API answers errors this way.
pub(crate) fn first_error(body: &[u8]) -> (String, String) {
    let first = serde_json::from_slice::<ErrorEnvelope>(body)
        .unwrap_or_default()
        .errors
        .into_iter()
        .next()
        .unwrap_or_default();
    let code = match &first.code {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let detail = [first.title.as_str(), first.detail.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(": ");
    (code, detail)
}

/// The longest `x-ratelimit-reset` honoured (one hour).
const MAX_RESET_SECONDS: f64 = 3600.0;

/// A request that got no answer: provably not sent when no connection was made, else of
/// unknown outcome (reqwest cannot tell whether the request bytes were written).
fn lost(e: &reqwest::Error) -> SendError {
    if e.is_connect() {
        SendError::Transient(describe(e))
    } else {
        SendError::Unknown(describe(e))
    }
}

/// Maps an HTTP status and Telnyx error code onto what to do.
fn classify(status: u16, code: &str, detail: String, reset: Option<Duration>) -> SendError {
    match (status, code) {
        (_, "40300") => SendError::OptedOut(detail),
        (_, "40305") => SendError::BadSender(detail),
        (_, "40310") => SendError::BadRecipient(detail),
        (429, _) | (_, "10011") => SendError::RateLimited { reset },
        // 503 says "not now": nothing was taken. Any other 5xx (500 "unexpected error", a
        // gateway's 502 or 504) may come after Telnyx took the text, so it is not resent
        // blindly: it is held until a delivery webhook tells.
        (503, _) => SendError::Transient(format!("HTTP {status} {code} {detail}")),
        (500..=599, _) => SendError::Unknown(format!(
            "HTTP {status}{} {detail} (Telnyx may have taken the text)",
            spaced(code)
        )),
        (401 | 403 | 408, _) | (_, "40318" | "40333") => SendError::Account {
            status,
            code: spaced(code),
            detail,
            profile_only: code == "40333",
        },
        _ => SendError::Permanent {
            status,
            code: spaced(code),
            detail,
        },
    }
}

fn spaced(code: &str) -> String {
    if code.is_empty() {
        String::new()
    } else {
        format!(" {code}")
    }
}

/// A reqwest error in one line, saying whether it was a timeout or a refused connection.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out waiting for the Messaging API".into()
    } else if e.is_connect() {
        format!("cannot connect to the Messaging API: {e}")
    } else {
        format!("request failed: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telnyx_codes_map_to_what_to_do() {
        let c = |s, code: &str| classify(s, code, String::new(), None);
        assert!(matches!(c(400, "40300"), SendError::OptedOut(_)));
        assert!(matches!(c(400, "40305"), SendError::BadSender(_)));
        assert!(matches!(c(400, "40310"), SendError::BadRecipient(_)));
        assert!(matches!(c(429, "10011"), SendError::RateLimited { .. }));
        assert!(matches!(c(429, ""), SendError::RateLimited { .. }));
        assert!(c(503, "").is_retryable());
        for status in [500, 502, 504] {
            assert!(
                matches!(c(status, "10007"), SendError::Unknown(_)),
                "{status}"
            );
        }
        assert!(!c(422, "10004").is_retryable());
        assert!(matches!(c(422, "10004"), SendError::Permanent { .. }));
    }

    #[test]
    fn account_level_refusals_pause_instead_of_failing_the_text() {
        let c = |s, code: &str| classify(s, code, String::new(), None);
        for (status, code) in [(401, "10009"), (403, ""), (408, ""), (400, "40318")] {
            assert!(
                matches!(
                    c(status, code),
                    SendError::Account {
                        profile_only: false,
                        ..
                    }
                ),
                "{status} {code}"
            );
        }
        assert!(matches!(
            c(403, "40333"),
            SendError::Account {
                profile_only: true,
                ..
            }
        ));
        assert!(!c(401, "10009").is_retryable());
    }

    #[test]
    fn the_request_serialises_as_telnyx_expects() {
        let req = SendRequest {
            from: "+13125550100".into(),
            to: "+13125550199".into(),
            text: "hi".into(),
            messaging_profile_id: None,
            webhook_url: None,
            kind: "SMS",
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            serde_json::json!({"from": "+13125550100", "to": "+13125550199", "text": "hi", "type": "SMS"})
        );
    }
}
