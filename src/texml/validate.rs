//! Strict validator for TeXML documents (Telnyx XML call control).
//!
//! Role: catch broken or mistyped TeXML before it is sent to Telnyx, whose
//! behaviour on invalid XML is undocumented (PROTOCOL.md §4).
//!
//! Guarantees:
//! - [`check_well_formed`] accepts only XML 1.0 well-formed documents without a
//!   DOCTYPE, encoded as UTF-8. quick-xml is lenient (duplicate attributes, a
//!   second root, unclosed elements at EOF, `<` in attribute values, illegal
//!   characters, `]]>` in text, ...), so those rules are checked here.
//! - [`validate`] additionally enforces the TeXML vocabulary of PROTOCOL.md
//!   §2–3: root `<Response>`, allowed children per element, known attributes
//!   with value ranges, E.164 numbers, absolute URLs and the JSON in
//!   `<Parameters>`/`<Tool>`.
//! - Neither function panics; both report a 1-based line and a column counted
//!   in characters, sorted by position (at most [`MAX_PROBLEMS`]).

mod vocab;

use quick_xml::Reader;
use quick_xml::errors::{Error as XmlError, IllFormedError};
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesStart, Event};
use std::fmt;
use vocab::{Element, Text, show};

/// Upper bound on reported problems, so a huge broken input stays cheap to report.
pub const MAX_PROBLEMS: usize = 100;

/// One problem, with a 1-based line and column (column counted in characters)
/// and a message that says what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line; CR LF, CR and LF each end a line.
    pub line: usize,
    /// 1-based column, counted in Unicode scalar values.
    pub column: usize,
    /// What is wrong and how to fix it; never includes a file name.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// Checks a whole TeXML document; returns every problem found (at least the
/// first fatal well-formedness one; vocabulary problems keep being collected
/// while the XML is still well-formed).
pub fn validate(doc: &str) -> Result<(), Vec<Problem>> {
    Checker::new(doc, true).run()
}

/// Only XML 1.0 well-formedness (used for non-TeXML checks).
pub fn check_well_formed(doc: &str) -> Result<(), Vec<Problem>> {
    Checker::new(doc, false).run()
}

/// A piece of an element's text: where it starts in the concatenated text and
/// in the document, and whether it maps byte for byte (raw text, CDATA) or is
/// a single decoded reference. Used to map JSON error positions back.
struct Seg {
    text_at: usize,
    doc_at: usize,
    raw: bool,
}

/// An open element.
struct Frame {
    name: String,
    at: usize,
    /// `None` when the vocabulary is not checked here (unknown element, or
    /// well-formedness mode).
    spec: Option<&'static Element>,
    attrs: Vec<(String, String)>,
    text: String,
    segs: Vec<Seg>,
    first_text: Option<usize>,
    children: Vec<&'static str>,
}

struct Checker<'a> {
    doc: &'a str,
    vocab: bool,
    problems: Vec<(usize, String)>,
    open: Vec<Frame>,
    roots: usize,
    /// Any event already read (the XML declaration must be first).
    started: bool,
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_name_start(c: char) -> bool {
    matches!(c, ':' | 'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
        | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
        | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
        | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

/// XML 1.0 (5th edition) `Name` production.
fn is_name(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next().is_some_and(is_name_start)
        && cs.all(|c| {
            is_name_start(c)
                || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
        })
}

/// Resolves the name of a reference (`amp`, `#38`, `#x26`) to its character.
fn resolve_ref(name: &str) -> Result<char, String> {
    let code = match name {
        "lt" => return Ok('<'),
        "gt" => return Ok('>'),
        "amp" => return Ok('&'),
        "apos" => return Ok('\''),
        "quot" => return Ok('"'),
        _ => match (name.strip_prefix("#x"), name.strip_prefix('#')) {
            (Some(h), _) if !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                u32::from_str_radix(h, 16).ok()
            }
            (None, Some(d)) if !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) => {
                d.parse().ok()
            }
            _ if name.starts_with('#') => {
                return Err(format!(
                    "malformed character reference &{name}; use &#NNN; or &#xHHHH;"
                ));
            }
            _ => {
                return Err(format!(
                    "undefined entity &{name}; only &lt; &gt; &amp; &apos; &quot; and numeric references are allowed (write &amp; for a literal &)"
                ));
            }
        },
    };
    match code.and_then(char::from_u32) {
        Some(c) if is_xml_char(c) => Ok(c),
        _ => Err(format!(
            "character reference &{name}; is not a legal XML 1.0 character; remove it"
        )),
    }
}

