//! Reading request bodies: every route that reads one does so here, with a size cap and a
//! deadline, so a client can neither make the server buffer an unbounded body nor hold a
//! connection by sending one byte at a time. (poem's `SizeLimit` only reads
//! `Content-Length`; a chunked body is capped only while it is read.)

use std::time::Duration;

use poem::{FromRequest, Request, RequestBody, error::ReadBodyError, http::StatusCode};

use crate::{error::AppError, startup::AppState};

/// Largest admin request body (a tenant's JSON or a TeXML document is a few kB).
pub const ADMIN_MAX_BYTES: usize = 1024 * 1024;

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// More than `limit` bytes.
    #[error("the body is larger than {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// Not all there before the deadline.
    #[error("the body did not arrive within {} s", .0.as_secs())]
    TooSlow(Duration),
    /// The connection failed while reading (or another extractor took the body).
    #[error("the body could not be read: {0}")]
    Read(String),
}

impl BodyError {
    /// The HTTP status a client gets for it.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TooSlow(_) => StatusCode::REQUEST_TIMEOUT,
            BodyError::Read(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// Reads the whole body: at most `limit` bytes, all within `deadline`.
pub async fn read(
    body: &mut RequestBody,
    limit: usize,
    deadline: Duration,
) -> Result<Vec<u8>, BodyError> {
    let body = body.take().map_err(|e| BodyError::Read(e.to_string()))?;
    tokio::time::timeout(deadline, collect(body, limit))
        .await
        .unwrap_or(Err(BodyError::TooSlow(deadline)))
}

/// The body's chunks as one `Vec`, failing once they add up to more than `limit`. Taken
/// as hyper hands them over: poem's `into_bytes_limit` copies each through a zeroed 4 KB
/// buffer into a `BytesMut` (and the caller copied that once more), which was 4% of the
/// unsigned voice URL's instructions for a 400-byte body.
async fn collect(body: poem::Body, limit: usize) -> Result<Vec<u8>, BodyError> {
    use futures_util::StreamExt;
    let mut chunks = std::pin::pin!(body.into_bytes_stream());
    let mut data = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| BodyError::Read(ReadBodyError::Io(e).to_string()))?;
        if data.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data)
}

/// An admin request body, read under [`ADMIN_MAX_BYTES`] and the body deadline; put it
/// after the `Admin` extractor so nothing is read before the token is checked.
pub struct AdminBody(pub Vec<u8>);

impl<'a> FromRequest<'a> for AdminBody {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let state = req
            .data::<AppState>()
            .ok_or_else(|| poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR))?;
        read(body, ADMIN_MAX_BYTES, state.settings.http.body_timeout)
            .await
            .map(AdminBody)
            .map_err(|e| AppError::Body(e).into())
    }
}
