//! [`Chain::process_blocks`]: connecting a run of blocks that extend the
//! tip in one pass, the fast path of initial sync.
//!
//! The chain worker hands over every block it has queued, in arrival
//! order. A run of them that extends the tip (the first the tip's child,
//! each the child of the one before, none stored yet) is validated against
//! a [`ForkView`] at the tip moved forward block by block, and connected in
//! sub-runs through a pipeline: while the signatures of one sub-run are
//! verified on the rayon pool (skipping those the
//! [`SigCache`](crate::core::validation::SigCache) holds from mempool
//! entry), the sub-run before it is written in one step of the chain-state
//! cache ([`ChainStore::connect_blocks`]) and the context of the next one
//! is checked, so signature verification and the write overlap on the two
//! cores. Readers see each sub-run whole or not at all, and a crash leaves
//! the chain state at a flush, with the blocks above it stored to replay.
//!
//! Everything else (a genesis, a block on a side branch, an orphan, a
//! duplicate) and every block from the sub-run that breaks a rule on goes
//! through [`Chain::process_block`] one block at a time, so an invalid
//! block is found, recorded and blamed exactly as when it arrives alone. A
//! failing sub-run therefore costs at most twice its validation
//! (signatures that passed are cached), never a write of a block that
//! breaks a rule.

use std::collections::VecDeque;

use tracing::debug;

use crate::core::block::Block;
use crate::core::tx::TxOut;
use crate::core::validation::{
    ParentInfo, SigCheck, check_block_context_deferred, check_block_sanity, verify_sig_checks,
};
use crate::core::view::UtxoView;
use crate::store::ChainStore;

use super::fork_view::ForkView;
use super::{Chain, ChainEvent, ChainState, PeerId};

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
            let mut run = self.tip_run(&mut queue);
            if run.len() >= 2 {
                let (connected, result) = self.connect_run(&run, now);
                let rest = run.split_off(connected);
                if connected > 0 {
                    events.extend(self.connected_run(&run, now));
                }
                match result {
                    Ok(()) => continue,
                    Err(e) => debug!(
                        "a run of {} blocks stopped after {connected} ({e}): the rest one at a time",
                        connected + rest.len()
                    ),
                }
                run = rest;
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

    /// Connects `run` (from [`Chain::tip_run`]) in sub-runs
    /// ([`sub_run_len`]) through a two-stage pipeline: while the signatures
    /// of sub-run k are verified on the rayon pool, this thread connects
    /// sub-run k-1 (already verified) into the chain-state cache and checks
    /// the context of sub-run k+1 against a [`ForkView`] moved past every
    /// block checked so far. A sub-run is connected only once all of its
    /// signatures passed, so nothing that breaks a rule is ever written.
    ///
    /// Returns how many blocks of the front of `run` were connected (whole
    /// sub-runs), and an error naming the first rule broken or the store
    /// error when it stopped early: the caller processes the rest one block
    /// at a time, as [`Chain::process_block`] would, so the faulty block is
    /// found, recorded and blamed as when it arrives alone.
    fn connect_run(
        &self,
        run: &[(Block, Option<PeerId>)],
        now: u64,
    ) -> (usize, Result<(), String>) {
        let (store, cache) = (&self.store, &*self.sig_cache);
        let Some(state) = self.state.as_ref() else {
            return (0, Err("no chain".into()));
        };
        let tip = match store.tip() {
            Ok(tip) => tip,
            Err(e) => return (0, Err(e.to_string())),
        };
        let mut ctx = Context {
            state,
            view: ForkView::new(store),
            parent: ParentInfo {
                hash: tip.hash,
                height: tip.height,
            },
            now,
        };
        let subs: Vec<_> = run.chunks(sub_run_len(run.len())).collect();
        let mut pending = match ctx.check(subs[0]) {
            Ok(c) => c,
            Err(e) => return (0, Err(e)),
        };
        let mut verified: Option<(&[Sent], Checked)> = None;
        let mut connected = 0;
        for k in 0..subs.len() {
            let checks = std::mem::take(&mut pending.checks);
            let (sigs, (written, next)) = rayon::join(
                || verify_sig_checks(&checks, Some(cache)),
                || {
                    let written = verified.take().map(|(sub, c)| connect(store, sub, &c));
                    let next = match (&written, subs.get(k + 1)) {
                        (Some(Err(_)), _) | (_, None) => None,
                        (_, Some(sub)) => Some(ctx.check(sub)),
                    };
                    (written, next)
                },
            );
            match written {
                Some(Err(e)) => return (connected, Err(e)),
                Some(Ok(n)) => connected += n,
                None => {}
            }
            if let Err((_, input, e)) = sigs {
                return (connected, Err(format!("a signature of input {input}: {e}")));
            }
            verified = Some((subs[k], std::mem::take(&mut pending)));
            match next {
                Some(Ok(c)) => pending = c,
                Some(Err(e)) => {
                    if let Some((sub, c)) = verified.take() {
                        match connect(store, sub, &c) {
                            Ok(n) => connected += n,
                            Err(e) => return (connected, Err(e)),
                        }
                    }
                    return (connected, Err(e));
                }
                None => {}
            }
        }
        if let Some((sub, c)) = verified {
            match connect(store, sub, &c) {
                Ok(n) => connected += n,
                Err(e) => return (connected, Err(e)),
            }
        }
        (connected, Ok(()))
    }

    /// The events of a connected `run` (new tip `new_tip`), the mempool's
    /// reaction, and the orphans waiting for its blocks processed, as
    /// [`Chain::process_block`] does for one block.
    fn connected_run(&mut self, run: &[(Block, Option<PeerId>)], now: u64) -> Vec<ChainEvent> {
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
        if let Ok(Some(tip)) = self.store.tip_opt() {
            events.push(ChainEvent::TipChanged(tip));
        }
        for (block, from) in run {
            events.push(ChainEvent::BlockDone {
                hash: block.hash(),
                from: *from,
            });
        }
        events
    }
}

