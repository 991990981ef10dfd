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
pub mod mtp;
pub mod orphan_txs;
pub mod orphans;
pub mod state;

mod batch;
mod fork_view;
mod process;

use std::sync::Arc;

use crate::core::block::Block;
use crate::core::hash::{BlockHash, Txid};
use crate::core::tx::Transaction;
use crate::core::validation::SigCache;
use crate::store::{ChainStore, StoreError, Tip};

pub use batch::MAX_RUN_BLOCKS;
pub use mempool::{Mempool, MempoolError, MempoolLimits};
pub use orphans::OrphanPool;
pub use state::{Activation, BlockOutcome, ChainError, ChainState, beats};

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
        /// Who sent it: in a reorg, the sender of the block that made the
        /// branch the best one (the new tip). `None`: minted here, or a
        /// block of the branch stored earlier (after a
        /// [`ChainEvent::Reorg`], its sender is not kept).
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
    /// A transaction left the mempool (mined, conflicting, invalid after a
    /// reorg, evicted for a better fee rate, or expired).
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
    orphan_txs: orphan_txs::OrphanTxs,
    sig_cache: Arc<SigCache>,
}

impl Chain {
    /// Opens the chain in `store` (which may hold none yet: the first valid
    /// genesis handed to [`Chain::process_block`] then starts it) and
    /// replays the stored blocks above its chain state: the blocks connected
    /// after the last flush of the chain-state cache before a crash, and a
    /// reorg a crash interrupted (Bitcoin Core's `ReplayBlocks`).
    ///
    /// Errors: [`ChainError::Store`] reading the store, or
    /// [`StoreError::Damaged`] when the replay ends below the tip the
    /// store's best-block record says was flushed; an invalid branch
    /// found while completing a reorg is marked invalid, reported as
    /// [`ChainEvent::InvalidBlock`] (no peer to blame) and not an error: the
    /// chain then ends on the most-work valid branch.
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
            orphan_txs: Default::default(),
            sig_cache,
        };
        let mut events = Vec::new();
        if let Some(state) = &chain.state {
            let activation = state.activate_best_chain()?;
            for e in activation.refused {
                let hash = match &e {
                    ChainError::Invalid { hash, .. } | ChainError::KnownInvalid(hash) => *hash,
                    _ => BlockHash::ZERO,
                };
                events.push(ChainEvent::InvalidBlock {
                    hash,
                    from: None,
                    error: e.to_string(),
                });
            }
            for outcome in activation.switched {
                // No clock here: the new tip's header time stands in for
                // the time re-admitted transactions enter the mempool.
                let now = match &outcome {
                    BlockOutcome::Reorged { connected, .. } => connected
                        .last()
                        .map_or(0, |b| u64::from(b.header.timestamp)),
                    _ => 0,
                };
                chain.after_outcome(outcome, None, now, &mut events);
            }
        }
        // A chain state found behind its best-block record was let open so
        // the replay above could restore it: it must have.
        chain.store.check_replayed()?;
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

    /// Sets the mempool's bounds (`startnode --mempool-mb`; the default is
    /// [`MempoolLimits::default`]).
    pub fn set_mempool_limits(&mut self, limits: MempoolLimits) {
        self.mempool.set_limits(limits);
    }

    /// Expires old mempool entries at `now` (seconds since the Unix epoch),
    /// then validates `tx` against the UTXO set and the mempool and adds it
    /// (`from`: the sending peer, `None` when submitted locally), evicting
    /// lower fee-rate packages if the mempool is full. Returns a
    /// [`ChainEvent::TxRemoved`] per expired or evicted transaction, then
    /// [`ChainEvent::TxAccepted`] or [`ChainEvent::TxRejected`]; with no
    /// chain yet every transaction is rejected with
    /// [`MempoolError::NoChain`]. A relayed transaction whose input is
    /// missing waits among the orphan transactions ([`orphan_txs`]); when a
    /// transaction is accepted, its waiting children are tried next (each
    /// with its own `TxAccepted` or `TxRejected`).
    pub fn accept_tx(
        &mut self,
        tx: Transaction,
        from: Option<PeerId>,
        now: u64,
    ) -> Vec<ChainEvent> {
        let mut events = self.expire_mempool(now);
        let mut queue = vec![(tx, from)];
        while let Some((tx, from)) = queue.pop() {
            if let Some(txid) = self.accept_one_tx(tx, from, now, &mut events) {
                queue.extend(self.orphan_txs.take_children(&txid));
            }
        }
        events
    }

    /// One transaction through the mempool; its txid when accepted. A
    /// relayed one with a missing input is kept as an orphan transaction
    /// (and still reported rejected) until its parent arrives.
    fn accept_one_tx(
        &mut self,
        tx: Transaction,
        from: Option<PeerId>,
        now: u64,
        events: &mut Vec<ChainEvent>,
    ) -> Option<Txid> {
        let txid = tx.txid();
        let kept = tx.clone();
        let result = match &self.state {
            Some(_) => self.mempool.accept(tx, &self.store, &self.sig_cache, now),
            None => Err(MempoolError::NoChain),
        };
        match result {
            Ok(accepted) => {
                for txid in accepted.evicted {
                    events.push(ChainEvent::TxRemoved { txid });
                }
                events.push(ChainEvent::TxAccepted {
                    tx: accepted.tx,
                    fee: accepted.fee,
                    from,
                });
                Some(txid)
            }
            Err(e) => {
                let missing = matches!(
                    &e,
                    MempoolError::Invalid {
                        error: crate::core::validation::TxError::MissingInput { .. },
                        ..
                    }
                );
                if missing && from.is_some() {
                    self.orphan_txs.insert(kept, from, now);
                }
                events.push(ChainEvent::TxRejected {
                    txid,
                    from,
                    error: Arc::new(e),
                });
                None
            }
        }
    }

    /// Removes the mempool entries expired at `now` (seconds since the Unix
    /// epoch), with their descendants: one [`ChainEvent::TxRemoved`] each.
    pub fn expire_mempool(&mut self, now: u64) -> Vec<ChainEvent> {
        self.mempool
            .expire(now)
            .into_iter()
            .map(|txid| ChainEvent::TxRemoved { txid })
            .collect()
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
