//! Cross-site request refusal for the console, by the rules browsers make possible without
//! tokens (those of Go's `http.CrossOriginProtection`): safe methods pass; a request whose
//! `Origin` is the public URL's origin passes; otherwise `Sec-Fetch-Site` decides
//! (`same-origin` or `none` pass, anything else is refused); without it, an `Origin` must
//! name the `Host` the request was sent to; a request with neither header (not a browser)
//! passes. The console's forms also carry a per-session token ([`super::session`]), so a
//! proxy that strips these headers does not open the door on its own.

use poem::http::{HeaderMap, Method, header};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrossSite {
    /// `Sec-Fetch-Site` says the request came from another site.
    #[error("the browser says this request came from another site (Sec-Fetch-Site: {0})")]
    FetchSite(String),
    /// `Origin` is neither the public URL's origin nor the host addressed.
    #[error("the request came from {0}, not from this console")]
    Origin(String),
}

/// `scheme://host[:port]` of a URL, lower-cased, without path.
pub fn origin_of(url: &str) -> String {
    let url = url.trim().to_ascii_lowercase();
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            format!("{scheme}://{host}")
        }
        None => url,
    }
}

/// Checks a request to the console; `trusted` is the public URL's origin.
pub fn check(method: &Method, headers: &HeaderMap, trusted: &str) -> Result<(), CrossSite> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let origin = text(header::ORIGIN.as_str());
    if origin.is_some_and(|o| origin_of(o) == trusted) {
        return Ok(());
    }
    if let Some(site) = text("sec-fetch-site") {
        return match site {
            "same-origin" | "none" => Ok(()),
            other => Err(CrossSite::FetchSite(other.to_string())),
        };
    }
    let Some(origin) = origin else {
        return Ok(());
    };
    let host = text(header::HOST.as_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let origin_host = origin_of(origin)
        .split_once("://")
        .map(|(_, h)| h.to_string())
        .unwrap_or_default();
    if !host.is_empty() && origin_host == host {
        Ok(())
    } else {
        Err(CrossSite::Origin(origin.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRUSTED: &str = "https://booking.example.com";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn safe_methods_always_pass() {
        let h = headers(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example"),
        ]);
        assert_eq!(check(&Method::GET, &h, TRUSTED), Ok(()));
        assert_eq!(check(&Method::HEAD, &h, TRUSTED), Ok(()));
    }

    #[test]
    fn a_post_is_judged_by_origin_then_fetch_site_then_host() {
        let post = |pairs: &[(&'static str, &str)]| check(&Method::POST, &headers(pairs), TRUSTED);
        assert_eq!(post(&[("origin", "https://booking.example.com")]), Ok(()));
        assert_eq!(
            post(&[
                ("origin", "https://booking.example.com"),
                ("sec-fetch-site", "cross-site")
            ]),
            Ok(()),
            "the trusted origin wins"
        );
        assert_eq!(post(&[("sec-fetch-site", "same-origin")]), Ok(()));
        assert_eq!(post(&[("sec-fetch-site", "none")]), Ok(()));
        assert_eq!(
            post(&[
                ("sec-fetch-site", "same-site"),
                ("origin", "https://a.example.com")
            ]),
            Err(CrossSite::FetchSite("same-site".into()))
        );
        assert_eq!(
            post(&[("origin", "http://127.0.0.1:9"), ("host", "127.0.0.1:9")]),
            Ok(())
        );
        assert_eq!(
            post(&[("origin", "https://evil.example"), ("host", "127.0.0.1:9")]),
            Err(CrossSite::Origin("https://evil.example".into()))
        );
        assert_eq!(post(&[]), Ok(()), "not a browser: the form token decides");
    }

    #[test]
    fn an_origin_is_scheme_and_host_only() {
        assert_eq!(origin_of("HTTPS://Booking.Example.com/x?y"), TRUSTED);
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
