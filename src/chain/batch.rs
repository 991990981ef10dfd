//! [`Chain::process_blocks`]: connecting a run of blocks that extend the
//! tip in one pass, the fast path of initial sync.
//!
//! The chain worker hands over every block it has queued, in arrival
//! order. A run of them that extends the tip (the first the tip's child,
//! each the child of the one before, none stored yet) is validated against
//! a [`ForkView`] at the tip moved forward block by block; the signatures
//! of the whole run are then verified in one parallel pass (skipping those
//! the [`SigCache`](crate::core::validation::SigCache) holds from mempool
//! entry), and the run is written in one step of the chain-state cache
//! ([`ChainStore::connect_blocks`](crate::store::ChainStore::connect_blocks)):
//! readers see the whole run or none of it, and a crash leaves the chain
//! state at a flush, with the blocks above it stored to replay.
//!
//! Everything else (a genesis, a block on a side branch, an orphan, a
//! duplicate) and every run that breaks any rule goes through
//! [`Chain::process_block`] one block at a time, so an invalid block is
//! found, recorded and blamed exactly as when it arrives alone. A failing
//! run therefore costs at most twice its validation (signatures that
//! passed are cached), never a write.

use std::collections::VecDeque;

use tracing::debug;

use crate::core::block::Block;
use crate::core::validation::{
    ParentInfo, check_block_context_deferred, check_block_sanity, verify_sig_checks,
};
use crate::core::view::UtxoView;
use crate::store::Tip;

use super::fork_view::ForkView;
use super::{Chain, ChainEvent, PeerId};

/// Most blocks connected in one run (one cache step): bounds the
/// worker's time on one run, and so how long a control query waits, to a
/// few tens of milliseconds.
pub const MAX_RUN_BLOCKS: usize = 128;

impl Chain {
    /// Processes `blocks` (each with the peer that sent it, `None`: minted
    /// here) in order at `now` seconds since the Unix epoch, with the same
    /// outcome and events as [`Chain::process_block`] on each in turn,
    /// except that runs of blocks extending the tip connect together (module
    /// docs): one [`ChainEvent::BlockConnected`] per block, one
    /// [`ChainEvent::TipChanged`] per run, one [`ChainEvent::BlockDone`] per
    /// block. Never fails, as [`Chain::process_block`].
    pub fn process_blocks(
        &mut self,
        blocks: Vec<(Block, Option<PeerId>)>,
        now: u64,
    ) -> Vec<ChainEvent> {
        let mut queue: VecDeque<_> = blocks.into();
        let mut events = Vec::new();
        while !queue.is_empty() {
            let run = self.tip_run(&mut queue);
            if run.len() >= 2 {
                match self.connect_run(&run, now) {
                    Ok(done) => {
                        events.extend(done);
                        continue;
                    }
                    Err(e) => debug!("a run of {} blocks failed ({e}): one at a time", run.len()),
                }
            }
            let single = if run.is_empty() {
                queue.pop_front().into_iter().collect()
            } else {
                run
            };
            for (block, from) in single {
                events.extend(self.process_block(block, from, now));
            }
        }
        events
    }

    /// Takes from the front of `queue` the longest run (at most
    /// [`MAX_RUN_BLOCKS`]) of blocks not stored yet, the first the tip's
    /// child and each the child of the one before; it ends at a block that
    /// orphans wait for, so they are processed right after it, as
    /// [`Chain::process_block`] would. Empty with no chain, or when the
    /// front block does not extend the tip.
    fn tip_run(
        &self,
        queue: &mut VecDeque<(Block, Option<PeerId>)>,
    ) -> Vec<(Block, Option<PeerId>)> {
        let mut run = Vec::new();
        if self.state.is_none() {
            return run;
        }
        let Ok(tip) = self.store.tip() else {
            return run;
        };
        let mut cursor = tip.hash;
        while run.len() < MAX_RUN_BLOCKS {
            let Some((block, _)) = queue.front() else {
                break;
            };
            let hash = block.hash();
            if block.header.prev_block_hash != cursor
                || !matches!(self.store.has_block(&hash), Ok(false))
            {
                break;
            }
            cursor = hash;
            if let Some(item) = queue.pop_front() {
                run.push(item);
            }
            if self.orphans.has_children(&hash) {
                // Its orphans connect on it before the next block, as one
                // block at a time would do.
                break;
            }
        }
        run
    }

