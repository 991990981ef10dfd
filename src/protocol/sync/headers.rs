//! [`HeaderTree`]: the block headers the node has validated and whose
//! blocks it has not stored yet (Bitcoin Core's headers in
//! `mapBlockIndex` without `BLOCK_HAVE_DATA`). Owned by
//! [`super::SyncMgr`]; the rules that admit a header (linkage, proof of
//! work against the chain's difficulty, time) are checked before
//! `HeaderTree::insert` by `protocol/sync_headers.rs`.
//!
//! A header leaves the tree when its block is stored (connected or on a
//! side branch) or refused: from then on the store's index knows it; or
//! when it is evicted to make room (below): it is asked for again.
//!
//! Bound: at most [`MAX_TREE_HEADERS`] headers (about 250 bytes each with
//! the maps' overhead, so about 25 MB), shared fairly among the peers
//! that sent them. Each header is charged to the first peer that sent it
//! (its owner; the headers of peers that left are pooled under
//! [`DEPARTED`]). When a new header finds the tree full, a leaf (a header
//! no other header held builds on) is evicted to make room: first one of
//! the departed peers', else one of the peer that owns the most headers,
//! when it owns more than the sender; of that owner's leaves, the one
//! with the least work goes first. Otherwise the new header is refused
//! (its sender is not charged: it may be honest and early; it is asked
//! again once blocks were stored). So one peer, or many that come and
//! go, cannot fill the tree so that an honest peer's headers are refused:
//! each peer keeps at least an equal share. Evicting a leaf never cuts a
//! header chain in two, and costs O(log n).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::chain::PeerId;
use crate::core::block::BlockHeader;
use crate::core::hash::BlockHash;

/// Most headers the tree holds (module docs).
pub const MAX_TREE_HEADERS: usize = 100_000;

/// The owner the headers of peers that left are charged to (module docs).
pub const DEPARTED: PeerId = PeerId::MAX;

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

/// A header held, its owner and how many held headers build on it.
#[derive(Debug, Clone, Copy)]
struct Node {
    entry: HeaderEntry,
    owner: PeerId,
    children: u32,
}

/// Rank of a header for the best one: more work first, then the lower
/// hash (the consensus tie rule, `chain::state::beats`): the greatest
/// rank is the best.
type Rank = (u128, Reverse<BlockHash>);

/// The headers one owner is charged with.
#[derive(Debug, Default)]
struct Share {
    count: usize,
    /// Its leaves, least work first.
    leaves: BTreeSet<(u128, BlockHash)>,
}

/// The validated headers whose blocks are not stored (module docs).
#[derive(Debug)]
pub struct HeaderTree {
    /// Most headers held ([`MAX_TREE_HEADERS`]; smaller in unit tests).
    cap: usize,
    entries: BTreeMap<BlockHash, Node>,
    /// Every header held by rank: the last is the best.
    ranked: BTreeSet<Rank>,
    /// What each owner is charged with (owners with none are absent).
    shares: BTreeMap<PeerId, Share>,
    /// For a few best headers, the lowest [`PATH_CACHE_LEN`] headers of
    /// their path, in chain order (entries whose blocks were stored since
    /// are skipped when read).
    paths: BTreeMap<BlockHash, VecDeque<BlockHash>>,
}

impl Default for HeaderTree {
    fn default() -> HeaderTree {
        HeaderTree::with_cap(MAX_TREE_HEADERS)
    }
}

impl HeaderTree {
    /// An empty tree holding at most `cap` headers.
    pub(super) fn with_cap(cap: usize) -> HeaderTree {
        HeaderTree {
            cap,
            entries: BTreeMap::new(),
            ranked: BTreeSet::new(),
            shares: BTreeMap::new(),
            paths: BTreeMap::new(),
        }
    }

    /// The entry of `hash`, if held.
    pub fn get(&self, hash: &BlockHash) -> Option<&HeaderEntry> {
        self.entries.get(hash).map(|n| &n.entry)
    }

    /// Headers held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no header is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Headers held that `owner` is charged with (module docs).
    pub fn share(&self, owner: PeerId) -> usize {
        self.shares.get(&owner).map_or(0, |s| s.count)
    }

