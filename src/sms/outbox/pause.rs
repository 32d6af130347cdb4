//! Pauses after account-level refusals (401, 403, 408, 40318, 40333): instead of failing
//! every text, the worker stops sending in a scope ('' for all sending, or one messaging
//! profile), keeps the texts queued, and lets one text through as a probe after a backoff
//! (doubling up to the retry cap). An accepted probe lifts the pause and the queue drains;
//! a refused one waits longer. Pure state: the worker records pauses in the database.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use super::backoff;

/// Whether a text in some scope may go now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Not paused.
    Open,
    /// Paused, and its probe is due: send this one as the probe of the named scope.
    Probe(String),
    /// Paused: wait.
    Closed,
}

#[derive(Debug)]
struct Pause {
    step: u32,
    next_probe: Instant,
    probing: bool,
}

/// The pauses in force.
#[derive(Debug)]
pub struct Pauses {
    map: HashMap<String, Pause>,
    base: Duration,
    max: Duration,
}

impl Pauses {
    /// No pauses; probes back off from `base` up to `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            map: HashMap::new(),
            base,
            max,
        }
    }

    /// A pause recorded before a restart: probed at once.
    pub fn restore(&mut self, scope: &str, now: Instant) {
        self.map.insert(
            scope.to_string(),
            Pause {
                step: 1,
                next_probe: now,
                probing: false,
            },
        );
    }

    /// The gate for a text sent through `profile`: the all-sending pause first.
    pub fn gate(&self, profile: Option<&str>, now: Instant) -> Gate {
        for scope in ["", profile.unwrap_or("")] {
            if let Some(p) = self.map.get(scope) {
                return if !p.probing && p.next_probe <= now {
                    Gate::Probe(scope.to_string())
                } else {
                    Gate::Closed
                };
            }
        }
        Gate::Open
    }

    /// A probe of `scope` is in flight: no other text of the scope goes meanwhile.
    pub fn start_probe(&mut self, scope: &str) {
        if let Some(p) = self.map.get_mut(scope) {
            p.probing = true;
        }
    }

    /// Telnyx refused the account (`probing`: this was the scope's probe). Returns true
    /// when the scope was not paused before (the moment to alert).
    pub fn pause(&mut self, scope: &str, now: Instant, probing: bool) -> bool {
        match self.map.get_mut(scope) {
            Some(p) => {
                if probing {
                    p.probing = false;
                    p.step += 1;
                    p.next_probe = now + backoff(self.base, self.max, p.step);
                }
                false
            }
            None => {
                self.map.insert(
                    scope.to_string(),
                    Pause {
                        step: 1,
                        next_probe: now + backoff(self.base, self.max, 1),
                        probing: false,
                    },
                );
                true
            }
        }
    }

    /// The probe of `scope` ended without an answer about the account (a 5xx, a lost
    /// answer): probe again after the same backoff.
    pub fn probe_failed(&mut self, scope: &str, now: Instant) {
        if let Some(p) = self.map.get_mut(scope) {
            p.probing = false;
            p.next_probe = now + backoff(self.base, self.max, p.step);
        }
    }

    /// Telnyx accepted a text of `scope`: lifts its pause; true if there was one.
    pub fn lift(&mut self, scope: &str) -> bool {
        self.map.remove(scope).is_some()
    }

    /// The scopes paused now.
    pub fn scopes(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }

    /// How long until the next probe is due, if any pause waits for one.
    pub fn next_probe_in(&self, now: Instant) -> Option<Duration> {
        self.map
            .values()
            .filter(|p| !p.probing)
            .map(|p| p.next_probe.saturating_duration_since(now))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pauses() -> Pauses {
        Pauses::new(Duration::from_secs(2), Duration::from_secs(600))
    }

    #[test]
    fn a_refused_account_closes_the_gate_until_one_probe_is_due() {
        let mut p = pauses();
        let t0 = Instant::now();
        assert_eq!(p.gate(Some("prof"), t0), Gate::Open);
        assert!(p.pause("", t0, false), "the first refusal alerts");
        assert!(!p.pause("", t0, false), "a second one does not");
        assert_eq!(p.gate(Some("prof"), t0), Gate::Closed);
        let later = t0 + Duration::from_secs(3);
        assert_eq!(p.gate(Some("prof"), later), Gate::Probe(String::new()));
        p.start_probe("");
        assert_eq!(p.gate(None, later), Gate::Closed, "one probe at a time");
        assert!(p.lift(""));
        assert_eq!(p.gate(None, later), Gate::Open);
    }

    #[test]
    fn a_refused_probe_waits_longer_each_time() {
        let mut p = pauses();
        let t0 = Instant::now();
        p.pause("", t0, false);
        let mut waits = Vec::new();
        for _ in 0..4 {
            p.start_probe("");
            p.pause("", t0, true);
            waits.push(p.next_probe_in(t0).unwrap());
        }
        assert!(waits[3] >= Duration::from_secs(16), "{waits:?}");
        assert!(waits[3] <= Duration::from_secs(32), "{waits:?}");
    }

    #[test]
    fn a_profile_pause_leaves_other_profiles_open() {
        let mut p = pauses();
        let t0 = Instant::now();
        p.pause("spent", t0, false);
        assert_eq!(p.gate(Some("spent"), t0), Gate::Closed);
        assert_eq!(p.gate(Some("other"), t0), Gate::Open);
        assert_eq!(p.gate(None, t0), Gate::Open);
    }
}
