//! [`BlockReader`]: how the protocol reads the chain (nakamoto's
//! `BlockReader`). The node passes its [`ChainStore`]; a test may pass
//! any other implementation. Every read can fail, and the protocol says
//! so ([`super::Event::ChainReadFailed`]): a failed read is never taken
//! for "no chain", "have it" or "nothing to serve".

use crate::chain::locator::{hashes_after_locator, locator};
use crate::core::block::{Block, BlockHeader};
use crate::core::hash::BlockHash;
use crate::store::{BlockMeta, ChainStore, StoreError, Tip};

/// Read-only access to the chain the protocol serves and syncs.
pub trait BlockReader: Send {
    /// The best chain's tip; `Ok(None)` before a chain exists.
    fn tip(&self) -> Result<Option<Tip>, StoreError>;
    /// The genesis hash; `Ok(None)` before a chain exists.
    fn genesis(&self) -> Result<Option<BlockHash>, StoreError>;
    /// The chain's required proof of work in leading zero bits; `Ok(None)`
    /// before a chain exists.
    fn difficulty(&self) -> Result<Option<u32>, StoreError>;
    /// The block with `hash`, if stored.
    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, StoreError>;
    /// The index entry of `hash` (height, parent, work, status), if known.
    fn block_meta(&self, hash: &BlockHash) -> Result<Option<BlockMeta>, StoreError>;
    /// Our block locator (`chain::locator::locator`).
    fn locator(&self) -> Result<Vec<BlockHash>, StoreError>;
    /// The answer to `getblocks` (`chain::locator::hashes_after_locator`).
    fn hashes_after(
        &self,
        locator: &[BlockHash],
        stop: &BlockHash,
        max: usize,
    ) -> Result<Vec<BlockHash>, StoreError>;
    /// The header of the stored block `hash`, if stored (by default the
    /// whole block is decoded; the store decodes its first 80 bytes only).
    fn header(&self, hash: &BlockHash) -> Result<Option<BlockHeader>, StoreError> {
        Ok(self.block(hash)?.map(|b| b.header))
    }
}

impl BlockReader for ChainStore {
    fn tip(&self) -> Result<Option<Tip>, StoreError> {
        self.tip_opt()
    }

    fn genesis(&self) -> Result<Option<BlockHash>, StoreError> {
        self.genesis_hash()
    }

    fn difficulty(&self) -> Result<Option<u32>, StoreError> {
        match self.params() {
            Ok(p) => Ok(Some(p.difficulty)),
            Err(StoreError::NoChain) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, StoreError> {
        ChainStore::block(self, hash)
    }

    fn block_meta(&self, hash: &BlockHash) -> Result<Option<BlockMeta>, StoreError> {
        ChainStore::block_meta(self, hash)
    }

    fn locator(&self) -> Result<Vec<BlockHash>, StoreError> {
        locator(self)
    }

    fn hashes_after(
        &self,
        locator: &[BlockHash],
        stop: &BlockHash,
        max: usize,
    ) -> Result<Vec<BlockHash>, StoreError> {
        hashes_after_locator(self, locator, stop, max)
    }

    fn header(&self, hash: &BlockHash) -> Result<Option<BlockHeader>, StoreError> {
        ChainStore::header(self, hash)
    }
}