    /// The header with the most work, if any.
    pub fn best(&self) -> Option<(BlockHash, HeaderEntry)> {
        let (_, Reverse(h)) = self.ranked.last()?;
        self.entries.get(h).map(|n| (*h, n.entry))
    }

    /// Adds `entry` under `hash`, already validated, charged to `owner`
    /// (module docs). `Err(())` when refused (the tree is full and no
    /// header may be evicted for it); else the header evicted to make
    /// room, if one was.
    pub(super) fn insert(
        &mut self,
        hash: BlockHash,
        entry: HeaderEntry,
        owner: PeerId,
    ) -> Result<Option<(BlockHash, HeaderEntry)>, ()> {
        if self.entries.contains_key(&hash) {
            return Ok(None);
        }
        let mut evicted = None;
        if self.entries.len() >= self.cap {
            let victim = self.victim(owner).ok_or(())?;
            evicted = self.get(&victim).map(|e| (victim, *e));
            self.remove(&victim);
        }
        let parent = entry.header.prev_block_hash;
        if let Some(p) = self.entries.get_mut(&parent) {
            p.children = p.children.saturating_add(1);
            if p.children == 1 {
                let (o, w) = (p.owner, p.entry.chain_work);
                if let Some(s) = self.shares.get_mut(&o) {
                    s.leaves.remove(&(w, parent));
                }
            }
        }
        self.entries.insert(
            hash,
            Node {
                entry,
                owner,
                children: 0,
            },
        );
        self.ranked.insert((entry.chain_work, Reverse(hash)));
        let share = self.shares.entry(owner).or_default();
        share.count += 1;
        share.leaves.insert((entry.chain_work, hash));
        Ok(evicted)
    }

    /// The leaf to evict for a header of `owner` (module docs), if any.
    fn victim(&self, owner: PeerId) -> Option<BlockHash> {
        let least = |s: &Share| s.leaves.first().map(|(_, h)| *h);
        if owner != DEPARTED
            && let Some(h) = self.shares.get(&DEPARTED).and_then(least)
        {
            return Some(h);
        }
        let mine = self.share(owner);
        self.shares
            .iter()
            .filter(|(o, s)| **o != owner && s.count > mine && !s.leaves.is_empty())
            .max_by_key(|(o, s)| (s.count, Reverse(**o)))
            .and_then(|(_, s)| least(s))
    }

    /// `owner` left: its headers stay (another peer may hold their
    /// blocks) but are charged to [`DEPARTED`], evicted first.
    pub(super) fn release_owner(&mut self, owner: PeerId) {
        if owner == DEPARTED {
            return;
        }
        let Some(gone) = self.shares.remove(&owner) else {
            return;
        };
        for n in self.entries.values_mut() {
            if n.owner == owner {
                n.owner = DEPARTED;
            }
        }
        let pool = self.shares.entry(DEPARTED).or_default();
        pool.count += gone.count;
        pool.leaves.extend(gone.leaves);
    }

    /// Forgets `hash` (its block is stored, or refused, or it was evicted).
    pub(super) fn remove(&mut self, hash: &BlockHash) {
        let Some(node) = self.entries.remove(hash) else {
            return;
        };
        let work = node.entry.chain_work;
        self.ranked.remove(&(work, Reverse(*hash)));
        if let Some(s) = self.shares.get_mut(&node.owner) {
            s.count = s.count.saturating_sub(1);
            s.leaves.remove(&(work, *hash));
            if s.count == 0 {
                self.shares.remove(&node.owner);
            }
        }
        let parent = node.entry.header.prev_block_hash;
        if let Some(p) = self.entries.get_mut(&parent) {
            p.children = p.children.saturating_sub(1);
            if p.children == 0 {
                let (o, w) = (p.owner, p.entry.chain_work);
                self.shares.entry(o).or_default().leaves.insert((w, parent));
            }
        }
    }

