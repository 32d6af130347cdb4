//! Pages of the admin lists: `limit` (1–1000, default 100) and an opaque keyset `cursor`;
//! when there is more, the answer carries `Link: <…>; rel="next"` with the next page's
//! URL, so a list of years of history is read in pages instead of built whole.

use poem::{
    IntoResponse, Response,
    http::{HeaderValue, header::LINK},
    web::Json,
};
use serde_json::Value;

use crate::{domain::FieldError, error::AppError};

/// Rows per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 100;
/// Most rows a page may hold.
pub const MAX_LIMIT: usize = 1000;

fn invalid(field: &str, message: String) -> AppError {
    AppError::Invalid(FieldError {
        field: field.into(),
        message,
    })
}

/// Reads `limit`.
pub fn limit(raw: Option<&str>) -> Result<usize, AppError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                invalid(
                    "limit",
                    format!("{v:?} must be a whole number from 1 to {MAX_LIMIT}"),
                )
            }),
    }
}

/// Reads a cursor (as written by [`cursor`]).
pub fn parse_cursor(raw: Option<&str>) -> Result<Option<(i64, i64)>, AppError> {
    let Some(v) = raw else { return Ok(None) };
    v.split_once('.')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .map(Some)
        .ok_or_else(|| {
            invalid(
                "cursor",
                format!("{v:?} is not a cursor; pass on the one from the Link header"),
            )
        })
}

/// The cursor after a row whose sort key is `(key, id)`.
pub fn cursor(key: i64, id: i64) -> String {
    format!("{key}.{id}")
}

/// The value of query parameter `name`, if given.
pub fn arg<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `rows` as a JSON list, each with `field` set to its instant `at` (Unix seconds) in
/// RFC 3339, so operators read times without converting.
pub fn with_time<T: serde::Serialize>(rows: Vec<T>, field: &str, at: impl Fn(&T) -> i64) -> Value {
    Value::Array(
        rows.into_iter()
            .map(|r| {
                let mut v = serde_json::to_value(&r).unwrap_or_default();
                v[field] = jiff::Timestamp::from_second(at(&r))
                    .map(|t| t.to_string())
                    .unwrap_or_default()
                    .into();
                v
            })
            .collect(),
    )
}

/// Splits rows read with a limit of `limit + 1`: the page, and the cursor after its last
/// row (`key` gives its sort key) when a further row showed there is more.
pub fn split<T>(
    mut rows: Vec<T>,
    limit: usize,
    key: impl Fn(&T) -> (i64, i64),
) -> (Vec<T>, Option<String>) {
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(|r| {
        let (k, id) = key(r);
        cursor(k, id)
    });
    (rows, next)
}

/// The page as JSON, with the `Link` to the next one when there is one.
pub fn answer(
    list: Value,
    next: Option<String>,
    path: &str,
    query: &[(String, String)],
) -> Response {
    let mut resp = Json(list).into_response();
    if let Some((name, value)) = next.and_then(|n| next_link(path, query, &n)) {
        resp.headers_mut().insert(name, value);
    }
    resp
}

/// The `Link` header for the next page: this request's path and query with `cursor`
/// replaced.
fn next_link(
    path: &str,
    query: &[(String, String)],
    next: &str,
) -> Option<(poem::http::HeaderName, HeaderValue)> {
    let mut pairs: Vec<(&str, &str)> = query
        .iter()
        .filter(|(k, _)| k != "cursor")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.push(("cursor", next));
    let query = serde_urlencoded::to_string(&pairs).ok()?;
    let value = HeaderValue::from_str(&format!("<{path}?{query}>; rel=\"next\"")).ok()?;
    Some((LINK, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_1_to_1000_say_what_to_send() {
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit(Some("250")).unwrap(), 250);
        for bad in ["0", "1001", "many"] {
            let err = limit(Some(bad)).unwrap_err().to_string();
            assert!(err.contains("1 to 1000"), "{err}");
        }
    }

    #[test]
    fn a_cursor_reads_back_what_was_written() {
        assert_eq!(
            parse_cursor(Some(&cursor(1_764_000_000, 42))).unwrap(),
            Some((1_764_000_000, 42))
        );
        assert!(parse_cursor(Some("garbage")).is_err());
    }

    #[test]
    fn a_page_has_a_next_cursor_only_when_a_row_beyond_it_was_read() {
        let key = |r: &(i64, i64)| *r;
        assert_eq!(
            split(vec![(1, 1), (2, 2)], 2, key),
            (vec![(1, 1), (2, 2)], None)
        );
        assert_eq!(
            split(vec![(1, 1), (2, 2), (3, 3)], 2, key),
            (vec![(1, 1), (2, 2)], Some("2.2".to_string()))
        );
    }

    #[test]
    fn the_next_link_keeps_the_filters_and_replaces_the_cursor() {
        let q = vec![
            ("from".to_string(), "2026-12-01".to_string()),
            ("cursor".to_string(), "1.2".to_string()),
        ];
        let (_, v) = next_link("/tenants/x/appointments", &q, "3.4").unwrap();
        assert_eq!(
            v.to_str().unwrap(),
            "</tenants/x/appointments?from=2026-12-01&cursor=3.4>; rel=\"next\""
        );
    }
}
