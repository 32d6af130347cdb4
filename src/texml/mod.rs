//! TeXML: the documents slotline answers Telnyx with. Every answer goes through [`Texml`],
//! which sets the content type and HTTP 200; [`Texml::apology`] is the answer when anything
//! inside fails, so a caller always hears something sensible.

pub mod callback;
pub mod docs;
pub mod escape;
pub mod schema;
pub mod templates;
pub mod validate;

use askama::Template;
use poem::{
    IntoResponse, Response,
    http::{HeaderValue, StatusCode, header},
};

use templates::SayDoc;

/// Said when slotline cannot continue the call for an internal reason.
pub const APOLOGY: &str = "Sorry, we are having technical trouble and cannot book right now. Please call again later. Goodbye.";

/// Said instead when the call can be handed to the tenant's human.
pub const APOLOGY_HANDOFF: &str = "Sorry, we are having technical trouble with bookings. Let me connect you with someone from the team.";

/// Last resort if even the apology template failed to render (it cannot, but a phone line
/// must never go silent on a bug).
const STATIC_APOLOGY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>\n  <Say>Sorry, we are having technical trouble. Please call again later.</Say>\n  <Hangup/>\n</Response>";

/// What [`Texml::render`] reserves for a document.
const DOC_CAPACITY: usize = 2048;

/// The content type of every TeXML answer.
const CONTENT_TYPE: &str = "application/xml; charset=utf-8";

/// A rendered TeXML document, answered as `application/xml` with HTTP 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Texml(pub String);

impl Texml {
    /// Renders a template; a render failure becomes the apology document.
    pub fn render<T: Template>(template: &T) -> Self {
        // Room for a first answer (about 1.4 kB with its schema) at once: askama's own
        // size hint counts only the template's literal text, so the document grew by
        // reallocation, copying what was written each time.
        let mut doc = String::with_capacity(T::SIZE_HINT.max(DOC_CAPACITY));
        match template.render_into(&mut doc) {
            Ok(()) => Self(doc),
            Err(e) => {
                tracing::error!(error = %e, "a TeXML template failed to render");
                Self(STATIC_APOLOGY.into())
            }
        }
    }

    /// The answer for an internal error: an apology, then a human if one is known, then hang up.
    pub fn apology(transfer: Option<&str>, caller_id: &str) -> Self {
        Self::render(&SayDoc {
            voice: None,
            message: if transfer.is_some() {
                APOLOGY_HANDOFF
            } else {
                APOLOGY
            },
            transfer,
            caller_id,
        })
    }

    /// The document text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl IntoResponse for Texml {
    fn into_response(self) -> Response {
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))
            .body(self.0)
    }
}
