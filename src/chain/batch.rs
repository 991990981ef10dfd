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
//! During a sync ([`Chain::process_blocks_streaming`]) a run also takes
//! the blocks that arrive while it is verified, and reports each step as
//! it is written: the download window counts the blocks not yet
//! processed, so the protocol asks for the next ones while the pool
//! verifies the rest, and the pool no longer waits out the end of every
//! call of ~32 blocks (the last write, the events, the next call's first
//! checks).
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
use crate::core::hash::BlockHash;
use crate::core::tx::TxOut;
use crate::core::validation::{
    ParentInfo, SigCache, SigCheck, check_block_context_deferred, check_block_sanity,
};
use crate::core::view::UtxoView;
use crate::store::ChainStore;

use super::fork_view::ForkView;
use super::mempool::Mempool;
use super::orphans::OrphanPool;
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
        self.process_blocks_with(blocks, &mut || None, None, now)
    }

    /// [`Chain::process_blocks`] for a sync in progress: a run that has
    /// connected every block handed over takes more from `more` (the
    /// blocks that arrived meanwhile, at most [`MAX_RUN_BLOCKS`] in the
    /// run) while its signatures are verified, and the events of each
    /// step written go to `emit` at once ([`ChainEvent::BlockConnected`]
    /// and [`ChainEvent::TxRemoved`] for each block, one
    /// [`ChainEvent::TipChanged`], one [`ChainEvent::BlockDone`] per
    /// block), so the protocol hears of the blocks processed, and asks for
    /// the next ones, while the rest of the run is verified. A block from
    /// `more` that does not extend the run is processed after it. Returns
    /// the events not emitted, in order.
    pub fn process_blocks_streaming(
        &mut self,
        blocks: Vec<(Block, Option<PeerId>)>,
        more: &mut dyn FnMut() -> Option<(Block, Option<PeerId>)>,
        emit: &mut dyn FnMut(Vec<ChainEvent>),
        now: u64,
    ) -> Vec<ChainEvent> {
        self.process_blocks_with(blocks, more, Some(emit), now)
    }

    fn process_blocks_with(
        &mut self,
        blocks: Vec<(Block, Option<PeerId>)>,
        more: &mut dyn FnMut() -> Option<(Block, Option<PeerId>)>,
        mut emit: Option<&mut dyn FnMut(Vec<ChainEvent>)>,
        now: u64,
    ) -> Vec<ChainEvent> {
        let mut queue: VecDeque<_> = blocks.into();
        let mut events = Vec::new();
        while !queue.is_empty() {
            let mut run = self.tip_run(&mut queue);
            if run.len() >= 2 {
                // Blocks from `more` only once the queue is drained, so
                // they stay in arrival order.
                let more: &mut dyn FnMut() -> Option<Sent> =
                    if queue.is_empty() { more } else { &mut || None };
                // The events of the blocks processed before this run (a
                // genesis adopted, a run's tail) go out before its steps:
                // the protocol must hear of tips in the order they were
                // reached, or it takes an older one for the last.
                if let Some(emit) = emit.as_deref_mut()
                    && !events.is_empty()
                {
                    emit(std::mem::take(&mut events));
                }
                let out = self.connect_run(&mut run, more, emit.as_deref_mut(), now);
                let rest = run.split_off(out.connected);
                if out.connected > out.emitted {
                    events.extend(self.connected_run(&run[out.emitted..], now));
                }
                if let Some(next) = out.next {
                    queue.push_front(next);
                }
                match out.result {
                    Ok(()) => continue,
                    Err(e) => debug!(
                        "a run of {} blocks stopped after {} ({e}): the rest one at a time",
                        out.connected + rest.len(),
                        out.connected
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
            if !extends(&self.store, block, &cursor) {
                break;
            }
            let hash = block.hash();
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
    /// a write, and nothing that breaks a rule is ever written. Once every
    /// block is checked, the run takes the blocks `more` gives that extend
    /// it (at most [`MAX_RUN_BLOCKS`] in all; not for a run written in one
    /// step, [`MIN_SUB_RUN_BLOCKS`]); with `emit`, the events of each step
    /// written go out at once, but for a step whose last block orphans
    /// wait for (the run ends there), left to [`Chain::connected_run`].
    ///
    /// Returns how many blocks of the front of `run` were connected (and
    /// of those, how many had their events emitted), a block from `more`
    /// that did not extend the run, and an error naming the first rule
    /// broken or the store error when it stopped early (every unit handed
    /// to the pool has reported by then): the caller processes the rest
    /// one block at a time, as [`Chain::process_block`] would, so the
    /// faulty block is found, recorded and blamed as when it arrives alone.
    fn connect_run<'e>(
        &mut self,
        run: &mut Vec<Sent>,
        more: &mut dyn FnMut() -> Option<Sent>,
        emit: Option<&mut (dyn FnMut(Vec<ChainEvent>) + 'e)>,
        now: u64,
    ) -> RunOutcome {
        let Chain {
            store,
            state,
            mempool,
            orphans,
            sig_cache,
            ..
        } = self;
        let store: &ChainStore = store;
        let orphans: &OrphanPool = orphans;
        let Some(state) = state.as_ref() else {
            return RunOutcome::stopped("no chain".into());
        };
        let tip = match store.tip() {
            Ok(tip) => tip,
            Err(e) => return RunOutcome::stopped(e.to_string()),
        };
        // The events of a step written, emitted at once (module docs);
        // false leaves them to `connected_run`.
        let mut first_step = true;
        let mut emit = emit;
        let mut sink = |written: &[Sent], mempool: &mut Mempool| -> bool {
            let Some(emit) = emit.as_deref_mut() else {
                return false;
            };
            let Some((last, _)) = written.last() else {
                return true;
            };
            if orphans.has_children(&last.hash()) {
                return false;
            }
            let expire_at = std::mem::take(&mut first_step).then_some(now);
            emit(step_events(written, mempool, store, expire_at));
            true
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
        let mut pipe = Pipeline::new(run.len());
        let mut checks = Vec::new();
        let mut next = None;
        let mut i = 0;
        loop {
            if i == run.len() {
                // Every block checked: take the next one that arrived
                // meanwhile, if it extends the run.
                if run.len() >= MAX_RUN_BLOCKS || next.is_some() {
                    break;
                }
                let Some(sent) = more() else {
                    // None arrived: write what is verified and wait for
                    // the next verdict, then look again.
                    if pipe.reported == pipe.verdicts.len() {
                        break;
                    }
                    if let Err(e) = pipe.write_ready(store, run, true, &mut |w| sink(w, mempool)) {
                        pipe.wait_all();
                        return pipe.outcome(next, Err(e));
                    }
                    pipe.collect(true);
                    continue;
                };
                let cursor = run.last().map(|(b, _)| b.hash()).unwrap_or(tip.hash);
                if !extends(store, &sent.0, &cursor) || orphans.has_children(&cursor) {
                    next = Some(sent);
                    break;
                }
                run.push(sent);
                // A run that grows is written in steps, as a long one.
                pipe.whole = false;
            }
            match ctx.check(&run[i..=i]) {
                Ok(c) => {
                    checks.extend(c.checks);
                    pipe.spent.extend(c.spent);
                }
                Err(e) if pipe.whole => {
                    // Nothing written: every block goes one at a time.
                    pipe.wait_all();
                    return pipe.outcome(next, Err(e));
                }
                Err(e) => {
                    // The blocks before it still connect once verified
                    // (a unit handed over before failed first: its error).
                    pipe.hand_over(checks, sig_cache);
                    let failure = pipe
                        .finish(store, run, &mut |w| sink(w, mempool))
                        .err()
                        .unwrap_or(e);
                    return pipe.outcome(next, Err(failure));
                }
            }
            i += 1;
            if checks.len() >= VERIFY_UNIT_SIGS
                || pipe.unchecked_blocks() >= MIN_SUB_RUN_BLOCKS
                || i == run.len()
            {
                pipe.hand_over(std::mem::take(&mut checks), sig_cache);
            }
            if let Err(e) = pipe.write_ready(store, run, false, &mut |w| sink(w, mempool)) {
                pipe.wait_all();
                return pipe.outcome(next, Err(e));
            }
        }
        let result = pipe.finish(store, run, &mut |w| sink(w, mempool));
        pipe.outcome(next, result)
    }

    /// The events of a connected `run` (new tip `new_tip`), the mempool's
    /// reaction, and the orphans waiting for its blocks processed, as
    /// [`Chain::process_block`] does for one block.
    fn connected_run(&mut self, run: &[(Block, Option<PeerId>)], now: u64) -> Vec<ChainEvent> {
        let mut events = self.expire_mempool(now);
        for sent in run {
            push_connected(&mut events, &mut self.mempool, sent);
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
        push_tip_and_done(&mut events, &self.store, run);
        events
    }
}

/// A connected block's events: its [`ChainEvent::BlockConnected`], then a
/// [`ChainEvent::TxRemoved`] for each mempool transaction it mined or
/// conflicted with (removed from `mempool`).
fn push_connected(events: &mut Vec<ChainEvent>, mempool: &mut Mempool, (block, from): &Sent) {
    events.push(ChainEvent::BlockConnected {
        hash: block.hash(),
        height: block.height,
        txs: block.transactions.len(),
        from: *from,
    });
    for txid in mempool.remove_for_block(block) {
        events.push(ChainEvent::TxRemoved { txid });
    }
}

/// True when `block` is the child of `cursor` and not stored yet.
fn extends(store: &ChainStore, block: &Block, cursor: &BlockHash) -> bool {
    block.header.prev_block_hash == *cursor && matches!(store.has_block(&block.hash()), Ok(false))
}

/// The events of one step of a streaming run, `written` (module docs):
/// with `expire_at` (the first step), the mempool's expired transactions
/// removed; each block's [`push_connected`] events; the tip then; and a
/// [`ChainEvent::BlockDone`] per block.
fn step_events(
    written: &[Sent],
    mempool: &mut Mempool,
    store: &ChainStore,
    expire_at: Option<u64>,
) -> Vec<ChainEvent> {
    let mut events: Vec<ChainEvent> = expire_at
        .into_iter()
        .flat_map(|now| mempool.expire(now))
        .map(|txid| ChainEvent::TxRemoved { txid })
        .collect();
    for sent in written {
        push_connected(&mut events, mempool, sent);
    }
    push_tip_and_done(&mut events, store, written);
    events
}

/// The end of a run's events: the tip `store` holds now
/// ([`ChainEvent::TipChanged`]), then a [`ChainEvent::BlockDone`] for each
/// block of `run`.
fn push_tip_and_done(events: &mut Vec<ChainEvent>, store: &ChainStore, run: &[Sent]) {
    if let Ok(Some(tip)) = store.tip_opt() {
        events.push(ChainEvent::TipChanged(tip));
    }
    for (block, from) in run {
        events.push(ChainEvent::BlockDone {
            hash: block.hash(),
            from: *from,
        });
    }
}

/// What [`Chain::connect_run`] did.
struct RunOutcome {
    /// Blocks of the front of the run connected.
    connected: usize,
    /// Of those, the blocks whose events were emitted.
    emitted: usize,
    /// A block taken from `more` that does not extend the run.
    next: Option<Sent>,
    /// The first rule broken, or the store's error, as text.
    result: Result<(), String>,
}

impl RunOutcome {
    /// A run that stopped before any block was checked, for `error`.
    fn stopped(error: String) -> RunOutcome {
        RunOutcome {
            connected: 0,
            emitted: 0,
            next: None,
            result: Err(error),
        }
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
struct Pipeline {
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
    /// Of those, the blocks whose events were emitted.
    emitted: usize,
    /// Fewest blocks per write before the last ([`write_len`]).
    write_len: usize,
    /// A run shorter than twice [`MIN_SUB_RUN_BLOCKS`]: written in one
    /// step once every block passed, or not at all.
    whole: bool,
    verdict_tx: mpsc::Sender<(usize, Result<(), String>)>,
    verdict_rx: mpsc::Receiver<(usize, Result<(), String>)>,
}

impl Pipeline {
    /// What the run did so far, with `next` (a block that did not extend
    /// it) and how it ended.
    fn outcome(&self, next: Option<Sent>, result: Result<(), String>) -> RunOutcome {
        RunOutcome {
            connected: self.connected,
            emitted: self.emitted,
            next,
            result,
        }
    }

    /// The pipeline of a run of `len` blocks (to start with).
    fn new(len: usize) -> Pipeline {
        let (verdict_tx, verdict_rx) = mpsc::channel();
        Pipeline {
            spent: Vec::with_capacity(len),
            unit_ends: Vec::new(),
            verdicts: Vec::new(),
            reported: 0,
            next_unit: 0,
            connected: 0,
            emitted: 0,
            write_len: write_len(len),
            whole: len < 2 * MIN_SUB_RUN_BLOCKS,
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
        // One unit on one pool thread, its checks in turn: the units
        // leave the pool's queue in order and report about in order, so
        // the verified prefix (and the blocks written, and the window the
        // protocol refills) grows steadily. Splitting a unit across the
        // pool let a thread waiting for its half run later units first,
        // holding the prefix back until most of the run was verified.
        rayon::spawn(move || {
            let verdict = verify_unit(&checks, &cache);
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
    /// verified ([`MIN_SUB_RUN_BLOCKS`]). The blocks written whose events
    /// were not emitted yet go to `sink` (true: emitted). Errors: that
    /// failed unit's (nothing after it is written), or the store's; either
    /// way nothing more may be written.
    fn write_ready(
        &mut self,
        store: &ChainStore,
        run: &[Sent],
        last: bool,
        sink: &mut dyn FnMut(&[Sent]) -> bool,
    ) -> Result<(), String> {
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
            to == run.len()
        } else {
            last || failed.is_some() || to - self.connected >= self.write_len
        };
        if to > self.connected && write {
            let from = self.connected;
            connect(store, &run[from..to], &self.spent[from..to])?;
            self.connected = to;
            self.next_unit = end;
            if sink(&run[self.emitted..to]) {
                self.emitted = to;
            }
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
    fn finish(
        &mut self,
        store: &ChainStore,
        run: &[Sent],
        sink: &mut dyn FnMut(&[Sent]) -> bool,
    ) -> Result<(), String> {
        loop {
            if let Err(e) = self.write_ready(store, run, true, sink) {
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

/// Verifies the checks of one unit on this thread, skipping those in
/// `cache` and adding those that pass to it, as
/// [`verify_sig_checks`](crate::core::validation::verify_sig_checks) does
/// on the whole pool. Errors: the first failure, as text.
fn verify_unit(checks: &[SigCheck], cache: &SigCache) -> Result<(), String> {
    for (check, key) in cache.missing(checks) {
        check
            .verify()
            .map_err(|e| format!("a signature of input {}: {e}", check.input))?;
        cache.insert(key);
    }
    Ok(())
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
