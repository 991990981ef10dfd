//! The executor: carries out the protocol's [`Output`]s that reach the
//! chain (blocks, transactions, mints, the peer records) and turns what
//! the chain did into the protocol's [`Input`]s. Sans-I/O like the
//! protocol: no threads, no tokio, no clock (the time is an argument).
//!
//! The node's chain worker thread (`net/worker.rs`) and the simulator
//! (`sim/`) both call [`run`], so the simulator validates blocks, gathers
//! runs of them and reports chain events exactly as the node does; only
//! where the jobs wait differs (a thread-safe queue charged to each peer
//! in `net/queue.rs`, a [`Lanes`] queue per simulated node whose jobs run
//! at a later simulated time, so chain events reach the protocol late as
//! they do in the node).
//!
//! A job of one peer is gathered with the jobs queued right behind it in
//! the same lane ([`Job::lane`]): up to [`MAX_RUN_BLOCKS`] blocks or
//! [`BATCH_BYTES`] go to [`Chain::process_blocks`] as one run (during a
//! sync they connect as one), up to [`TX_BATCH`] transactions are checked
//! before their verdicts go back as one [`Input::Chain`] (announced in
//! one `inv` per peer). Connected and disconnected blocks are reported in
//! one place: the [`ChainEvent`]s of [`Done::inputs`].

mod lanes;

use std::net::SocketAddr;

pub use lanes::Lanes;

use crate::chain::{Chain, ChainEvent, MAX_RUN_BLOCKS, PeerId};
use crate::core::block::Block;
use crate::core::tx::Transaction;
use crate::protocol::{Input, Output};
use crate::store::PeerRecord;

/// Most bytes of blocks (as encoded) handed to [`Chain::process_blocks`]
/// at once.
pub const BATCH_BYTES: u64 = 16 << 20;

/// Most transactions checked before their verdicts go back together.
pub const TX_BATCH: usize = 64;

/// One piece of chain work, from an [`Output`] (or, for
/// [`Job::Minted`], from the miner).
#[derive(Debug)]
pub enum Job {
    /// Process a block (`from`: the sending peer, `None` when minted here):
    /// [`Output::ProcessBlock`].
    Block(Block, Option<PeerId>),
    /// Check a transaction for the mempool: [`Output::AcceptTx`].
    Tx(Transaction, Option<PeerId>),
    /// Build a template to solve: [`Output::Mint`].
    Mint {
        /// Pubkey hash paid.
        minter: [u8; 20],
        /// Header timestamp (seconds since the Unix epoch).
        time: u32,
        /// Least mempool transactions.
        threshold: usize,
    },
    /// A block the miner solved from a [`Done::solve`] template (`None`:
    /// abandoned because the tip moved first).
    Minted(Option<Block>),
    /// Replace the `peers` tree with these records:
    /// [`Output::SavePeers`].
    SavePeers(Vec<(SocketAddr, PeerRecord)>),
}

impl Job {
    /// The job an output asks for, or the output back when it does not
    /// reach the chain (sends, dials, disconnects, replies, events).
    ///
    /// Errors: `out` itself, unchanged.
    // The output comes back as it was given (moved, not boxed).
    #[allow(clippy::result_large_err)]
    pub fn from_output(out: Output) -> Result<Job, Output> {
        match out {
            Output::ProcessBlock { block, from } => Ok(Job::Block(block, from)),
            Output::AcceptTx { tx, from } => Ok(Job::Tx(tx, from)),
            Output::Mint {
                minter,
                time,
                threshold,
            } => Ok(Job::Mint {
                minter,
                time,
                threshold,
            }),
            Output::SavePeers(records) => Ok(Job::SavePeers(records)),
            other => Err(other),
        }
    }

    /// The lane the job waits in: the peer that sent the block or
    /// transaction, `None` for local work (mints, submitted transactions,
    /// the peer records).
    pub fn lane(&self) -> Option<PeerId> {
        match self {
            Job::Block(_, from) | Job::Tx(_, from) => *from,
            _ => None,
        }
    }

    /// Bytes the job holds for its sender while it waits: a block's or a
    /// transaction's encoded size, 0 for the rest.
    pub fn bytes(&self) -> u64 {
        match self {
            Job::Block(b, _) => b.encoded_size(),
            Job::Tx(tx, _) => crate::core::encode::encoded_len(tx),
            _ => 0,
        }
    }
}

/// What one call of [`run`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// This many blocks went to [`Chain::process_blocks`] as one run.
    Blocks(usize),
    /// This many transactions were checked.
    Txs(usize),
    /// A template was built or the peer records were saved.
    Other,
}

/// The outcome of [`run`].
#[derive(Debug)]
pub struct Done {
    /// For the protocol, in order: [`Input::Chain`] with what the chain
    /// did (blocks connected and disconnected, tips, verdicts), then
    /// [`Input::MintDone`] when a mint ended.
    pub inputs: Vec<Input>,
    /// A template to solve (after [`Job::Mint`]); the solved block (or
    /// `None`, abandoned) comes back as [`Job::Minted`].
    pub solve: Option<Block>,
    /// A job taken while gathering that did not belong to the run: it
    /// runs next.
    pub next: Option<Job>,
    /// True when the tip changed (a miner working on the old one should
    /// give up).
    pub new_tip: bool,
    /// What was done, for timings.
    pub work: Work,
    /// Something that failed and was not the protocol's to hear (a
    /// template that could not be built, records that could not be
    /// saved), as text for the log.
    pub warning: Option<String>,
}

impl Done {
    fn new(work: Work) -> Done {
        Done {
            inputs: Vec::new(),
            solve: None,
            next: None,
            new_tip: false,
            work,
            warning: None,
        }
    }

