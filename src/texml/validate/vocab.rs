//! The TeXML vocabulary table (PROTOCOL.md §2–3): which elements may appear
//! where, which attributes each one takes, and the value rules for both.
//!
//! Kept apart from the parser so the table can grow without touching the
//! well-formedness logic. Elements whose attributes Telnyx does not document
//! (`Sip`, `Queue`, `Conference`, and the example-only AIGather children) use
//! `attrs: None`, meaning "any attribute", so a valid document is never
//! rejected for lack of documentation.

/// How an attribute value (or an element's text) must look.
pub(super) enum Rule {
    Any,
    NonEmpty,
    /// Absolute http(s) URL with a host and no whitespace.
    Url,
    /// `GET` or `POST`.
    Method,
    /// `true` or `false`.
    Bool,
    /// Whole number in an inclusive range.
    Int(u64, u64),
    /// Decimal number (no sign, no exponent) in an inclusive range.
    Dec(f64, f64),
    OneOf(&'static [&'static str]),
    /// Like `OneOf` but ignoring ASCII case (Telnyx documents both spellings).
    OneOfCi(&'static [&'static str]),
    /// Non-empty, only these characters.
    Chars(&'static str),
    /// Non-empty space-separated list of these words.
    Words(&'static [&'static str]),
    MaxChars(usize),
    /// Empty, or a single key of 0-9 * #.
    Key,
    /// `auto` or a whole number of seconds.
    Timeout,
    /// E.164 number.
    E164,
    /// `sip:` / `sips:` URI.
    Sip,
    /// E.164 number or SIP URI.
    E164OrSip,
}

/// One known attribute.
pub(super) struct Attr {
    pub name: &'static str,
    pub rule: Rule,
    pub required: bool,
}

/// What may appear as an element's text content.
pub(super) enum Text {
    /// Whitespace only (empty elements and pure containers).
    None,
    /// Trimmed text checked with a value rule; `NonEmpty`/`E164`/... also
    /// reject empty text, `Any` accepts it.
    Value(Rule),
    /// `<Play>`: a URL, or a media name when `mediaStorage="true"`, or
    /// nothing when `digits` is set.
    Play,
    /// `<Parameters>`: a JSON Schema object.
    JsonSchema,
    /// `<Tool>`: any JSON object.
    JsonObject,
}

/// One element of the vocabulary.
pub(super) struct Element {
    pub name: &'static str,
    /// `None`: attributes undocumented, accept any.
    pub attrs: Option<&'static [Attr]>,
    pub children: &'static [&'static str],
    /// Children that may appear at most once.
    pub once: &'static [&'static str],
    pub text: Text,
}

const fn a(name: &'static str, rule: Rule) -> Attr {
    Attr {
        name,
        rule,
        required: false,
    }
}

const fn req(name: &'static str, rule: Rule) -> Attr {
    Attr {
        name,
        rule,
        required: true,
    }
}

const fn el(
    name: &'static str,
    attrs: Option<&'static [Attr]>,
    children: &'static [&'static str],
    text: Text,
) -> Element {
    Element {
        name,
        attrs,
        children,
        once: &[],
        text,
    }
}

use Rule::*;

const VERBS: &[&str] = &[
    "Say", "Play", "Pause", "Gather", "AIGather", "Dial", "Redirect", "Hangup", "Reject", "Record",
];
const AI_CHILDREN: &[&str] = &[
    "Greeting",
    "Voice",
    "Parameters",
    "MessageHistory",
    "Tools",
    "InterruptionSettings",
    "Transcription",
    "Assistant",
];

/// The root element.
pub(super) const RESPONSE: Element = el("Response", Some(&[]), VERBS, Text::None);

