//! The orphan pool: blocks whose parent is unknown, kept until the parent
//! arrives (btcd's `ProcessBlock` orphan handling), with the peer that sent
//! each so that an invalid orphan is blamed on its sender.

use std::collections::HashMap;

use crate::core::block::Block;
use crate::core::hash::BlockHash;

use super::PeerId;

/// Most orphans kept; past it, expired ones go, then an arbitrary one.
pub const MAX_ORPHANS: usize = 100;
/// Seconds an orphan is kept.
pub const ORPHAN_EXPIRY: u64 = 20 * 60;

struct Orphan {
    block: Block,
    from: Option<PeerId>,
    added: u64,
}

/// Orphan blocks by hash (module docs).
#[derive(Default)]
pub struct OrphanPool {
    blocks: HashMap<BlockHash, Orphan>,
}

impl OrphanPool {
    /// Number of orphans held.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// True when no orphan is held.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// True if `hash` is held.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.blocks.contains_key(hash)
    }

    /// True if an orphan held waits for `parent` (its parent block).
    pub fn has_children(&self, parent: &BlockHash) -> bool {
        self.blocks
            .values()
            .any(|o| o.block.header.prev_block_hash == *parent)
    }

    /// Keeps `block` (sent by `from`, at `now` seconds since the Unix
    /// epoch), making room by expiry and then by dropping the entry with the
    /// lowest hash (a deterministic choice) when full.
    /// An orphan held already stays as it is: receiving it again evicts
    /// nothing (the protocol layer mirrors which orphans are held, and
    /// would otherwise stop fetching one that is gone).
    pub fn insert(&mut self, block: Block, from: Option<PeerId>, now: u64) {
        if self.blocks.contains_key(&block.hash()) {
            return;
        }
        if self.blocks.len() >= MAX_ORPHANS {
            self.blocks
                .retain(|_, o| now.saturating_sub(o.added) < ORPHAN_EXPIRY);
        }
        if self.blocks.len() >= MAX_ORPHANS
            && let Some(k) = self.blocks.keys().min().copied()
        {
            self.blocks.remove(&k);
        }
        let added = now;
        self.blocks
            .insert(block.hash(), Orphan { block, from, added });
    }

    /// Takes out every orphan whose parent is `parent`, in hash order, with
    /// its sender.
    pub fn take_children(&mut self, parent: &BlockHash) -> Vec<(Block, Option<PeerId>)> {
        let mut kids: Vec<BlockHash> = self
            .blocks
            .iter()
            .filter(|(_, o)| o.block.header.prev_block_hash == *parent)
            .map(|(h, _)| *h)
            .collect();
        kids.sort();
        kids.into_iter()
            .filter_map(|h| self.blocks.remove(&h))
            .map(|o| (o.block, o.from))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::block::BlockHeader;
    use crate::core::hash::sha256d;

    fn orphan(n: u32) -> Block {
        Block {
            header: BlockHeader {
                version: 1,
                prev_block_hash: BlockHash(sha256d(b"unknown parent")),
                merkle_root: sha256d(b"m"),
                timestamp: 1,
                bits: 1,
                nonce: n,
            },
            height: 1,
            transactions: Vec::new(),
        }
    }

    #[test]
    fn receiving_a_held_orphan_again_evicts_nothing() {
        let mut pool = OrphanPool::default();
        let blocks: Vec<Block> = (0..MAX_ORPHANS as u32).map(orphan).collect();
        for b in &blocks {
            pool.insert(b.clone(), None, 0);
        }
        assert_eq!(pool.len(), MAX_ORPHANS);
        for b in &blocks {
            pool.insert(b.clone(), None, 1);
        }
        assert_eq!(pool.len(), MAX_ORPHANS);
        assert!(blocks.iter().all(|b| pool.contains(&b.hash())));
        // A new one still makes room by dropping the lowest hash.
        pool.insert(orphan(MAX_ORPHANS as u32), None, 2);
        assert_eq!(pool.len(), MAX_ORPHANS);
    }
}
