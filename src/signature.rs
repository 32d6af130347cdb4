//! Telnyx request signatures. Every Telnyx-facing handler takes [`Verified`], an extractor
//! that reads the raw body and checks the Ed25519 signature over `timestamp|body` before
//! anything parses it, so no handler can forget the check. Bad or missing signatures get
//! 403 with a plain-text reason and no TeXML, and so does a signed body replayed on another
//! route ([`crate::replay`]). The body is read under a size cap and a deadline
//! ([`crate::body`]).

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signature, VerifyingKey};
use poem::{FromRequest, Request, RequestBody, http::StatusCode};

use crate::{body, replay::Seen, startup::AppState};

/// How far a `telnyx-timestamp` may be from now, either way (the official SDKs use 300 s).
pub const TOLERANCE_SECONDS: i64 = 300;

/// Largest body a Telnyx request may have; real ones are a few kB.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `telnyx-signature-ed25519` or `telnyx-timestamp` header.
    #[error("missing telnyx-signature-ed25519 or telnyx-timestamp header")]
    Missing,
    /// The timestamp is not whole Unix seconds.
    #[error("telnyx-timestamp is not a Unix time in seconds")]
    BadTimestamp,
    /// The timestamp is outside the ±300 s window.
    #[error(
        "telnyx-timestamp is more than {TOLERANCE_SECONDS} s from now (replayed or clock skew)"
    )]
    Stale,
    /// The signature is not base64 of 64 bytes.
    #[error("telnyx-signature-ed25519 is not base64 of a 64-byte signature")]
    Malformed,
    /// The signature does not match the body and timestamp.
    #[error("signature does not match the request body")]
    Invalid,
    /// This signature was already used on another route within its window.
    #[error("this signed request was already used on another route (replayed)")]
    Replayed,
    /// No public key is configured, so nothing can be verified.
    #[error("TELNYX_PUBLIC_KEY is not set, so Telnyx requests cannot be verified")]
    NoKey,
}

/// The configured public keys (Telnyx's, and in demo mode the local demo key), or the
/// development switch that skips verification.
#[derive(Clone, Debug)]
pub struct Verifier {
    keys: Vec<VerifyingKey>,
    skip: bool,
}

/// The configured key does not decode to an Ed25519 public key.
#[derive(Debug, thiserror::Error)]
#[error(
    "TELNYX_PUBLIC_KEY must be the base64 Ed25519 public key from the Telnyx portal (32 bytes): {0}"
)]
pub struct KeyError(String);

impl Verifier {
    /// Builds a verifier from the base64 key in `TELNYX_PUBLIC_KEY`.
    pub fn new(public_key_b64: Option<&str>, skip: bool) -> Result<Self, KeyError> {
        let key = public_key_b64
            .map(|k| {
                let bytes = STANDARD
                    .decode(k.trim())
                    .map_err(|e| KeyError(e.to_string()))?;
                let arr: [u8; 32] = bytes
                    .try_into()
                    .map_err(|b: Vec<u8>| KeyError(format!("decodes to {} bytes", b.len())))?;
                VerifyingKey::from_bytes(&arr).map_err(|e| KeyError(e.to_string()))
            })
            .transpose()?;
        Ok(Self {
            keys: key.into_iter().collect(),
            skip,
        })
    }

