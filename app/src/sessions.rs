//! Browser sessions: a login with the UI token gets a random session ID in
//! an HttpOnly cookie, so the token itself is never stored by the browser.
//! Sessions live in memory (a restart logs everyone out), are bounded in
//! number and expire.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::credentials::constant_time_eq;

/// How long a session lasts after login.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; the oldest goes first.
const MAX_SESSIONS: usize = 1024;

/// Wrong logins one address may make per [`FAILURE_WINDOW`] before it must wait.
pub const MAX_FAILURES: u32 = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses whose failures are remembered at most (the oldest are forgotten).
const MAX_TRACKED: usize = 4096;

#[derive(Debug, Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<String, Instant>>,
    /// Wrong logins per address: the count and when the window started.
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Sessions {
    /// Starts a session; returns its ID for the cookie.
    pub fn start(&self, now: Instant) -> String {
        let id = crate::random::random_hex(32);
        let mut sessions = self.lock();
        sessions.retain(|_, expires| *expires > now);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions.iter().min_by_key(|(_, expires)| **expires).map(|(id, _)| id.clone()) {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(id.clone(), now + SESSION_LIFETIME);
        id
    }

    pub fn is_valid(&self, id: &str, now: Instant) -> bool {
        self.lock().iter().any(|(known, expires)| *expires > now && constant_time_eq(known.as_bytes(), id.as_bytes()))
    }

    pub fn end(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Whether `client` has used up its wrong logins for now (guessing a token is then slow).
    pub fn locked_out(&self, client: IpAddr, now: Instant) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        failures.get(&client).is_some_and(|(count, since)| *count >= MAX_FAILURES && now < *since + FAILURE_WINDOW)
    }

    /// Counts a wrong login from `client`.
    pub fn failed(&self, client: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, (_, since)| now < *since + FAILURE_WINDOW);
        }
        let entry = failures.entry(client).or_insert((0, now));
        if now >= entry.1 + FAILURE_WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_start_expire_and_end() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let id = sessions.start(now);
        assert!(sessions.is_valid(&id, now));
        assert!(!sessions.is_valid("forged", now));
        assert!(!sessions.is_valid(&id, now + SESSION_LIFETIME + Duration::from_secs(1)));
        sessions.end(&id);
        assert!(!sessions.is_valid(&id, now));
    }

    #[test]
    fn wrong_logins_lock_an_address_out_for_a_while() {
        let sessions = Sessions::default();
        let (client, other): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let now = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(!sessions.locked_out(client, now));
            sessions.failed(client, now);
        }
        assert!(sessions.locked_out(client, now));
        assert!(!sessions.locked_out(other, now), "per address");
        assert!(!sessions.locked_out(client, now + FAILURE_WINDOW), "for a while only");
    }
}
