//! Askama template structs, one per kind of TeXML answer. Values are escaped by the XML
//! escaper configured in `askama.toml`; nothing here builds XML by hand.

use askama::Template;

use super::escape::CdataJson;

/// One turn of the conversation, for `<MessageHistory>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryMessage {
    /// `user` or `assistant` (the only roles TeXML documents).
    pub role: &'static str,
    /// What was said.
    pub content: String,
}

/// An `<AIGather>` that asks for (or re-asks) the booking details.
#[derive(Template)]
#[template(path = "texml/gather.xml")]
pub struct GatherDoc<'a> {
    /// Absolute URL of `/texml/gather` with its state token.
    pub action: &'a str,
    /// First thing spoken.
    pub greeting: &'a str,
    /// TTS voice for the gather and the fallback `<Say>`.
    pub voice: &'a str,
    /// The tenant's persona, instructions and model, when it sets any.
    pub assistant: Option<&'a crate::domain::line::Assistant>,
    /// JSON Schema of the fields to gather.
    pub parameters: &'a CdataJson,
    /// The conversation so far.
    pub history: &'a [HistoryMessage],
    /// Said if the gather ends without the action taking over.
    pub fallback: &'a str,
    /// Human to hand over to after the fallback, if any.
    pub transfer: Option<&'a str>,
    /// Caller id shown on the hand-over call (the tenant's number).
    pub caller_id: &'a str,
}

/// A `<Say>`, then a hand-over to a human if one is given, then `<Hangup/>`.
#[derive(Template)]
#[template(path = "texml/say.xml")]
pub struct SayDoc<'a> {
    /// TTS voice; `None` uses Telnyx's default.
    pub voice: Option<&'a str>,
    /// What is said.
    pub message: &'a str,
    /// Human to hand over to, if any.
    pub transfer: Option<&'a str>,
    /// Caller id shown on the hand-over call.
    pub caller_id: &'a str,
}

/// A DTMF/speech `<Gather>` asking one question on a reminder call, then `after` and
/// `<Hangup/>` when nothing is pressed or said.
#[derive(Template)]
#[template(path = "texml/reminder_ask.xml")]
pub struct ReminderAskDoc<'a> {
    /// Absolute URL of `/texml/reminder/answer` with its state token.
    pub action: &'a str,
    /// TTS voice.
    pub voice: &'a str,
    /// The question.
    pub prompt: &'a str,
    /// Said when no answer comes.
    pub after: &'a str,
}