    /// Forgets `hash` and every header held that descends from it (its
    /// block was refused as invalid, so none of them can be fetched). One
    /// pass over the headers above it in height order, O(n log n), not
    /// one pass over the tree per generation below it.
    pub(super) fn remove_branch(&mut self, hash: &BlockHash) {
        let base = self.get(hash).map(|e| e.height);
        let mut gone = BTreeSet::from([*hash]);
        if let Some(base) = base {
            let mut above: Vec<(u64, BlockHash, BlockHash)> = self
                .entries
                .iter()
                .filter(|(_, n)| n.entry.height > base)
                .map(|(h, n)| (n.entry.height, *h, n.entry.header.prev_block_hash))
                .collect();
            above.sort_unstable();
            for (_, h, prev) in above {
                if gone.contains(&prev) {
                    gone.insert(h);
                }
            }
        }
        // Highest first, so each removal finds its parent still held.
        let mut order: Vec<(u64, BlockHash)> = gone
            .iter()
            .filter_map(|h| self.get(h).map(|e| (e.height, *h)))
            .collect();
        order.sort_unstable_by(|a, b| b.cmp(a));
        for (_, h) in order {
            self.remove(&h);
        }
        self.paths.clear();
    }

    /// The headers held from the lowest ancestor of `hash` in the tree up
    /// to `hash`, in chain order (empty when `hash` is not held).
    pub fn path_to(&self, hash: &BlockHash) -> Vec<(BlockHash, HeaderEntry)> {
        let mut path = Vec::new();
        let mut at = *hash;
        while let Some(n) = self.entries.get(&at) {
            path.push((at, n.entry));
            at = n.entry.header.prev_block_hash;
        }
        path.reverse();
        path
    }

    /// The lowest `n` headers held on the path to `best`, in chain order
    /// (as the first `n` of [`HeaderTree::path_to`]), from a remembered
    /// path when one still reaches far enough.
    pub(super) fn window(&mut self, best: &BlockHash, n: usize) -> Vec<(BlockHash, HeaderEntry)> {
        let Some(top) = self.get(best).map(|e| e.height) else {
            self.paths.remove(best);
            return Vec::new();
        };
        let entries = &self.entries;
        let fresh = self.paths.get_mut(best).is_some_and(|path| {
            while path.front().is_some_and(|h| !entries.contains_key(h)) {
                path.pop_front();
            }
            let last = path
                .back()
                .and_then(|h| entries.get(h))
                .map(|n| n.entry.height);
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
                .map_while(|h| self.get(h).map(|e| (*h, *e)))
                .take(n)
                .collect()
        })
    }

