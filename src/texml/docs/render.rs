//! Placeholders in operator documents: the values they take, the load-time check, and
//! rendering. Rendering parses the document with quick-xml and writes it again with
//! quick-xml's `Writer`, substituting placeholders inside text and attribute values, so
//! every value is escaped by the writer; nothing is spliced into markup by hand.
//!
//! Placeholders are never filled inside CDATA (there is no escaping there): a document that
//! puts one in a CDATA section is refused when it loads.

use std::collections::BTreeMap;

use quick_xml::{
    Reader, Writer,
    events::{BytesStart, BytesText, Event},
};

use crate::{
    domain::{TenantSpec, tenant::DEFAULT_VOICE},
    texml::escape::is_xml_char,
    wording::{self, Piece, Values},
};

/// Every placeholder a document may use: the wording placeholders plus what a hand-off or
/// a closed notice needs.
pub const PLACEHOLDERS: [&str; 14] = [
    "name",
    "service",
    "provider",
    "date",
    "time",
    "business",
    "voice",
    "phone_number",
    "transfer_number",
    "transfer_line",
    "goodbye",
    "when",
    "day",
    "action",
];

/// Said for `{business}` when the tenant is unknown (the fallback URL of a slug that does
/// not exist): "Please call us again later" still reads well.
pub const UNKNOWN_BUSINESS: &str = "us";

/// Values for a document's placeholders; a placeholder without a value becomes empty text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocValues(BTreeMap<&'static str, String>);

impl DocValues {
    /// What every step knows about `spec`: business, voice, numbers, and its transfer line
    /// and goodbye (with their own placeholders filled).
    pub fn for_tenant(spec: &TenantSpec) -> Self {
        let business = Values::business(&spec.name);
        Self::default()
            .with("business", &spec.name)
            .with("voice", &spec.voice)
            .with("phone_number", spec.phone_number.as_str())
            .with(
                "transfer_number",
                spec.transfer_number
                    .as_ref()
                    .map(|n| n.as_str())
                    .unwrap_or_default(),
            )
            .with(
                "transfer_line",
                &wording::fill(spec.wording(&wording::TRANSFER_LINE), &business),
            )
            .with(
                "goodbye",
                &wording::fill(spec.wording(&wording::GOODBYE), &business),
            )
    }

    /// For a tenant slotline does not know: `{business}` is "us", the default voice and
    /// wording; no numbers.
    pub fn unknown_tenant() -> Self {
        let business = Values::business(UNKNOWN_BUSINESS);
        Self::default()
            .with("business", UNKNOWN_BUSINESS)
            .with("voice", DEFAULT_VOICE)
            .with(
                "transfer_line",
                &wording::fill(wording::TRANSFER_LINE.default, &business),
            )
            .with(
                "goodbye",
                &wording::fill(wording::GOODBYE.default, &business),
            )
    }

    /// Sample values for previews: the tenant's own, plus a made-up booking with its first
    /// service and provider.
    pub fn sample_for(spec: &TenantSpec) -> Self {
        let service = spec
            .services
            .first()
            .map(|s| s.name.to_lowercase())
            .unwrap_or_default();
        let provider = spec
            .providers
            .first()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        Self::for_tenant(spec)
            .with("name", "Jane Doe")
            .with("service", &service)
            .with("provider", &provider)
            .with("date", "Tuesday, November 24")
            .with("time", "3:00 PM")
            .with("when", "tomorrow, Tuesday, November 24 at 3:00 PM")
            .with("day", "tomorrow")
            .with(
                "action",
                "https://booking.example.com/texml/reminder/answer",
            )
    }

    /// Fixed sample values without markup characters, used to check documents on load.
    pub fn check_sample() -> Self {
        let business = Values::business("Bella Salon");
        Self::default()
            .with("name", "Jane Doe")
            .with("service", "haircut")
            .with("provider", "Anna")
            .with("date", "Tuesday, November 24")
            .with("time", "3:00 PM")
            .with("when", "tomorrow, Tuesday, November 24 at 3:00 PM")
            .with("day", "tomorrow")
            .with(
                "action",
                "https://booking.example.com/texml/reminder/answer",
            )
            .with("business", "Bella Salon")
            .with("voice", DEFAULT_VOICE)
            .with("phone_number", "+13125550100")
            .with("transfer_number", "+13125550111")
            .with(
                "transfer_line",
                &wording::fill(wording::TRANSFER_LINE.default, &business),
            )
            .with(
                "goodbye",
                &wording::fill(wording::GOODBYE.default, &business),
            )
    }

