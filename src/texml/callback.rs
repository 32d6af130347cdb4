//! Parsing the `<AIGather>` action callback, tolerantly: Telnyx documents more than one
//! shape (PROTOCOL.md §2.3) — `Base64Result` with or without the `{status, result}`
//! envelope, the legacy `Result` JSON, and the Call-Control `call.ai_gather.ended` JSON
//! event. All of them become one [`GatherCallback`].

use std::collections::HashMap;

use base64::{
    Engine, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use serde_json::{Map, Value};

use super::templates::HistoryMessage;

/// Most turns kept in `<MessageHistory>`; older ones are dropped.
pub const MAX_HISTORY: usize = 24;
/// Longest single turn kept, in characters.
pub const MAX_TURN_CHARS: usize = 2000;

/// What a gather callback says, whatever shape it arrived in.
#[derive(Clone, Default, PartialEq)]
pub struct GatherCallback {
    /// The call (for an event: `call_control_id`, which is the same id).
    pub call_sid: String,
    /// The caller's number as Telnyx sent it (not yet validated).
    pub from: Option<String>,
    /// The dialled number as Telnyx sent it.
    pub to: Option<String>,
    /// `valid` when the AI gathered everything required.
    pub status: Option<String>,
    /// The gathered fields, if any arrived.
    pub result: Option<Map<String, Value>>,
    /// The conversation so far.
    pub history: Vec<HistoryMessage>,
}

/// Redacted: numbers masked; of the gathered fields only their names, of the history only
/// its length (both hold what the caller said).
impl std::fmt::Debug for GatherCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::domain::redact::Masked;
        f.debug_struct("GatherCallback")
            .field("call_sid", &self.call_sid)
            .field("from", &Masked(self.from.as_deref()))
            .field("to", &Masked(self.to.as_deref()))
            .field("status", &self.status)
            .field(
                "result",
                &self.result.as_ref().map(|m| m.keys().collect::<Vec<_>>()),
            )
            .field("history", &self.history.len())
            .finish()
    }
}

impl GatherCallback {
    /// True when Telnyx reported the gather as complete.
    pub fn is_valid(&self) -> bool {
        self.status
            .as_deref()
            .is_none_or(|s| s.eq_ignore_ascii_case("valid"))
    }
}

/// The body is neither a usable form nor a known JSON shape.
#[derive(Debug, thiserror::Error)]
#[error("unreadable gather callback: {0}")]
pub struct CallbackError(String);