    /// Also accepts signatures made with `key` (demo mode only; see [`crate::demo`]).
    pub fn also_accepting(mut self, key: VerifyingKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Whether checks are skipped (`SLOTLINE_INSECURE_SKIP_SIGNATURES=1`).
    pub fn skips(&self) -> bool {
        self.skip
    }

    /// Whether any request can pass: a key is configured or checks are skipped.
    pub fn can_verify(&self) -> bool {
        self.skip || !self.keys.is_empty()
    }

    /// Checks `signature` over `timestamp|body` at time `now` (Unix seconds).
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        if self.skip {
            return Ok(());
        }
        if self.keys.is_empty() {
            return Err(SignatureError::NoKey);
        }
        let (Some(ts), Some(sig)) = (timestamp, signature) else {
            return Err(SignatureError::Missing);
        };
        let ts = ts.trim();
        if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SignatureError::BadTimestamp);
        }
        let when: i64 = ts.parse().map_err(|_| SignatureError::BadTimestamp)?;
        if (now - when).abs() > TOLERANCE_SECONDS {
            return Err(SignatureError::Stale);
        }
        let raw = STANDARD
            .decode(sig.trim())
            .map_err(|_| SignatureError::Malformed)?;
        let raw: [u8; 64] = raw.try_into().map_err(|_| SignatureError::Malformed)?;
        let signature = Signature::from_bytes(&raw);
        let mut message = Vec::with_capacity(ts.len() + 1 + body.len());
        message.extend_from_slice(ts.as_bytes());
        message.push(b'|');
        message.extend_from_slice(body);
        // Telnyx's key first: with a second (demo) key only a failed check costs two.
        self.keys
            .iter()
            .any(|key| key.verify_strict(&message, &signature).is_ok())
            .then_some(())
            .ok_or(SignatureError::Invalid)
    }
}

/// A request body whose Telnyx signature has been checked; decode it with the methods.
pub struct Verified {
    /// The exact bytes that were verified.
    pub body: Vec<u8>,
    /// True when the body is JSON (Call-Control style events) rather than a form.
    pub is_json: bool,
}

impl<'a> FromRequest<'a> for Verified {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let state = req
            .data::<AppState>()
            .ok_or_else(|| poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR))?;
        let bytes = body::read(body, MAX_BODY_BYTES, state.settings.http.body_timeout)
            .await
            .map_err(|e| poem::Error::from_string(e.to_string(), e.status()))?;
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        let now = state.clock.now().as_second();
        let (timestamp, signature) = (
            header("telnyx-timestamp"),
            header("telnyx-signature-ed25519"),
        );
        let refuse = |e: &SignatureError| {
            state.metrics.signature_failure(e);
            tracing::warn!(path = ?crate::routes::truncated(req.uri().path()), reason = %e, "refused a Telnyx request");
            poem::Error::from_string(e.to_string(), StatusCode::FORBIDDEN)
        };
        state
            .verifier
            .verify(timestamp, signature, &bytes, now)
            .map_err(|e| refuse(&e))?;
        // Verified, so both headers decode. With checks skipped nothing was verified, so
        // nothing is remembered (the replay window holds verified signatures only).
        let remembered = (!state.verifier.skips())
            .then(|| {
                let raw = STANDARD.decode(signature?.trim()).ok()?;
                let ts = timestamp?.trim().parse::<i64>().ok()?;
                Some((raw, ts))
            })
            .flatten();
        if let Some((raw, ts)) = remembered {
            // The path, not the query: a gather body re-sent to another turn's URL of the
            // same call is identical to what Telnyx may send, and that URL's token binds
            // the CallSid anyway.
            let route = format!("{} {}", req.method(), req.uri().path());
            match state.replays.observe(&raw, ts, &route, now) {
                Seen::First => {}
                Seen::Again => {
                    tracing::info!(
                        "a signed request came again on its route (a retried delivery); answered as the first"
                    )
                }
                Seen::ElsewhereBefore => return Err(refuse(&SignatureError::Replayed)),
            }
        }
        let is_json = header("content-type").is_some_and(|c| c.contains("json"));
        Ok(Self {
            body: bytes,
            is_json,
        })
    }
}

