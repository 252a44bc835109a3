//! A set of entities keyed by their ID.
//!
//! On the wire a table is a plain sequence of entities (each carries its own
//! ID), which keeps JSON readable and avoids encoding every key twice.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::container::{Container, Image};
use crate::id::{ConnectionId, ContainerId, ImageId, ProcessId, SocketId};
use crate::process::Process;
use crate::socket::{Connection, Socket, TracedFlow, TracedFlowId};

/// Anything stored in a [`Table`]: it knows its own ID.
pub trait Entity: Clone + PartialEq + fmt::Debug + Serialize + DeserializeOwned {
    type Id: Ord + Clone + fmt::Debug + fmt::Display + Serialize + DeserializeOwned;

    fn id(&self) -> &Self::Id;
}

macro_rules! entity {
    ($entity:ty, $id:ty) => {
        impl Entity for $entity {
            type Id = $id;

            fn id(&self) -> &$id {
                &self.id
            }
        }
    };
}

entity!(Process, ProcessId);
entity!(Container, ContainerId);
entity!(Image, ImageId);
entity!(Socket, SocketId);
entity!(Connection, ConnectionId);
entity!(TracedFlow, TracedFlowId);

#[derive(Clone, PartialEq)]
pub struct Table<E: Entity> {
    entries: BTreeMap<E::Id, E>,
}

impl<E: Entity> Table<E> {
    pub fn new() -> Self {
        Table { entries: BTreeMap::new() }
    }

    /// Inserts or replaces the entity with the same ID, returning the old one.
    pub fn insert(&mut self, entity: E) -> Option<E> {
        self.entries.insert(entity.id().clone(), entity)
    }

    pub fn remove(&mut self, id: &E::Id) -> Option<E> {
        self.entries.remove(id)
    }

    pub fn get(&self, id: &E::Id) -> Option<&E> {
        self.entries.get(id)
    }

    pub fn get_mut(&mut self, id: &E::Id) -> Option<&mut E> {
        self.entries.get_mut(id)
    }

    pub fn contains(&self, id: &E::Id) -> bool {
        self.entries.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = &E::Id> {
        self.entries.keys()
    }

    pub fn iter(&self) -> impl Iterator<Item = &E> {
        self.entries.values()
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&E) -> bool) {
        self.entries.retain(|_, entity| keep(entity));
    }

    /// Rebuilds the tree with full nodes. Inserting one by one leaves a
    /// B-tree's nodes about half full (a table then holds ~1.8 times the room
    /// its entities need), and the app keeps every probe's report.
    pub fn compact(&mut self) {
        let entries = std::mem::take(&mut self.entries);
        // Already sorted: collecting builds the tree bottom-up, nodes full.
        self.entries = entries.into_iter().collect();
    }
}

impl<E: Entity> Default for Table<E> {
    fn default() -> Self {
        Table::new()
    }
}

impl<E: Entity> fmt::Debug for Table<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.values()).finish()
    }
}

impl<E: Entity> FromIterator<E> for Table<E> {
    /// Built bottom-up with full nodes (see [`Table::compact`]); of two entities with one ID the last is kept.
    fn from_iter<I: IntoIterator<Item = E>>(iter: I) -> Self {
        Table { entries: iter.into_iter().map(|entity| (entity.id().clone(), entity)).collect() }
    }
}

impl<'a, E: Entity> IntoIterator for &'a Table<E> {
    type Item = &'a E;
    type IntoIter = std::collections::btree_map::Values<'a, E::Id, E>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.values()
    }
}

impl<E: Entity> Serialize for Table<E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.entries.values())
    }
}

impl<'de, E: Entity> Deserialize<'de> for Table<E> {
    /// Two entities with one ID would silently lose one of them: reject it.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entities = Vec::<E>::deserialize(deserializer)?;
        let count = entities.len();
        let table: Table<E> = entities.into_iter().collect();
        if table.len() != count {
            return Err(D::Error::custom("duplicate entity id in table"));
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{HostId, ProcessId};

    fn process(pid: u32) -> Process {
        Process {
            id: ProcessId { host: HostId::new("h"), pid, start_time: 1 },
            ppid: 1,
            name: "sh".into(),
            cmdline: ["sh".to_owned()].into(),
            user: "root".into(),
            threads: 1,
            cpu_percent: 0.0,
            rss_bytes: 0,
            open_fds: 0,
            container: None,
        }
    }

    /// Compacting and collecting keep the entities, in ID order; of two with one ID, the last.
    #[test]
    fn compacting_keeps_every_entity_in_order() {
        let mut table = Table::new();
        for pid in (0..500).rev() {
            table.insert(process(pid));
        }
        let before: Vec<Process> = table.iter().cloned().collect();
        table.compact();
        assert_eq!(table.iter().cloned().collect::<Vec<_>>(), before);
        assert!(table.iter().map(|p| p.id.pid).eq(0..500));

        let mut later = process(7);
        later.threads = 9;
        let collected: Table<Process> = [process(7), process(3), later].into_iter().collect();
        assert_eq!(collected.len(), 2);
        assert_eq!(collected.get(&process(7).id).map(|p| p.threads), Some(9));
    }
}
