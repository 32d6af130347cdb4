//! `ConsoleError`: what a console request can end in besides a page. Each variant names
//! its status; all answer an HTML page (or, for [`ConsoleError::SignIn`], a redirect to the
//! sign-in page), never JSON. Internal causes are logged, not shown.

use askama::Template;
use poem::{
    Response,
    error::ResponseError,
    http::{StatusCode, header},
};

use crate::{db::DbError, error::AppError};

/// Errors of the console.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// 303 to `/console/sign-in`: no valid session.
    #[error("sign in first")]
    SignIn,
    /// 403: a cross-site request or a form without this session's token.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such tenant, appointment, text or document.
    #[error("{0}")]
    NotFound(String),
    /// 429: too many wrong tokens from this address.
    #[error(
        "too many wrong admin tokens from this address; wait {retry_after} s and check SLOTLINE_ADMIN_TOKEN"
    )]
    TooManyAttempts {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// 503: no admin token is configured, so nobody can sign in.
    #[error(
        "the console is off: set SLOTLINE_ADMIN_TOKEN to a long random string and restart slotline"
    )]
    Disabled,
    /// 503: the database is busy; try again.
    #[error("{0}")]
    Busy(String),
    /// 500: details are in the log.
    #[error("something went wrong inside slotline; the details are in the server log")]
    Internal(String),
}

impl From<DbError> for ConsoleError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => ConsoleError::NotFound("not found".into()),
            e @ (DbError::Overloaded | DbError::Deadline) => ConsoleError::Busy(e.to_string()),
            other => ConsoleError::Internal(other.to_string()),
        }
    }
}

impl From<askama::Error> for ConsoleError {
    fn from(e: askama::Error) -> Self {
        ConsoleError::Internal(format!("rendering a console page: {e}"))
    }
}

/// Only for the non-field errors of shared functions; field errors are shown in place by
/// the pages before it comes to this.
impl From<AppError> for ConsoleError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound(m) => ConsoleError::NotFound(m),
            AppError::Busy(m) => ConsoleError::Busy(m),
            AppError::Internal(m) => ConsoleError::Internal(m),
            other => ConsoleError::Internal(other.to_string()),
        }
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: String,
}

impl ResponseError for ConsoleError {
    fn status(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn => StatusCode::SEE_OTHER,
            ConsoleError::Forbidden(_) => StatusCode::FORBIDDEN,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            ConsoleError::Disabled | ConsoleError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn as_response(&self) -> Response {
        if let ConsoleError::SignIn = self {
            return Response::builder()
                .status(StatusCode::SEE_OTHER)
                .header(header::LOCATION, "/console/sign-in")
                .finish();
        }
        if let ConsoleError::Internal(cause) = self {
            tracing::error!(%cause, "console request failed");
        }
        let title = match self.status() {
            StatusCode::FORBIDDEN => "Refused",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
            StatusCode::SERVICE_UNAVAILABLE => "Unavailable",
            _ => "Error",
        };
        let body = ErrorPage {
            title,
            message: self.to_string(),
        }
        .render()
        .unwrap_or_else(|_| self.to_string());
        let mut resp = Response::builder()
            .status(self.status())
            .content_type("text/html; charset=utf-8")
            .body(body);
        if let ConsoleError::TooManyAttempts { retry_after } = self {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                poem::http::HeaderValue::from(*retry_after),
            );
        }
        resp
    }
}