/// Parses a verified callback body.
pub fn parse(body: &[u8], is_json: bool) -> Result<GatherCallback, CallbackError> {
    let looks_json = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if is_json || looks_json {
        let v: Value = serde_json::from_slice(body).map_err(|e| CallbackError(e.to_string()))?;
        return from_json(&v);
    }
    let form: HashMap<String, String> =
        serde_urlencoded::from_bytes(body).map_err(|e| CallbackError(e.to_string()))?;
    let get = |k: &str| {
        form.get(k)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let call_sid = get("CallSid").ok_or_else(|| CallbackError("no CallSid".into()))?;
    let mut status = get("Status");
    let result = if let Some(b64) = get("Base64Result") {
        let decoded = decode_b64_json(&b64)?;
        let (s, r) = unwrap_envelope(decoded);
        status = status.or(s);
        r
    } else if let Some(raw) = get("Result") {
        let v: Value =
            serde_json::from_str(&raw).map_err(|e| CallbackError(format!("Result: {e}")))?;
        unwrap_envelope(v).1
    } else {
        None
    };
    let history = if let Some(b64) = get("Base64MessageHistory") {
        history_from(&decode_b64_json(&b64)?)
    } else if let Some(raw) = get("MessageHistory") {
        serde_json::from_str::<Value>(&raw)
            .map(|v| history_from(&v))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    Ok(GatherCallback {
        call_sid,
        from: get("From"),
        to: get("To"),
        status,
        result,
        history,
    })
}

fn from_json(v: &Value) -> Result<GatherCallback, CallbackError> {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    if let Some(payload) = v.get("data").and_then(|d| d.get("payload")) {
        // Call-Control event `call.ai_gather.ended`.
        let call_sid = text(payload, "call_control_id")
            .ok_or_else(|| CallbackError("event without call_control_id".into()))?;
        return Ok(GatherCallback {
            call_sid,
            from: text(payload, "from"),
            to: text(payload, "to"),
            status: text(payload, "status"),
            result: payload.get("result").and_then(Value::as_object).cloned(),
            history: payload
                .get("message_history")
                .map(history_from)
                .unwrap_or_default(),
        });
    }
    // The legacy documented shape, posted as JSON.
    let call_sid = text(v, "CallSid").ok_or_else(|| CallbackError("no CallSid".into()))?;
    let result = v.get("Result").cloned().and_then(|r| unwrap_envelope(r).1);
    Ok(GatherCallback {
        call_sid,
        from: text(v, "From"),
        to: text(v, "To"),
        status: text(v, "Status"),
        result,
        history: v
            .get("MessageHistory")
            .map(history_from)
            .unwrap_or_default(),
    })
}

/// `{status, result}` → (status, result); a bare object is the result itself.
fn unwrap_envelope(v: Value) -> (Option<String>, Option<Map<String, Value>>) {
    match v {
        Value::Object(mut obj) => match obj.get("result") {
            Some(Value::Object(_)) => {
                let status = obj
                    .get("status")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let result = obj.remove("result").and_then(|r| match r {
                    Value::Object(m) => Some(m),
                    _ => None,
                });
                (status, result)
            }
            _ => (None, Some(obj)),
        },
        _ => (None, None),
    }
}

/// Base64 as Telnyx may send it: standard or URL-safe alphabet, padded or not, and with
/// `+` turned into a space by a form decoder along the way.
fn decode_b64_json(raw: &str) -> Result<Value, CallbackError> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let normalised: String = raw
        .chars()
        .filter(|c| !matches!(c, '\n' | '\r' | '\t'))
        .map(|c| match c {
            ' ' => '+',
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let bytes = LENIENT
        .decode(normalised.trim_end_matches('='))
        .map_err(|e| CallbackError(format!("base64: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| CallbackError(format!("JSON in base64: {e}")))
}

/// `[{role, content|text}]` → history, keeping user and assistant turns only.
fn history_from(v: &Value) -> Vec<HistoryMessage> {
    let Some(list) = v.as_array() else {
        return Vec::new();
    };
    let mut out: Vec<HistoryMessage> = list
        .iter()
        .filter_map(|m| {
            let role = match m.get("role").and_then(Value::as_str)? {
                "user" => "user",
                "assistant" => "assistant",
                _ => return None,
            };
            let content = m
                .get("content")
                .or_else(|| m.get("text"))
                .and_then(Value::as_str)?;
            let content: String = content.chars().take(MAX_TURN_CHARS).collect();
            (!content.trim().is_empty()).then_some(HistoryMessage { role, content })
        })
        .collect();
    if out.len() > MAX_HISTORY {
        out.drain(..out.len() - MAX_HISTORY);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &[u8] = include_bytes!("../../tests/fixtures/telnyx/aigather-action-request.form");
    const EVENT: &str =
        include_str!("../../tests/fixtures/telnyx/call-ai-gather-ended.webhook.json");
    const LEGACY: &str =
        include_str!("../../tests/fixtures/telnyx/aigather-action-request.legacy-doc-example.json");

    #[test]
    fn debug_output_of_a_callback_shows_no_number_and_nothing_the_caller_said() {
        let cb = parse(FORM, false).unwrap();
        let shown = format!("{cb:?}");
        for secret in cb.from.iter().chain(cb.to.iter()) {
            assert!(!shown.contains(&secret[2..]), "{shown}");
        }
        for value in cb.result.iter().flat_map(|m| m.values()) {
            if let Some(v) = value.as_str().filter(|v| v.len() > 3) {
                assert!(!shown.contains(v), "{v} in {shown}");
            }
        }
        for turn in &cb.history {
            assert!(!shown.contains(&turn.content), "{shown}");
        }
    }

    #[test]
    fn the_documented_form_with_an_envelope_parses() {
        let cb = parse(FORM, false).unwrap();
        assert_eq!(
            cb.call_sid,
            "v3:9X2vxPDFY2RHSJ1EdMS0RHRksMTg7ldNxdjWbVr9zBjbGjGsSe-aiQ"
        );
        assert!(cb.is_valid());
        let r = cb.result.unwrap();
        assert_eq!(r["customer_name"], "Maria Lopez");
        assert_eq!(r["preferred_time"], "15:00");
        assert_eq!(cb.history.len(), 4);
        assert_eq!(cb.history[1].role, "user");
    }

    #[test]
    fn a_bare_base64_result_without_envelope_parses() {
        let b64 = base64::engine::general_purpose::STANDARD
            .encode(r#"{"customer_name":"Ann","service":"Haircut"}"#);
        let body = serde_urlencoded::to_string([
            ("CallSid", "v3:x"),
            ("Status", "valid"),
            ("Base64Result", b64.as_str()),
        ])
        .unwrap();
        let cb = parse(body.as_bytes(), false).unwrap();
        assert_eq!(cb.result.unwrap()["customer_name"], "Ann");
    }

    #[test]
    fn unpadded_url_safe_and_space_mangled_base64_all_decode() {
        let json = r#"{"status":"valid","result":{"q":"??>>~~"}}"#;
        let std = base64::engine::general_purpose::STANDARD.encode(json);
        assert!(
            std.contains('+') || std.contains('/'),
            "the sample must exercise the alphabet"
        );
        for variant in [
            std.clone(),
            std.trim_end_matches('=').to_string(),
            std.replace('+', "-").replace('/', "_"),
            std.replace('+', " "),
        ] {
            assert_eq!(
                decode_b64_json(&variant).unwrap()["result"]["q"],
                "??>>~~",
                "{variant}"
            );
        }
    }

    #[test]
    fn the_legacy_result_field_parses() {
        let body = serde_urlencoded::to_string([
            ("CallSid", "v3:x"),
            ("Result", r#"{"age":29}"#),
            ("MessageHistory", r#"[{"role":"user","text":"Hi"}]"#),
        ])
        .unwrap();
        let cb = parse(body.as_bytes(), false).unwrap();
        assert_eq!(cb.result.unwrap()["age"], 29);
        assert_eq!(cb.history[0].content, "Hi");
        let cb = parse(LEGACY.as_bytes(), true).unwrap();
        assert_eq!(cb.result.unwrap()["location"], "Paris");
        assert_eq!(cb.history.len(), 2);
    }

    #[test]
    fn the_call_control_event_parses() {
        let cb = parse(EVENT.as_bytes(), true).unwrap();
        assert_eq!(
            cb.call_sid,
            "v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ"
        );
        assert_eq!(cb.result.unwrap()["city"], "Paris");
        assert_eq!(cb.history.len(), 2);
    }

    #[test]
    fn an_invalid_status_is_reported() {
        let body =
            serde_urlencoded::to_string([("CallSid", "v3:x"), ("Status", "invalid")]).unwrap();
        let cb = parse(body.as_bytes(), false).unwrap();
        assert!(!cb.is_valid());
        assert!(cb.result.is_none());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse(b"CallSid=x&Base64Result=%%%%", false).is_err());
        assert!(parse(b"{not json", true).is_err());
        assert!(parse(b"From=%2B1", false).is_err());
    }
}
