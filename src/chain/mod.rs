//! The chain layer: block processing (genesis adoption, orphans, connect,
//! reorg), the mempool that follows it, and the miner. No sockets, no clock:
//! the current time is passed in.
//!
//! [`Chain`] owns the chain state, the mempool and the orphan pool. Its two
//! entry points, [`Chain::process_block`] and [`Chain::accept_tx`], return
//! [`ChainEvent`]s that say what changed, naming the peer to blame for an
//! invalid block or transaction. The mempool reacts to the chain inside
//! `Chain` itself (transactions leave when mined, and come back after a
//! reorg), so every caller sees the same behaviour. Follows btcd's
//! `blockchain/process.go`: duplicate check, sanity, orphan pool, accept,
//! then the orphans that were waiting for the block.

pub mod locator;
pub mod mempool;
pub mod miner;
pub mod orphans;
pub mod state;

mod process;

use std::sync::Arc;

use crate::core::block::Block;
use crate::core::hash::{BlockHash, Txid};
use crate::core::tx::Transaction;
use crate::core::validation::SigCache;
use crate::store::{ChainStore, StoreError, Tip};

pub use mempool::{Mempool, MempoolError};
pub use orphans::OrphanPool;
pub use state::{BlockOutcome, ChainError, ChainState};

/// Opaque id of the peer a block or transaction came from, given by the
/// caller and returned in events so the protocol can blame or skip it.
pub type PeerId = u64;

/// What processing a block or transaction changed, in order.
#[derive(Debug, Clone)]
pub enum ChainEvent {
    /// A genesis block started the chain (the store had none).
    GenesisAdopted {
        /// Its hash.
        hash: BlockHash,
        /// Its difficulty, in leading zero bits.
        bits: u32,
        /// Who sent it.
        from: Option<PeerId>,
    },
    /// A block joined the best chain (by extending the tip or in a reorg).
    BlockConnected {
        /// Its hash.
        hash: BlockHash,
        /// Its height.
        height: u64,
        /// Its number of transactions, coinbase included.
        txs: usize,
        /// Who sent it (`None`: minted here or re-connected in a reorg).
        from: Option<PeerId>,
    },
    /// A block left the best chain in a reorg.
    BlockDisconnected {
        /// Its hash.
        hash: BlockHash,
        /// Its height.
        height: u64,
    },
    /// The best chain switched branches.
    Reorg {
        /// Blocks disconnected.
        disconnected: usize,
        /// Blocks connected.
        connected: usize,
    },
    /// The tip after the blocks of one call connected (once per call that
    /// moved it).
    TipChanged(Tip),
    /// Stored on a side branch with no more work than the tip.
    SideBranch {
        /// Its hash.
        hash: BlockHash,
        /// Its height.
        height: u64,
    },
    /// Kept as an orphan: its parent is unknown; the protocol asks `from`
    /// for the missing blocks.
    Orphan {
        /// Its hash.
        hash: BlockHash,
        /// Its height.
        height: u64,
        /// Who sent it.
        from: Option<PeerId>,
    },
    /// The block breaks a consensus rule (or builds on a block that does).
    InvalidBlock {
        /// Its hash.
        hash: BlockHash,
        /// The peer to blame: the one that sent this block (for an orphan,
        /// the one that sent the orphan, not its parent).
        from: Option<PeerId>,
        /// The rule, as text for logs.
        error: String,
    },
    /// The block's timestamp is more than
    /// [`MAX_FUTURE_BLOCK_TIME`](crate::core::params::MAX_FUTURE_BLOCK_TIME)
    /// ahead of the clock ([`crate::core::validation::BlockError::TimeTooNew`]).
    /// Not an [`ChainEvent::InvalidBlock`]: clocks drift, so nobody is
    /// blamed (Bitcoin Core does not punish it either), and the block is
    /// neither stored nor marked invalid, so it is accepted when sent again
    /// once our clock has caught up.
    FutureBlock {
        /// Its hash.
        hash: BlockHash,
        /// Its header time, seconds since the Unix epoch.
        time: u32,
        /// Who sent it.
        from: Option<PeerId>,
    },
    /// Processing of one block handed to [`Chain::process_block`] finished
    /// (whatever the outcome; sent last).
    BlockDone {
        /// The block's hash.
        hash: BlockHash,
        /// Who sent it.
        from: Option<PeerId>,
    },
    /// A transaction entered the mempool.
    TxAccepted {
        /// The transaction.
        tx: Arc<Transaction>,
        /// Its fee in whole coins.
        fee: u64,
        /// Who sent it (`None`: submitted locally).
        from: Option<PeerId>,
    },
    /// A transaction was refused.
    TxRejected {
        /// Its txid.
        txid: Txid,
        /// Who sent it.
        from: Option<PeerId>,
        /// Why.
        error: Arc<MempoolError>,
    },
    /// A transaction left the mempool (mined, conflicting, or invalid after
    /// a reorg).
    TxRemoved {
        /// Its txid.
        txid: Txid,
    },
}

