//! The chain worker: one thread that owns the [`Chain`] and runs the
//! block processing, transaction checks, mints and control queries the
//! reactor hands it (each peer's in order, peers in turn: [`super::queue`]),
//! so validation and reorgs never block the reactor. Results go back to
//! the reactor as [`Input`]s.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::queue::{JobReceiver, JobSender};
use crate::chain::{Chain, ChainEvent, MAX_RUN_BLOCKS, PeerId, miner};
use crate::core::block::Block;
use crate::core::params::now_secs;
use crate::core::tx::Transaction;
use crate::protocol::Input;

/// How long the worker spends on chain work, for `/metrics`: wall-clock
/// seconds, buckets from 0.1 ms to about 26 s (×4 each).
#[derive(Debug, Clone)]
pub struct Timings {
    /// One observation per batch of blocks handed to
    /// [`Chain::process_blocks`] (up to [`MAX_RUN_BLOCKS`] from one peer,
    /// or one minted block): validation, connect or reorg, and the
    /// mempool's update, together.
    pub blocks: prometheus_client::metrics::histogram::Histogram,
    /// One observation per transaction checked for the mempool.
    pub txs: prometheus_client::metrics::histogram::Histogram,
}

impl Default for Timings {
    fn default() -> Timings {
        use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
        Timings {
            blocks: Histogram::new(exponential_buckets(0.000_1, 4.0, 10)),
            txs: Histogram::new(exponential_buckets(0.000_1, 4.0, 10)),
        }
    }
}

/// A read-only query run on the worker, between chain updates.
pub type QueryJob = Box<dyn FnOnce(&Chain) -> anyhow::Result<String> + Send>;

/// Work for the chain worker.
pub enum Job {
    /// Process a block (`from`: the sending peer, `None` when minted here).
    Block(Block, Option<PeerId>),
    /// Check a transaction for the mempool.
    Tx(Transaction, Option<PeerId>),
    /// Build a template and solve it on a mining thread.
    Mint {
        /// Pubkey hash paid.
        minter: [u8; 20],
        /// Header timestamp (seconds since the Unix epoch).
        time: u32,
        /// Least mempool transactions.
        threshold: usize,
    },
    /// A solved block from the mining thread (`None`: abandoned).
    Minted(Option<Block>),
    /// A control-socket query and where its answer goes.
    Query(QueryJob, oneshot::Sender<anyhow::Result<String>>),
    /// Finish: every job queued before this one has run.
    Stop,
}

/// Runs the worker until [`Job::Stop`] (or every sender of `jobs` is
/// gone), timing its chain work into `timings`; returns the chain so the
/// caller can flush its store.
pub fn run(
    mut chain: Chain,
    jobs: JobReceiver,
    own: JobSender,
    (inputs, timings): (mpsc::Sender<Input>, Timings),
    threads: usize,
) -> Chain {
    let mut mining: Option<Arc<AtomicBool>> = None;
    let report = |input: Input| {
        let _ = inputs.blocking_send(input);
    };
    // A job taken from the queue while gathering blocks, run next.
    let mut next: Option<Job> = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match jobs.recv_timeout(IDLE_FLUSH) {
                Some(job) => job,
                None => {
                    // Idle (a sync ended, or between blocks): write the
                    // chain-state cache out while nothing waits.
                    if let Err(e) = chain.store().flush_state() {
                        warn!("could not flush the chain state: {e}");
                    }
                    continue;
                }
            },
        };
        match job {
            Job::Block(block, from) => {
                let (batch, after) = gather_blocks((block, from), &jobs);
                next = after;
                let started = Instant::now();
                let events = chain.process_blocks(batch, now_secs());
                timings.blocks.observe(started.elapsed().as_secs_f64());
                cancel_on_new_tip(&events, &mining);
                report(Input::Chain(events));
            }
            Job::Tx(tx, from) => {
                let (batch, after) = gather_txs((tx, from), &jobs);
                next = after;
                let mut events = Vec::new();
                for (tx, from) in batch {
                    let started = Instant::now();
                    events.extend(chain.accept_tx(tx, from, now_secs()));
                    timings.txs.observe(started.elapsed().as_secs_f64());
                }
                report(Input::Chain(events));
            }
            Job::Mint {
                minter,
                time,
                threshold,
            } => match chain.template(minter, time, threshold) {
                Ok(Some(block)) => mining = Some(spawn_miner(block, threads, own.clone())),
                Ok(None) => report(Input::MintDone),
                Err(e) => {
                    warn!("cannot build a block template: {e}");
                    report(Input::MintDone);
                }
            },
            Job::Minted(block) => {
                mining = None;
                match block {
                    Some(block) => {
                        let started = Instant::now();
                        let events = chain.process_block(block, None, now_secs());
                        timings.blocks.observe(started.elapsed().as_secs_f64());
                        report(Input::Chain(events));
                    }
                    None => info!("minting abandoned: a new tip arrived first"),
                }
                report(Input::MintDone);
            }
            Job::Query(q, reply) => {
                let _ = reply.send(q(&chain));
            }
            Job::Stop => break,
        }
    }
    if let Some(cancel) = mining {
        cancel.store(true, Ordering::Relaxed);
    }
    chain
}

