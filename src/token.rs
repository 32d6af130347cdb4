//! Signed state tokens carried in the `action` URL of every `<AIGather>`. Telnyx signs only
//! the body, so without this a captured callback could be replayed against another tenant,
//! call or step. The token is `tenant.step.attempt.expiry.mac`, the MAC being HMAC-SHA256
//! over those fields and the call's `CallSid`.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How long a token stays valid: longer than any booking conversation.
pub const LIFETIME_SECONDS: i64 = 3600;

/// Which question the caller is answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The booking questions (name, service, date, time, ...).
    Gather,
    /// A yes/no confirmation of a held slot.
    Confirm,
}

impl Step {
    fn code(self) -> &'static str {
        match self {
            Step::Gather => "g",
            Step::Confirm => "c",
        }
    }
    fn from_code(s: &str) -> Option<Self> {
        match s {
            "g" => Some(Step::Gather),
            "c" => Some(Step::Confirm),
            _ => None,
        }
    }
}

/// What a token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims {
    /// The tenant whose call this is.
    pub tenant_id: i64,
    /// The question being answered.
    pub step: Step,
    /// 1 for the first ask, counting up with each re-prompt.
    pub attempt: u32,
    /// Unix seconds after which the token is refused.
    pub expires_at: i64,
}

impl Claims {
    /// The idempotency key of the callback answering this token.
    pub fn step_key(&self) -> String {
        format!("{}{}", self.step.code(), self.attempt)
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token is missing or not in the expected shape.
    #[error("state token is missing or malformed")]
    Malformed,
    /// The MAC does not match (tampered, other call, or other secret).
    #[error("state token signature does not match")]
    BadMac,
    /// The token is past its expiry.
    #[error("state token has expired")]
    Expired,
}

/// Signs and checks tokens with the server's URL secret.
#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner([redacted])")
    }
}

impl TokenSigner {
    /// A signer keyed with `secret`.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: secret.to_vec(),
        }
    }

    fn mac(&self, fields: &str, call_sid: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC accepts keys of any length");
        mac.update(fields.as_bytes());
        mac.update(b"|");
        mac.update(call_sid.as_bytes());
        mac
    }

    /// Issues a token for `claims`, bound to `call_sid`.
    pub fn sign(&self, claims: &Claims, call_sid: &str) -> String {
        let fields = format!(
            "{}.{}.{}.{}",
            claims.tenant_id,
            claims.step.code(),
            claims.attempt,
            claims.expires_at
        );
        let tag = self.mac(&fields, call_sid).finalize().into_bytes();
        format!("{fields}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// Checks `token` for `call_sid` at time `now` (Unix seconds), in constant time.
    pub fn verify(&self, token: &str, call_sid: &str, now: i64) -> Result<Claims, TokenError> {
        let (fields, tag) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        self.mac(fields, call_sid)
            .verify_slice(&tag)
            .map_err(|_| TokenError::BadMac)?;
        let mut parts = fields.split('.');
        let mut next = || parts.next().ok_or(TokenError::Malformed);
        let tenant_id = next()?.parse().map_err(|_| TokenError::Malformed)?;
        let step = Step::from_code(next()?).ok_or(TokenError::Malformed)?;
        let attempt = next()?.parse().map_err(|_| TokenError::Malformed)?;
        let expires_at = next()?.parse().map_err(|_| TokenError::Malformed)?;
        if now > expires_at {
            return Err(TokenError::Expired);
        }
        Ok(Claims {
            tenant_id,
            step,
            attempt,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn claims() -> Claims {
        Claims {
            tenant_id: 7,
            step: Step::Gather,
            attempt: 2,
            expires_at: 1000,
        }
    }

    #[test]
    fn a_token_round_trips_for_its_call() {
        let s = TokenSigner::new(b"secret");
        let t = s.sign(&claims(), "v3:abc");
        assert_eq!(s.verify(&t, "v3:abc", 999), Ok(claims()));
    }

    #[test]
    fn a_token_is_refused_for_another_call_secret_or_after_expiry() {
        let s = TokenSigner::new(b"secret");
        let t = s.sign(&claims(), "v3:abc");
        assert_eq!(s.verify(&t, "v3:other", 999), Err(TokenError::BadMac));
        assert_eq!(
            TokenSigner::new(b"other").verify(&t, "v3:abc", 999),
            Err(TokenError::BadMac)
        );
        assert_eq!(s.verify(&t, "v3:abc", 1001), Err(TokenError::Expired));
        assert_eq!(s.verify("", "v3:abc", 0), Err(TokenError::Malformed));
    }

    proptest! {
        #[test]
        fn any_edit_to_a_token_is_refused(pos in 0usize..40, byte in 0u8..128) {
            let s = TokenSigner::new(b"secret");
            let t = s.sign(&claims(), "v3:abc");
            let mut bytes = t.clone().into_bytes();
            let i = pos % bytes.len();
            prop_assume!(bytes[i] != byte);
            bytes[i] = byte;
            let edited = String::from_utf8_lossy(&bytes).into_owned();
            prop_assert!(s.verify(&edited, "v3:abc", 0).is_err());
        }
    }
}
