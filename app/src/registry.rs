//! Which connection each probe ID is bound to, when it was last heard, and
//! which probes report a host ID another probe already reports.

use std::collections::HashMap;

use periscope_report::{HostId, ProbeId, UnixMillis};

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

/// A probe filed under another host ID because its own was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAlias {
    /// The ID its reports are filed under: `{reported}~{probe}`.
    pub host: HostId,
    /// The ID it reports.
    pub reported: HostId,
    /// The probe that reported `reported` first.
    pub conflicts_with: ProbeId,
}

#[derive(Debug, Default)]
pub struct Registry {
    probes: HashMap<ProbeId, ProbeEntry>,
    aliases: HashMap<ProbeId, HostAlias>,
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
            self.aliases.remove(probe);
            true
        } else {
            false
        }
    }

    /// Files `probe` under `{reported}~{probe}`, apart from `owner`, which reports `reported` too.
    pub fn alias_host(&mut self, probe: &ProbeId, reported: &HostId, owner: &ProbeId) -> HostId {
        let host = HostId::new(format!("{reported}~{probe}"));
        let alias = HostAlias { host: host.clone(), reported: reported.clone(), conflicts_with: owner.clone() };
        self.aliases.insert(probe.clone(), alias);
        host
    }

    /// The host ID `probe`'s reports are filed under, when not their own.
    pub fn host_alias(&self, probe: &ProbeId) -> Option<&HostId> {
        self.aliases.get(probe).map(|alias| &alias.host)
    }

    pub fn alias(&self, probe: &ProbeId) -> Option<&HostAlias> {
        self.aliases.get(probe)
    }

    /// `owner` has left: the first probe filed apart because of it gets its
    /// host ID back, and any others are now kept apart from that one.
    pub fn free_host_of(&mut self, owner: &ProbeId) -> Option<(ProbeId, HostAlias)> {
        let heir =
            self.aliases.iter().filter(|(_, alias)| alias.conflicts_with == *owner).map(|(p, _)| p).min()?.clone();
        let alias = self.aliases.remove(&heir)?;
        for other in self.aliases.values_mut().filter(|alias| alias.conflicts_with == *owner) {
            other.conflicts_with = heir.clone();
        }
        Some((heir, alias))
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
    fn a_host_id_taken_by_another_probe_is_aliased_until_it_leaves() {
        let mut registry = Registry::default();
        let host = HostId::new("machine");
        let (first, second, third) = (ProbeId::new("p1"), ProbeId::new("p2"), ProbeId::new("p3"));
        assert_eq!(registry.alias_host(&second, &host, &first), HostId::new("machine~p2"));
        registry.alias_host(&third, &host, &first);
        assert_eq!(registry.host_alias(&second), Some(&HostId::new("machine~p2")));
        // The first leaves: one heir gets the ID back, the other is now kept apart from the heir.
        let (heir, alias) = registry.free_host_of(&first).unwrap();
        assert_eq!((heir.clone(), alias.reported), (second.clone(), host));
        assert_eq!(registry.alias(&third).unwrap().conflicts_with, second);
        assert!(registry.free_host_of(&first).is_none());
    }
}
