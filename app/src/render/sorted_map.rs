//! A map kept as a sorted vector.
//!
//! Nearly every edge has one server port and one or two address rows, and
//! the views keep hundreds of thousands of edge parts (each host's share and
//! each sum): a `BTreeMap` allocates a node of eleven slots for its first
//! entry (about a kilobyte for a row), this allocates the one entry. Lookups
//! are binary searches; inserts shift, which stays cheap for the few entries
//! an edge has (a hub edge with thousands of rows is built once per change).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortedMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap { entries: Vec::new() }
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    /// From entries with distinct keys in any order (a hash map's, once built), holding exactly them.
    pub fn from_distinct(entries: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut entries: Vec<(K, V)> = entries.into_iter().collect();
        entries.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        entries.shrink_to_fit();
        SortedMap { entries }
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.binary_search_by(|(k, _)| k.cmp(key)).ok().map(|at| &self.entries[at].1)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match self.entries.binary_search_by(|(k, _)| k.cmp(key)) {
            Ok(at) => Some(&mut self.entries[at].1),
            Err(_) => None,
        }
    }

    /// The value at `key`, inserted as `V::default()` when absent.
    pub fn entry_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let at = match self.entries.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(at) => at,
            Err(at) => {
                insert_tight(&mut self.entries, at, (key, V::default()));
                at
            }
        };
        &mut self.entries[at].1
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        match self.entries.binary_search_by(|(k, _)| k.cmp(key)) {
            Ok(at) => Some(self.entries.remove(at).1),
            Err(_) => None,
        }
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `Vec::insert`, growing a small vector by one slot rather than to four:
/// most edges have one row, and a row's first allocation would hold four
/// (576 bytes where 144 do, in every edge part of every view: ~120 MiB at
/// 1,000 hosts). Larger vectors grow by half, so a hub's rows stay amortized.
pub fn insert_tight<T>(entries: &mut Vec<T>, at: usize, value: T) {
    if entries.len() == entries.capacity() {
        entries.reserve_exact((entries.len() / 2).max(1));
    }
    entries.insert(at, value);
}

/// `Vec::push` growing as [`insert_tight`] does.
pub fn push_tight<T>(entries: &mut Vec<T>, value: T) {
    let at = entries.len();
    insert_tight(entries, at, value);
}

impl<'a, K: Ord, V> IntoIterator for &'a SortedMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn small_maps_hold_what_they_need() {
        let mut sorted = SortedMap::<u16, u32>::default();
        for key in 0..50u16 {
            *sorted.entry_or_default(key) += 1;
            let len = sorted.len();
            let capacity = sorted.entries.capacity();
            assert!(capacity <= (len + len / 2).max(1), "{len} entries in room for {capacity}");
        }
    }

    proptest! {
        /// Any mix of inserts, updates and removals leaves the same entries as a BTreeMap.
        #[test]
        fn behaves_as_a_btree_map(ops in prop::collection::vec((0u8..3, 0u16..20, 0u32..100), 0..200)) {
            let mut sorted = SortedMap::<u16, u32>::default();
            let mut btree = BTreeMap::<u16, u32>::new();
            for (op, key, value) in ops {
                match op {
                    0 => { *sorted.entry_or_default(key) += value; *btree.entry(key).or_default() += value; }
                    1 => { prop_assert_eq!(sorted.remove(&key), btree.remove(&key)); }
                    _ => { prop_assert_eq!(sorted.get(&key), btree.get(&key)); }
                }
            }
            let ours: Vec<_> = sorted.iter().map(|(k, v)| (*k, *v)).collect();
            let theirs: Vec<_> = btree.into_iter().collect();
            prop_assert_eq!(ours, theirs);
        }
    }
}
