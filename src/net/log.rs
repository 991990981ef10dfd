//! Log lines for protocol and chain events, and the initial-sync progress
//! bar (shown only when stderr is a terminal). Log lines go through
//! [`LogWriter`], which lifts the bar while a line is written so the two
//! never overwrite each other. While a peer is more than
//! [`QUIET_SYNC_BLOCKS`] ahead, connected blocks are logged at DEBUG, and
//! one INFO line sums the sync up at the end.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tracing::{debug, error, info, warn};

use crate::chain::{ChainEvent, MempoolError, PeerId};
use crate::protocol::{DisconnectReason, Event};

/// Blocks behind a peer before a progress bar is shown.
const PROGRESS_MIN_BLOCKS: u64 = 100;

/// Blocks behind a peer from which per-block lines go to DEBUG.
pub const QUIET_SYNC_BLOCKS: u64 = 5;

/// The bar on screen, for [`LogWriter`] to lift around log lines.
static BAR: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);

/// True during an initial sync: connected blocks are logged at DEBUG.
static SYNCING: AtomicBool = AtomicBool::new(false);

/// A `tracing` writer to stderr that suspends the progress bar while a log
/// line is written.
pub struct LogWriter;

/// The writer [`LogWriter`] makes.
pub struct SuspendingStderr;

impl std::io::Write for SuspendingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = BAR.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = SuspendingStderr;

    fn make_writer(&'a self) -> Self::Writer {
        SuspendingStderr
    }
}

/// One line for a peer the protocol dropped.
pub fn disconnect(addr: SocketAddr, reason: &DisconnectReason) {
    match reason {
        DisconnectReason::DifferentNetwork { .. } => warn!("disconnected {addr}: {reason}"),
        _ => info!("disconnected {addr}: {reason}"),
    }
}

/// Addresses whose dial failed already in this process.
static FAILED_DIALS: std::sync::Mutex<std::collections::BTreeSet<SocketAddr>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// A failed dial (retried with backoff): INFO the first time for an
/// address, so that a mistyped or stopped seed shows, DEBUG after.
pub fn dial_failed(addr: SocketAddr) {
    let first = FAILED_DIALS
        .lock()
        .map(|mut set| set.insert(addr))
        .unwrap_or(false);
    if first {
        info!(
            "cannot reach {addr}; retrying with backoff (1 s doubling to 60 s; further failures logged at debug level)"
        );
    } else {
        debug!("cannot reach {addr}");
    }
}

/// One line for a protocol event.
pub fn event(e: &Event) {
    match e {
        Event::PeerReady {
            addr,
            height,
            inbound,
            ..
        } => debug!("peer {addr} ready at height {height} (inbound: {inbound})"),
        Event::Syncing { theirs, .. } => info!("peer is at height {theirs}; syncing"),
        Event::Misbehaved {
            addr,
            points,
            score,
            reason,
        } => warn!("peer {addr}: {reason} (+{points}, score {score})"),
        Event::Banned { ip, until } => warn!("peer {ip} misbehaved: banned until {until} ms"),
        Event::OtherNetwork { addr, ours, theirs } => {
            warn!("disconnecting {addr}: different network (genesis {theirs}, ours {ours})")
        }
        Event::NotBannedLoopback(addr) => {
            warn!("peer {addr} misbehaved: disconnecting (not banned: loopback)")
        }
        Event::GenesisRefused { addr, hash } => {
            warn!("peer {addr}: genesis {hash} ignored: not from a seed or the configured genesis")
        }
        Event::UnrequestedDropped { addr, hash } => {
            debug!("peer {addr}: unrequested block {hash} dropped (too many being processed)")
        }
        Event::ChainReadFailed(e) => error!("cannot read the chain: {e}"),
        Event::AddrIgnored { addr, count } => info!(
            "peer {addr}: {count} new addresses ignored (addr rate limit or its share of the address book)"
        ),
    }
}