/// Every element below the root; names are unique, so lookup is by name.
pub(super) const ELEMENTS: &[Element] = &[
    el(
        "Say",
        Some(&[
            a("voice", NonEmpty),
            a("language", NonEmpty),
            a("loop", Int(0, 10)),
            a("voiceSpeed", Dec(0.1, 2.0)),
            a("api_key_ref", Any),
            a("gender", OneOf(&["Male", "Female"])),
            a("effect", OneOf(&["eq_telecomhp8k", "eq_car"])),
        ]),
        &[],
        Text::Value(NonEmpty),
    ),
    el(
        "Play",
        Some(&[
            a("loop", Int(0, u32::MAX as u64)),
            a("digits", Chars("0123456789*#w")),
            a("mediaStorage", Bool),
        ]),
        &[],
        Text::Play,
    ),
    el("Pause", Some(&[a("length", Int(1, 180))]), &[], Text::None),
    el(
        "Gather",
        Some(&[
            a("action", Url),
            a("method", Method),
            a(
                "input",
                OneOf(&["dtmf", "speech", "dtmf speech", "speech dtmf"]),
            ),
            a("timeout", Int(1, 120)),
            a("speechTimeout", Timeout),
            a("finishOnKey", Key),
            a("numDigits", Int(1, 128)),
            a("minDigits", Int(1, 128)),
            a("maxDigits", Int(1, 128)),
            a("validDigits", Chars("0123456789*#")),
            a("invalidDigitsAction", Any),
            a("language", NonEmpty),
            a("hints", Any),
            a("profanityFilter", Bool),
            a("useEnhanced", Bool),
            a(
                "transcriptionEngine",
                OneOfCi(&["Google", "Telnyx", "Azure", "Deepgram"]),
            ),
            a("apiKeyRef", Any),
            a("region", Any),
            a("partialResultCallback", Url),
            a("partialResultCallbackMethod", Method),
        ]),
        &["Say", "Play", "Pause"],
        Text::None,
    ),
    Element {
        once: &["Greeting", "Voice", "Parameters", "MessageHistory"],
        // PROTOCOL §2.4: behaviour without action is undocumented, so require it.
        ..el(
            "AIGather",
            Some(&[req("action", Url), a("method", Method)]),
            AI_CHILDREN,
            Text::None,
        )
    },
    el("Greeting", Some(&[]), &[], Text::Value(Any)),
    el(
        "Voice",
        Some(&[
            req("name", NonEmpty),
            a("api_key_ref", Any),
            a("voice_speed", Dec(0.1, 2.0)),
        ]),
        &[],
        Text::None,
    ),
    el("Parameters", Some(&[]), &[], Text::JsonSchema),
    el("MessageHistory", Some(&[]), &["Message"], Text::None),
    el(
        "Message",
        Some(&[req("role", OneOf(&["user", "assistant", "system"]))]),
        &[],
        Text::Value(Any),
    ),
    el("Tools", Some(&[]), &["Tool"], Text::None),
    el("Tool", Some(&[]), &[], Text::JsonObject),
    el("InterruptionSettings", None, &[], Text::None),
    el("Transcription", None, &[], Text::None),
    // Emitted for tenants with a persona, instructions or a model (domain::line); its
    // semantics are only shown by example in Telnyx's docs (PROTOCOL.md §2.2).
    el(
        "Assistant",
        Some(&[
            a("model", NonEmpty),
            a("instructions", NonEmpty),
            a("api_key_ref", Any),
        ]),
        &["Tools"],
        Text::None,
    ),
    el(
        "Dial",
        Some(&[
            a("action", Url),
            a("method", Method),
            a("callerId", E164OrSip),
            a("fromDisplayName", MaxChars(128)),
            a("hangupOnStar", Bool),
            a("timeout", Int(5, 120)),
            a("timeLimit", Int(60, 14400)),
            a(
                "record",
                OneOf(&[
                    "do-not-record",
                    "record-from-answer",
                    "record-from-answer-dual",
                    "record-from-ringing",
                    "record-from-ringing-dual",
                ]),
            ),
            a("recordingChannels", Any),
            a("recordMaxLength", Any),
            a("recordingStatusCallback", Url),
            a("recordingStatusCallbackMethod", Method),
            a("recordingStatusCallbackEvent", Any),
            a("sendRecordingUrl", Any),
            a("ringTone", Any),
            a("audioUrl", Url),
            a("answerOnBridge", Bool),
            a("sequential", Bool),
            a("passDiversionHeader", Any),
        ]),
        &["Number", "Sip", "Queue", "Conference"],
        // Plain text is a number to dial; mixing with nouns is caught by the driver.
        Text::Value(E164OrSip),
    ),
    el(
        "Number",
        Some(&[
            a("statusCallback", Url),
            a(
                "statusCallbackEvent",
                Words(&[
                    "initiated",
                    "ringing",
                    "answered",
                    "amd",
                    "dtmf",
                    "completed",
                ]),
            ),
            a("statusCallbackMethod", Method),
            a("url", Url),
            a("method", Method),
            a("sendDigits", Any),
            a("machineDetection", Any),
            a("detectionMode", Any),
            a("machineDetectionTimeout", Any),
            a("sipRegion", Any),
        ]),
        &[],
        Text::Value(E164),
    ),
    el("Sip", None, &[], Text::Value(Sip)),
    el("Queue", None, &[], Text::Value(NonEmpty)),
    el("Conference", None, &[], Text::Value(NonEmpty)),
    el(
        "Redirect",
        Some(&[a("method", Method)]),
        &[],
        Text::Value(Url),
    ),
    el("Hangup", Some(&[]), &[], Text::None),
    el(
        "Reject",
        Some(&[a("reason", OneOf(&["rejected", "busy"]))]),
        &[],
        Text::None,
    ),
    el(
        "Record",
        Some(&[
            a("action", Url),
            a("method", Method),
            a("timeout", Any),
            a("finishOnKey", Any),
            a("maxLength", Any),
            a("playBeep", Any),
            a("recordingStatusCallback", Url),
            a("recordingStatusCallbackMethod", Method),
            a("trim", Any),
            a("channels", Any),
        ]),
        &[],
        Text::None,
    ),
];