    /// True when `ancestor` is `hash` or one of its ancestors held here.
    pub fn descends_from(&self, hash: &BlockHash, ancestor: &BlockHash) -> bool {
        let Some(target) = self.get(ancestor).map(|e| e.height) else {
            return false;
        };
        let mut at = *hash;
        while let Some(e) = self.get(&at) {
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

    /// A chain of `n` headers after `prev` (at `height`, `work`), nonces
    /// from `nonce`.
    fn chain(
        prev: BlockHash,
        height: u64,
        work: u128,
        n: u64,
        nonce: u32,
    ) -> Vec<(BlockHash, HeaderEntry)> {
        let mut out: Vec<(BlockHash, HeaderEntry)> = Vec::new();
        for i in 0..n {
            let p = out.last().map_or(prev, |x| x.0);
            out.push(entry(
                p,
                height + i + 1,
                work + u128::from(i) + 1,
                nonce + i as u32,
            ));
        }
        out
    }

    #[test]
    fn one_peer_cannot_fill_the_tree_so_that_another_peers_headers_are_refused() {
        let mut t = HeaderTree::with_cap(10);
        // The attacker fills the tree with a long, heavy chain.
        let junk = chain(BlockHash::ZERO, 0, 100, 10, 1_000);
        for (h, e) in &junk {
            assert_eq!(t.insert(*h, *e, 7), Ok(None));
        }
        assert_eq!(t.insert(h(1), junk[9].1, 7), Err(()), "its own cannot grow");
        // An honest peer's chain still gets in, evicting the attacker's
        // leaves (its tip first), down to equal shares.
        let honest = chain(BlockHash::ZERO, 0, 0, 6, 1);
        for (i, (h, e)) in honest.iter().take(5).enumerate() {
            assert_eq!(t.insert(*h, *e, 2), Ok(Some(junk[9 - i])));
        }
        assert_eq!((t.share(7), t.share(2), t.len()), (5, 5, 10));
        assert_eq!(t.best().map(|x| x.0), Some(junk[4].0));
        // Equal shares: neither evicts the other any more.
        assert_eq!(t.insert(honest[5].0, honest[5].1, 2), Err(()));
        assert_eq!(t.insert(h(2), junk[9].1, 7), Err(()));
        // The chains stay whole: every header held links to one held or
        // to the root.
        for (h, _) in honest.iter().take(5).chain(junk.iter().take(5)) {
            let e = t.get(h).expect("held");
            let p = e.header.prev_block_hash;
            assert!(p == BlockHash::ZERO || t.get(&p).is_some());
        }
    }

    #[test]
    fn a_leaf_another_peer_builds_on_is_not_evicted_and_departed_peers_go_first() {
        let mut t = HeaderTree::with_cap(6);
        // Peer 7 relays the honest chain's first headers, peer 2 extends it.
        let honest = chain(BlockHash::ZERO, 0, 0, 6, 1);
        for (h, e) in &honest[..4] {
            t.insert(*h, *e, 7).expect("room");
        }
        for (h, e) in &honest[4..] {
            t.insert(*h, *e, 2).expect("room");
        }
        // Peer 7 owns more but no leaf: nothing of it may go.
        let (x, ex) = entry(BlockHash::ZERO, 1, 1, 500);
        assert_eq!(t.insert(x, ex, 3), Ok(Some(honest[5])));
        // Peer 3 leaves: its header is evicted first, even for peer 3's
        // successor with nothing held.
        t.release_owner(3);
        assert_eq!(t.share(DEPARTED), 1);
        let (y, ey) = entry(honest[4].0, 6, 6, 501);
        assert_eq!(t.insert(y, ey, 2), Ok(Some((x, ex))));
        assert_eq!(t.share(DEPARTED), 0);
        assert_eq!(t.best().map(|b| b.0), Some(y));
    }

    #[test]
    fn an_invalid_block_takes_its_whole_branch_and_nothing_else() {
        let mut t = HeaderTree::default();
        let main = chain(BlockHash::ZERO, 0, 0, 3_000, 1);
        let side = chain(main[10].0, 11, 11, 5, 10_000);
        for (h, e) in main.iter().chain(side.iter()) {
            t.insert(*h, *e, 1).expect("room");
        }
        t.remove_branch(&main[20].0);
        assert_eq!(t.len(), 20 + 5);
        assert_eq!(t.share(1), 25);
        assert_eq!(t.best().map(|b| b.0), Some(main[19].0));
        assert!(t.get(&main[2_999].0).is_none() && t.get(&side[4].0).is_some());
    }

    fn h(i: u8) -> BlockHash {
        BlockHash(Hash256([i; 32]))
    }

    #[test]
    fn the_best_header_follows_the_most_work_and_paths_run_in_chain_order() {
        let mut t = HeaderTree::default();
        let (a, ea) = entry(BlockHash::ZERO, 1, 2, 1);
        let (b, eb) = entry(a, 2, 3, 2);
        let (c, ec) = entry(a, 2, 5, 3);
        for (h, e) in [(a, ea), (b, eb), (c, ec)] {
            assert_eq!(t.insert(h, e, 1), Ok(None));
        }
        assert_eq!(t.best().map(|x| x.0), Some(c));
        assert_eq!(
            t.path_to(&b).iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![a, b]
        );
        assert!(t.descends_from(&c, &a) && !t.descends_from(&c, &b));
        t.remove(&c);
        assert_eq!(t.best().map(|x| x.0), Some(b));
        t.remove(&b);
        assert_eq!(t.best().map(|x| x.0), Some(a));
        assert_eq!(t.insert(b, eb, 1), Ok(None));
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
