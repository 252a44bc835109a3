//! Which connection each probe ID is bound to, and when it was last heard.

use std::collections::HashMap;

use periscope_report::{ProbeId, UnixMillis};

/// One probe channel (a WebSocket), numbered by the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeEntry {
    pub connection: ConnectionId,
    pub connected_at: UnixMillis,
    pub last_seen: UnixMillis,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("probe ID {probe} is bound to another connection")]
pub struct Taken {
    pub probe: ProbeId,
}

#[derive(Debug, Default)]
pub struct Registry {
    probes: HashMap<ProbeId, ProbeEntry>,
}

impl Registry {
    /// Binds `probe` to `connection` unless another connection holds it.
    pub fn claim(&mut self, probe: &ProbeId, connection: ConnectionId, now: UnixMillis) -> Result<(), Taken> {
        match self.probes.get_mut(probe) {
            Some(entry) if entry.connection != connection => Err(Taken { probe: probe.clone() }),
            Some(entry) => {
                entry.last_seen = now;
                Ok(())
            }
            None => {
                self.probes.insert(probe.clone(), ProbeEntry { connection, connected_at: now, last_seen: now });
                Ok(())
            }
        }
    }

    pub fn is_bound(&self, probe: &ProbeId, connection: ConnectionId) -> bool {
        self.probes.get(probe).is_some_and(|entry| entry.connection == connection)
    }

    pub fn touch(&mut self, probe: &ProbeId, connection: ConnectionId, now: UnixMillis) {
        if let Some(entry) = self.probes.get_mut(probe).filter(|entry| entry.connection == connection) {
            entry.last_seen = now;
        }
    }

    /// Unbinds `probe` if `connection` holds it; true when it did.
    pub fn release(&mut self, probe: &ProbeId, connection: ConnectionId) -> bool {
        if self.is_bound(probe, connection) {
            self.probes.remove(probe);
            true
        } else {
            false
        }
    }

    /// Unbinds and returns probes not heard from since `deadline`.
    pub fn expire(&mut self, deadline: UnixMillis) -> Vec<ProbeId> {
        let silent: Vec<ProbeId> = self
            .probes
            .iter()
            .filter(|(_, entry)| entry.last_seen < deadline)
            .map(|(probe, _)| probe.clone())
            .collect();
        for probe in &silent {
            self.probes.remove(probe);
        }
        silent
    }

    pub fn get(&self, probe: &ProbeId) -> Option<&ProbeEntry> {
        self.probes.get(probe)
    }

    pub fn len(&self) -> usize {
        self.probes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.probes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_id_is_bound_to_its_first_connection() {
        let mut registry = Registry::default();
        let probe = ProbeId::new("p");
        assert_eq!(registry.claim(&probe, ConnectionId(1), UnixMillis(1)), Ok(()));
        assert!(registry.claim(&probe, ConnectionId(2), UnixMillis(2)).is_err());
        assert!(!registry.release(&probe, ConnectionId(2)));
        assert!(registry.release(&probe, ConnectionId(1)));
        assert_eq!(registry.claim(&probe, ConnectionId(2), UnixMillis(3)), Ok(()));
    }

    #[test]
    fn silent_probes_expire() {
        let mut registry = Registry::default();
        registry.claim(&ProbeId::new("old"), ConnectionId(1), UnixMillis(1_000)).unwrap();
        registry.claim(&ProbeId::new("new"), ConnectionId(2), UnixMillis(20_000)).unwrap();
        assert_eq!(registry.expire(UnixMillis(5_000)), vec![ProbeId::new("old")]);
        assert_eq!(registry.len(), 1);
    }
}