/// Decodes references in a raw attribute value and normalizes whitespace
/// (XML 1.0 §3.3.3); on error returns the byte offset in `raw` and a message.
fn decode_attr(raw: &str) -> Result<String, (usize, String)> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.extend(
            rest[..i]
                .chars()
                .map(|c| if is_xml_space(c) { ' ' } else { c }),
        );
        let at = raw.len() - rest.len() + i;
        let tail = &rest[i + 1..];
        let end = tail.find(|c: char| {
            !(c == '#' || c == '-' || c == '.' || c.is_alphanumeric() || c == '_' || c == ':')
        });
        match end {
            Some(e) if e > 0 && tail[e..].starts_with(';') => {
                out.push(resolve_ref(&tail[..e]).map_err(|m| (at, m))?);
                rest = &tail[e + 1..];
            }
            _ => return Err((at, "bare '&' in attribute value; write &amp;".into())),
        }
    }
    out.extend(rest.chars().map(|c| if is_xml_space(c) { ' ' } else { c }));
    Ok(out)
}

/// The character just before byte offset `at`, if any.
fn doc_char_before(doc: &str, at: usize) -> Option<char> {
    doc.get(..at)?.chars().next_back()
}

fn describe(e: &XmlError) -> String {
    match e {
        XmlError::IllFormed(IllFormedError::UnclosedReference) => {
            "bare '&' in text; write &amp; (or end the reference with ';')".into()
        }
        XmlError::IllFormed(IllFormedError::MismatchedEndTag { expected, found }) => {
            format!(
                "closing tag </{found}> does not match the open <{expected}>; close elements in reverse order"
            )
        }
        XmlError::IllFormed(IllFormedError::UnmatchedEndTag(n)) => {
            format!("closing tag </{n}> has no matching opening tag; remove it")
        }
        XmlError::IllFormed(IllFormedError::DoubleHyphenInComment) => {
            "'--' is not allowed inside a comment; remove it".into()
        }
        other => format!("malformed XML: {other}"),
    }
}

impl<'a> Checker<'a> {
    fn new(doc: &'a str, vocab: bool) -> Self {
        Checker {
            doc,
            vocab,
            problems: Vec::new(),
            open: Vec::new(),
            roots: 0,
            started: false,
        }
    }