/// One line per chain event worth one; `addr` names the peer a block or
/// transaction came from. `after_reorg`: a [`ChainEvent::Reorg`] came
/// earlier in the same batch, so a connected block with no sender is one
/// of the branch stored earlier, not one minted here.
///
/// The sender named is the one the chain reports
/// ([`ChainEvent::BlockConnected`]'s `from`): a peer's address while it is
/// connected, `peer N (disconnected)` after, `this node` only for what
/// was minted or submitted here.
pub fn chain(e: &ChainEvent, after_reorg: bool, addr: impl Fn(PeerId) -> Option<SocketAddr>) {
    let from = |p: &Option<PeerId>| match (p, p.and_then(&addr)) {
        (_, Some(a)) => a.to_string(),
        (Some(id), None) => format!("peer {id} (disconnected)"),
        (None, None) => "this node".to_string(),
    };
    match e {
        ChainEvent::GenesisAdopted { hash, bits, .. } => {
            info!("adopted genesis {hash} (difficulty {bits} bits)")
        }
        ChainEvent::BlockConnected {
            hash,
            height,
            txs,
            from: f,
        } => {
            let line = format!("block {hash} connected at height {height} ({txs} transactions)");
            let source = match f {
                None if after_reorg => "from the side branch it was stored on".to_string(),
                _ => format!("from {}", from(f)),
            };
            // One line per block, but not during an initial sync.
            if SYNCING.load(Ordering::Relaxed) {
                debug!("{line} {source}")
            } else {
                info!("{line} {source}")
            }
        }
        ChainEvent::Reorg {
            disconnected,
            connected,
        } => warn!("reorg: {disconnected} block(s) disconnected, {connected} connected"),
        ChainEvent::SideBranch { hash, height } => {
            info!("block {hash} at height {height} stored on a side branch")
        }
        ChainEvent::Orphan { hash, height, .. } => debug!("orphan block {hash} at height {height}"),
        ChainEvent::InvalidBlock {
            hash,
            error,
            from: f,
        } => warn!("rejected block {hash} from {}: {error}", from(f)),
        ChainEvent::FutureBlock {
            hash,
            time,
            from: f,
        } => info!(
            "block {hash} from {} dropped: its time {time} is too far ahead of our clock",
            from(f)
        ),
        ChainEvent::TxAccepted { tx, fee, from: f } => {
            info!(
                "accepted transaction {} (fee {fee}) from {}",
                tx.txid(),
                from(f)
            )
        }
        ChainEvent::TxRejected {
            txid,
            error,
            from: f,
        } => match &**error {
            MempoolError::AlreadyKnown(_) => {}
            e => info!("rejected transaction {txid} from {}: {e}", from(f)),
        },
        _ => {}
    }
}

/// An initial sync under way: where it started and the height it aims at.
struct SyncRun {
    started: Instant,
    from: u64,
    to: u64,
}

/// The initial sync: its progress bar and its summary line.
#[derive(Default)]
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    run: Option<SyncRun>,
}

impl Progress {
    /// We are at `ours` and a peer at `theirs`: far enough ahead, an
    /// initial sync starts (quiet per-block lines) and, on a terminal, a
    /// bar shows.
    pub fn start(&mut self, ours: u64, theirs: u64) {
        let behind = theirs.saturating_sub(ours);
        match &mut self.run {
            Some(run) => run.to = run.to.max(theirs),
            None if behind > QUIET_SYNC_BLOCKS => {
                SYNCING.store(true, Ordering::Relaxed);
                self.run = Some(SyncRun {
                    started: Instant::now(),
                    from: ours,
                    to: theirs,
                });
            }
            None => {}
        }
        if self.bar.is_some()
            || behind < PROGRESS_MIN_BLOCKS
            || !std::io::IsTerminal::is_terminal(&std::io::stderr())
        {
            return;
        }
        let bar = indicatif::ProgressBar::new(theirs);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "sync {bar:40} {pos}/{len} blocks ({per_sec}, eta {eta})",
        ) {
            bar.set_style(style);
        }
        bar.set_position(ours);
        if let Ok(mut b) = BAR.lock() {
            *b = Some(bar.clone());
        }
        self.bar = Some(bar);
    }

    /// The tip moved to `height`: the bar follows; at the target the bar
    /// clears and one line says `synced N blocks in X s (Y blocks/s)`.
    pub fn update(&mut self, height: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(height.min(bar.length().unwrap_or(height)));
        }
        let Some(run) = &self.run else {
            return;
        };
        if height < run.to {
            return;
        }
        if let Some(bar) = self.bar.take() {
            if let Ok(mut b) = BAR.lock() {
                *b = None;
            }
            bar.finish_and_clear();
        }
        SYNCING.store(false, Ordering::Relaxed);
        let blocks = height.saturating_sub(run.from);
        let secs = run.started.elapsed().as_secs_f64();
        info!(
            "synced {blocks} blocks in {secs:.1} s ({:.0} blocks/s)",
            blocks as f64 / secs.max(0.001)
        );
        self.run = None;
    }
}