/// Looks an element up by name.
pub(super) fn element(name: &str) -> Option<&'static Element> {
    ELEMENTS.iter().find(|e| e.name == name)
}

/// Checks `v` against `rule`; on failure returns what the value must be,
/// phrased to follow "<attr> must be ".
pub(super) fn check(rule: &Rule, v: &str) -> Result<(), String> {
    let ok = match rule {
        Any => true,
        NonEmpty => !v.is_empty(),
        Url => is_url(v),
        Method => v == "GET" || v == "POST",
        Bool => v == "true" || v == "false",
        Int(lo, hi) => whole(v).is_some_and(|n| (*lo..=*hi).contains(&n)),
        Dec(lo, hi) => decimal(v).is_some_and(|n| (*lo..=*hi).contains(&n)),
        OneOf(set) => set.contains(&v),
        OneOfCi(set) => set.iter().any(|s| s.eq_ignore_ascii_case(v)),
        Chars(set) => !v.is_empty() && v.chars().all(|c| set.contains(c)),
        Words(set) => !v.trim().is_empty() && v.split_whitespace().all(|w| set.contains(&w)),
        MaxChars(n) => v.chars().count() <= *n,
        Key => v.is_empty() || (v.len() == 1 && "0123456789*#".contains(v)),
        Timeout => v == "auto" || whole(v).is_some(),
        E164 => is_e164(v),
        Sip => is_sip(v),
        E164OrSip => is_e164(v) || is_sip(v),
    };
    if ok {
        return Ok(());
    }
    Err(match rule {
        Any => String::new(),
        NonEmpty => "non-empty".into(),
        Url => "an absolute http:// or https:// URL with a host and no spaces".into(),
        Method => "GET or POST".into(),
        Bool => "true or false".into(),
        Int(lo, hi) if *hi == u32::MAX as u64 => format!("a whole number of at least {lo}"),
        Int(lo, hi) => format!("a whole number from {lo} to {hi}"),
        Dec(lo, hi) => format!("a number from {lo:?} to {hi:?}"),
        OneOf(set) => format!("one of: {}", set.join(", ")),
        OneOfCi(set) => format!("one of (any letter case): {}", set.join(", ")),
        Chars(set) => format!("one or more of the characters {set}"),
        Words(set) => format!("a space-separated list of: {}", set.join(", ")),
        MaxChars(n) => format!("at most {n} characters"),
        Key => "empty or one key of 0-9, *, #".into(),
        Timeout => "\"auto\" or a whole number of seconds".into(),
        E164 => "an E.164 number: + then 8 to 15 digits".into(),
        Sip => "a SIP URI starting with sip: or sips:".into(),
        E164OrSip => "an E.164 number (+ then 8 to 15 digits) or a sip: URI".into(),
    })
}

