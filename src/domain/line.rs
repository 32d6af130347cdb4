//! What a tenant's line knows beyond booking, and how it talks: the address and FAQ it
//! answers questions from, the persona, instructions and AI model placed in the
//! `<AIGather>`, whether returning callers are recognised by their number, and how close to
//! an appointment a caller may still move or cancel it by phone. Parsed field by field like
//! the rest of the tenant; stored as one JSON column.

use serde_json::{Map, Value, json};

use super::tenant::{FieldError, plain_text};
use crate::wording::{self, Values};

/// The tenant JSON fields this module owns.
pub const FIELDS: [&str; 7] = [
    "address",
    "faq",
    "persona",
    "instructions",
    "model",
    "recognize_callers",
    "change_notice_minutes",
];

/// Most FAQ entries a tenant may have (each one is an enum value in the gather schema).
pub const MAX_FAQ: usize = 30;

/// One question the line answers in the business's own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Faq {
    /// How a caller might ask it ("Do you have parking?").
    pub question: String,
    /// What the line says (may hold `{business}`).
    pub answer: String,
}

/// A built-in instruction text for the AI, chosen by the kind of business.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persona {
    /// Brief and warm; for any business.
    Default,
    /// Calm and discreet; no medical questions or advice.
    Clinic,
    /// Friendly and upbeat.
    Salon,
    /// Practical; notes a fault without diagnosing it.
    Garage,
}

impl Persona {
    /// Every preset, in the order the docs list them.
    pub const ALL: [Persona; 4] = [
        Persona::Default,
        Persona::Clinic,
        Persona::Salon,
        Persona::Garage,
    ];

    /// The name operators use.
    pub fn name(self) -> &'static str {
        match self {
            Persona::Default => "default",
            Persona::Clinic => "clinic",
            Persona::Salon => "salon",
            Persona::Garage => "garage",
        }
    }

    /// The preset's instruction text (`templates/personas/NAME.txt`), `{business}` unfilled.
    pub fn instructions(self) -> &'static str {
        match self {
            Persona::Default => include_str!("../../templates/personas/default.txt"),
            Persona::Clinic => include_str!("../../templates/personas/clinic.txt"),
            Persona::Salon => include_str!("../../templates/personas/salon.txt"),
            Persona::Garage => include_str!("../../templates/personas/garage.txt"),
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// The `<Assistant>` element of a tenant's `<AIGather>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assistant {
    /// The AI model, when the tenant names one.
    pub model: Option<String>,
    /// Persona text, then the operator's own instructions, `{business}` filled, on one line
    /// (it is an attribute value).
    pub instructions: Option<String>,
}

/// The tenant's line settings (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineSpec {
    /// Street address, spoken when a caller asks where the business is.
    pub address: Option<String>,
    /// The business's own questions and answers.
    pub faq: Vec<Faq>,
    /// A built-in persona; `None` places no `<Assistant>` unless other fields ask for one.
    pub persona: Option<Persona>,
    /// The operator's own instructions for the AI.
    pub instructions: Option<String>,
    /// The AI model (`<Assistant model=…>`).
    pub model: Option<String>,
    /// Returning callers are recognised by their number to move or cancel (default true;
    /// when false such calls go to a person).
    pub recognize_callers: bool,
    /// Inside this many minutes of an appointment's start, callers cannot move or cancel
    /// it by phone; `None` uses the tenant's `min_notice_minutes`.
    pub change_notice_minutes: Option<u32>,
}

impl Default for LineSpec {
    fn default() -> Self {
        Self {
            address: None,
            faq: Vec::new(),
            persona: None,
            instructions: None,
            model: None,
            recognize_callers: true,
            change_notice_minutes: None,
        }
    }
}

fn err<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, FieldError> {
    Err(FieldError {
        field: field.into(),
        message: message.into(),
    })
}

/// A spoken text: plain, and with no placeholder but `{business}`.
fn spoken(map: &Map<String, Value>, field: &str, max: usize) -> Result<Option<String>, FieldError> {
    let value = plain_text(map, field, max)?;
    if let Some(v) = &value {
        let check = wording::Field {
            name: "",
            default: "",
            allowed: &["business"],
            when: "the line answers a question",
        };
        wording::check(&check, v).map_err(|e| FieldError {
            field: field.into(),
            message: e.message,
        })?;
    }
    Ok(value)
}

