//! [`HeaderTree`]: the block headers the node has validated and whose
//! blocks it has not stored yet (Bitcoin Core's headers in
//! `mapBlockIndex` without `BLOCK_HAVE_DATA`). Owned by
//! [`super::SyncMgr`]; the rules that admit a header (linkage, proof of
//! work against the chain's difficulty, time) are checked before
//! `HeaderTree::insert` by `protocol/sync_headers.rs`.
//!
//! A header leaves the tree when its block is stored (connected or on a
//! side branch) or refused: from then on the store's index knows it.
//!
//! Bound: at most [`MAX_TREE_HEADERS`] headers (about 200 bytes each with
//! the map's overhead, so about 20 MB). When a new header finds the tree
//! full, every header that is not an ancestor of the best header (the
//! side branches) is dropped first; if the tree is still full, the new
//! header is refused (its sender is not charged: it may be honest and
//! early; it is asked again once blocks were stored).

use std::collections::{BTreeMap, VecDeque};

use crate::chain::state::beats;
use crate::core::block::BlockHeader;
use crate::core::hash::BlockHash;

/// Most headers the tree holds (module docs).
pub const MAX_TREE_HEADERS: usize = 100_000;

/// Headers of a path remembered per best header
/// ([`HeaderTree::window`]), so the walk from a best header down to the
/// blocks we lack runs once per this many blocks stored, not per request.
const PATH_CACHE_LEN: usize = 1_024;

/// Best headers whose paths are remembered at once.
const PATH_CACHE_BESTS: usize = 16;

/// A validated header and where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderEntry {
    /// The header.
    pub header: BlockHeader,
    /// Its block's height (genesis 0).
    pub height: u64,
    /// Work from genesis to its block, inclusive (as `BlockMeta::chain_work`).
    pub chain_work: u128,
}

/// The validated headers whose blocks are not stored (module docs).
#[derive(Debug)]
pub struct HeaderTree {
    /// Most headers held ([`MAX_TREE_HEADERS`]; smaller in unit tests).
    cap: usize,
    entries: BTreeMap<BlockHash, HeaderEntry>,
    /// The entry with the most work (ties by the consensus tie rule,
    /// `chain::state::beats`).
    best: Option<BlockHash>,
    /// For a few best headers, the lowest [`PATH_CACHE_LEN`] headers of
    /// their path, in chain order (entries whose blocks were stored since
    /// are skipped when read).
    paths: BTreeMap<BlockHash, VecDeque<BlockHash>>,
}

impl Default for HeaderTree {
    fn default() -> HeaderTree {
        HeaderTree {
            cap: MAX_TREE_HEADERS,
            entries: BTreeMap::new(),
            best: None,
            paths: BTreeMap::new(),
        }
    }
}

impl HeaderTree {
    /// The entry of `hash`, if held.
    pub fn get(&self, hash: &BlockHash) -> Option<&HeaderEntry> {
        self.entries.get(hash)
    }

    /// Headers held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no header is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The header with the most work, if any.
    pub fn best(&self) -> Option<(BlockHash, HeaderEntry)> {
        self.best
            .and_then(|h| self.entries.get(&h).map(|e| (h, *e)))
    }

    /// Adds `entry` under `hash`, already validated. False when the tree
    /// is full even after dropping its side branches (module docs).
    pub(super) fn insert(&mut self, hash: BlockHash, entry: HeaderEntry) -> bool {
        if self.entries.contains_key(&hash) {
            return true;
        }
        if self.entries.len() >= self.cap {
            self.drop_side_branches();
            if self.entries.len() >= self.cap {
                return false;
            }
        }
        self.entries.insert(hash, entry);
        let better = self
            .best()
            .is_none_or(|(b, e)| beats((entry.chain_work, hash), (e.chain_work, b)));
        if better {
            self.best = Some(hash);
        }
        true
    }

    /// Forgets `hash` (its block is stored, or refused).
    pub(super) fn remove(&mut self, hash: &BlockHash) {
        if self.entries.remove(hash).is_some() && self.best == Some(*hash) {
            self.best = self
                .entries
                .iter()
                .max_by(|a, b| {
                    if beats((a.1.chain_work, *a.0), (b.1.chain_work, *b.0)) {
                        std::cmp::Ordering::Greater
                    } else {
                        std::cmp::Ordering::Less
                    }
                })
                .map(|(h, _)| *h);
        }
    }

    /// Forgets `hash` and every header held that descends from it (its
    /// block was refused as invalid, so none of them can be fetched).
    pub(super) fn remove_branch(&mut self, hash: &BlockHash) {
        let mut gone = std::collections::BTreeSet::from([*hash]);
        loop {
            let more: Vec<BlockHash> = self
                .entries
                .iter()
                .filter(|(h, e)| !gone.contains(*h) && gone.contains(&e.header.prev_block_hash))
                .map(|(h, _)| *h)
                .collect();
            if more.is_empty() {
                break;
            }
            gone.extend(more);
        }
        for h in &gone {
            self.remove(h);
        }
        self.paths.clear();
    }

