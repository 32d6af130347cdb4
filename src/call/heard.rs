//! Reads a TeXML answer the way Telnyx plays it, into the verbs `slotline call` acts on:
//! what is said, the `<AIGather>` (its action, greeting, voice, schema and the history it
//! carries), a hand-off, a hang-up. Verbs it does not play are kept by name, so the
//! transcript shows them.

use quick_xml::{Reader, events::Event};
use serde_json::Value;

/// One `<AIGather>`: what the AI says and asks for, and where it posts the result.
#[derive(Debug, Clone, PartialEq)]
pub struct AiGather {
    /// The `action` URL (absolute in slotline's answers).
    pub action: String,
    /// What the AI says first.
    pub greeting: String,
    /// `<Voice name=…>`.
    pub voice: Option<String>,
    /// The JSON Schema in `<Parameters>`.
    pub parameters: Value,
    /// The conversation carried in `<MessageHistory>`: (role, content).
    pub history: Vec<(String, String)>,
}

/// A verb of the answer, in document order.
#[derive(Debug, Clone, PartialEq)]
pub enum Verb {
    /// `<Say>`: words spoken, with the voice.
    Say {
        /// `voice` attribute.
        voice: Option<String>,
        /// The words.
        text: String,
    },
    /// `<AIGather>`.
    Gather(AiGather),
    /// `<Dial>`: the call is handed to these numbers.
    Dial(Vec<String>),
    /// `<Hangup/>`.
    Hangup,
    /// Any other verb, by name.
    Other(String),
}

/// The answer could not be read as TeXML.
#[derive(Debug, thiserror::Error)]
#[error("the answer is not TeXML slotline call can read: {0}")]
pub struct ReadError(String);