    fn push(&mut self, at: usize, msg: impl Into<String>) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push((at, msg.into()));
        }
    }

    /// Byte offset of a slice borrowed from the document (quick-xml's
    /// `from_str` events borrow the input); `fallback` if it is not.
    fn offset_of(&self, s: &str, fallback: usize) -> usize {
        let (base, p) = (self.doc.as_ptr() as usize, s.as_ptr() as usize);
        if p >= base && p <= base + self.doc.len() {
            p - base
        } else {
            fallback
        }
    }

    fn run(mut self) -> Result<(), Vec<Problem>> {
        let doc = self.doc;
        for (i, c) in doc.char_indices().filter(|&(_, c)| !is_xml_char(c)) {
            self.push(
                i,
                format!(
                    "character U+{:04X} is not allowed in XML 1.0; remove it",
                    c as u32
                ),
            );
        }
        let mut reader = Reader::from_str(doc);
        let cfg = reader.config_mut();
        // trim_text also trims around entity references, corrupting text.
        cfg.trim_text(false);
        cfg.check_end_names = true;
        cfg.check_comments = true;
        cfg.allow_dangling_amp = false;
        cfg.allow_unmatched_ends = false;
        cfg.expand_empty_elements = false;
        loop {
            let at = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            let event = match reader.read_event() {
                Ok(ev) => ev,
                Err(e) => {
                    let pos = usize::try_from(reader.error_position()).unwrap_or(at);
                    self.push(pos, describe(&e));
                    break;
                }
            };
            match event {
                Event::Eof => {
                    for f in std::mem::take(&mut self.open).iter().rev() {
                        let msg = format!("<{}> is never closed; add </{}>", f.name, f.name);
                        self.push(f.at, msg);
                    }
                    if self.roots == 0 {
                        self.push(
                            doc.len(),
                            "no root element; the document needs <Response>…</Response>",
                        );
                    }
                    break;
                }
                Event::Decl(d) => {
                    let bom = if doc.starts_with('\u{FEFF}') { 3 } else { 0 };
                    // quick-xml skips a BOM inside the same read, so `at` may be 0 or 3.
                    if self.started || (at != 0 && at != bom) {
                        self.push(
                            at,
                            "the XML declaration must be at the very start of the document",
                        );
                    }
                    if !matches!(d.version().as_deref(), Ok("1.0")) {
                        self.push(at, "XML declaration: version must be \"1.0\"");
                    }
                    match d.encoding() {
                        Some(Ok(enc)) if enc.eq_ignore_ascii_case("UTF-8") => {}
                        None => {}
                        Some(enc) => {
                            let e = enc.map(|e| show(&e)).unwrap_or_default();
                            self.push(at, format!("the document is UTF-8 but the XML declaration says encoding=\"{e}\"; use encoding=\"UTF-8\""));
                        }
                    }
                    if !matches!(
                        d.standalone().map(|s| s.map(|s| s == "yes" || s == "no")),
                        None | Some(Ok(true))
                    ) {
                        self.push(at, "XML declaration: standalone must be \"yes\" or \"no\"");
                    }
                }
                Event::PI(pi) => {
                    let target = pi.target();
                    if !is_name(target) || target.eq_ignore_ascii_case("xml") {
                        let msg = format!(
                            "invalid processing instruction target '{}'; XML declarations must be lowercase and first",
                            show(target)
                        );
                        self.push(at, msg);
                    }
                }
                Event::DocType(_) => self.push(at, "DOCTYPE is not allowed in TeXML; remove it"),
                Event::Comment(c) if c.ends_with('-') => self.push(
                    at,
                    "a comment must not end with '--->'; remove the extra '-'",
                ),
                Event::Comment(_) => {}
                Event::Start(e) => self.start(&e, at, false),
                Event::Empty(e) => self.start(&e, at, true),
                Event::End(_) => self.end(),
                Event::Text(t) => {
                    if let Some(i) = t.find("]]>") {
                        self.push(
                            at + i,
                            "']]>' is not allowed in text; write ]]&gt; or use CDATA",
                        );
                    }
                    self.text(at, &t, true);
                }
                Event::CData(c) => self.text(at + 9, &c, true),
                Event::GeneralRef(r) => {
                    let name: &str = &r;
                    match resolve_ref(name) {
                        Ok(c) => self.text(at, c.encode_utf8(&mut [0; 4]), false),
                        Err(msg) => self.push(at, msg),
                    }
                }
            }
            self.started = true;
        }
        self.finish()
    }

    /// Turns byte offsets into sorted line/column problems in one pass.
    fn finish(mut self) -> Result<(), Vec<Problem>> {
        if self.problems.is_empty() {
            return Ok(());
        }
        self.problems.sort_by_key(|p| p.0);
        let (mut line, mut col, mut prev_cr) = (1, 1, false);
        let mut chars = self.doc.char_indices().peekable();
        let mut out = Vec::with_capacity(self.problems.len());
        for (at, message) in self.problems {
            while let Some(&(i, c)) = chars.peek() {
                if i >= at {
                    break;
                }
                chars.next();
                match c {
                    '\n' if prev_cr => {}
                    '\n' | '\r' => (line, col) = (line + 1, 1),
                    _ => col += 1,
                }
                prev_cr = c == '\r';
            }
            out.push(Problem {
                line,
                column: col,
                message,
            });
        }
        Err(out)
    }

    /// Character data (text, CDATA or one decoded reference) at `at`.
    fn text(&mut self, at: usize, s: &str, raw: bool) {
        let Some(f) = self.open.last_mut() else {
            if s.chars()
                .any(|c| !(is_xml_space(c) || (c == '\u{FEFF}' && at == 0)))
            {
                let msg = if self.roots == 0 {
                    "text before the root element; remove it"
                } else {
                    "text after the root element; remove it"
                };
                self.push(at, msg);
            }
            return;
        };
        if f.spec.is_none() {
            return;
        }
        if f.first_text.is_none() {
            f.first_text = s
                .find(|c| !is_xml_space(c))
                .map(|i| at + if raw { i } else { 0 });
        }
        f.segs.push(Seg {
            text_at: f.text.len(),
            doc_at: at,
            raw,
        });
        f.text.push_str(s);
    }

    fn start(&mut self, e: &BytesStart<'_>, at: usize, empty: bool) {
        let name = e.name().into_inner().to_owned();
        if !is_name(&name) {
            self.push(at, format!("invalid element name <{}>", show(&name)));
        }
        let spec = self.child_spec(&name, at);
        let mut attrs = Vec::new();
        let mut iter = e.attributes();
        iter.with_checks(true);
        for attr in iter.take(e.len() + 1) {
            match attr {
                Ok(attr) => {
                    let key = attr.key.into_inner();
                    let kat = self.offset_of(key, at);
                    let vat = self.offset_of(&attr.value, kat);
                    // XML needs whitespace between attributes; quick-xml does not check.
                    if !doc_char_before(self.doc, kat).is_some_and(is_xml_space) {
                        self.push(kat, format!("put a space before attribute {}", show(key)));
                    }
                    if !is_name(key) {
                        self.push(kat, format!("invalid attribute name '{}'", show(key)));
                    }
                    if let Some(i) = attr.value.find('<') {
                        self.push(
                            vat + i,
                            format!("attribute {key} contains a raw '<'; write &lt;"),
                        );
                    }
                    match decode_attr(&attr.value) {
                        Ok(v) => attrs.push((key.to_owned(), v, kat)),
                        Err((i, msg)) => self.push(vat + i, msg),
                    }
                }
                Err(AttrError::Duplicated(p, _)) => {
                    let dup: String = e
                        .get(p..)
                        .unwrap_or("")
                        .chars()
                        .take_while(|&c| c != '=' && !is_xml_space(c))
                        .collect();
                    self.push(
                        at + 1 + p,
                        format!("duplicate attribute {}; keep only one", show(&dup)),
                    );
                }
                Err(err) => {
                    let (p, msg) = match err {
                        AttrError::ExpectedEq(p) => {
                            (p, "attribute without a value; write name=\"value\"")
                        }
                        AttrError::ExpectedValue(p) => {
                            (p, "attribute value missing after '='; write name=\"value\"")
                        }
                        AttrError::UnquotedValue(p) => {
                            (p, "attribute value must be in quotes; write name=\"value\"")
                        }
                        AttrError::ExpectedQuote(p, _) => {
                            (p, "attribute value is missing its closing quote")
                        }
                        AttrError::Duplicated(p, _) => (p, "duplicate attribute"),
                    };
                    self.push(at + 1 + p, msg);
                    break;
                }
            }
        }
        if let Some(spec) = spec {
            self.check_attrs(spec, &name, &attrs, at);
        }
        let attrs = attrs.into_iter().map(|(k, v, _)| (k, v)).collect();
        self.open.push(Frame {
            name,
            at,
            spec,
            attrs,
            text: String::new(),
            segs: Vec::new(),
            first_text: None,
            children: Vec::new(),
        });
        if empty {
            self.end();
        }
    }

    /// Decides which vocabulary entry applies to a new element, reporting
    /// misplaced or unknown ones (and a second root).
    fn child_spec(&mut self, name: &str, at: usize) -> Option<&'static Element> {
        let Some(parent) = self.open.last_mut() else {
            self.roots += 1;
            if self.roots > 1 {
                self.push(
                    at,
                    format!(
                        "second root element <{}>; a document has exactly one root element",
                        show(name)
                    ),
                );
                return None;
            }
            if self.vocab && name != "Response" {
                self.push(
                    at,
                    format!("the root element must be <Response>, not <{}>", show(name)),
                );
            }
            return (self.vocab && name == "Response").then_some(&vocab::RESPONSE);
        };
        let ps = parent.spec?;
        let Some(&child) = ps.children.iter().find(|&&c| c == name) else {
            let msg = if ps.children.is_empty() && matches!(ps.text, Text::None) {
                format!("<{}> must be empty; remove <{}>", ps.name, show(name))
            } else if ps.children.is_empty() {
                format!(
                    "<{}> may contain only text; remove <{}>",
                    ps.name,
                    show(name)
                )
            } else {
                format!(
                    "unknown element <{}> inside <{}>; allowed here: {}",
                    show(name),
                    ps.name,
                    ps.children.join(", ")
                )
            };
            self.push(at, msg);
            return None;
        };
        let repeated = ps.once.contains(&child) && parent.children.contains(&child);
        parent.children.push(child);
        if repeated {
            self.push(
                at,
                format!("<{}> may appear only once inside <{}>", child, ps.name),
            );
        }
        vocab::element(child)
    }

    fn check_attrs(
        &mut self,
        spec: &Element,
        el: &str,
        attrs: &[(String, String, usize)],
        at: usize,
    ) {
        let Some(known) = spec.attrs else { return };
        for (k, v, kat) in attrs {
            match known.iter().find(|a| a.name == k) {
                None if known.is_empty() => {
                    self.push(*kat, format!("<{el}> takes no attributes; remove {k}"))
                }
                None => {
                    let names: Vec<_> = known.iter().map(|a| a.name).collect();
                    self.push(
                        *kat,
                        format!(
                            "unknown attribute {k} on <{el}>; allowed: {}",
                            names.join(", ")
                        ),
                    );
                }
                Some(a) => {
                    if let Err(must) = vocab::check(&a.rule, v) {
                        self.push(
                            *kat,
                            format!("<{el} {k}=\"{}\">: {k} must be {must}", show(v)),
                        );
                    }
                }
            }
        }
        for a in known
            .iter()
            .filter(|a| a.required && !attrs.iter().any(|(k, ..)| k == a.name))
        {
            let what = match a.rule {
                vocab::Rule::Url => "with an absolute http(s) URL".to_owned(),
                vocab::Rule::NonEmpty => "with a non-empty value".to_owned(),
                ref r => vocab::check(r, "")
                    .err()
                    .map_or(String::new(), |m| format!("set to {m}")),
            };
            let art = if a.name.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            self.push(
                at,
                format!("<{el}> needs {art} {} attribute {what}", a.name),
            );
        }
    }

    /// Closes the innermost element and checks its content.
    fn end(&mut self) {
        let Some(f) = self.open.pop() else { return };
        let Some(spec) = f.spec else { return };
        let lead = f.text.len() - f.text.trim_start_matches(is_xml_space).len();
        let value = f.text.trim_matches(is_xml_space);
        let text_at = f.first_text.unwrap_or(f.at);
        let el = spec.name;
        match &spec.text {
            _ if spec.name == "Dial" && !value.is_empty() && !f.children.is_empty() => {
                self.push(
                    text_at,
                    "<Dial> mixes text with nouns; put the number in a <Number> element",
                );
            }
            Text::None if !value.is_empty() => {
                let msg = if spec.children.is_empty() {
                    format!("<{el}> must be empty; remove the text")
                } else {
                    format!(
                        "text is not allowed directly inside <{el}>; allowed here: {}",
                        spec.children.join(", ")
                    )
                };
                self.push(text_at, msg);
            }
            Text::None => {}
            // A <Dial> holding nouns needs no text of its own.
            Text::Value(_) if value.is_empty() && !f.children.is_empty() => {}
            Text::Value(_) if value.is_empty() && !spec.children.is_empty() => {
                let msg = format!(
                    "<{el}> is empty; add one of {} or the number as text",
                    spec.children.join(", ")
                );
                self.push(f.at, msg);
            }
            Text::Value(rule) => match vocab::check(rule, value) {
                Ok(()) => {}
                Err(_) if value.is_empty() && matches!(rule, vocab::Rule::NonEmpty) => {
                    self.push(f.at, format!("<{el}> is empty; add its text"));
                }
                Err(must) if value.is_empty() => {
                    self.push(f.at, format!("<{el}> is empty; its text must be {must}"))
                }
                Err(must) => self.push(
                    text_at,
                    format!("<{el}> text must be {must}; found \"{}\"", show(value)),
                ),
            },
            Text::Play => {
                let attr = |n: &str| {
                    f.attrs
                        .iter()
                        .find(|(k, _)| k == n)
                        .map(|(_, v)| v.as_str())
                };
                if value.is_empty() && attr("digits").is_none() {
                    self.push(
                        f.at,
                        "<Play> needs a media URL as text (or a digits attribute)",
                    );
                } else if !value.is_empty()
                    && attr("mediaStorage") != Some("true")
                    && !vocab::is_url(value)
                {
                    let msg = format!(
                        "<Play> text must be an absolute http(s) URL (or set mediaStorage=\"true\" for a media name); found \"{}\"",
                        show(value)
                    );
                    self.push(text_at, msg);
                }
            }
            Text::JsonSchema | Text::JsonObject => self.check_json(&f, value, lead),
        }
    }

    fn check_json(&mut self, f: &Frame, value: &str, lead: usize) {
        let schema = matches!(f.spec.map(|s| &s.text), Some(Text::JsonSchema));
        let parsed = serde_json::from_str::<serde_json::Value>(value);
        let obj = match parsed {
            Err(e) => {
                let mut msg = e.to_string();
                if let Some(i) = msg.rfind(" at line ") {
                    msg.truncate(i);
                }
                let at = self.json_pos(f, value, lead, e.line(), e.column());
                return self.push(at, format!("<{}> must contain valid JSON: {msg}", f.name));
            }
            Ok(serde_json::Value::Object(o)) => o,
            Ok(_) => {
                return self.push(
                    f.at,
                    format!("<{}> must contain a JSON object {{…}}", f.name),
                );
            }
        };
        if !schema {
            return;
        }
        let errs = vocab::schema_errors(&obj);
        for e in errs {
            self.push(f.at, format!("<Parameters> JSON Schema: {e}"));
        }
    }

    /// Maps serde_json's 1-based line / byte column in the trimmed text back
    /// to a document offset through the recorded segments.
    fn json_pos(&self, f: &Frame, value: &str, lead: usize, line: usize, column: usize) -> usize {
        let line_start: usize = value
            .split_inclusive('\n')
            .take(line.saturating_sub(1))
            .map(str::len)
            .sum();
        let off = lead + (line_start + column.saturating_sub(1)).min(value.len());
        match f.segs.iter().rev().find(|s| s.text_at <= off) {
            Some(s) if s.raw => s.doc_at + (off - s.text_at),
            Some(s) => s.doc_at,
            None => f.at,
        }
        .min(self.doc.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FIXTURES: [&str; 3] = [
        include_str!("../../tests/fixtures/telnyx/voice-url-response.xml"),
        include_str!("../../tests/fixtures/telnyx/aigather-action-response.xml"),
        include_str!("../../tests/fixtures/telnyx/aigather-action-response-transfer.xml"),
    ];

    /// Asserts that validation fails with a problem mentioning `needle`.
    fn rejects(doc: &str, needle: &str) -> Vec<Problem> {
        let problems = validate(doc).expect_err("document should be rejected");
        assert!(
            problems.iter().any(|p| p.message.contains(needle)),
            "no problem mentions {needle:?}: {problems:#?}"
        );
        problems
    }

    /// Asserts that even the well-formedness check fails with `needle`.
    fn ill_formed(doc: &str, needle: &str) {
        rejects(doc, needle);
        let problems = check_well_formed(doc).expect_err("should be ill-formed");
        assert!(
            problems.iter().any(|p| p.message.contains(needle)),
            "{problems:#?}"
        );
    }

    fn say(inner: &str) -> String {
        format!("<Response><Say>{inner}</Say></Response>")
    }

    #[test]
    fn the_fixtures_validate() {
        for doc in FIXTURES {
            assert_eq!(validate(doc), Ok(()));
        }
    }

    #[test]
    fn references_cdata_comments_and_pis_are_accepted() {
        let doc = "\u{FEFF}<?xml version='1.0' encoding='utf-8' standalone='yes'?>\n<!-- c --><?app x?>\
                   <Response><Say>Tom &amp; Jerry &lt;&gt;&quot;&apos; &#38;&#x1F600; <![CDATA[a < b & ]] >]]></Say></Response>\n<!-- end -->\n";
        assert_eq!(validate(doc), Ok(()));
        assert_eq!(check_well_formed("<any a='1'><b/>x</any>"), Ok(()));
    }

    #[test]
    fn a_duplicate_attribute_is_rejected() {
        ill_formed(
            r#"<Response><Pause length="1" length="2"/></Response>"#,
            "duplicate attribute length",
        );
    }

    #[test]
    fn a_second_root_element_is_rejected() {
        ill_formed("<Response/><Response/>", "second root element");
    }

    #[test]
    fn an_element_left_open_at_eof_is_rejected() {
        ill_formed("<Response><Say>hi</Say>", "<Response> is never closed");
    }

    #[test]
    fn a_raw_less_than_in_an_attribute_value_is_rejected() {
        ill_formed(
            r#"<Response><Say voice="a<b">hi</Say></Response>"#,
            "raw '<'",
        );
    }

    #[test]
    fn a_control_character_in_text_is_rejected() {
        ill_formed(&say("a\u{1}b"), "U+0001");
    }

    #[test]
    fn a_character_reference_to_an_illegal_character_is_rejected() {
        ill_formed(&say("a&#1;b"), "&#1; is not a legal");
        ill_formed(&say("a&#xFFFE;b"), "&#xFFFE; is not a legal");
        ill_formed(
            r#"<Response><Say voice="&#0;">x</Say></Response>"#,
            "&#0; is not a legal",
        );
    }

    #[test]
    fn an_undefined_entity_is_rejected() {
        ill_formed(&say("a&nbsp;b"), "undefined entity &nbsp;");
        ill_formed(
            r#"<Response><Say voice="&nbsp;">x</Say></Response>"#,
            "undefined entity",
        );
    }

    #[test]
    fn a_bare_ampersand_is_rejected() {
        ill_formed(&say("Tom & Jerry"), "bare '&'");
        ill_formed(
            r#"<Response><Redirect>https://x.example/?a=1&b=2</Redirect></Response>"#,
            "bare '&'",
        );
        ill_formed(
            r#"<Response><Say voice="a & b">x</Say></Response>"#,
            "bare '&'",
        );
    }

    #[test]
    fn a_doctype_is_rejected() {
        ill_formed(
            "<!DOCTYPE Response [<!ENTITY x \"y\">]><Response/>",
            "DOCTYPE",
        );
    }

    #[test]
    fn a_cdata_end_marker_in_text_is_rejected() {
        ill_formed(&say("a ]]> b"), "']]>'");
    }

    #[test]
    fn text_after_the_root_is_rejected() {
        ill_formed("<Response/>\ntrailing", "text after the root");
    }

    #[test]
    fn an_xml_declaration_not_at_the_start_is_rejected() {
        ill_formed("\n<?xml version=\"1.0\"?><Response/>", "very start");
        ill_formed("<!-- x --><?xml version=\"1.0\"?><Response/>", "very start");
    }

    #[test]
    fn a_non_utf8_encoding_declaration_is_rejected() {
        ill_formed(
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Response/>",
            "encoding=\"ISO-8859-1\"",
        );
    }

    #[test]
    fn an_unknown_verb_is_rejected_with_the_allowed_list() {
        rejects(
            "<Response><Sms>hi</Sms></Response>",
            "unknown element <Sms> inside <Response>; allowed here: Say, Play, Pause, Gather, AIGather, Dial, Redirect, Hangup, Reject, Record",
        );
        rejects("<Speak/>", "root element must be <Response>");
        assert_eq!(check_well_formed("<Response><Sms/></Response>"), Ok(()));
    }

    #[test]
    fn an_unknown_attribute_is_rejected() {
        rejects(
            r#"<Response><Say vocie="alice">hi</Say></Response>"#,
            "unknown attribute vocie on <Say>; allowed: voice,",
        );
        rejects(
            r#"<Response><Hangup reason="x"/></Response>"#,
            "<Hangup> takes no attributes",
        );
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        rejects(
            r#"<Response><Pause length="0"/></Response>"#,
            r#"<Pause length="0">: length must be a whole number from 1 to 180"#,
        );
        rejects(
            r#"<Response><Say loop="11">x</Say></Response>"#,
            "loop must be a whole number from 0 to 10",
        );
        rejects(
            r#"<Response><Say voiceSpeed="2.5">x</Say></Response>"#,
            "voiceSpeed must be a number from 0.1 to 2.0",
        );
        rejects(
            r#"<Response><Gather input="voice" timeout="121"/></Response>"#,
            "input must be one of",
        );
        rejects(
            r#"<Response><Dial timeLimit="10"><Number>+13125550142</Number></Dial></Response>"#,
            "timeLimit",
        );
        rejects(
            r#"<Response><Dial callerId="555-1234">+13125550142</Dial></Response>"#,
            "callerId must be an E.164",
        );
        rejects(
            r#"<Response><Reject reason="nope"/></Response>"#,
            "reason must be one of: rejected, busy",
        );
        assert_eq!(
            validate(
                r#"<Response><Gather transcriptionEngine="deepgram" input="speech dtmf"><Say>x</Say></Gather></Response>"#
            ),
            Ok(())
        );
    }

    #[test]
    fn say_with_a_child_element_is_rejected() {
        rejects(
            "<Response><Say>Hi <b>there</b></Say></Response>",
            "<Say> may contain only text; remove <b>",
        );
        rejects(
            "<Response><Hangup>now</Hangup></Response>",
            "<Hangup> must be empty",
        );
    }

    #[test]
    fn a_message_without_role_is_rejected() {
        let doc = r#"<Response><AIGather action="https://a.example/x"><MessageHistory><Message>hi</Message></MessageHistory></AIGather></Response>"#;
        rejects(doc, "<Message> needs a role attribute");
    }

    fn aigather(params: &str) -> String {
        format!(
            "<Response>\n<AIGather action=\"https://a.example/done\">\n<Parameters>{params}</Parameters>\n</AIGather>\n</Response>"
        )
    }

    #[test]
    fn bad_parameters_json_is_rejected_at_its_position() {
        let p = rejects(
            &aigather("<![CDATA[\n{\"type\": \"object\",\n  \"properties\": {,}}]]>"),
            "must contain valid JSON",
        );
        assert_eq!((p[0].line, p[0].column), (5, 18), "{p:?}");
        rejects(&aigather("[1]"), "must contain a JSON object");
        rejects(
            &aigather(r#"{"type":"object","properties":{"a":1}}"#),
            "property \"a\" must be an object",
        );
    }

    #[test]
    fn required_naming_an_unknown_property_is_rejected() {
        let json = r#"{"type":"object","properties":{"name":{"type":"string"}},"required":["name","age"]}"#;
        rejects(
            &aigather(json),
            "\"required\" names \"age\", which is not in \"properties\"",
        );
    }

    #[test]
    fn a_relative_action_url_is_rejected() {
        rejects(
            r#"<Response><Gather action="/texml/next"/></Response>"#,
            "action must be an absolute http:// or https:// URL",
        );
        rejects(
            "<Response><Redirect>https:///nohost</Redirect></Response>",
            "<Redirect> text must be an absolute",
        );
    }

    #[test]
    fn a_missing_aigather_action_is_rejected() {
        rejects(
            "<Response><AIGather/></Response>",
            "<AIGather> needs an action attribute with an absolute http(s) URL",
        );
    }

    #[test]
    fn a_non_e164_number_is_rejected() {
        rejects(
            "<Response><Dial><Number>3125550142</Number></Dial></Response>",
            "<Number> text must be an E.164 number",
        );
    }

    #[test]
    fn line_and_column_are_reported_in_characters() {
        let doc = "<Response>\r\n  <Say>héllo 😀</Say>\n  <Say>é</Say><Pause length=\"999\"/>\n</Response>";
        let p = validate(doc).unwrap_err();
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].line, p[0].column), (3, 22));
        assert!(
            p[0].to_string()
                .starts_with("line 3, column 22: <Pause length=\"999\">")
        );
        let p = validate("<Response>\n  <Say>😀</Say><Bad/>\n</Response>").unwrap_err();
        assert_eq!((p[0].line, p[0].column), (2, 15));
    }

    /// Test-only escaper: escapes markup characters, optionally dropping
    /// characters XML 1.0 cannot carry.
    fn escape(s: &str, drop_illegal: bool) -> String {
        let mut out = String::new();
        for c in s.chars().filter(|&c| !drop_illegal || is_xml_char(c)) {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                c => out.push(c),
            }
        }
        out
    }

    fn tricky_char() -> impl Strategy<Value = char> {
        prop_oneof![
            any::<char>(),
            prop::sample::select(vec![
                '&', '<', '>', ']', '\u{1}', '\u{B}', '\u{FFFE}', '\u{FFFF}', '😀', 'ש', 'ع',
                '\u{202E}', '\r', '\n'
            ]),
        ]
    }

    fn illegal_char() -> impl Strategy<Value = char> {
        prop::sample::select(vec![
            '\u{0}', '\u{1}', '\u{8}', '\u{B}', '\u{C}', '\u{1F}', '\u{FFFE}', '\u{FFFF}',
        ])
    }

    proptest! {
        #[test]
        fn escaped_text_without_illegal_chars_is_accepted(
            s in prop::collection::vec(tricky_char(), 0..64).prop_map(|v| v.into_iter().collect::<String>())
        ) {
            let doc = say(&format!("x{}", escape(&s, true)));
            prop_assert_eq!(validate(&doc), Ok(()), "{:?}", doc);
        }

        #[test]
        fn escaped_text_with_raw_illegal_chars_is_rejected(
            s in prop::collection::vec(tricky_char(), 0..64).prop_map(|v| v.into_iter().collect::<String>()),
            bad in illegal_char(),
            at in any::<prop::sample::Index>(),
        ) {
            let mut chars: Vec<char> = s.chars().collect();
            chars.insert(at.index(chars.len() + 1), bad);
            let s: String = chars.into_iter().collect();
            let doc = say(&format!("x{}", escape(&s, false)));
            let problems = validate(&doc).expect_err("illegal char kept");
            prop_assert!(problems.iter().any(|p| p.message.contains("not allowed in XML 1.0")));
        }

        #[test]
        fn arbitrary_input_never_panics(
            s in prop_oneof![
                any::<String>(),
                prop::collection::vec(prop::sample::select(vec![
                    "<", ">", "/", "&", ";", "#x", "=", "\"", "'", " ", "]]>", "<![CDATA[", "<!--", "-->",
                    "<?xml version=\"1.0\"?>", "<!DOCTYPE", "Response", "Say", "AIGather", "Parameters",
                    "Pause", "length", "action", "{", "}", "\n", "😀", "\u{0}", "amp", "1",
                ]), 0..40).prop_map(|v| v.concat()),
                // A fixture with a random slice cut out and random text spliced in.
                (prop::sample::select(FIXTURES.to_vec()), any::<prop::sample::Index>(), 0..40usize, any::<String>())
                    .prop_map(|(f, at, cut, ins)| {
                        let chars: Vec<char> = f.chars().collect();
                        let i = at.index(chars.len());
                        let j = (i + cut).min(chars.len());
                        chars[..i].iter().chain(ins.chars().collect::<Vec<_>>().iter()).chain(&chars[j..]).collect()
                    }),
            ]
        ) {
            let _ = validate(&s);
            let _ = check_well_formed(&s);
        }
    }
}
