//! [`Chain::process_block`]: genesis adoption, the orphan pool, connect and
//! reorg, and the mempool's reaction to each.

use std::collections::HashSet;

use crate::core::block::Block;
use crate::core::hash::{BlockHash, Txid};
use crate::core::validation::{BlockError, check_block_sanity};

use super::{BlockOutcome, Chain, ChainError, ChainEvent, ChainState, PeerId};

impl Chain {
    /// Processes a block from `from` (`None`: minted here) at `now` seconds
    /// since the Unix epoch: adopts it as genesis when there is no chain
    /// yet, keeps it as an orphan when its parent is unknown, else
    /// validates it and connects it or reorganizes to it; then does the same
    /// for every orphan that was waiting for it. Mempool entries expired at
    /// `now` leave first ([`ChainEvent::TxRemoved`]). Returns what changed,
    /// ending with [`ChainEvent::BlockDone`]. Never fails: store errors come
    /// back as [`ChainEvent::InvalidBlock`] with no peer to blame.
    pub fn process_block(
        &mut self,
        block: Block,
        from: Option<PeerId>,
        now: u64,
    ) -> Vec<ChainEvent> {
        let hash = block.hash();
        let mut events = self.expire_mempool(now);
        if self.state.is_none() {
            self.adopt_genesis(block, from, now, &mut events);
        } else {
            let mut queue = vec![(block, from)];
            while let Some((block, sender)) = queue.pop() {
                let h = block.hash();
                if self.accept_one(block, sender, now, &mut events) {
                    queue.extend(self.orphans.take_children(&h));
                }
            }
        }
        if let Ok(Some(tip)) = self.store.tip_opt()
            && events
                .iter()
                .any(|e| matches!(e, ChainEvent::BlockConnected { .. }))
        {
            events.push(ChainEvent::TipChanged(tip));
        }
        events.push(ChainEvent::BlockDone { hash, from });
        events
    }

    fn adopt_genesis(
        &mut self,
        block: Block,
        from: Option<PeerId>,
        now: u64,
        events: &mut Vec<ChainEvent>,
    ) {
        let hash = block.hash();
        if block.height != 0 || block.header.prev_block_hash != BlockHash::ZERO {
            // No chain yet: only a genesis block can start one.
            return;
        }
        if let Err(error) = check_block_sanity(&block, now) {
            events.push(rejected(hash, from, ChainError::Invalid { hash, error }));
            return;
        }
        let started = self
            .store
            .init_genesis(&block)
            .and_then(|()| ChainState::new(self.store.clone(), self.sig_cache.clone()));
        match started {
            Ok(state) => {
                self.state = Some(state);
                events.push(ChainEvent::GenesisAdopted {
                    hash,
                    bits: block.header.bits,
                    from,
                });
                events.push(ChainEvent::BlockConnected {
                    hash,
                    height: 0,
                    txs: block.transactions.len(),
                    from,
                });
            }
            Err(e) => events.push(ChainEvent::InvalidBlock {
                hash,
                from: None,
                error: e.to_string(),
            }),
        }
    }

    /// Accepts one block; true when it is now stored and valid so far (its
    /// waiting orphans may follow).
    pub(super) fn accept_one(
        &mut self,
        block: Block,
        from: Option<PeerId>,
        now: u64,
        events: &mut Vec<ChainEvent>,
    ) -> bool {
        let Some(state) = &self.state else {
            return false;
        };
        let hash = block.hash();
        match state.accept_block(&block, now) {
            Ok(BlockOutcome::Orphan) => {
                events.push(ChainEvent::Orphan {
                    hash,
                    height: block.height,
                    from,
                });
                self.orphans.insert(block, from, now);
                false
            }
            Ok(BlockOutcome::Duplicate) => false,
            Ok(BlockOutcome::SideBranch) => {
                events.push(ChainEvent::SideBranch {
                    hash,
                    height: block.height,
                });
                true
            }
            Ok(outcome @ (BlockOutcome::Connected(_) | BlockOutcome::Reorged { .. })) => {
                let connected_here = matches!(outcome, BlockOutcome::Connected(_));
                self.after_outcome(outcome, from, now, events);
                if connected_here {
                    self.remove_mined(&block, events);
                }
                true
            }
            Err(e) => {
                events.push(rejected(hash, from, e));
                false
            }
        }
    }

    /// Events for a connect or reorg, and the mempool's reaction to a reorg
    /// (re-admitted transactions enter at `now`, seconds since the Unix
    /// epoch).
    pub(super) fn after_outcome(
        &mut self,
        outcome: BlockOutcome,
        from: Option<PeerId>,
        now: u64,
        events: &mut Vec<ChainEvent>,
    ) {
        match outcome {
            BlockOutcome::Connected(tip) => events.push(ChainEvent::BlockConnected {
                hash: tip.hash,
                height: tip.height,
                txs: 0,
                from,
            }),
            BlockOutcome::Reorged {
                disconnected,
                connected,
                tip,
            } => {
                events.push(ChainEvent::Reorg {
                    disconnected: disconnected.len(),
                    connected: connected.len(),
                });
                for b in &disconnected {
                    events.push(ChainEvent::BlockDisconnected {
                        hash: b.hash(),
                        height: b.height,
                    });
                }
                for b in &connected {
                    // The new tip is the block that made the branch heavier:
                    // its sender's. The others were stored on the side
                    // branch earlier, their senders not kept.
                    let hash = b.hash();
                    events.push(ChainEvent::BlockConnected {
                        hash,
                        height: b.height,
                        txs: b.transactions.len(),
                        from: if hash == tip.hash { from } else { None },
                    });
                }
                self.readmit_after_reorg(&disconnected, &connected, now, events);
            }
            _ => {}
        }
    }