/// The verbs of `doc`, in order.
pub fn read(doc: &str) -> Result<Vec<Verb>, ReadError> {
    let mut reader = Reader::from_str(doc);
    let mut state = Walk::default();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| ReadError(format!("at byte {}: {e}", reader.buffer_position())))?;
        match event {
            Event::Start(e) => {
                state.open(&e);
                state.path.push(e.name().into_inner().to_string());
            }
            Event::Empty(e) => state.open(&e),
            Event::Text(t) => state.text.push_str(&t),
            Event::CData(c) => state.text.push_str(&c),
            Event::GeneralRef(r) => match r.resolve_char_ref() {
                Ok(Some(c)) => state.text.push(c),
                _ => {
                    let name: &str = &r;
                    let resolved = quick_xml::escape::resolve_predefined_entity(name)
                        .ok_or_else(|| ReadError(format!("unknown entity &{name};")))?;
                    state.text.push_str(resolved);
                }
            },
            Event::End(e) => {
                state.path.pop();
                state.close(e.name().into_inner())?;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !state.path.is_empty() {
        return Err(ReadError(format!(
            "<{}> is not closed",
            state.path.join("><")
        )));
    }
    Ok(state.verbs)
}

/// What the walk has seen so far.
#[derive(Default)]
struct Walk {
    /// Open elements, from `<Response>` down.
    path: Vec<String>,
    /// Text of the element being read.
    text: String,
    verbs: Vec<Verb>,
    say_voice: Option<String>,
    gather: Option<AiGather>,
    dial: Vec<String>,
    role: String,
}

impl Walk {
    fn parent(&self) -> Option<&str> {
        self.path.last().map(String::as_str)
    }

    fn open(&mut self, e: &quick_xml::events::BytesStart<'_>) {
        let name = e.name().into_inner().to_string();
        let attr = |key: &str| -> Option<String> {
            let a = e.try_get_attribute(key).ok()??;
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        };
        self.text.clear();
        match (self.parent(), name.as_str()) {
            (Some("Response"), "Say") => self.say_voice = attr("voice"),
            (Some("Response"), "AIGather") => {
                self.gather = Some(AiGather {
                    action: attr("action").unwrap_or_default(),
                    greeting: String::new(),
                    voice: None,
                    parameters: Value::Null,
                    history: Vec::new(),
                });
            }
            (Some("AIGather"), "Voice") => {
                if let Some(g) = self.gather.as_mut() {
                    g.voice = attr("name");
                }
            }
            (Some("MessageHistory"), "Message") => self.role = attr("role").unwrap_or_default(),
            (Some("Response"), "Dial") => self.dial.clear(),
            (Some("Response"), "Hangup") => self.verbs.push(Verb::Hangup),
            (Some("Response"), other) => self.verbs.push(Verb::Other(other.to_string())),
            _ => {}
        }
    }

    fn close(&mut self, name: &str) -> Result<(), ReadError> {
        let body = std::mem::take(&mut self.text).trim().to_string();
        match (self.parent(), name) {
            (Some("Response"), "Say") => self.verbs.push(Verb::Say {
                voice: self.say_voice.take(),
                text: body,
            }),
            (Some("Response"), "AIGather") => {
                if let Some(g) = self.gather.take() {
                    self.verbs.push(Verb::Gather(g));
                }
            }
            (Some("AIGather"), "Greeting") => {
                if let Some(g) = self.gather.as_mut() {
                    g.greeting = body;
                }
            }
            (Some("AIGather"), "Parameters") => {
                let parameters = serde_json::from_str(&body)
                    .map_err(|e| ReadError(format!("<Parameters> is not JSON: {e}")))?;
                if let Some(g) = self.gather.as_mut() {
                    g.parameters = parameters;
                }
            }
            (Some("MessageHistory"), "Message") => {
                let role = std::mem::take(&mut self.role);
                if let Some(g) = self.gather.as_mut() {
                    g.history.push((role, body));
                }
            }
            (Some("Dial"), "Number") => self.dial.push(body),
            (Some("Response"), "Dial") => {
                let mut numbers = std::mem::take(&mut self.dial);
                // `<Dial>+13125550111</Dial>`: the number as the verb's own text.
                if numbers.is_empty() && !body.is_empty() {
                    numbers.push(body);
                }
                self.verbs.push(Verb::Dial(numbers));
            }
            _ => {}
        }
        Ok(())
    }
}

/// What a caller hears from `doc`, one line per spoken part: the words said, the gather's
/// greeting, a hand-off (numbers masked) and a hang-up in brackets. Unreadable TeXML gives
/// no lines.
pub fn spoken_lines(doc: &str) -> Vec<String> {
    read(doc)
        .unwrap_or_default()
        .iter()
        .filter_map(spoken)
        .collect()
}

/// One verb as [`spoken_lines`] shows it.
fn spoken(v: &Verb) -> Option<String> {
    let line = match v {
        Verb::Say { text, .. } => text.clone(),
        Verb::Gather(g) => g.greeting.clone(),
        Verb::Dial(numbers) => format!(
            "(handed to {})",
            numbers
                .iter()
                .map(|n| crate::domain::phone::mask(n))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Verb::Hangup => "(hung up)".into(),
        Verb::Other(_) => return None,
    };
    (!line.is_empty()).then_some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aigather_answer_reads_as_greeting_schema_history_and_action() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <AIGather action="https://x.example/texml/gather?s=a&amp;b" method="POST">
    <Greeting>Thanks for calling Tom &amp; Jerry&#39;s.</Greeting>
    <Voice name="Telnyx.NaturalHD.astra"/>
    <Parameters><![CDATA[{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}]]></Parameters>
    <MessageHistory>
      <Message role="assistant">Hello</Message>
      <Message role="user">Hi there</Message>
    </MessageHistory>
  </AIGather>
  <Say voice="Telnyx.NaturalHD.astra">Sorry, I couldn't finish your booking.</Say>
  <Hangup/>
</Response>"#;
        let verbs = read(doc).unwrap();
        let Verb::Gather(g) = &verbs[0] else {
            panic!("{verbs:?}")
        };
        assert_eq!(g.action, "https://x.example/texml/gather?s=a&b");
        assert_eq!(g.greeting, "Thanks for calling Tom & Jerry's.");
        assert_eq!(g.voice.as_deref(), Some("Telnyx.NaturalHD.astra"));
        assert_eq!(g.parameters["required"][0], "q");
        assert_eq!(
            g.history,
            vec![
                ("assistant".to_string(), "Hello".to_string()),
                ("user".to_string(), "Hi there".to_string())
            ]
        );
        assert!(matches!(&verbs[1], Verb::Say { text, .. } if text.starts_with("Sorry")));
        assert_eq!(verbs[2], Verb::Hangup);
    }

    #[test]
    fn a_hand_off_reads_as_say_then_dial() {
        let doc = r#"<Response><Say>Let me connect you.</Say><Dial callerId="+13125550100"><Number>+13125550111</Number></Dial><Hangup/></Response>"#;
        assert_eq!(
            read(doc).unwrap(),
            vec![
                Verb::Say {
                    voice: None,
                    text: "Let me connect you.".into()
                },
                Verb::Dial(vec!["+13125550111".into()]),
                Verb::Hangup,
            ]
        );
    }

    #[test]
    fn a_dial_with_the_number_as_its_text_and_the_spoken_lines_mask_it() {
        let doc = r#"<Response><Say>One moment.</Say><Dial callerId="+13125550100">+13125550111</Dial></Response>"#;
        assert_eq!(
            read(doc).unwrap()[1],
            Verb::Dial(vec!["+13125550111".into()])
        );
        let lines = spoken_lines(doc);
        assert_eq!(lines[0], "One moment.");
        assert!(lines[1].starts_with("(handed to +1"), "{lines:?}");
        assert!(!lines[1].contains("5550111"), "{lines:?}");
        assert!(spoken_lines("not TeXML <").is_empty());
    }

    #[test]
    fn verbs_it_does_not_play_are_named() {
        let verbs = read("<Response><Pause length=\"1\"/><Say>Hi</Say></Response>").unwrap();
        assert_eq!(verbs[0], Verb::Other("Pause".into()));
    }

    #[test]
    fn broken_xml_is_an_error_not_a_silent_call() {
        assert!(read("<Response><Say>Hi</Response>").is_err());
    }
}