impl Verified {
    /// Decodes the body as `application/x-www-form-urlencoded`, reading only the fields
    /// `T` names ([`crate::form`]).
    pub fn form<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_urlencoded::de::Error> {
        crate::form::from_bytes(&self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE_KEY: &str = "GzOl8c8NI5MxkZ8QIv+xlORAyBVdmziMrUgVM7Db8pc=";
    const FIXTURE_TS: i64 = 1_752_591_600;
    const FIXTURE_SIG: &str =
        "2spIhsnLAghzoDDY0NRe4sgLJJoD9SK67blBqURZXkQv2YVr497mtVTvK6YC2U8K/XctG5SjrRirARNlPddbDg==";
    const FIXTURE_BODY: &[u8] = include_bytes!("../tests/fixtures/telnyx/voice-url-request.form");

    fn verifier() -> Verifier {
        Verifier::new(Some(FIXTURE_KEY), false).unwrap()
    }

    #[test]
    fn the_fixture_vector_verifies_at_its_own_time() {
        let ts = FIXTURE_TS.to_string();
        assert_eq!(
            verifier().verify(Some(&ts), Some(FIXTURE_SIG), FIXTURE_BODY, FIXTURE_TS),
            Ok(())
        );
    }

    #[test]
    fn the_window_is_300_seconds_either_way() {
        let ts = FIXTURE_TS.to_string();
        let v = verifier();
        assert!(
            v.verify(Some(&ts), Some(FIXTURE_SIG), FIXTURE_BODY, FIXTURE_TS + 300)
                .is_ok()
        );
        assert_eq!(
            v.verify(Some(&ts), Some(FIXTURE_SIG), FIXTURE_BODY, FIXTURE_TS + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            v.verify(Some(&ts), Some(FIXTURE_SIG), FIXTURE_BODY, FIXTURE_TS - 301),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn one_changed_byte_fails() {
        let ts = FIXTURE_TS.to_string();
        let mut body = FIXTURE_BODY.to_vec();
        body[10] ^= 1;
        assert_eq!(
            verifier().verify(Some(&ts), Some(FIXTURE_SIG), &body, FIXTURE_TS),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        let v = verifier();
        assert_eq!(
            v.verify(None, Some(FIXTURE_SIG), FIXTURE_BODY, FIXTURE_TS),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            v.verify(Some("12a"), Some(FIXTURE_SIG), FIXTURE_BODY, FIXTURE_TS),
            Err(SignatureError::BadTimestamp)
        );
        assert_eq!(
            v.verify(
                Some(&FIXTURE_TS.to_string()),
                Some("AAAA"),
                FIXTURE_BODY,
                FIXTURE_TS
            ),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn a_second_key_is_accepted_besides_the_first_and_only_when_added() {
        let demo = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let ts = FIXTURE_TS.to_string();
        let mut message = ts.clone().into_bytes();
        message.push(b'|');
        message.extend_from_slice(b"CallSid=demo");
        let sig = STANDARD.encode(ed25519_dalek::Signer::sign(&demo, &message).to_bytes());
        let both = verifier().also_accepting(demo.verifying_key());
        assert_eq!(
            both.verify(Some(&ts), Some(&sig), b"CallSid=demo", FIXTURE_TS),
            Ok(())
        );
        assert_eq!(
            both.verify(Some(&ts), Some(FIXTURE_SIG), FIXTURE_BODY, FIXTURE_TS),
            Ok(())
        );
        assert_eq!(
            verifier().verify(Some(&ts), Some(&sig), b"CallSid=demo", FIXTURE_TS),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn a_key_of_the_wrong_length_is_a_configuration_error() {
        assert!(Verifier::new(Some("AAAA"), false).is_err());
        assert!(Verifier::new(Some("not base64!"), false).is_err());
    }

    #[test]
    fn without_a_key_everything_is_refused_unless_skipping() {
        let none = Verifier::new(None, false).unwrap();
        assert_eq!(none.verify(None, None, b"", 0), Err(SignatureError::NoKey));
        assert!(
            Verifier::new(None, true)
                .unwrap()
                .verify(None, None, b"", 0)
                .is_ok()
        );
    }
}