    /// Sets `key` (one of [`PLACEHOLDERS`]; others are ignored) to `value`.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        if let Some(k) = PLACEHOLDERS.iter().find(|k| **k == key) {
            self.0.insert(k, value.to_string());
        }
        self
    }

    /// The value of `key`, empty when unset; `None` if `key` is not a placeholder.
    pub fn get(&self, key: &str) -> Option<&str> {
        PLACEHOLDERS
            .contains(&key)
            .then(|| self.0.get(key).map_or("", String::as_str))
    }
}

/// A placeholder found in a document: byte offset of its `{` and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Byte offset of `{` in the document.
    pub at: usize,
    /// Placeholder name, without braces.
    pub key: String,
}

/// Finds the placeholders of `doc` in text and attribute values. Problems (byte offset,
/// message): unknown placeholders, stray braces, and placeholders inside CDATA. Stops
/// quietly at malformed XML; the validator reports that.
pub fn scan(doc: &str) -> (Vec<Span>, Vec<(usize, String)>) {
    let mut spans = Vec::new();
    let mut problems = Vec::new();
    let base = doc.as_ptr() as usize;
    let offset = |s: &str| (s.as_ptr() as usize).saturating_sub(base);
    let check = |raw: &str,
                 at: usize,
                 spans: &mut Vec<Span>,
                 problems: &mut Vec<(usize, String)>| match wording::parse(raw) {
        Err((i, m)) => problems.push((at + i, format!("this text {m}"))),
        Ok(pieces) => {
            for p in pieces {
                if let Piece::Placeholder(key, i) = p {
                    if PLACEHOLDERS.contains(&key) {
                        spans.push(Span {
                            at: at + i,
                            key: key.to_string(),
                        });
                    } else {
                        problems.push((
                            at + i,
                            format!(
                                "{{{key}}} is not a placeholder; documents may use {}",
                                list()
                            ),
                        ));
                    }
                }
            }
        }
    };
    let mut reader = Reader::from_str(doc);
    reader.config_mut().trim_text(false);
    loop {
        match reader.read_event() {
            Err(_) | Ok(Event::Eof) => break,
            Ok(Event::Text(t)) => check(&t, offset(&t), &mut spans, &mut problems),
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                for a in e.attributes().with_checks(false).flatten() {
                    let raw: &str = &a.value;
                    check(raw, offset(raw), &mut spans, &mut problems);
                }
            }
            Ok(Event::CData(c)) => {
                // CDATA holds JSON, full of braces: look only for `{word}`.
                for (i, _) in c.match_indices('{') {
                    let key = c[i + 1..].split('}').next().unwrap_or_default();
                    if c[i + 1..].contains('}') && PLACEHOLDERS.contains(&key) {
                        problems.push((
                            offset(&c) + i,
                            format!(
                                "{{{key}}} is inside CDATA, where nothing can be escaped; placeholders work only in text and attribute values, so move it out of the <![CDATA[ ]]> section"
                            ),
                        ));
                    }
                }
            }
            Ok(_) => {}
        }
    }
    spans.sort_by_key(|s| s.at);
    (spans, problems)
}