/// Blocks per sub-run of a run of `len` blocks ([`Chain::connect_run`]):
/// a quarter of the run, so the pipeline has stages to overlap while each
/// cache step (and its two sled batches of block bytes and index entries)
/// still carries many blocks, but at least [`MIN_SUB_RUN_BLOCKS`], so a
/// short run stays one step.
fn sub_run_len(len: usize) -> usize {
    len.div_ceil(4).max(MIN_SUB_RUN_BLOCKS)
}

/// Fewest blocks in a sub-run of [`Chain::connect_run`]: a run shorter
/// than twice this connects in one step, as one block at a time would
/// have it end.
pub const MIN_SUB_RUN_BLOCKS: usize = 8;

/// A block with the peer that sent it (`None`: minted here).
type Sent = (Block, Option<PeerId>);

/// A sub-run whose context checks passed: its signatures still to
/// verify, and each block's undo data (the outputs its inputs spend).
#[derive(Default)]
struct Checked {
    checks: Vec<SigCheck>,
    spent: Vec<Vec<TxOut>>,
}

/// The context checks of a run, moved forward sub-run by sub-run.
struct Context<'a> {
    state: &'a ChainState,
    view: ForkView<'a>,
    parent: ParentInfo,
    now: u64,
}

impl Context<'_> {
    /// Checks `sub` (the blocks following the last one checked) but their
    /// signatures, which come back to verify; the view moves past each
    /// block. Errors: a text naming the block and the first rule broken.
    fn check(&mut self, sub: &[(Block, Option<PeerId>)]) -> Result<Checked, String> {
        let difficulty = self.state.params().difficulty;
        let mut out = Checked {
            checks: Vec::new(),
            spent: Vec::with_capacity(sub.len()),
        };
        for (block, _) in sub {
            let hash = block.hash();
            let fail = |e: &dyn std::fmt::Display| format!("block {hash}: {e}");
            check_block_sanity(block, self.now).map_err(|e| fail(&e))?;
            self.state.check_time(block).map_err(|e| fail(&e))?;
            let utxos = UtxoView::for_block(block, &self.view).map_err(|e| fail(&e))?;
            let deferred = check_block_context_deferred(block, &self.parent, difficulty, &utxos)
                .map_err(|e| fail(&e))?;
            out.checks.extend(deferred.sig_checks);
            out.spent.push(deferred.undo.spent);
            self.view.connect(block);
            self.parent = ParentInfo {
                hash,
                height: block.height,
            };
        }
        Ok(out)
    }
}

/// Connects `sub` (verified, with its undo data in `c`) in one step of the
/// chain-state cache; returns how many blocks it connected. Errors: the
/// store's, as text.
fn connect(
    store: &ChainStore,
    sub: &[(Block, Option<PeerId>)],
    c: &Checked,
) -> Result<usize, String> {
    let writes: Vec<_> = sub
        .iter()
        .zip(&c.spent)
        .map(|((block, _), spent)| (block, spent.as_slice()))
        .collect();
    store.connect_blocks(&writes).map_err(|e| e.to_string())?;
    Ok(sub.len())
}
