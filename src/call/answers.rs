//! Where `slotline call` gets the caller's answers: the `--answer FIELD=VALUE` flags (and
//! `--yes`/`--no` for a confirmation), or a prompt per field in the terminal. Also how a
//! gather's schema is shown: its fields, required first, enums as numbered choices.

use std::{
    collections::BTreeMap,
    io::{BufRead, Write},
};

use serde_json::{Map, Value};

/// The field a yes/no confirmation asks for; `--yes` and `--no` answer it.
pub const CONFIRM_FIELD: &str = "confirm";
/// The field the line's first question asks what the caller wants in.
const INTENT_FIELD: &str = "intent";
/// What a caller wants who gives no intent, and what a booking field holds for a caller who
/// wants something else (as the line's schema tells the AI).
const BOOK: &str = "book";
const NOT_BOOKING: &str = "none";
/// Fields a scripted caller says once: having asked their question (or named what they
/// want), they do not ask it again on the next turn.
const SAID_ONCE: [&str; 2] = [INTENT_FIELD, "question_topic"];

/// One field of a gather's schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Property name.
    pub name: String,
    /// Listed under `required`.
    pub required: bool,
    /// `description`, if any.
    pub description: Option<String>,
    /// `enum` values, if any.
    pub choices: Vec<String>,
}

/// The fields of a JSON Schema object: required ones in their listed order, then the rest
/// by name.
pub fn fields(schema: &Value) -> Vec<Field> {
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let field = |name: &str, spec: &Value| Field {
        name: name.to_string(),
        required: required.contains(&name),
        description: spec
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string),
        choices: spec
            .get("enum")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let mut out: Vec<Field> = required
        .iter()
        .filter_map(|name| properties.get(*name).map(|spec| field(name, spec)))
        .collect();
    out.extend(
        properties
            .iter()
            .filter(|(name, _)| !required.contains(&name.as_str()))
            .map(|(name, spec)| field(name, spec)),
    );
    out
}

/// The caller's side of the conversation.
pub enum Answers<'a> {
    /// From the command line: the same answers every turn, for the fields a turn asks.
    Scripted {
        /// `--answer FIELD=VALUE`, in order.
        given: BTreeMap<String, String>,
        /// Fields answered at least once (to warn about the others at the end).
        used: std::collections::BTreeSet<String>,
    },
    /// Asked in the terminal, one prompt per field.
    Prompted {
        /// Where answers are read.
        input: &'a mut dyn BufRead,
    },
}

/// A wrong `--answer` flag.
#[derive(Debug, thiserror::Error)]
#[error("--answer {0:?}: write it as FIELD=VALUE, e.g. --answer customer_name='Jane Doe'")]
pub struct AnswerFlagError(String);

impl<'a> Answers<'a> {
    /// Scripted answers from `--answer` flags and `--yes`/`--no`.
    pub fn scripted(flags: &[String], confirm: Option<bool>) -> Result<Self, AnswerFlagError> {
        let mut given = BTreeMap::new();
        for flag in flags {
            let (field, value) = flag
                .split_once('=')
                .filter(|(f, _)| !f.trim().is_empty())
                .ok_or_else(|| AnswerFlagError(flag.clone()))?;
            given.insert(field.trim().to_string(), value.to_string());
        }
        if let Some(yes) = confirm {
            given
                .entry(CONFIRM_FIELD.to_string())
                .or_insert_with(|| if yes { "yes" } else { "no" }.to_string());
        }
        Ok(Self::Scripted {
            given,
            used: Default::default(),
        })
    }

    /// The answers to `fields`, printing prompts to `out` when prompting. `None` for a
    /// field means the caller said nothing about it.
    pub fn answer(
        &mut self,
        fields: &[Field],
        out: &mut dyn Write,
    ) -> std::io::Result<Map<String, Value>> {
        let mut result = Map::new();
        match self {
            Self::Scripted { given, used } => {
                for f in fields {
                    let once = SAID_ONCE.contains(&f.name.as_str());
                    if let Some(v) = given.get(&f.name)
                        && !(once && used.contains(&f.name))
                    {
                        used.insert(f.name.clone());
                        result.insert(f.name.clone(), Value::String(v.clone()));
                    }
                }
                // As the AI does: a caller who gives booking details and no intent books.
                if fields.iter().any(|f| f.name == INTENT_FIELD) {
                    result
                        .entry(INTENT_FIELD)
                        .or_insert_with(|| Value::String(BOOK.into()));
                }
            }
            Self::Prompted { input } => {
                for f in fields {
                    if not_booking(&result) && f.required {
                        continue;
                    }
                    if let Some(v) = prompt(f, *input, out)? {
                        result.insert(f.name.clone(), Value::String(v));
                    }
                }
            }
        }
        // A caller who wants something else leaves the booking fields at "none".
        if not_booking(&result) {
            for f in fields.iter().filter(|f| f.required) {
                result
                    .entry(f.name.clone())
                    .or_insert_with(|| Value::String(NOT_BOOKING.into()));
            }
        }
        Ok(result)
    }

