//! [`Chain::process_blocks`]: connecting a run of blocks that extend the
//! tip in one pass, the fast path of initial sync.
//!
//! The chain worker hands over every block it has queued, in arrival
//! order. A run of them that extends the tip (the first the tip's child,
//! each the child of the one before, none stored yet) is validated against
//! a [`ForkView`] at the tip moved forward block by block, and connected
//! through a pipeline: this thread checks the context of each block in
//! turn and hands its signatures to the rayon pool in units of a few
//! blocks as it goes, without waiting (the pool skips those the
//! [`SigCache`](crate::core::validation::SigCache) holds from mempool
//! entry), and meanwhile writes the longest prefix of the run whose
//! signatures all passed in one step of the chain-state cache
//! ([`ChainStore::connect_blocks`]). So the pool starts after the first
//! few blocks are checked and verifies while this thread checks and
//! writes, on the two cores. Readers see each write whole or not at all,
//! and a crash leaves the chain state at a flush, with the blocks above it
//! stored to replay.
//!
//! Everything else (a genesis, a block on a side branch, an orphan, a
//! duplicate) and every block from the one that breaks a rule on goes
//! through [`Chain::process_block`] one block at a time, so an invalid
//! block is found, recorded and blamed exactly as when it arrives alone. A
//! failing run therefore costs at most twice its validation
//! (signatures that passed are cached), never a write of a block that
//! breaks a rule.

use std::collections::VecDeque;
use std::sync::{Arc, mpsc};

use tracing::debug;