    /// The headers held from the lowest ancestor of `hash` in the tree up
    /// to `hash`, in chain order (empty when `hash` is not held).
    pub fn path_to(&self, hash: &BlockHash) -> Vec<(BlockHash, HeaderEntry)> {
        let mut path = Vec::new();
        let mut at = *hash;
        while let Some(e) = self.entries.get(&at) {
            path.push((at, *e));
            at = e.header.prev_block_hash;
        }
        path.reverse();
        path
    }

    /// The lowest `n` headers held on the path to `best`, in chain order
    /// (as the first `n` of [`HeaderTree::path_to`]), from a remembered
    /// path when one still reaches far enough.
    pub(super) fn window(&mut self, best: &BlockHash, n: usize) -> Vec<(BlockHash, HeaderEntry)> {
        let Some(top) = self.entries.get(best).map(|e| e.height) else {
            self.paths.remove(best);
            return Vec::new();
        };
        let entries = &self.entries;
        let fresh = self.paths.get_mut(best).is_some_and(|path| {
            while path.front().is_some_and(|h| !entries.contains_key(h)) {
                path.pop_front();
            }
            let last = path.back().and_then(|h| entries.get(h)).map(|e| e.height);
            path.len() >= n || last == Some(top)
        });
        if !fresh {
            let path: VecDeque<BlockHash> = self
                .path_to(best)
                .into_iter()
                .take(PATH_CACHE_LEN.max(n))
                .map(|(h, _)| h)
                .collect();
            while self.paths.len() >= PATH_CACHE_BESTS {
                self.paths.pop_first();
            }
            self.paths.insert(*best, path);
        }
        self.paths.get(best).map_or_else(Vec::new, |path| {
            path.iter()
                .map_while(|h| self.entries.get(h).map(|e| (*h, *e)))
                .take(n)
                .collect()
        })
    }

    /// True when `ancestor` is `hash` or one of its ancestors held here.
    pub fn descends_from(&self, hash: &BlockHash, ancestor: &BlockHash) -> bool {
        let Some(target) = self.entries.get(ancestor).map(|e| e.height) else {
            return false;
        };
        let mut at = *hash;
        while let Some(e) = self.entries.get(&at) {
            if at == *ancestor {
                return true;
            }
            if e.height <= target {
                return false;
            }
            at = e.header.prev_block_hash;
        }
        false
    }

    /// Drops every header that is not the best header or one of its
    /// ancestors.
    fn drop_side_branches(&mut self) {
        let Some((best, _)) = self.best() else {
            self.entries.clear();
            return;
        };
        let keep: std::collections::BTreeSet<BlockHash> =
            self.path_to(&best).into_iter().map(|(h, _)| h).collect();
        self.entries.retain(|h, _| keep.contains(h));
        self.paths.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::hash::Hash256;

    fn entry(prev: BlockHash, height: u64, work: u128, nonce: u32) -> (BlockHash, HeaderEntry) {
        let header = BlockHeader {
            version: 1,
            prev_block_hash: prev,
            merkle_root: Hash256::default(),
            timestamp: 0,
            bits: 1,
            nonce,
        };
        (
            header.hash(),
            HeaderEntry {
                header,
                height,
                chain_work: work,
            },
        )
    }

    #[test]
    fn a_full_tree_drops_its_side_branches_first_then_refuses() {
        let mut t = HeaderTree {
            cap: 3,
            ..HeaderTree::default()
        };
        let (a, ea) = entry(BlockHash::ZERO, 1, 2, 1);
        let (side, es) = entry(BlockHash::ZERO, 1, 1, 2);
        let (b, eb) = entry(a, 2, 3, 3);
        let (c, ec) = entry(b, 3, 4, 4);
        let (d, ed) = entry(c, 4, 5, 5);
        for (h, e) in [(a, ea), (side, es), (b, eb)] {
            assert!(t.insert(h, e));
        }
        // Full: the side branch goes, the best chain stays.
        assert!(t.insert(c, ec));
        assert!(t.get(&side).is_none() && t.len() == 3);
        // Full of the best chain alone: refused.
        assert!(!t.insert(d, ed));
        assert_eq!(t.best().map(|x| x.0), Some(c));
    }

    #[test]
    fn the_best_header_follows_the_most_work_and_paths_run_in_chain_order() {
        let mut t = HeaderTree::default();
        let (a, ea) = entry(BlockHash::ZERO, 1, 2, 1);
        let (b, eb) = entry(a, 2, 3, 2);
        let (c, ec) = entry(a, 2, 5, 3);
        for (h, e) in [(a, ea), (b, eb), (c, ec)] {
            assert!(t.insert(h, e));
        }
        assert_eq!(t.best().map(|x| x.0), Some(c));
        assert_eq!(
            t.path_to(&b).iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![a, b]
        );
        assert!(t.descends_from(&c, &a) && !t.descends_from(&c, &b));
        t.remove(&c);
        assert_eq!(t.best().map(|x| x.0), Some(b));
        t.drop_side_branches();
        assert_eq!(t.len(), 2);
        assert_eq!(
            t.window(&b, 1).iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![a]
        );
        t.remove(&a);
        assert_eq!(
            t.window(&b, 5).iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![b]
        );
        t.remove_branch(&b);
        assert!(t.is_empty() && t.best().is_none());
        assert!(t.window(&b, 5).is_empty());
    }
}
