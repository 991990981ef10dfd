//! Chain state: accepting blocks, connecting them, and reorganizing to the
//! best branch.
//!
//! The best branch is a consensus rule ([`beats`]): the one with the most
//! cumulative work; among branches with equal work, the one whose tip has
//! the lower block hash. A side branch that ties the tip's work with a
//! lower tip hash therefore wins at once, so nodes that saw a race in
//! different orders still end on the same tip.
//!
//! A reorg never disconnects the best chain for a branch that fails: the
//! branch is validated first against the UTXO set as of the fork point,
//! built in memory (`fork_view.rs`), and only a branch that validates whole is
//! written, in one step of the chain-state cache (`store/cache.rs`), so no
//! reader sees a reorg half-done. An invalid branch costs its own
//! length in validation, not the chain's.
//!
//! Driven by calls, not sockets: [`super::Chain::process_block`] hands it
//! blocks and turns the [`BlockOutcome`] it returns into events.

use std::sync::Arc;

use crate::core::block::{Block, block_work};
use crate::core::hash::BlockHash;
use crate::core::params::ChainParams;
use crate::core::tx::TxOut;
use crate::core::validation::{
    BlockError, ParentInfo, SigCache, check_block_context, check_block_sanity, check_block_time,
    check_header_pow,
};
use crate::core::view::UtxoView;
use crate::store::{BlockStatus, ChainStore, StoreError, Tip};

