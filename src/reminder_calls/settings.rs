//! The reminder-call settings, read by `config::Settings` from the environment:
//! `TELNYX_TEXML_APP_ID`, `TELNYX_ACCOUNT_SID`, `TELNYX_CALLS_ENDPOINT` (`accounts` |
//! `app`), `SLOTLINE_CALLS_MAX_CONCURRENT` (default 2, Telnyx's limit for a new account)
//! and `SLOTLINE_CALLS_PER_SECOND` (default 10; at most 25, below Telnyx's 30 dials/s).
//! Both limits are account-wide: every tenant's calls share them.

use std::time::Duration;

use super::client::Endpoint;
use crate::config::ConfigError;

/// Most dials per second slotline allows itself (Telnyx refuses above 30/s).
pub const MAX_PER_SECOND: f64 = 25.0;

/// How reminder calls are placed.
#[derive(Debug, Clone)]
pub struct CallSettings {
    /// `TELNYX_TEXML_APP_ID`: the TeXML application the calls belong to.
    pub app_id: Option<String>,
    /// `TELNYX_ACCOUNT_SID`: the `organization_id` from `GET /v2/whoami`.
    pub account_sid: Option<String>,
    /// `TELNYX_CALLS_ENDPOINT`.
    pub endpoint: Endpoint,
    /// `SLOTLINE_CALLS_MAX_CONCURRENT`: calls dialling or live at once, all tenants.
    pub max_concurrent: usize,
    /// `SLOTLINE_CALLS_PER_SECOND`: dials per second, all tenants.
    pub per_second: f64,
    /// How often the dialer looks for due calls.
    pub poll_interval: Duration,
    /// How long a claimed call is reserved; must exceed `request_timeout`.
    pub lease: Duration,
    /// Whole-request timeout of the TeXML Calls API.
    pub request_timeout: Duration,
    /// The wait after a 429 that did not say how long.
    pub rate_limit_wait: Duration,
    /// The wait after a transient failure (no connection, 503).
    pub transient_wait: Duration,
}

impl Default for CallSettings {
    fn default() -> Self {
        Self {
            app_id: None,
            account_sid: None,
            endpoint: Endpoint::Accounts,
            max_concurrent: 2,
            per_second: 10.0,
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            rate_limit_wait: Duration::from_secs(1),
            transient_wait: Duration::from_secs(30),
        }
    }
}

impl CallSettings {
    /// Reads the variables over the defaults (`get` already drops empty values).
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut s = Self {
            app_id: get("TELNYX_TEXML_APP_ID").map(|v| v.trim().to_string()),
            account_sid: get("TELNYX_ACCOUNT_SID").map(|v| v.trim().to_string()),
            ..Self::default()
        };
        if let Some(v) = get("TELNYX_CALLS_ENDPOINT") {
            s.endpoint = match v.trim() {
                "accounts" => Endpoint::Accounts,
                "app" => Endpoint::App,
                _ => {
                    return Err(ConfigError {
                        variable: "TELNYX_CALLS_ENDPOINT",
                        message: format!(
                            "{v:?} must be \"accounts\" (POST /texml/Accounts/{{TELNYX_ACCOUNT_SID}}/Calls, the default) or \"app\" (the deprecated POST /texml/calls/{{TELNYX_TEXML_APP_ID}})"
                        ),
                    });
                }
            };
        }
        if let Some(v) = get("SLOTLINE_CALLS_MAX_CONCURRENT") {
            s.max_concurrent = v
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| ConfigError {
                    variable: "SLOTLINE_CALLS_MAX_CONCURRENT",
                    message: format!(
                        "{v:?} must be a whole number from 1 to 1000: the concurrent calls your Telnyx account allows (2 on a new account, 10 after Level 2)"
                    ),
                })?;
        }
        if let Some(v) = get("SLOTLINE_CALLS_PER_SECOND") {
            s.per_second = v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r >= 0.1 && *r <= MAX_PER_SECOND)
                .ok_or_else(|| ConfigError {
                    variable: "SLOTLINE_CALLS_PER_SECOND",
                    message: format!(
                        "{v:?} must be a number of dials per second from 0.1 to {MAX_PER_SECOND} (Telnyx refuses more than 30 a second per account)"
                    ),
                })?;
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<CallSettings, ConfigError> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        CallSettings::from_lookup(&|k: &str| map.get(k).cloned())
    }

    #[test]
    fn the_defaults_are_the_accounts_endpoint_two_calls_and_ten_dials_a_second() {
        let s = read(&[]).unwrap();
        assert_eq!(s.endpoint, Endpoint::Accounts);
        assert_eq!(s.max_concurrent, 2);
        assert!(s.per_second < MAX_PER_SECOND);
    }

    #[test]
    fn bad_values_name_the_variable_and_the_fix() {
        for (var, value) in [
            ("TELNYX_CALLS_ENDPOINT", "v1"),
            ("SLOTLINE_CALLS_MAX_CONCURRENT", "0"),
            ("SLOTLINE_CALLS_PER_SECOND", "30"),
        ] {
            let e = read(&[(var, value)]).unwrap_err();
            assert_eq!(e.variable, var);
            assert!(e.message.contains(value), "{e}");
        }
        assert_eq!(
            read(&[("TELNYX_CALLS_ENDPOINT", "app")]).unwrap().endpoint,
            Endpoint::App
        );
    }
}