    /// Validates `run` (from [`Chain::tip_run`]) as one, verifies its
    /// signatures in one parallel pass and connects it in one transaction;
    /// then the orphans waiting for its blocks follow, as in
    /// [`Chain::process_block`]. Nothing is written when it fails.
    ///
    /// Errors: a text naming the first rule broken or the store error; the
    /// caller then processes the run one block at a time.
    fn connect_run(
        &mut self,
        run: &[(Block, Option<PeerId>)],
        now: u64,
    ) -> Result<Vec<ChainEvent>, String> {
        let state = self.state.as_ref().ok_or("no chain")?;
        let difficulty = state.params().difficulty;
        let tip = self.store.tip().map_err(|e| e.to_string())?;
        let mut view = ForkView::new(&self.store);
        let mut parent = ParentInfo {
            hash: tip.hash,
            height: tip.height,
        };
        let mut checks = Vec::new();
        let mut spent = Vec::with_capacity(run.len());
        for (block, _) in run {
            let hash = block.hash();
            let fail = |e: &dyn std::fmt::Display| format!("block {hash}: {e}");
            check_block_sanity(block, now).map_err(|e| fail(&e))?;
            state.check_time(block).map_err(|e| fail(&e))?;
            let utxos = UtxoView::for_block(block, &view).map_err(|e| fail(&e))?;
            let deferred = check_block_context_deferred(block, &parent, difficulty, &utxos)
                .map_err(|e| fail(&e))?;
            checks.extend(deferred.sig_checks);
            spent.push(deferred.undo.spent);
            view.connect(block);
            parent = ParentInfo {
                hash,
                height: block.height,
            };
        }
        verify_sig_checks(&checks, Some(&self.sig_cache))
            .map_err(|(_, input, e)| format!("a signature of input {input}: {e}"))?;
        let writes: Vec<_> = run
            .iter()
            .zip(&spent)
            .map(|((block, _), spent)| (block, spent.as_slice()))
            .collect();
        let new_tip = self
            .store
            .connect_blocks(&writes)
            .map_err(|e| e.to_string())?;
        Ok(self.connected_run(run, new_tip, now))
    }

    /// The events of a connected `run` (new tip `new_tip`), the mempool's
    /// reaction, and the orphans waiting for its blocks processed, as
    /// [`Chain::process_block`] does for one block.
    fn connected_run(
        &mut self,
        run: &[(Block, Option<PeerId>)],
        new_tip: Tip,
        now: u64,
    ) -> Vec<ChainEvent> {
        let mut events = self.expire_mempool(now);
        for (block, from) in run {
            events.push(ChainEvent::BlockConnected {
                hash: block.hash(),
                height: block.height,
                txs: block.transactions.len(),
                from: *from,
            });
            self.remove_mined(block, &mut events);
        }
        let mut waiting: Vec<_> = run
            .iter()
            .flat_map(|(block, _)| self.orphans.take_children(&block.hash()))
            .collect();
        while let Some((block, from)) = waiting.pop() {
            let hash = block.hash();
            if self.accept_one(block, from, now, &mut events) {
                waiting.extend(self.orphans.take_children(&hash));
            }
        }
        let tip = self.store.tip_opt().ok().flatten().unwrap_or(new_tip);
        events.push(ChainEvent::TipChanged(tip));
        for (block, from) in run {
            events.push(ChainEvent::BlockDone {
                hash: block.hash(),
                from: *from,
            });
        }
        events
    }
}