    fn chain(&mut self, events: Vec<ChainEvent>) {
        self.new_tip |= events
            .iter()
            .any(|e| matches!(e, ChainEvent::TipChanged(_)));
        self.inputs.push(Input::Chain(events));
    }
}

/// Carries out `first` on `chain` at `now` (seconds since the Unix
/// epoch), gathering the jobs `more` hands over (the next job of the same
/// lane, without waiting; `None`: no more) into one run as the module docs
/// say. A gathered job of another kind ends the run and comes back in
/// [`Done::next`].
pub fn run(chain: &mut Chain, first: Job, more: &mut dyn FnMut() -> Option<Job>, now: u64) -> Done {
    run_with(chain, first, more, None, now)
}

/// [`run`], but with `emit` a run of blocks keeps taking the blocks `more`
/// hands over while its signatures are verified and hands each step's
/// [`Input::Chain`] to `emit` as soon as it is written
/// ([`Chain::process_blocks_streaming`]), so the protocol asks for the
/// next blocks meanwhile: the node's chain worker during a sync. The
/// inputs emitted are not in [`Done::inputs`]. A run then asks `more`
/// again after `None` (a block may have arrived since): `more` must not
/// take a job it cannot hand over then.
pub fn run_with(
    chain: &mut Chain,
    first: Job,
    more: &mut dyn FnMut() -> Option<Job>,
    emit: Option<&mut dyn FnMut(Input)>,
    now: u64,
) -> Done {
    match first {
        Job::Block(block, from) => run_blocks(chain, (block, from), more, emit, now),
        Job::Tx(tx, from) => {
            let mut batch = vec![(tx, from)];
            let mut next = None;
            while batch.len() < TX_BATCH {
                match more() {
                    Some(Job::Tx(tx, from)) => batch.push((tx, from)),
                    Some(other) => {
                        next = Some(other);
                        break;
                    }
                    None => break,
                }
            }
            let mut done = Done::new(Work::Txs(batch.len()));
            let mut events = Vec::new();
            for (tx, from) in batch {
                events.extend(chain.accept_tx(tx, from, now));
            }
            done.chain(events);
            done.next = next;
            done
        }
        Job::Mint {
            minter,
            time,
            threshold,
        } => {
            let mut done = Done::new(Work::Other);
            match chain.template(minter, time, threshold) {
                Ok(Some(block)) => done.solve = Some(block),
                Ok(None) => done.inputs.push(Input::MintDone),
                Err(e) => {
                    done.warning = Some(format!("cannot build a block template: {e}"));
                    done.inputs.push(Input::MintDone);
                }
            }
            done
        }
        Job::Minted(block) => {
            let mut done = Done::new(Work::Other);
            if let Some(block) = block {
                done.work = Work::Blocks(1);
                done.chain(chain.process_blocks(vec![(block, None)], now));
            }
            done.inputs.push(Input::MintDone);
            done
        }
        Job::SavePeers(records) => {
            let mut done = Done::new(Work::Other);
            let records: Vec<(String, PeerRecord)> = records
                .into_iter()
                .map(|(a, r)| (a.to_string(), r))
                .collect();
            if let Err(e) = chain.store().replace_peers(&records) {
                done.warning = Some(format!("cannot save the peer records: {e}"));
            }
            done
        }
    }
}

/// The blocks of one run handed over by `more`: [`run_with`]'s
/// `Job::Block` arm. With `emit`, the run also takes the blocks that arrive
/// while it is verified and reports each step written at once.
fn run_blocks(
    chain: &mut Chain,
    first: (Block, Option<PeerId>),
    more: &mut dyn FnMut() -> Option<Job>,
    emit: Option<&mut dyn FnMut(Input)>,
    now: u64,
) -> Done {
    let mut take = BlockTake {
        bytes: first.0.encoded_size(),
        blocks: 1,
        next: None,
        more,
    };
    let mut batch = vec![first];
    while let Some(sent) = take.take() {
        batch.push(sent);
    }
    let mut done = Done::new(Work::Blocks(batch.len()));
    let events = match emit {
        None => chain.process_blocks(batch, now),
        Some(emit) => {
            let mut new_tip = false;
            let mut emit_events = |events: Vec<ChainEvent>| {
                new_tip |= events
                    .iter()
                    .any(|e| matches!(e, ChainEvent::TipChanged(_)));
                emit(Input::Chain(events));
            };
            let events =
                chain.process_blocks_streaming(batch, &mut || take.take(), &mut emit_events, now);
            done.work = Work::Blocks(take.blocks);
            done.new_tip |= new_tip;
            events
        }
    };
    done.chain(events);
    done.next = take.next;
    done
}

/// Takes blocks from the chain worker's queue for one run, within its
/// bounds ([`MAX_RUN_BLOCKS`] blocks, [`BATCH_BYTES`]); the first job of
/// another kind is kept for after the run.
struct BlockTake<'a> {
    /// Bytes of the blocks taken, the first included.
    bytes: u64,
    /// Blocks taken, the first included.
    blocks: usize,
    /// A job of another kind, taken and kept.
    next: Option<Job>,
    more: &'a mut dyn FnMut() -> Option<Job>,
}

impl BlockTake<'_> {
    /// The next block, if the run has room and the next job is a block.
    fn take(&mut self) -> Option<(Block, Option<PeerId>)> {
        if self.next.is_some() || self.bytes >= BATCH_BYTES || self.blocks >= MAX_RUN_BLOCKS {
            return None;
        }
        match (self.more)() {
            Some(Job::Block(block, from)) => {
                self.bytes = self.bytes.saturating_add(block.encoded_size());
                self.blocks += 1;
                Some((block, from))
            }
            Some(other) => {
                self.next = Some(other);
                None
            }
            None => None,
        }
    }
}
