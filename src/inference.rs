//! Reading the fields out of the conversation when an `<AIGather>` result came back without
//! them (PROTOCOL.md §2.3 field report): one typed client for Telnyx AI Inference,
//! `POST {base}/ai/openai/chat/completions` with `guided_json` set to the same JSON Schema
//! the gather asked with (PROTOCOL.md §9). The caller is waiting, so every request carries
//! a tight timeout; whatever it answers is validated by the caller exactly like a gathered
//! result.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{config::Secret, texml::templates::HistoryMessage};

/// One chat message.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChatMessage {
    /// `system` or `user`.
    pub role: &'static str,
    /// What it says.
    pub content: String,
}

/// The request body (`ChatCompletionRequest` in Telnyx's OpenAPI).
#[derive(Debug, Clone, Serialize)]
pub struct CompletionRequest {
    /// The model asked.
    pub model: String,
    /// The instruction, then the conversation as one transcript.
    pub messages: Vec<ChatMessage>,
    /// The JSON Schema the answer must follow.
    pub guided_json: Value,
    /// 0: the same conversation reads the same way.
    pub temperature: f64,
    /// Enough for the fields, no more.
    pub max_tokens: u32,
    /// Reasoning costs time the caller does not have.
    pub enable_thinking: bool,
}

impl CompletionRequest {
    /// Asks `model` to fill `schema` from `history`; `context` says whose line it is and
    /// what today is, so relative dates resolve.
    pub fn new(model: &str, context: &str, history: &[HistoryMessage], schema: Value) -> Self {
        let transcript = history
            .iter()
            .map(|m| format!("{}: {}", m.role, m.content))
            .collect::<Vec<_>>()
            .join("\n");
        Self {
            model: model.to_string(),
            messages: vec![
                ChatMessage {
                    role: "system",
                    content: format!(
                        "Read the phone conversation between the assistant and a caller. {context} Return only the fields the caller actually gave; leave out anything they did not say."
                    ),
                },
                ChatMessage {
                    role: "user",
                    content: transcript,
                },
            ],
            guided_json: schema,
            temperature: 0.0,
            max_tokens: 400,
            enable_thinking: false,
        }
    }
}

/// Why no fields came back.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    /// No answer within the time the caller can wait.
    #[error("AI Inference did not answer within {0:?}")]
    Timeout(Duration),
    /// The request did not reach Telnyx, or the answer was cut off.
    #[error("AI Inference could not be reached: {0}")]
    Transport(String),
    /// Telnyx answered with an error status.
    #[error("AI Inference answered {status}: {detail}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The start of the body.
        detail: String,
    },
    /// The answer is not a JSON object of fields.
    #[error("AI Inference answered something unusable: {0}")]
    Unusable(String),
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: AnswerMessage,
}

#[derive(Deserialize)]
struct AnswerMessage {
    content: Option<String>,
}

/// A client for chat completions; cheap to clone.
#[derive(Clone, Debug)]
pub struct InferenceClient {
    http: reqwest::Client,
    url: String,
    key: Secret,
}

impl InferenceClient {
    /// A client for `{base}/ai/openai/chat/completions` authenticating with `key`.
    pub fn new(base: &str, key: Secret) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(500))
            .user_agent(concat!("slotline/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            url: format!("{}/ai/openai/chat/completions", base.trim_end_matches('/')),
            key,
        })
    }

    /// Sends `req` and reads the fields it answers, waiting at most `timeout`.
    pub async fn fields(
        &self,
        req: &CompletionRequest,
        timeout: Duration,
    ) -> Result<Map<String, Value>, InferenceError> {
        let call = async {
            let resp = self
                .http
                .post(&self.url)
                .bearer_auth(self.key.expose())
                .header(reqwest::header::ACCEPT, "application/json")
                .json(req)
                .send()
                .await
                .map_err(|e| InferenceError::Transport(e.without_url().to_string()))?;
            let status = resp.status();
            let body = resp
                .bytes()
                .await
                .map_err(|e| InferenceError::Transport(e.without_url().to_string()))?;
            if !status.is_success() {
                let detail: String = String::from_utf8_lossy(&body).chars().take(200).collect();
                return Err(InferenceError::Refused {
                    status: status.as_u16(),
                    detail,
                });
            }
            read_fields(&body)
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| InferenceError::Timeout(timeout))?
    }
}

/// The fields in a completion: the first choice's content, parsed as a JSON object.
fn read_fields(body: &[u8]) -> Result<Map<String, Value>, InferenceError> {
    let completion: Completion = serde_json::from_slice(body)
        .map_err(|e| InferenceError::Unusable(format!("not a chat completion ({e})")))?;
    let content = completion
        .choices
        .into_iter()
        .next()
        .and_then(|c| c.message.content)
        .ok_or_else(|| InferenceError::Unusable("no choice with content".into()))?;
    match serde_json::from_str::<Value>(content.trim()) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(InferenceError::Unusable(
            "the content is JSON but not an object".into(),
        )),
        Err(e) => Err(InferenceError::Unusable(format!(
            "the content is not JSON ({e})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_answer_reads_as_fields() {
        let body = include_bytes!("../tests/fixtures/telnyx/ai-chat-completion-response.json");
        let fields = read_fields(body).unwrap();
        assert_eq!(fields["customer_name"], "Maria Lopez");
        assert_eq!(fields["preferred_time"], "15:00");
    }

    #[test]
    fn answers_without_a_json_object_are_unusable() {
        for body in [
            r#"{"choices": []}"#,
            r#"{"choices": [{"message": {"content": "Sure! The name is Maria."}}]}"#,
            r#"{"choices": [{"message": {"content": "[1, 2]"}}]}"#,
            "<html>",
        ] {
            assert!(
                matches!(
                    read_fields(body.as_bytes()),
                    Err(InferenceError::Unusable(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn the_request_carries_the_schema_and_the_conversation_as_one_transcript() {
        let history = [
            HistoryMessage {
                role: "assistant",
                content: "Thanks for calling.".into(),
            },
            HistoryMessage {
                role: "user",
                content: "A haircut at 3.".into(),
            },
        ];
        let schema = serde_json::json!({"type": "object"});
        let req = CompletionRequest::new("m", "Today is Tuesday.", &history, schema.clone());
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(v["guided_json"], schema);
        assert_eq!(
            v["messages"][1]["content"],
            "assistant: Thanks for calling.\nuser: A haircut at 3."
        );
        assert!(
            v["messages"][0]["content"]
                .as_str()
                .unwrap()
                .contains("Today is Tuesday.")
        );
    }
}
