//! `AppError`: the one error type of the JSON (admin) routes. Each variant documents the
//! HTTP status it maps to; bodies are `{"error": "...", "field": "..."}`. Internal causes
//! are logged with their chain and never sent to the client. TeXML routes do not use this:
//! they answer an apology document instead (see `texml::Texml::apology`).

use poem::{Response, error::ResponseError, http::StatusCode};
use serde_json::json;

use crate::{body::BodyError, db::DbError, domain::FieldError, texml::docs::FileProblem};

/// Errors of the admin API.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 422: a field is invalid; the message says what to fix.
    #[error("{0}")]
    Invalid(FieldError),
    /// 422: a TeXML document failed the check; every problem with its line and column.
    #[error("{}", first_problem(.0))]
    InvalidDocument(Vec<FileProblem>),
    /// 400: the body is not JSON at all.
    #[error("the body is not valid JSON: {0}")]
    BadJson(String),
    /// 409: the change clashes with stored data (duplicate slug, occupied slot, ...).
    #[error("{message}")]
    Conflict {
        /// Field at fault, when one is.
        field: String,
        /// What clashed and what to do.
        message: String,
    },
    /// 404: no such tenant or appointment.
    #[error("{0}")]
    NotFound(String),
    /// 401: missing or wrong bearer token.
    #[error("missing or wrong bearer token; send Authorization: Bearer <SLOTLINE_ADMIN_TOKEN>")]
    Unauthorized,
    /// 503: the admin API is off because no token is configured.
    #[error(
        "the admin API is disabled: set SLOTLINE_ADMIN_TOKEN to a long random string and restart slotline"
    )]
    AdminDisabled,
    /// 503: the database cannot take the write now (its queue is full); try again.
    #[error("{0}")]
    Busy(String),
    /// 429: too many wrong tokens from this client; try again after `retry_after` seconds
    /// (sent as `Retry-After`).
    #[error(
        "too many wrong bearer tokens from this address; wait {retry_after} s and check SLOTLINE_ADMIN_TOKEN"
    )]
    TooManyAttempts {
        /// Seconds until this client may try again.
        retry_after: u64,
    },
    /// 412: `If-Match` names another version than the stored one.
    #[error(
        "the tenant changed since you read it (If-Match {given} is not the current ETag {current}); GET it again, reapply your change and retry"
    )]
    PreconditionFailed {
        /// The ETag the client sent.
        given: String,
        /// The stored version's ETag.
        current: String,
    },
    /// 413 (too large), 408 (too slow) or 400 (broken): the request body.
    #[error("{0}")]
    Body(BodyError),
    /// 500: something broke inside; details are in the log.
    #[error("internal error; see the server log")]
    Internal(String),
}

fn first_problem(problems: &[FileProblem]) -> String {
    match problems {
        [] => "the document is invalid".into(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
    }
}

impl From<FieldError> for AppError {
    fn from(e: FieldError) -> Self {
        AppError::Invalid(e)
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => AppError::NotFound("not found".into()),
            DbError::Conflict(msg) => {
                // Repository conflicts are phrased "field: message".
                let (field, message) = msg.split_once(": ").unwrap_or(("", msg.as_str()));
                AppError::Conflict {
                    field: field.into(),
                    message: message.into(),
                }
            }
            e @ (DbError::Overloaded | DbError::Deadline) => AppError::Busy(e.to_string()),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl ResponseError for AppError {
    fn status(&self) -> StatusCode {
        match self {
            AppError::Invalid(_) | AppError::InvalidDocument(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadJson(_) => StatusCode::BAD_REQUEST,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::AdminDisabled | AppError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            AppError::Body(e) => e.status(),
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn as_response(&self) -> Response {
        let (error, field) = match self {
            AppError::Invalid(f) => (f.message.clone(), Some(f.field.clone())),
            AppError::Conflict { field, message } => (
                message.clone(),
                Some(field.clone()).filter(|f| !f.is_empty()),
            ),
            AppError::Internal(cause) => {
                tracing::error!(%cause, "admin request failed");
                (self.to_string(), None)
            }
            other => (other.to_string(), None),
        };
        let mut body = json!({ "error": error });
        if let Some(field) = field {
            body["field"] = field.into();
        }
        if let AppError::InvalidDocument(problems) = self
            && let Some(first) = problems.first()
        {
            // `field` is the file; `line`/`column` the first problem; `problems` all of them.
            body["field"] = first.file.clone().into();
            body["line"] = first.line.into();
            body["column"] = first.column.into();
            body["problems"] = problems
                .iter()
                .map(|p| json!({"line": p.line, "column": p.column, "message": p.message}))
                .collect();
        }
        let mut resp = Response::builder()
            .status(self.status())
            .content_type("application/json")
            .body(body.to_string());
        if matches!(self, AppError::Unauthorized) {
            resp.headers_mut().insert(
                poem::http::header::WWW_AUTHENTICATE,
                poem::http::HeaderValue::from_static("Bearer"),
            );
        }
        if let AppError::TooManyAttempts { retry_after } = self {
            resp.headers_mut().insert(
                poem::http::header::RETRY_AFTER,
                poem::http::HeaderValue::from(*retry_after),
            );
        }
        resp
    }
}
