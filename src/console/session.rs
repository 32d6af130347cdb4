//! Console sessions without a table: the cookie is `v1.<expires>.<nonce>.<mac>`, the MAC an
//! HMAC-SHA256 over the rest under a key derived from the URL secret *and* the admin
//! token, so changing the token signs every operator out. The per-session form token is
//! another MAC over the nonce; forms carry it and every POST is checked against it.
//! Sessions last [`LIFETIME_SECONDS`]; signing out clears the cookie (a copied cookie stays
//! valid until it expires: there is no server-side list to strike it from).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How long a signed-in session lasts: a working day.
pub const LIFETIME_SECONDS: i64 = 12 * 3600;

/// Name of the session cookie.
pub const COOKIE: &str = "slotline_session";

/// The key sessions are signed with.
pub struct Keys {
    key: Vec<u8>,
}

/// A verified session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Unix seconds.
    pub expires: i64,
    /// The token every form of this session carries.
    pub form_token: String,
}

impl Keys {
    /// Keys derived from the URL secret and the admin token (`None`: the console is off,
    /// and no cookie verifies).
    pub fn new(url_secret: &[u8], admin_token: Option<&str>) -> Self {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(url_secret)
            .expect("HMAC takes keys of any length");
        mac.update(b"slotline console session v1\0");
        mac.update(admin_token.unwrap_or_default().as_bytes());
        Self {
            key: mac.finalize().into_bytes().to_vec(),
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes keys of any length");
        for p in parts {
            mac.update(p);
            mac.update(b"|");
        }
        mac.finalize().into_bytes().to_vec()
    }

    fn form_token(&self, nonce: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(&[b"form", nonce.as_bytes()]))
    }

    /// A new session's cookie value at `now`, and the session.
    pub fn issue(&self, now: i64) -> (String, Session) {
        let nonce: [u8; 16] = rand::random();
        let nonce = URL_SAFE_NO_PAD.encode(nonce);
        let expires = now + LIFETIME_SECONDS;
        let body = format!("v1.{expires}.{nonce}");
        let mac = URL_SAFE_NO_PAD.encode(self.mac(&[b"session", body.as_bytes()]));
        let session = Session {
            expires,
            form_token: self.form_token(&nonce),
        };
        (format!("{body}.{mac}"), session)
    }

    /// The session `cookie` stands for at `now`, if it is ours and not expired.
    pub fn verify(&self, cookie: &str, now: i64) -> Option<Session> {
        let (body, mac) = cookie.rsplit_once('.')?;
        let given = URL_SAFE_NO_PAD.decode(mac).ok()?;
        let wanted = self.mac(&[b"session", body.as_bytes()]);
        if !bool::from(given.as_slice().ct_eq(wanted.as_slice())) {
            return None;
        }
        let mut parts = body.split('.');
        let (Some("v1"), Some(expires), Some(nonce), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let expires: i64 = expires.parse().ok()?;
        (now < expires).then(|| Session {
            expires,
            form_token: self.form_token(nonce),
        })
    }
}

impl Session {
    /// Whether `given` is this session's form token (constant time).
    pub fn accepts_form_token(&self, given: &str) -> bool {
        bool::from(given.as_bytes().ct_eq(self.form_token.as_bytes()))
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// `Set-Cookie` for `value` (empty with `max_age` 0 clears it). `Secure` when the public
/// URL is https.
pub fn set_cookie(value: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn an_issued_session_verifies_until_it_expires() {
        let keys = Keys::new(b"secret", Some("token"));
        let (cookie, session) = keys.issue(NOW);
        assert_eq!(keys.verify(&cookie, NOW + 60), Some(session.clone()));
        assert!(session.accepts_form_token(&session.form_token));
        assert!(!session.accepts_form_token("nope"));
        assert_eq!(keys.verify(&cookie, NOW + LIFETIME_SECONDS), None);
    }

    #[test]
    fn a_tampered_or_foreign_cookie_does_not_verify() {
        let keys = Keys::new(b"secret", Some("token"));
        let (cookie, _) = keys.issue(NOW);
        let later = cookie.replacen(&(NOW + LIFETIME_SECONDS).to_string(), "9999999999", 1);
        assert_eq!(keys.verify(&later, NOW), None, "expiry cannot be extended");
        assert_eq!(
            Keys::new(b"secret", Some("rotated")).verify(&cookie, NOW),
            None
        );
        assert_eq!(
            Keys::new(b"other", Some("token")).verify(&cookie, NOW),
            None
        );
        assert_eq!(keys.verify("v1.1.2", NOW), None);
        assert_eq!(keys.verify("", NOW), None);
    }

    #[test]
    fn two_sessions_have_different_form_tokens() {
        let keys = Keys::new(b"secret", Some("token"));
        assert_ne!(keys.issue(NOW).1.form_token, keys.issue(NOW).1.form_token);
    }

    #[test]
    fn the_cookie_is_found_among_others_and_set_strictly() {
        assert_eq!(
            cookie_value("a=1; slotline_session=xyz; b=2", COOKIE),
            Some("xyz")
        );
        assert_eq!(cookie_value("a=1", COOKIE), None);
        let set = set_cookie("v", 60, true);
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Path=/console",
            "Max-Age=60",
        ] {
            assert!(set.contains(part), "{set}");
        }
        assert!(!set_cookie("v", 60, false).contains("Secure"));
    }
}