use crate::core::block::Block;
use crate::core::tx::TxOut;
use crate::core::validation::{
    ParentInfo, SigCache, SigCheck, check_block_context_deferred, check_block_sanity,
    verify_sig_checks,
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

    /// Connects `run` (from [`Chain::tip_run`]) through a pipeline: this
    /// thread checks the context of each block in turn against a
    /// [`ForkView`] moved past every block checked so far, and as soon as
    /// the blocks checked since the last hand-over carry
    /// [`VERIFY_UNIT_SIGS`] signatures (or the run ends) hands them to the
    /// rayon pool as one verification unit, without waiting for it. Between
    /// blocks, and once every block is checked, it writes the longest
    /// prefix of the run whose units all passed into the chain-state cache
    /// ([`ChainStore::connect_blocks`]), once that prefix holds
    /// [`write_len`] blocks or nothing is left to verify. So the pool starts
    /// verifying after the first few blocks are checked and never waits for
    /// a write, and nothing that breaks a rule is ever written.
    ///
    /// Returns how many blocks of the front of `run` were connected, and an
    /// error naming the first rule broken or the store error when it
    /// stopped early (every unit handed to the pool has reported by then):
    /// the caller processes the rest one block at a time, as
    /// [`Chain::process_block`] would, so the faulty block is found,
    /// recorded and blamed as when it arrives alone.
    fn connect_run(
        &self,
        run: &[(Block, Option<PeerId>)],
        now: u64,
    ) -> (usize, Result<(), String>) {
        let store = &self.store;
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
        let mut pipe = Pipeline::new(run);
        let mut checks = Vec::new();
        for i in 0..run.len() {
            match ctx.check(&run[i..=i]) {
                Ok(c) => {
                    checks.extend(c.checks);
                    pipe.spent.extend(c.spent);
                }
                Err(e) if pipe.whole => {
                    pipe.wait_all();
                    return (0, Err(e));
                }
                Err(e) => {
                    // The blocks before it still connect once verified
                    // (a unit handed over before failed first: its error).
                    pipe.hand_over(checks, &self.sig_cache);
                    let failure = pipe.finish(store).err().unwrap_or(e);
                    return (pipe.connected, Err(failure));
                }
            }
            if checks.len() >= VERIFY_UNIT_SIGS
                || pipe.unchecked_blocks() >= MIN_SUB_RUN_BLOCKS
                || i + 1 == run.len()
            {
                pipe.hand_over(std::mem::take(&mut checks), &self.sig_cache);
            }
            if let Err(e) = pipe.write_ready(store, false) {
                pipe.wait_all();
                return (pipe.connected, Err(e));
            }
        }
        let failure = pipe.finish(store).err();
        (pipe.connected, failure.map_or(Ok(()), Err))
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

/// Fewest blocks [`Chain::connect_run`] writes in one step of the
/// chain-state cache while signatures are still being verified, for a run
/// of `len` blocks: a quarter of the run, but at least
/// [`MIN_SUB_RUN_BLOCKS`], so each step (and its two sled batches of block
/// bytes and index entries) carries many blocks. The last step writes
/// whatever is left.
fn write_len(len: usize) -> usize {
    len.div_ceil(4).max(MIN_SUB_RUN_BLOCKS)
}

/// Fewest blocks in a write of [`Chain::connect_run`] before its last:
/// a run shorter than twice this connects in one step, as one block at a
/// time would have it end.
pub const MIN_SUB_RUN_BLOCKS: usize = 8;

/// Signatures per verification unit that [`Chain::connect_run`] hands to
/// the rayon pool (a unit ends at a block boundary, so it may hold more):
/// about a millisecond of one core's work, small enough that the pool
/// starts after the first few blocks of a run are checked and both
/// threads stay busy to the end of it, large enough that handing over
/// costs nothing in comparison.
pub const VERIFY_UNIT_SIGS: usize = 32;

/// A block with the peer that sent it (`None`: minted here).
type Sent = (Block, Option<PeerId>);

/// The blocks of a run whose context checks passed: their signatures
/// still to verify, and each block's undo data (the outputs its inputs
/// spend).
#[derive(Default)]
struct Checked {
    checks: Vec<SigCheck>,
    spent: Vec<Vec<TxOut>>,
}

/// The verification units of a run handed to the rayon pool and the
/// writes of the verified prefix ([`Chain::connect_run`]).
struct Pipeline<'a> {
    run: &'a [Sent],
    /// Undo data of each block checked so far, in run order.
    spent: Vec<Vec<TxOut>>,
    /// Blocks (from the front of the run) covered by each unit handed over.
    unit_ends: Vec<usize>,
    /// Each unit's verdict once reported (`None`: still verifying).
    verdicts: Vec<Option<Result<(), String>>>,
    /// Units reported so far.
    reported: usize,
    /// The next unit to write.
    next_unit: usize,
    /// Blocks written (connected) so far.
    connected: usize,
    /// Fewest blocks per write before the last ([`write_len`]).
    write_len: usize,
    /// A run shorter than twice [`MIN_SUB_RUN_BLOCKS`]: written in one
    /// step once every block passed, or not at all.
    whole: bool,
    verdict_tx: mpsc::Sender<(usize, Result<(), String>)>,
    verdict_rx: mpsc::Receiver<(usize, Result<(), String>)>,
}

impl<'a> Pipeline<'a> {
    fn new(run: &'a [Sent]) -> Pipeline<'a> {
        let (verdict_tx, verdict_rx) = mpsc::channel();
        Pipeline {
            run,
            spent: Vec::with_capacity(run.len()),
            unit_ends: Vec::new(),
            verdicts: Vec::new(),
            reported: 0,
            next_unit: 0,
            connected: 0,
            write_len: write_len(run.len()),
            whole: run.len() < 2 * MIN_SUB_RUN_BLOCKS,
            verdict_tx,
            verdict_rx,
        }
    }

    /// Hands the signatures of the blocks checked since the last unit to
    /// the rayon pool as one unit (also when there are none, so every
    /// checked block belongs to a unit); its verdict comes back on the
    /// channel.
    fn hand_over(&mut self, checks: Vec<SigCheck>, cache: &Arc<SigCache>) {
        let end = self.spent.len();
        if self.unit_ends.last().copied().unwrap_or(0) == end {
            return;
        }
        let unit = self.unit_ends.len();
        self.unit_ends.push(end);
        if checks.is_empty() {
            self.verdicts.push(Some(Ok(())));
            self.reported += 1;
            return;
        }
        self.verdicts.push(None);
        let (cache, tx) = (cache.clone(), self.verdict_tx.clone());
        rayon::spawn(move || {
            let verdict = verify_sig_checks(&checks, Some(&cache))
                .map_err(|(_, input, e)| format!("a signature of input {input}: {e}"));
            // The receiver outlives every unit (`Pipeline::wait_all`).
            let _ = tx.send((unit, verdict));
        });
    }

    /// Records the verdicts reported so far; with `wait`, first waits for
    /// one (when any unit is still out).
    fn collect(&mut self, wait: bool) {
        if wait && self.reported < self.verdicts.len() {
            match self.verdict_rx.recv() {
                Ok((unit, v)) => self.record(unit, v),
                Err(_) => return,
            }
        }
        while let Ok((unit, v)) = self.verdict_rx.try_recv() {
            self.record(unit, v);
        }
    }

    fn record(&mut self, unit: usize, verdict: Result<(), String>) {
        if let Some(slot) = self.verdicts.get_mut(unit) {
            *slot = Some(verdict);
            self.reported += 1;
        }
    }

    /// Writes the verified units in front of the unwritten part of the
    /// run when they hold [`write_len`] blocks, when a failed unit follows
    /// them, or (`last`) in any case; a short run only once all of it is
    /// verified ([`MIN_SUB_RUN_BLOCKS`]). Errors: that failed unit's (nothing
    /// after it is written), or the store's; either way nothing more may
    /// be written.
    fn write_ready(&mut self, store: &ChainStore, last: bool) -> Result<(), String> {
        self.collect(false);
        let mut end = self.next_unit;
        while let Some(Some(Ok(()))) = self.verdicts.get(end) {
            end += 1;
        }
        let failed = match self.verdicts.get(end) {
            Some(Some(Err(e))) => Some(e.clone()),
            _ => None,
        };
        let to = if end > self.next_unit {
            self.unit_ends[end - 1]
        } else {
            self.connected
        };
        let write = if self.whole {
            to == self.run.len()
        } else {
            last || failed.is_some() || to - self.connected >= self.write_len
        };
        if to > self.connected && write {
            let from = self.connected;
            connect(store, &self.run[from..to], &self.spent[from..to])?;
            self.connected = to;
            self.next_unit = end;
        }
        failed.map_or(Ok(()), Err)
    }

    /// Waits for every unit handed over to report (none is left running
    /// on the pool once the run returns).
    fn wait_all(&mut self) {
        while self.reported < self.verdicts.len() {
            let before = self.reported;
            self.collect(true);
            if self.reported == before {
                return; // every sender is gone: nothing left to wait for
            }
        }
    }

    /// Blocks checked since the last unit was handed over.
    fn unchecked_blocks(&self) -> usize {
        self.spent.len() - self.unit_ends.last().copied().unwrap_or(0)
    }

    /// Once every block is handed over: waits for every unit's verdict,
    /// writing the verified prefix as soon as it grows (what is left to
    /// write when the last verdict comes is then at most one unit, so the
    /// pool idles only briefly before the next run); stops writing at the
    /// first failed unit and waits for the rest. Errors: that unit's, or
    /// the store's.
    fn finish(&mut self, store: &ChainStore) -> Result<(), String> {
        loop {
            if let Err(e) = self.write_ready(store, true) {
                self.wait_all();
                return Err(e);
            }
            if self.reported == self.verdicts.len() {
                return Ok(());
            }
            self.collect(true);
        }
    }
}

/// The context checks of a run, moved forward block by block.
struct Context<'a> {
    state: &'a ChainState,
    view: ForkView<'a>,
    parent: ParentInfo,
    now: u64,
}

impl Context<'_> {
    /// Checks `sub` (the blocks following the last one checked) but for their
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

/// Connects `blocks` (verified, with their undo data in `spent`) in one
/// step of the chain-state cache. Errors: the store's, as text.
fn connect(store: &ChainStore, blocks: &[Sent], spent: &[Vec<TxOut>]) -> Result<(), String> {
    let writes: Vec<_> = blocks
        .iter()
        .zip(spent)
        .map(|((block, _), spent)| (block, spent.as_slice()))
        .collect();
    store.connect_blocks(&writes).map_err(|e| e.to_string())?;
    Ok(())
}