fn list() -> String {
    PLACEHOLDERS
        .iter()
        .map(|p| format!("{{{p}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `doc` with `spans` replaced by `values` as plain text, and for each span its
/// (document offset, document length, substituted length). Only for checking a document
/// with the markup-free [`DocValues::check_sample`]; documents are served by [`render`].
pub fn substitute_for_check(
    doc: &str,
    spans: &[Span],
    values: &DocValues,
) -> (String, Vec<(usize, usize, usize)>) {
    let mut out = String::with_capacity(doc.len() + 64);
    let mut map = Vec::with_capacity(spans.len());
    let mut last = 0;
    for s in spans {
        let value = values.get(&s.key).unwrap_or_default();
        out.push_str(&doc[last..s.at]);
        out.push_str(value);
        let len = s.key.len() + 2;
        map.push((s.at, len, value.len()));
        last = s.at + len;
    }
    out.push_str(&doc[last..]);
    (out, map)
}

/// Fills placeholders in plain `text`, dropping characters XML 1.0 forbids from values.
fn fill_text(text: &str, values: &DocValues) -> String {
    let Ok(pieces) = wording::parse(text) else {
        return text.to_string();
    };
    let mut out = String::with_capacity(text.len() + 32);
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Placeholder(key, at) => match values.get(key) {
                Some(v) => out.extend(v.chars().filter(|c| is_xml_char(*c))),
                None => out.push_str(&text[at..at + key.len() + 2]),
            },
        }
    }
    out
}

/// Renders `doc` with `values`: parsed by quick-xml, written again by its `Writer`, with
/// placeholders in text and attribute values replaced (and escaped by the writer). CDATA
/// and the declaration pass through unchanged; comments are dropped.
pub fn render(doc: &str, values: &DocValues) -> Result<String, String> {
    let mut reader = Reader::from_str(doc);
    reader.config_mut().trim_text(false);
    let mut writer = Writer::new(Vec::with_capacity(doc.len() + 256));
    // Text arrives in pieces split at entity references; it is filled as one run.
    let mut run = String::new();
    let io = |e: std::io::Error| e.to_string();
    loop {
        let event = reader.read_event().map_err(|e| e.to_string())?;
        match event {
            Event::Text(t) => {
                run.push_str(&t);
                continue;
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c,
                    None => match &*r {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => return Err(format!("undefined entity &{other};")),
                    },
                };
                run.push(c);
                continue;
            }
            // Comments are notes for operators, not for Telnyx; the line they sat on goes too.
            Event::Comment(_) => {
                if run.trim().is_empty() {
                    run.clear();
                }
                continue;
            }
            _ => {}
        }
        if !run.is_empty() {
            let filled = fill_text(&run, values);
            writer
                .write_event(Event::Text(BytesText::new(&filled)))
                .map_err(io)?;
            run.clear();
        }
        match event {
            Event::Eof => break,
            Event::Start(e) => writer
                .write_event(Event::Start(fill_attributes(&e, values)?))
                .map_err(io)?,
            Event::Empty(e) => writer
                .write_event(Event::Empty(fill_attributes(&e, values)?))
                .map_err(io)?,
            other => writer.write_event(other).map_err(io)?,
        }
    }
    String::from_utf8(writer.into_inner()).map_err(|e| e.to_string())
}

fn fill_attributes<'a>(
    e: &'a BytesStart<'a>,
    values: &DocValues,
) -> Result<BytesStart<'a>, String> {
    let mut out = BytesStart::new(e.name().into_inner().to_string());
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let key = a.key.into_inner();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?;
        let filled = fill_text(&value, values);
        out.push_attribute((key, filled.as_str()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>\n  <Say voice=\"{voice}\">Hi from {business} &amp; co</Say>\n  <Parameters><![CDATA[{\"type\":\"object\"}]]></Parameters>\n</Response>";

    #[test]
    fn values_are_escaped_by_the_writer_and_cdata_passes_through() {
        let v = DocValues::default()
            .with("business", "Tom & <Jerry> ]]> \"x\"\u{1}")
            .with("voice", "a\"b");
        let out = render(DOC, &v).unwrap();
        assert!(out.contains("voice=\"a&quot;b\""), "{out}");
        assert!(
            out.contains("Hi from Tom &amp; &lt;Jerry&gt; ]]&gt; &quot;x&quot; &amp; co"),
            "{out}"
        );
        assert!(out.contains("<![CDATA[{\"type\":\"object\"}]]>"), "{out}");
        assert!(
            crate::texml::validate::check_well_formed(&out).is_ok(),
            "{out}"
        );
    }

    #[test]
    fn unknown_and_cdata_placeholders_are_reported_where_they_are() {
        let doc =
            "<Response><Say>{nme}</Say><Parameters><![CDATA[{business}]]></Parameters></Response>";
        let (spans, problems) = scan(doc);
        assert!(spans.is_empty());
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].0, doc.find("{nme}").unwrap());
        assert!(problems[0].1.contains("{nme} is not a placeholder"));
        assert_eq!(problems[1].0, doc.find("{business}").unwrap());
        assert!(problems[1].1.contains("inside CDATA"));
    }

    #[test]
    fn placeholders_in_attributes_and_text_are_found_in_order() {
        let (spans, problems) = scan(DOC);
        assert!(problems.is_empty());
        let keys: Vec<&str> = spans.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["voice", "business"]);
    }
}