    /// Whether the caller has anything to say to a turn asking `fields`: a scripted caller
    /// with no answer left for any of them hangs up (one who asked a question and had
    /// nothing to book); a prompted one is always asked.
    pub fn can_answer(&self, fields: &[Field]) -> bool {
        match self {
            Self::Scripted { given, used } => fields.iter().any(|f| {
                given.contains_key(&f.name)
                    && !(SAID_ONCE.contains(&f.name.as_str()) && used.contains(&f.name))
            }),
            Self::Prompted { .. } => true,
        }
    }

    /// `--answer` fields no turn asked for (a misspelt field name, usually).
    pub fn never_asked(&self) -> Vec<String> {
        match self {
            Self::Scripted { given, used } => given
                .keys()
                .filter(|k| !used.contains(*k) && k.as_str() != CONFIRM_FIELD)
                .cloned()
                .collect(),
            Self::Prompted { .. } => Vec::new(),
        }
    }
}

/// Whether the caller said they want something other than a booking.
fn not_booking(result: &Map<String, Value>) -> bool {
    result
        .get(INTENT_FIELD)
        .and_then(Value::as_str)
        .is_some_and(|i| !i.trim().eq_ignore_ascii_case(BOOK))
}

/// Asks for one field until the answer is usable: empty skips an optional field, a number
/// picks a choice, anything else is taken as said (the line checks it, as with a caller).
fn prompt(
    f: &Field,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> std::io::Result<Option<String>> {
    loop {
        let need = if f.required { "" } else { ", Enter to skip" };
        if f.choices.is_empty() {
            write!(out, "    {}{need}: ", f.name)?;
        } else {
            let list: Vec<String> = f
                .choices
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{}) {c}", i + 1))
                .collect();
            write!(out, "    {} [{}]{need}: ", f.name, list.join("  "))?;
        }
        out.flush()?;
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "the input ended while {} was asked; give answers with --answer FIELD=VALUE to run without prompts",
                    f.name
                ),
            ));
        }
        let line = line.trim();
        if line.is_empty() {
            if f.required {
                writeln!(out, "      (the line needs {}; say something)", f.name)?;
                continue;
            }
            return Ok(None);
        }
        if let Ok(n) = line.parse::<usize>()
            && let Some(choice) = n.checked_sub(1).and_then(|i| f.choices.get(i))
        {
            return Ok(Some(choice.clone()));
        }
        return Ok(Some(line.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object",
            "properties": {
                "provider": {"type": "string", "enum": ["Anna", "Marco"]},
                "service": {"type": "string", "enum": ["Haircut", "Colour"]},
                "customer_name": {"type": "string", "description": "The caller's full name"}},
            "required": ["customer_name", "service"]})
    }

    #[test]
    fn fields_list_the_required_ones_first_in_their_order() {
        let f = fields(&schema());
        let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["customer_name", "service", "provider"]);
        assert!(f[0].required && f[1].required && !f[2].required);
        assert_eq!(f[1].choices, ["Haircut", "Colour"]);
    }

    #[test]
    fn scripted_answers_fill_only_the_fields_a_turn_asks_and_name_the_unused_ones() {
        let flags = ["service=Haircut".to_string(), "servce=x".to_string()];
        let mut a = Answers::scripted(&flags, Some(true)).unwrap();
        let got = a.answer(&fields(&schema()), &mut Vec::new()).unwrap();
        assert_eq!(Value::Object(got), json!({"service": "Haircut"}));
        assert_eq!(a.never_asked(), ["servce"]);
    }

    #[test]
    fn an_answer_flag_without_an_equals_sign_says_how_to_write_it() {
        let err = Answers::scripted(&["Jane".into()], None).err().unwrap();
        assert!(err.to_string().contains("FIELD=VALUE"));
    }

    #[test]
    fn prompts_take_a_choice_by_number_and_skip_optional_fields() {
        let mut input: &[u8] = b"\nJane Doe\n1\n\n";
        let mut out = Vec::new();
        let mut a = Answers::Prompted { input: &mut input };
        let got = a.answer(&fields(&schema()), &mut out).unwrap();
        assert_eq!(
            Value::Object(got),
            json!({"customer_name": "Jane Doe", "service": "Haircut"})
        );
        let shown = String::from_utf8(out).unwrap();
        assert!(shown.contains("service [1) Haircut  2) Colour]"), "{shown}");
        assert!(shown.contains("the line needs customer_name"), "{shown}");
    }

    #[test]
    fn prompts_that_run_out_of_input_say_how_to_script_the_answers() {
        let mut input: &[u8] = b"";
        let mut a = Answers::Prompted { input: &mut input };
        let err = a.answer(&fields(&schema()), &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("--answer"), "{err}");
    }
}