impl LineSpec {
    /// Parses the line fields of a posted tenant (the others are not looked at).
    pub fn from_map(map: &Map<String, Value>) -> Result<Self, FieldError> {
        let persona = match map.get("persona") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(Persona::parse(s.trim()).ok_or_else(|| FieldError {
                field: "persona".into(),
                message: format!(
                    "{s:?} is not a persona; use one of {}, or leave it out",
                    Persona::ALL.map(Persona::name).join(", ")
                ),
            })?),
            Some(_) => return err("persona", "must be a string such as \"salon\""),
        };
        let model = plain_text(map, "model", 100)?;
        if let Some(m) = &model
            && !m
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:/-".contains(c))
        {
            return err(
                "model",
                format!(
                    "{m:?} is not a model name; use letters, digits and . _ : / - only, e.g. \"openai/gpt-4o\""
                ),
            );
        }
        let recognize_callers = match map.get("recognize_callers") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return err("recognize_callers", "must be true or false"),
        };
        let change_notice_minutes = match map.get("change_notice_minutes") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|n| *n <= 60 * 24 * 30)
                    .map(|n| n as u32)
                    .ok_or_else(|| FieldError {
                        field: "change_notice_minutes".into(),
                        message: "must be a whole number of minutes from 0 to 43200 (30 days); leave it out to use min_notice_minutes".into(),
                    })?,
            ),
        };
        Ok(Self {
            address: spoken(map, "address", 300)?,
            faq: faq(map)?,
            persona,
            instructions: plain_text(map, "instructions", 2000)?,
            model,
            recognize_callers,
            change_notice_minutes,
        })
    }

    /// Adds the line fields to a tenant's JSON.
    pub fn add_to(&self, obj: &mut Map<String, Value>) {
        obj.insert("address".into(), json!(self.address));
        obj.insert(
            "faq".into(),
            Value::Array(
                self.faq
                    .iter()
                    .map(|f| json!({"question": f.question, "answer": f.answer}))
                    .collect(),
            ),
        );
        obj.insert("persona".into(), json!(self.persona.map(Persona::name)));
        obj.insert("instructions".into(), json!(self.instructions));
        obj.insert("model".into(), json!(self.model));
        obj.insert("recognize_callers".into(), json!(self.recognize_callers));
        obj.insert(
            "change_notice_minutes".into(),
            json!(self.change_notice_minutes),
        );
    }

    /// The stored form (the tenant's `line` column).
    pub fn to_stored(&self) -> String {
        let mut obj = Map::new();
        self.add_to(&mut obj);
        Value::Object(obj).to_string()
    }

    /// Reads the stored form back; an error says what is wrong with it.
    pub fn from_stored(s: &str) -> Result<Self, FieldError> {
        match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(map)) => Self::from_map(&map),
            _ => err("line", "the stored line settings are not a JSON object"),
        }
    }

    /// Minutes before a start inside which callers cannot change it by phone.
    pub fn change_notice(&self, min_notice_minutes: u32) -> u32 {
        self.change_notice_minutes.unwrap_or(min_notice_minutes)
    }

    /// The `<Assistant>` to place in the `<AIGather>`: only when the tenant sets a persona,
    /// instructions or a model, so a tenant that sets none gets no element at all.
    pub fn assistant(&self, business: &str) -> Option<Assistant> {
        if self.persona.is_none() && self.instructions.is_none() && self.model.is_none() {
            return None;
        }
        let values = Values::business(business);
        let parts: Vec<String> = self
            .persona
            .map(|p| p.instructions().trim())
            .into_iter()
            .chain(self.instructions.as_deref())
            .map(|t| wording::fill(t, &values))
            .collect();
        Some(Assistant {
            model: self.model.clone(),
            instructions: (!parts.is_empty()).then(|| parts.join(" ")),
        })
    }
}