/// How long the worker waits with nothing queued before it flushes the
/// chain-state cache (`store/cache.rs`): long enough that a sync's next
/// blocks arrive first, short enough that a synced node's state is on disk
/// a moment after each block.
const IDLE_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

/// Most bytes of blocks handed to [`Chain::process_blocks`] at once.
const BATCH_BYTES: u64 = 16 << 20;

/// `first` and the blocks queued right behind it, without waiting, up to
/// [`MAX_RUN_BLOCKS`] blocks or [`BATCH_BYTES`]: during a sync they connect
/// as one run. Returns them and the first other job met, which runs next.
fn gather_blocks(
    first: (Block, Option<PeerId>),
    jobs: &JobReceiver,
) -> (Vec<(Block, Option<PeerId>)>, Option<Job>) {
    let mut bytes = first.0.encoded_size();
    let mut batch = vec![first];
    while batch.len() < MAX_RUN_BLOCKS && bytes < BATCH_BYTES {
        match jobs.try_recv() {
            Ok(Job::Block(block, from)) => {
                bytes = bytes.saturating_add(block.encoded_size());
                batch.push((block, from));
            }
            Ok(other) => return (batch, Some(other)),
            Err(_) => break,
        }
    }
    (batch, None)
}

/// Most transactions checked before their verdicts go back together.
pub const TX_BATCH: usize = 64;

/// `first` and the transactions queued right behind it, without waiting,
/// up to [`TX_BATCH`]: their verdicts go back as one [`Input::Chain`], so
/// the protocol announces them in one `inv` per peer. Returns them and the
/// first other job met, which runs next.
fn gather_txs(
    first: (Transaction, Option<PeerId>),
    jobs: &JobReceiver,
) -> (Vec<(Transaction, Option<PeerId>)>, Option<Job>) {
    let mut batch = vec![first];
    while batch.len() < TX_BATCH {
        match jobs.try_recv() {
            Ok(Job::Tx(tx, from)) => batch.push((tx, from)),
            Ok(other) => return (batch, Some(other)),
            Err(_) => break,
        }
    }
    (batch, None)
}

fn cancel_on_new_tip(events: &[ChainEvent], mining: &Option<Arc<AtomicBool>>) {
    if let Some(cancel) = mining
        && events
            .iter()
            .any(|e| matches!(e, ChainEvent::TipChanged(_)))
    {
        cancel.store(true, Ordering::Relaxed);
    }
}

/// Solves `block` on a thread of its own; the result comes back as
/// [`Job::Minted`]. Returns the flag that abandons it.
fn spawn_miner(mut block: Block, threads: usize, jobs: JobSender) -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    info!(
        "minting a block of {} transactions at height {}",
        block.transactions.len().saturating_sub(1),
        block.height
    );
    std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let solved = miner::solve(&mut block, threads, &flag);
        if solved {
            info!(
                "minted block {} (nonce {}, {:.2}s)",
                block.hash(),
                block.header.nonce,
                started.elapsed().as_secs_f64()
            );
        }
        let _ = jobs.send(Job::Minted(solved.then_some(block)));
    });
    cancel
}
