//! Chain state: accepting blocks, connecting them, and reorganizing to the
//! branch with the most cumulative work (ties keep the first seen).
//!
//! Driven by calls, not sockets: [`super::Chain::process_block`] hands it
//! blocks and turns the [`BlockOutcome`] it returns into events.

use std::sync::Arc;

use crate::core::block::{Block, block_work};
use crate::core::hash::BlockHash;
use crate::core::params::ChainParams;
use crate::core::validation::{
    BlockError, ParentInfo, SigCache, check_block_context, check_block_sanity,
};
use crate::core::view::UtxoView;
use crate::store::{BlockStatus, ChainStore, StoreError, Tip};

/// Errors from accepting a block.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The block breaks a consensus rule.
    #[error("invalid block {hash}: {error}")]
    Invalid {
        /// The block's hash.
        hash: BlockHash,
        /// The rule it breaks.
        error: BlockError,
    },
    /// The block is stored already with status [`BlockStatus::Invalid`]
    /// (it, or a block it descends from, broke a rule when checked).
    #[error("invalid block {0}: block is known to be invalid")]
    KnownInvalid(BlockHash),
    /// The block's parent is stored with status [`BlockStatus::Invalid`], so
    /// the block cannot be on a valid chain.
    #[error("invalid block {hash}: parent {parent} is invalid")]
    InvalidParent {
        /// The block's hash.
        hash: BlockHash,
        /// Its parent's hash.
        parent: BlockHash,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What happened to a block handed to [`ChainState::accept_block`].
#[derive(Debug)]
pub enum BlockOutcome {
    /// Already stored (valid or waiting on a side branch).
    Duplicate,
    /// Its parent is unknown: an orphan. The caller keeps it aside and asks
    /// for the missing parents.
    Orphan,
    /// Stored on a side branch that does not have more work than the tip.
    SideBranch,
    /// Extended the tip.
    Connected(Tip),
    /// The best chain switched branches: `disconnected` left it (tip first),
    /// `connected` joined it (in height order).
    Reorged {
        /// Blocks that left the best chain, tip first.
        disconnected: Vec<Block>,
        /// Blocks that joined it, lowest first.
        connected: Vec<Block>,
        /// The new tip.
        tip: Tip,
    },
}

/// The node's view of the chain, over a [`ChainStore`].
pub struct ChainState {
    store: ChainStore,
    params: ChainParams,
    genesis: BlockHash,
    sig_cache: Arc<SigCache>,
}

impl ChainState {
    /// Wraps a store that holds a chain. Errors: [`StoreError::NoChain`].
    pub fn new(store: ChainStore, sig_cache: Arc<SigCache>) -> Result<ChainState, StoreError> {
        let params = store.params()?;
        let genesis = store.genesis_hash()?.ok_or(StoreError::NoChain)?;
        Ok(ChainState {
            store,
            params,
            genesis,
            sig_cache,
        })
    }

    /// The underlying store.
    pub fn store(&self) -> &ChainStore {
        &self.store
    }

    /// Chain parameters (from genesis).
    pub fn params(&self) -> ChainParams {
        self.params
    }

    /// Genesis hash.
    pub fn genesis(&self) -> BlockHash {
        self.genesis
    }

    /// The signature cache shared with the mempool.
    pub fn sig_cache(&self) -> &Arc<SigCache> {
        &self.sig_cache
    }

    /// The tip.
    pub fn tip(&self) -> Result<Tip, StoreError> {
        self.store.tip()
    }

    /// Validates and stores `block`, connecting it or reorganizing when it
    /// makes a branch with more work than the tip.
    ///
    /// `now` is the current time in seconds since the Unix epoch (for the
    /// rule on timestamps in the future).
    ///
    /// Errors: [`ChainError::Invalid`] naming the rule (the block, and any
    /// branch it tops, is remembered as invalid when it was stored);
    /// [`ChainError::KnownInvalid`] for a block remembered so;
    /// [`ChainError::InvalidParent`] for a block whose parent is;
    /// [`ChainError::Store`].
    pub fn accept_block(&self, block: &Block, now: u64) -> Result<BlockOutcome, ChainError> {
        let hash = block.hash();
        let invalid = |error| ChainError::Invalid { hash, error };
        if let Some(meta) = self.store.block_meta(&hash)? {
            if meta.status == BlockStatus::Invalid {
                return Err(ChainError::KnownInvalid(hash));
            }
            return Ok(BlockOutcome::Duplicate);
        }
        check_block_sanity(block, now).map_err(invalid)?;
        // The difficulty is fixed for the chain: checked before the parent
        // lookup, so a block at a lower one is not kept as an orphan (its
        // proof of work would cost nothing).
        if block.header.bits != self.params.difficulty {
            return Err(invalid(BlockError::BadBits {
                expected: self.params.difficulty,
                got: block.header.bits,
            }));
        }
        let Some(parent) = self.store.block_meta(&block.header.prev_block_hash)? else {
            return Ok(BlockOutcome::Orphan);
        };
        if parent.status == BlockStatus::Invalid {
            return Err(ChainError::InvalidParent {
                hash,
                parent: block.header.prev_block_hash,
            });
        }
        // Header-level context, cheap, before anything is stored.
        if block.height != parent.height + 1 {
            return Err(invalid(BlockError::BadHeight {
                expected: parent.height + 1,
                got: block.height,
            }));
        }
        let tip = self.store.tip()?;
        if block.header.prev_block_hash == tip.hash {
            let t = self.connect(block)?;
            return Ok(BlockOutcome::Connected(t));
        }
        let work = parent
            .chain_work
            .saturating_add(block_work(block.header.bits));
        self.store.store_block(block)?;
        if work <= tip.chain_work {
            return Ok(BlockOutcome::SideBranch);
        }
        self.reorg_to(hash)
    }

    /// Full context validation against the tip's UTXO set, then an atomic
    /// connect. An invalid block is stored as [`BlockStatus::Invalid`].
    fn connect(&self, block: &Block) -> Result<Tip, ChainError> {
        let hash = block.hash();
        let tip = self.store.tip()?;
        let parent = ParentInfo {
            hash: tip.hash,
            height: tip.height,
        };
        // A failed read is the store's error, not the block's: nothing is
        // marked invalid for it.
        let view = UtxoView::for_block(block, &self.store)?;
        let undo = check_block_context(
            block,
            &parent,
            self.params.difficulty,
            &view,
            Some(&self.sig_cache),
        );
        match undo {
            Ok(undo) => Ok(self.store.connect_block(block, &undo.spent)?),
            Err(error) => {
                if let Err(e) = self.store.store_block(block) {
                    tracing::warn!("could not record invalid block {hash}: {e}");
                }
                self.store.mark_invalid(&hash)?;
                Err(ChainError::Invalid { hash, error })
            }
        }
    }

    /// The blocks from the fork point (exclusive) up to `tip`, lowest
    /// first, and the fork point: the last best-chain block below `tip`.
    fn branch_to(&self, tip: BlockHash) -> Result<(Vec<BlockHash>, BlockHash), ChainError> {
        let mut branch = Vec::new();
        let mut cursor = tip;
        while !self.store.is_on_best_chain(&cursor)? {
            let meta = self
                .store
                .block_meta(&cursor)?
                .ok_or(StoreError::MissingBlock(cursor))?;
            branch.push(cursor);
            cursor = meta.prev;
        }
        branch.reverse();
        Ok((branch, cursor))
    }

    /// Switches the best chain to end at `new_tip` (stored, more work).
    fn reorg_to(&self, new_tip: BlockHash) -> Result<BlockOutcome, ChainError> {
        let (branch, fork) = self.branch_to(new_tip)?;
        let mut disconnected = Vec::new();
        while self.store.tip()?.hash != fork {
            disconnected.push(self.store.disconnect_tip()?);
        }
        let mut connected = Vec::new();
        for h in &branch {
            let block = self.store.block(h)?.ok_or(StoreError::MissingBlock(*h))?;
            match self.connect(&block) {
                Ok(_) => connected.push(block),
                Err(ChainError::Invalid { hash, error }) => {
                    // Mark the rest of the branch invalid, and go back.
                    for later in branch.iter().skip_while(|x| **x != hash) {
                        self.store.mark_invalid(later)?;
                    }
                    self.restore(fork, &disconnected)?;
                    return Err(ChainError::Invalid { hash, error });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(BlockOutcome::Reorged {
            disconnected,
            connected,
            tip: self.store.tip()?,
        })
    }

    /// Undoes a failed reorg: back to `fork`, then the `disconnected`
    /// blocks (tip first) connected again.
    fn restore(&self, fork: BlockHash, disconnected: &[Block]) -> Result<(), ChainError> {
        while self.store.tip()?.hash != fork {
            self.store.disconnect_tip()?;
        }
        for old in disconnected.iter().rev() {
            let view = UtxoView::for_block(old, &self.store)?;
            let parent = ParentInfo {
                hash: old.header.prev_block_hash,
                height: old.height.saturating_sub(1),
            };
            let d = self.params.difficulty;
            let spent = check_block_context(old, &parent, d, &view, Some(&self.sig_cache))
                .map_err(|error| ChainError::Invalid {
                    hash: old.hash(),
                    error,
                })?;
            self.store.connect_block(old, &spent.spent)?;
        }
        Ok(())
    }

    /// Switches to the stored branch with the most work when it has more
    /// than the tip: completes a reorg that a crash interrupted between its
    /// disconnects and its connects (the blocks are stored, so peers never
    /// send them again). `None` when the tip already has the most work.
    pub fn activate_best_chain(&self) -> Result<Option<BlockOutcome>, ChainError> {
        let tip = self.store.tip()?;
        match self.store.heaviest_block()? {
            Some((hash, meta)) if meta.chain_work > tip.chain_work => self.reorg_to(hash).map(Some),
            _ => Ok(None),
        }
    }
}