fn faq(map: &Map<String, Value>) -> Result<Vec<Faq>, FieldError> {
    let list = match map.get("faq") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return err(
                "faq",
                "must be a list of {\"question\": \"…\", \"answer\": \"…\"}",
            );
        }
    };
    if list.len() > MAX_FAQ {
        return err(
            "faq",
            format!(
                "has {} entries; at most {MAX_FAQ} fit in a call",
                list.len()
            ),
        );
    }
    let mut out: Vec<Faq> = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let field = format!("faq[{i}]");
        let Some(obj) = entry.as_object() else {
            return err(field, "must be an object with question and answer");
        };
        if let Some(k) = obj
            .keys()
            .find(|k| !["question", "answer"].contains(&k.as_str()))
        {
            return err(
                format!("{field}.{k}"),
                "unknown field; an FAQ entry has question and answer",
            );
        }
        let prefixed = |e: FieldError| FieldError {
            field: format!("{field}.{}", e.field),
            message: e.message,
        };
        let question = plain_text(obj, "question", 200)
            .map_err(prefixed)?
            .ok_or_else(|| FieldError {
                field: format!("{field}.question"),
                message: "this field is required".into(),
            })?;
        let answer = spoken(obj, "answer", 600)
            .map_err(prefixed)?
            .ok_or_else(|| FieldError {
                field: format!("{field}.answer"),
                message: "this field is required".into(),
            })?;
        if out
            .iter()
            .any(|f| f.question.eq_ignore_ascii_case(&question))
        {
            return err(
                format!("{field}.question"),
                format!("{question:?} is listed twice"),
            );
        }
        out.push(Faq { question, answer });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<LineSpec, FieldError> {
        LineSpec::from_map(v.as_object().unwrap())
    }

    #[test]
    fn a_tenant_that_sets_nothing_gets_no_assistant_and_recognises_callers() {
        let line = parse(json!({})).unwrap();
        assert_eq!(line, LineSpec::default());
        assert!(line.recognize_callers);
        assert_eq!(line.assistant("Bella"), None);
        assert_eq!(line.change_notice(60), 60);
    }

    #[test]
    fn persona_and_instructions_are_joined_with_the_business_filled_in() {
        let line = parse(
            json!({"persona": "salon", "instructions": "Mention {business}'s loyalty card."}),
        )
        .unwrap();
        let a = line.assistant("Bella Salon").unwrap();
        let text = a.instructions.unwrap();
        assert!(text.starts_with("You answer the phone for Bella Salon, a salon."));
        assert!(text.ends_with("Mention Bella Salon's loyalty card."));
        assert_eq!(a.model, None);
        let only_model = parse(json!({"model": "openai/gpt-4o"})).unwrap();
        assert_eq!(
            only_model.assistant("B"),
            Some(Assistant {
                model: Some("openai/gpt-4o".into()),
                instructions: None
            })
        );
    }

    #[test]
    fn bad_line_fields_name_the_field_and_the_fix() {
        let field = |v: Value| parse(v).unwrap_err().field;
        assert_eq!(field(json!({"persona": "dentist"})), "persona");
        assert_eq!(field(json!({"model": "gpt 4"})), "model");
        assert_eq!(
            field(json!({"recognize_callers": "yes"})),
            "recognize_callers"
        );
        assert_eq!(
            field(json!({"change_notice_minutes": -5})),
            "change_notice_minutes"
        );
        assert_eq!(
            field(json!({"faq": [{"question": "Parking?"}]})),
            "faq[0].answer"
        );
        assert_eq!(
            field(json!({"faq": [{"question": "Parking?", "answer": "Yes, {name}."}]})),
            "faq[0].answer"
        );
        assert_eq!(
            field(json!({"faq": [{"question": "Q", "answer": "A", "extra": 1}]})),
            "faq[0].extra"
        );
        assert_eq!(
            field(
                json!({"faq": [{"question": "Q", "answer": "A"}, {"question": "q", "answer": "B"}]})
            ),
            "faq[1].question"
        );
        assert_eq!(field(json!({"address": "Main St\u{202E}"})), "address");
    }

    #[test]
    fn the_stored_form_reads_back_the_same() {
        let line = parse(json!({
            "address": "12 Main St, Springfield",
            "faq": [{"question": "Do you have parking?", "answer": "Yes, behind {business}."}],
            "persona": "clinic",
            "instructions": "Be brief.",
            "model": "openai/gpt-4o",
            "recognize_callers": false,
            "change_notice_minutes": 1440
        }))
        .unwrap();
        assert_eq!(LineSpec::from_stored(&line.to_stored()).unwrap(), line);
    }
}
