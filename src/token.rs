//! Signed state tokens carried in the `action` URL of every `<AIGather>`. Telnyx signs only
//! the body, so without this a captured callback could be replayed against another tenant,
//! call or step. The token is `tenant.step.attempt.turn.subject.expiry.mac`, the MAC being
//! HMAC-SHA256 over those fields and the call's `CallSid`. (A token of the earlier
//! `tenant.step.attempt.expiry.mac` shape, issued before an upgrade, is still read.)

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
    /// Which of the caller's appointments to move.
    PickMove,
    /// Which of the caller's appointments to cancel.
    PickCancel,
    /// The new time for the appointment in `subject`.
    Move,
    /// Yes/no before cancelling the appointment in `subject`.
    Cancel,
    /// A reminder call (`subject`: its row): the answer fetch and Telnyx's callbacks.
    Reminder,
    /// The person's choice on a reminder call (1 confirm, 2 reschedule, 3 cancel, 9 stop).
    ReminderChoice,
    /// Yes/no before a reminder call cancels the appointment.
    ReminderCancel,
}

impl Step {
    fn code(self) -> &'static str {
        match self {
            Step::Gather => "g",
            Step::Confirm => "c",
            Step::PickMove => "pm",
            Step::PickCancel => "pc",
            Step::Move => "m",
            Step::Cancel => "x",
            Step::Reminder => "r",
            Step::ReminderChoice => "rk",
            Step::ReminderCancel => "rx",
        }
    }
    fn from_code(s: &str) -> Option<Self> {
        match s {
            "g" => Some(Step::Gather),
            "c" => Some(Step::Confirm),
            "pm" => Some(Step::PickMove),
            "pc" => Some(Step::PickCancel),
            "m" => Some(Step::Move),
            "x" => Some(Step::Cancel),
            "r" => Some(Step::Reminder),
            "rk" => Some(Step::ReminderChoice),
            "rx" => Some(Step::ReminderCancel),
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
    /// 1 for the first ask, counting up with each re-prompt of the same question (the
    /// tenant's `max_attempts` bounds it).
    pub attempt: u32,
    /// 1 for the call's first answer, counting up with every answer the line gives, so
    /// each round of the conversation has its own idempotency key.
    pub turn: u32,
    /// The appointment the question is about (0: none).
    pub subject: i64,
    /// Unix seconds after which the token is refused.
    pub expires_at: i64,
}

impl Claims {
    /// The first question of a call.
    pub fn first(tenant_id: i64, expires_at: i64) -> Self {
        Self {
            tenant_id,
            step: Step::Gather,
            attempt: 1,
            turn: 1,
            subject: 0,
            expires_at,
        }
    }

    /// The idempotency key of the callback answering this token: one per round, so a
    /// "no" to one confirmation is never replayed as the answer to a later one.
    pub fn step_key(&self) -> String {
        format!("{}{}", self.step.code(), self.turn)
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
    /// HMAC keyed once: each token then costs the hashing of its own bytes, not also the
    /// two key blocks (two of five SHA-256 compressions per token).
    keyed: Hmac<Sha256>,
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
            keyed: <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
                .expect("HMAC accepts keys of any length"),
        }
    }

    fn mac(&self, fields: &str, call_sid: &str) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(fields.as_bytes());
        mac.update(b"|");
        mac.update(call_sid.as_bytes());
        mac
    }

    /// Issues a token for `claims`, bound to `call_sid`.
    pub fn sign(&self, claims: &Claims, call_sid: &str) -> String {
        let fields = format!(
            "{}.{}.{}.{}.{}.{}",
            claims.tenant_id,
            claims.step.code(),
            claims.attempt,
            claims.turn,
            claims.subject,
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
        let parts: Vec<&str> = fields.split('.').collect();
        let num = |s: &str| s.parse::<i64>().map_err(|_| TokenError::Malformed);
        let small = |s: &str| s.parse::<u32>().map_err(|_| TokenError::Malformed);
        let (tenant_id, step, attempt, turn, subject, expires_at) = match parts.as_slice() {
            [t, s, a, turn, subject, e] => {
                (num(t)?, *s, small(a)?, small(turn)?, num(subject)?, num(e)?)
            }
            // The earlier shape: its attempt was also its round.
            [t, s, a, e] => (num(t)?, *s, small(a)?, small(a)?, 0, num(e)?),
            _ => return Err(TokenError::Malformed),
        };
        let step = Step::from_code(step).ok_or(TokenError::Malformed)?;
        if now > expires_at {
            return Err(TokenError::Expired);
        }
        Ok(Claims {
            tenant_id,
            step,
            attempt,
            turn,
            subject,
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
            step: Step::Move,
            attempt: 2,
            turn: 5,
            subject: 42,
            expires_at: 1000,
        }
    }

    #[test]
    fn a_token_of_the_earlier_shape_is_still_read() {
        let s = TokenSigner::new(b"secret");
        let fields = "7.c.2.1000";
        let tag = s.mac(fields, "v3:abc").finalize().into_bytes();
        let t = format!("{fields}.{}", URL_SAFE_NO_PAD.encode(tag));
        let c = s.verify(&t, "v3:abc", 999).unwrap();
        assert_eq!(
            (c.step, c.attempt, c.turn, c.subject),
            (Step::Confirm, 2, 2, 0)
        );
    }

    #[test]
    fn every_step_survives_the_round_trip() {
        let s = TokenSigner::new(b"secret");
        for step in [
            Step::Gather,
            Step::Confirm,
            Step::PickMove,
            Step::PickCancel,
            Step::Move,
            Step::Cancel,
            Step::Reminder,
            Step::ReminderChoice,
            Step::ReminderCancel,
        ] {
            let c = Claims { step, ..claims() };
            assert_eq!(s.verify(&s.sign(&c, "v3:abc"), "v3:abc", 0), Ok(c));
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