/// The chain state, mempool and orphan pool of one node (module docs).
pub struct Chain {
    store: ChainStore,
    state: Option<ChainState>,
    mempool: Mempool,
    orphans: OrphanPool,
    sig_cache: Arc<SigCache>,
}

impl Chain {
    /// Opens the chain in `store` (which may hold none yet: the first valid
    /// genesis handed to [`Chain::process_block`] then starts it) and
    /// completes a reorg a crash interrupted, if any.
    ///
    /// Errors: [`ChainError::Store`] reading the store; an invalid branch
    /// found while completing a reorg is marked invalid and not an error.
    pub fn open(
        store: ChainStore,
        sig_cache: Arc<SigCache>,
    ) -> Result<(Chain, Vec<ChainEvent>), ChainError> {
        let state = match store.genesis_hash()? {
            Some(_) => Some(ChainState::new(store.clone(), sig_cache.clone())?),
            None => None,
        };
        let mut chain = Chain {
            store,
            state,
            mempool: Mempool::new(),
            orphans: OrphanPool::default(),
            sig_cache,
        };
        let mut events = Vec::new();
        if let Some(state) = &chain.state {
            match state.activate_best_chain() {
                Ok(Some(outcome)) => chain.after_outcome(outcome, None, &mut events),
                Ok(None) => {}
                Err(ChainError::Store(e)) => return Err(ChainError::Store(e)),
                Err(e) => events.push(ChainEvent::InvalidBlock {
                    hash: BlockHash::ZERO,
                    from: None,
                    error: e.to_string(),
                }),
            }
        }
        Ok((chain, events))
    }

    /// The store under the chain.
    pub fn store(&self) -> &ChainStore {
        &self.store
    }

    /// The chain state; `None` until a genesis block is stored.
    pub fn state(&self) -> Option<&ChainState> {
        self.state.as_ref()
    }

    /// The mempool.
    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    /// The orphan pool.
    pub fn orphans(&self) -> &OrphanPool {
        &self.orphans
    }

    /// The signature cache shared by block validation and the mempool.
    pub fn sig_cache(&self) -> &Arc<SigCache> {
        &self.sig_cache
    }

    /// The tip, `None` while there is no chain.
    ///
    /// Errors: [`StoreError`] reading it.
    pub fn tip(&self) -> Result<Option<Tip>, StoreError> {
        self.store.tip_opt()
    }

    /// Validates `tx` against the UTXO set and the mempool and adds it
    /// (`from`: the sending peer, `None` when submitted locally). Returns
    /// [`ChainEvent::TxAccepted`] or [`ChainEvent::TxRejected`]; with no
    /// chain yet every transaction is rejected with
    /// [`MempoolError::NoChain`].
    pub fn accept_tx(&mut self, tx: Transaction, from: Option<PeerId>) -> ChainEvent {
        let txid = tx.txid();
        let result = match &self.state {
            Some(_) => self.mempool.accept(tx, &self.store, &self.sig_cache),
            None => Err(MempoolError::NoChain),
        };
        match result {
            Ok((tx, fee)) => ChainEvent::TxAccepted { tx, fee, from },
            Err(e) => ChainEvent::TxRejected {
                txid,
                from,
                error: Arc::new(e),
            },
        }
    }

    /// A block template paying `minter` (a pubkey hash) on the tip, at
    /// header time `time` (seconds since the Unix epoch), when the mempool
    /// holds at least `threshold` transactions that fit; `None` otherwise or
    /// with no chain.
    ///
    /// Errors: [`StoreError`] reading the tip.
    pub fn template(
        &self,
        minter: [u8; 20],
        time: u32,
        threshold: usize,
    ) -> Result<Option<Block>, StoreError> {
        let Some(state) = &self.state else {
            return Ok(None);
        };
        if self.mempool.len() < threshold.max(1) {
            return Ok(None);
        }
        let block = miner::template(state, &self.mempool, minter, time)?;
        Ok(Some(block).filter(|b| b.transactions.len() > 1))
    }
}
