//! Who may use the console: [`Operator`] (a valid session cookie, or a redirect to sign
//! in) and [`Posted`] (a form from a signed-in operator, carrying the session's form
//! token), both extractors so no handler can skip them; and the sign-in and sign-out
//! pages. Sign-in checks the admin token with the API's own check and throttle.

use askama::Template;
use poem::{
    FromRequest, IntoResponse, Request, RequestBody, Response, handler,
    http::{StatusCode, header},
    web::Data,
};

use super::{
    ConsoleError, render,
    session::{COOKIE, Session, cookie_value, set_cookie},
};
use crate::{body, error::AppError, routes::check_admin_token, startup::AppState};

/// Largest console form (a TeXML document or a tenant's settings are a few kB).
const FORM_MAX_BYTES: usize = 256 * 1024;

fn state_of(req: &Request) -> Result<&AppState, ConsoleError> {
    req.data::<AppState>()
        .ok_or_else(|| ConsoleError::Internal("no application state".into()))
}

/// A signed-in operator.
pub struct Operator(pub Session);

impl<'a> FromRequest<'a> for Operator {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let state = state_of(req)?;
        if state.settings.admin_token.is_none() {
            return Err(ConsoleError::Disabled.into());
        }
        let cookie = req
            .headers()
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| cookie_value(h, COOKIE))
            .unwrap_or_default();
        state
            .console
            .verify(cookie, state.clock.now().as_second())
            .map(Operator)
            .ok_or_else(|| ConsoleError::SignIn.into())
    }
}

/// A form posted by a signed-in operator with this session's form token.
pub struct Posted {
    /// The operator's session.
    pub session: Session,
    fields: Vec<(String, String)>,
}

impl Posted {
    /// The first value of field `name`, trimmed; empty when missing.
    pub fn text(&self, name: &str) -> &str {
        self.raw(name).map(str::trim).unwrap_or_default()
    }

    /// The first value of field `name` as sent.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads an urlencoded form body under the console's cap.
async fn form_fields(
    state: &AppState,
    body: &mut RequestBody,
) -> poem::Result<Vec<(String, String)>> {
    let bytes = body::read(body, FORM_MAX_BYTES, state.settings.http.body_timeout)
        .await
        .map_err(AppError::Body)?;
    serde_urlencoded::from_bytes(&bytes).map_err(|e| {
        poem::Error::from_string(
            format!("the form could not be read ({e}); send it from the console's own page"),
            StatusCode::BAD_REQUEST,
        )
    })
}

impl<'a> FromRequest<'a> for Posted {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let Operator(session) = Operator::from_request(req, body).await?;
        let state = state_of(req)?;
        let fields = form_fields(state, body).await?;
        let posted = Posted { session, fields };
        if !posted.session.accepts_form_token(posted.text("form_token")) {
            return Err(ConsoleError::Forbidden(
                "this form is not from your current console session (it is old, or came from another site); reload the page and try again".into(),
            )
            .into());
        }
        Ok(posted)
    }
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    error: Option<String>,
}

/// `GET /console/sign-in`.
#[handler]
pub async fn sign_in_page(state: Data<&AppState>) -> poem::Result<Response> {
    if state.settings.admin_token.is_none() {
        return Err(ConsoleError::Disabled.into());
    }
    Ok(render(&SignInPage { error: None }, StatusCode::OK)?)
}

/// `POST /console/sign-in` with `token`: on the right admin token, a session cookie and
/// the tenants list; otherwise the form again with what went wrong.
#[handler]
pub async fn sign_in(
    req: &Request,
    state: Data<&AppState>,
    body: poem::Body,
) -> poem::Result<Response> {
    let fields = form_fields(&state, &mut RequestBody::new(body)).await?;
    let token = fields
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.trim())
        .unwrap_or_default();
    let client = req.remote_addr().as_socket_addr().map(|a| a.ip());
    let refused = |message: &str, status| {
        render(
            &SignInPage {
                error: Some(message.to_string()),
            },
            status,
        )
    };
    match check_admin_token(&state, client, token) {
        Ok(()) => {
            let (cookie, _) = state.console.issue(state.clock.now().as_second());
            let secure = state.settings.public_url.starts_with("https://");
            tracing::info!("operator signed in to the console");
            Ok(Response::builder()
                .status(StatusCode::SEE_OTHER)
                .header(header::LOCATION, "/console/")
                .header(
                    header::SET_COOKIE,
                    set_cookie(&cookie, super::session::LIFETIME_SECONDS, secure),
                )
                .finish())
        }
        Err(AppError::AdminDisabled) => Err(ConsoleError::Disabled.into()),
        Err(AppError::TooManyAttempts { retry_after }) => {
            Err(ConsoleError::TooManyAttempts { retry_after }.into())
        }
        Err(_) if token.is_empty() => Ok(refused(
            "Enter the admin token (the value of SLOTLINE_ADMIN_TOKEN).",
            StatusCode::UNPROCESSABLE_ENTITY,
        )?),
        Err(_) => Ok(refused(
            "That is not the admin token. Check SLOTLINE_ADMIN_TOKEN on the server and try again.",
            StatusCode::UNAUTHORIZED,
        )?),
    }
}

/// `POST /console/sign-out`: clears the cookie.
#[handler]
pub async fn sign_out(_: Posted, state: Data<&AppState>) -> Response {
    let secure = state.settings.public_url.starts_with("https://");
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, "/console/sign-in")
        .header(header::SET_COOKIE, set_cookie("", 0, secure))
        .finish()
        .into_response()
}