/// Digits only (no sign, no spaces), so "1.0" or " 5" are rejected as Telnyx would.
fn whole(v: &str) -> Option<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok().or(Some(u64::MAX))
}

/// Plain decimal (`1`, `1.5`, `.5`): no sign, exponent, `inf` or `NaN`.
fn decimal(v: &str) -> Option<f64> {
    let digits = v.bytes().filter(u8::is_ascii_digit).count();
    let dots = v.bytes().filter(|&b| b == b'.').count();
    (digits > 0 && dots <= 1 && digits + dots == v.len())
        .then(|| v.parse().ok())
        .flatten()
}

/// `+` followed by 8 to 15 digits.
pub(super) fn is_e164(v: &str) -> bool {
    v.strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

fn is_sip(v: &str) -> bool {
    let rest = v.strip_prefix("sips:").or_else(|| v.strip_prefix("sip:"));
    rest.is_some_and(|r| !r.is_empty() && !r.chars().any(|c| c.is_whitespace() || c.is_control()))
}

/// Absolute http(s) URL with a non-empty host and no whitespace or controls.
pub(super) fn is_url(v: &str) -> bool {
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let lower = v.get(..8).unwrap_or(v).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &v[8..]
    } else if lower.starts_with("http://") {
        &v[7..]
    } else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    // Strip a :port, but not the colons inside an [IPv6] literal.
    let host = match host_port.rfind(':') {
        Some(i) if !host_port[i..].contains(']') => &host_port[..i],
        _ => host_port,
    };
    !host.is_empty()
}

/// Shortens a value for a message, so huge values do not flood the report.
pub(super) fn show(v: &str) -> String {
    let mut s: String = v.chars().take(60).collect();
    if s.len() < v.len() {
        s.push('…');
    }
    s
}

/// Checks the `<Parameters>` JSON Schema object (PROTOCOL §2.2): `"type":
/// "object"`, a `properties` object of objects, and `required` naming only
/// those properties. Returns what to fix, one message per problem.
pub(super) fn schema_errors(obj: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    let mut errs = Vec::new();
    if obj.get("type").and_then(|t| t.as_str()) != Some("object") {
        errs.push("set \"type\": \"object\"".to_owned());
    }
    let Some(props) = obj.get("properties").and_then(|p| p.as_object()) else {
        errs.push("add a \"properties\" object".into());
        return errs;
    };
    for (k, v) in props.iter().filter(|(_, v)| !v.is_object()) {
        let (k, v) = (show(k), show(&v.to_string()));
        errs.push(format!(
            "property \"{k}\" must be an object like {{\"type\":\"string\"}}, not {v}"
        ));
    }
    match obj.get("required") {
        None => {}
        Some(serde_json::Value::Array(req)) => {
            for r in req {
                match r.as_str() {
                    Some(s) if props.contains_key(s) => {}
                    Some(s) => errs.push(format!(
                        "\"required\" names \"{}\", which is not in \"properties\"",
                        show(s)
                    )),
                    None => errs.push(format!(
                        "\"required\" must list property names as strings, found {}",
                        show(&r.to_string())
                    )),
                }
            }
        }
        Some(_) => errs.push("\"required\" must be an array of property names".into()),
    }
    errs
}
