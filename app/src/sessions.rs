//! Browser sessions: a login with the UI token gets a random session ID in
//! an HttpOnly cookie, so the token itself is never stored by the browser.
//! Sessions live in memory (a restart logs everyone out), are bounded in
//! number and expire.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::credentials::constant_time_eq;

/// How long a session lasts after login.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; the oldest goes first.
const MAX_SESSIONS: usize = 1024;

#[derive(Debug, Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<String, Instant>>,
}

impl Sessions {
    /// Starts a session; returns its ID for the cookie.
    pub fn start(&self, now: Instant) -> String {
        let id = crate::state::random_hex(32);
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
}