use super::fork_view::ForkView;
use super::mtp::HeaderTimes;

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
    /// Stored on a side branch that does not beat the tip ([`beats`]: less
    /// work, or equal work and a tip hash that is not lower).
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
    times: HeaderTimes,
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
            times: HeaderTimes::default(),
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

    /// The median time past (BIP113) of the chain ending at `hash`, in
    /// seconds since the Unix epoch: a child of `hash` must be dated after
    /// it. Errors: [`StoreError`].
    pub fn median_time_past(&self, hash: BlockHash) -> Result<u32, StoreError> {
        self.times.median_time_past(&self.store, hash)
    }

    /// BIP113 for `block` (its parent stored): its time is after its
    /// parent's median time past. Errors: [`ChainError::Invalid`] with
    /// [`BlockError::TimeTooOld`]; [`ChainError::Store`].
    pub fn check_time(&self, block: &Block) -> Result<(), ChainError> {
        let median = self.median_time_past(block.header.prev_block_hash)?;
        check_block_time(&block.header, median).map_err(|error| ChainError::Invalid {
            hash: block.hash(),
            error,
        })?;
        self.times.note(&block.header);
        Ok(())
    }

    /// The tip.
    pub fn tip(&self) -> Result<Tip, StoreError> {
        self.store.tip()
    }

    /// Validates and stores `block`, connecting it or reorganizing when it
    /// makes a branch that beats the tip ([`beats`]: more work, or equal
    /// work and a lower tip hash). A branch that fails validation leaves the
    /// best chain untouched.
    ///
    /// `now` is the current time in seconds since the Unix epoch (for the
    /// rule on timestamps in the future).
    ///
    /// Errors: [`ChainError::Invalid`] naming the rule and the first invalid
    /// block (which may be below `block` on its branch; it and the branch
    /// above it are remembered as invalid); [`ChainError::KnownInvalid`] for
    /// a block remembered so, or a branch through one;
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
        // The chain's proof of work first, before anything costlier (a
        // block at a lower difficulty costs nothing to make, and is not
        // kept as an orphan either).
        check_header_pow(&block.header, self.params.difficulty).map_err(invalid)?;
        check_block_sanity(block, now).map_err(invalid)?;
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
        self.check_time(block)?;
        let tip = self.store.tip()?;
        if block.header.prev_block_hash == tip.hash {
            let t = self.connect(block)?;
            return Ok(BlockOutcome::Connected(t));
        }
        let work = parent
            .chain_work
            .saturating_add(block_work(block.header.bits));
        self.store.store_block(block)?;
        if !beats((work, hash), (tip.chain_work, tip.hash)) {
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
    fn branch_to(&self, tip: BlockHash) -> Result<(Vec<BlockHash>, Tip), ChainError> {
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
        let fork = self
            .store
            .block_meta(&cursor)?
            .ok_or(StoreError::MissingBlock(cursor))?;
        Ok((
            branch,
            Tip {
                hash: cursor,
                height: fork.height,
                chain_work: fork.chain_work,
            },
        ))
    }

    /// Switches the best chain to end at `new_tip` (stored, and winning by
    /// [`beats`]): validates the whole branch against the UTXO set as of
    /// the fork point first, in memory, and only then writes the
    /// disconnects and connects, in one step of the chain-state cache
    /// ([`ChainStore::reorganize`]). A branch that
    /// fails leaves the best chain untouched; its first invalid block and
    /// the branch blocks above it are marked [`BlockStatus::Invalid`].
    fn reorg_to(&self, new_tip: BlockHash) -> Result<BlockOutcome, ChainError> {
        let (branch, fork) = self.branch_to(new_tip)?;
        let validated = self.validate_branch(&branch, &fork)?;
        let writes: Vec<_> = validated
            .iter()
            .map(|(block, spent)| (block, spent.as_slice()))
            .collect();
        let (disconnected, tip) = self.store.reorganize(&fork.hash, &writes)?;
        let connected = validated.into_iter().map(|(block, _)| block).collect();
        Ok(BlockOutcome::Reorged {
            disconnected,
            connected,
            tip,
        })
    }

    /// Validates `branch` (lowest first, on `fork`) block by block against
    /// a [`ForkView`] moved forward as each one passes, signatures checked
    /// through the shared [`SigCache`]. Returns each block with the outputs
    /// its inputs spend (its undo data), ready to connect.
    ///
    /// Errors: [`ChainError::Invalid`] for the first block that breaks a
    /// rule, [`ChainError::KnownInvalid`] for one already marked so (that
    /// block and every later one of the branch are then marked invalid);
    /// [`ChainError::Store`].
    fn validate_branch(
        &self,
        branch: &[BlockHash],
        fork: &Tip,
    ) -> Result<Vec<(Block, Vec<TxOut>)>, ChainError> {
        let mut view = ForkView::at(&self.store, fork.hash)?;
        let mut valid = Vec::with_capacity(branch.len());
        let mut parent = ParentInfo {
            hash: fork.hash,
            height: fork.height,
        };
        for (i, hash) in branch.iter().enumerate() {
            let meta = self.store.block_meta(hash)?;
            let block = self
                .store
                .block(hash)?
                .ok_or(StoreError::MissingBlock(*hash))?;
            let checked = if meta.is_some_and(|m| m.status == BlockStatus::Invalid) {
                Err(ChainError::KnownInvalid(*hash))
            } else {
                let utxos = UtxoView::for_block(&block, &view)?;
                let d = self.params.difficulty;
                check_block_context(&block, &parent, d, &utxos, Some(&self.sig_cache))
                    .map_err(|error| ChainError::Invalid { hash: *hash, error })
            };
            match checked {
                Ok(undo) => {
                    view.connect(&block);
                    parent = ParentInfo {
                        hash: *hash,
                        height: block.height,
                    };
                    valid.push((block, undo.spent));
                }
                Err(e) => {
                    for later in branch.iter().skip(i) {
                        self.store.mark_invalid(later)?;
                    }
                    return Err(e);
                }
            }
        }
        Ok(valid)
    }

    /// Moves the best chain to the most-work valid branch stored: while a
    /// stored block not known to be invalid [`beats`] the tip, reorganizes
    /// to it; a branch that fails is marked invalid and the next best one is
    /// tried. Completes a reorg that a crash interrupted between its
    /// disconnects and its connects (the blocks are stored, so peers never
    /// send them again), even when the interrupted branch was invalid: the
    /// node then ends on the most-work valid chain.
    ///
    /// Errors: [`StoreError`] reading or writing the store (branches
    /// refused for a rule are in [`Activation::refused`], not errors).
    pub fn activate_best_chain(&self) -> Result<Activation, StoreError> {
        let mut done = Activation::default();
        loop {
            let tip = self.store.tip()?;
            let Some((hash, meta)) = self.store.heaviest_block()? else {
                return Ok(done);
            };
            if !beats((meta.chain_work, hash), (tip.chain_work, tip.hash)) {
                return Ok(done);
            }
            match self.reorg_to(hash) {
                Ok(outcome) => done.switched.push(outcome),
                Err(ChainError::Store(e)) => return Err(e),
                Err(e) => done.refused.push(e),
            }
        }
    }
}

/// What [`ChainState::activate_best_chain`] did.
#[derive(Debug, Default)]
pub struct Activation {
    /// The reorgs made, in order (each a [`BlockOutcome::Reorged`]).
    pub switched: Vec<BlockOutcome>,
    /// The branches refused, in order: [`ChainError::Invalid`] or
    /// [`ChainError::KnownInvalid`] naming the first bad block of each.
    pub refused: Vec<ChainError>,
}

/// The consensus rule choosing the best chain: branch `a` (its tip's
/// cumulative work and hash) beats branch `b` when it has more work, or
/// the same work and a lower tip hash (the 32 hash bytes compared as a
/// big-endian number, the order proof of work reads them in). Every node
/// applies it, so equal-work branches resolve to the same tip without
/// waiting for another block.
pub fn beats(a: (u128, BlockHash), b: (u128, BlockHash)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
}
