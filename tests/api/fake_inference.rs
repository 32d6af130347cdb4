//! A fake Telnyx AI Inference API inside the test binary: a poem server on 127.0.0.1 whose
//! `POST /ai/openai/chat/completions` answers each request with the next scripted
//! [`Reply`] and records the request body. (`.ci/run`'s Prism check holds the request to
//! Telnyx's schema; this fake only plays the answers.)

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use poem::{
    EndpointExt, Response, Route, Server, handler, http::StatusCode, listener::TcpAcceptor, post,
    web::Data,
};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// How the fake answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with a chat completion whose content is these fields as JSON.
    Fields(Value),
    /// 200 with a completion whose content is prose, not JSON.
    Prose,
    /// This status with an error body.
    Status(u16),
    /// Waits this long, then answers 200 (longer than slotline waits).
    Hang(Duration),
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Reply>,
    received: Vec<(Value, Option<String>)>,
}

/// A running fake AI Inference API.
pub struct FakeInference {
    /// `http://127.0.0.1:PORT` — what `TELNYX_API_BASE` is set to.
    pub base: String,
    shared: Arc<Mutex<Shared>>,
    stop: Option<oneshot::Sender<()>>,
}

#[handler]
async fn completions(
    shared: Data<&Arc<Mutex<Shared>>>,
    req: &poem::Request,
    body: poem::Body,
) -> Response {
    let body: Value =
        serde_json::from_slice(&body.into_vec().await.unwrap_or_default()).unwrap_or(Value::Null);
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let reply = {
        let mut s = shared.lock().unwrap();
        s.received.push((body, auth));
        s.script.pop_front()
    };
    let completion = |content: String| {
        Response::builder()
            .content_type("application/json")
            .body(
                json!({"id": "chatcmpl-fake", "object": "chat.completion",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]})
                .to_string(),
            )
    };
    match reply.unwrap_or(Reply::Status(500)) {
        Reply::Fields(fields) => completion(fields.to_string()),
        Reply::Prose => completion("Sure! The caller wants a haircut.".into()),
        Reply::Status(code) => Response::builder()
            .status(StatusCode::from_u16(code).unwrap())
            .content_type("application/json")
            .body(
                json!({"detail": [{"loc": ["body"], "msg": "refused", "type": "fake"}]})
                    .to_string(),
            ),
        Reply::Hang(d) => {
            tokio::time::sleep(d).await;
            completion("{}".into())
        }
    }
}

impl FakeInference {
    /// Starts the fake on a free port with `script`.
    pub async fn start(script: Vec<Reply>) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            script: script.into(),
            ..Shared::default()
        }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("the fake AI Inference API binds");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
        let app = Route::new()
            .at("/ai/openai/chat/completions", post(completions))
            .data(shared.clone());
        let (stop, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    app,
                    async move {
                        let _ = rx.await;
                    },
                    Some(Duration::from_millis(200)),
                )
                .await;
        });
        Self {
            base,
            shared,
            stop: Some(stop),
        }
    }

    /// Every request so far: (JSON body, `Authorization` header).
    pub fn received(&self) -> Vec<(Value, Option<String>)> {
        self.shared.lock().unwrap().received.clone()
    }
}

impl Drop for FakeInference {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