    /// Removes a connected block's transactions (and conflicts) from the
    /// mempool.
    fn remove_mined(&mut self, block: &Block, events: &mut Vec<ChainEvent>) {
        if let Some(ChainEvent::BlockConnected { txs, .. }) = events.last_mut() {
            *txs = block.transactions.len();
        }
        for txid in self.mempool.remove_for_block(block) {
            events.push(ChainEvent::TxRemoved { txid });
        }
    }

    /// After a reorg: transactions of the disconnected blocks and of the
    /// mempool that are not in the connected blocks go back through the
    /// mempool's checks against the new tip, in order; those that fail
    /// leave. Those that return are announced ([`ChainEvent::TxAccepted`])
    /// so every node's mempool gets them; they are mined once a minter's
    /// mempool reaches its threshold (a single returned payment waits for
    /// the next one at the default threshold of 2).
    fn readmit_after_reorg(
        &mut self,
        disconnected: &[Block],
        connected: &[Block],
        now: u64,
        events: &mut Vec<ChainEvent>,
    ) {
        let before_order = self.mempool.txids();
        let before: HashSet<Txid> = before_order.iter().copied().collect();
        let mut pending: Vec<_> = disconnected
            .iter()
            .rev()
            .flat_map(|b| b.transactions.iter().skip(1).cloned())
            .collect();
        pending.extend(self.mempool.drain());
        let mined: HashSet<Txid> = connected.iter().flat_map(|b| b.txids()).collect();
        pending.retain(|t| !mined.contains(&t.txid()));
        let mut announced = Vec::new();
        for tx in pending {
            let txid = tx.txid();
            if let Ok(a) = self.mempool.accept(tx, &self.store, &self.sig_cache, now)
                && !before.contains(&txid)
            {
                announced.push(txid);
                events.push(ChainEvent::TxAccepted {
                    tx: a.tx,
                    fee: a.fee,
                    from: None,
                });
            }
        }
        // Evicted while re-admitting: announced or held before, now gone.
        for txid in before_order.into_iter().chain(announced) {
            if !self.mempool.contains(&txid) {
                events.push(ChainEvent::TxRemoved { txid });
            }
        }
    }
}

/// The event for a block that failed: a store failure blames nobody, and a
/// timestamp too far in the future is [`ChainEvent::FutureBlock`].
fn rejected(hash: BlockHash, from: Option<PeerId>, e: ChainError) -> ChainEvent {
    let (from, error) = match e {
        ChainError::Invalid {
            error: BlockError::TimeTooNew(time),
            ..
        } => return ChainEvent::FutureBlock { hash, time, from },
        ChainError::Store(e) => (None, e.to_string()),
        ChainError::Invalid { error, .. } => (from, error.to_string()),
        other => (from, other.to_string()),
    };
    ChainEvent::InvalidBlock { hash, from, error }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use crate::chain::{Chain, ChainEvent, PeerId, miner};
    use crate::core::block::Block;
    use crate::core::hash::BlockHash;
    use crate::core::validation::SigCache;
    use crate::store::ChainStore;

    const T0: u32 = 1_700_000_000;

    fn mined(prev: BlockHash, height: u64, time: u32, payee: u8) -> Block {
        let mut b = Block::template(prev, height, 1, time, [payee; 20], 20, vec![]);
        assert!(miner::solve(&mut b, 1, &AtomicBool::new(false)));
        b
    }

    fn senders(events: &[ChainEvent]) -> Vec<(BlockHash, Option<PeerId>)> {
        events
            .iter()
            .filter_map(|e| match e {
                ChainEvent::BlockConnected { hash, from, .. } => Some((*hash, *from)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_block_that_triggers_a_reorg_keeps_its_sender() {
        let store = ChainStore::temporary().expect("store");
        let g = mined(BlockHash::ZERO, 0, T0, 1);
        store.init_genesis(&g).expect("genesis");
        let (mut chain, _) = Chain::open(store, Arc::new(SigCache::new(16))).expect("chain");
        let now = u64::from(T0) + 1_000;
        let a1 = mined(g.hash(), 1, T0 + 1, 2);
        chain.process_block(a1.clone(), Some(1), now);
        // b1 loses the tie with a1 (equal work: the lower hash wins), so
        // it waits on a side branch until b2 makes that branch heavier.
        let b1 = (2..)
            .map(|t| mined(g.hash(), 1, T0 + t, 3))
            .find(|b| b.hash() > a1.hash())
            .expect("a losing b1");
        let side = chain.process_block(b1.clone(), Some(2), now);
        assert!(senders(&side).is_empty(), "{side:?}");
        let b2 = mined(b1.hash(), 2, T0 + 100, 3);
        let events = chain.process_block(b2.clone(), Some(3), now);
        assert!(
            events.iter().any(|e| matches!(e, ChainEvent::Reorg { .. })),
            "{events:?}"
        );
        assert_eq!(
            senders(&events),
            vec![(b1.hash(), None), (b2.hash(), Some(3))]
        );
    }
}
