//! Log lines for protocol and chain events, and the initial-sync progress
//! bar (shown only when stderr is a terminal).

use std::net::SocketAddr;

use tracing::{debug, info, warn};

use crate::chain::{ChainEvent, MempoolError, PeerId};
use crate::protocol::{DisconnectReason, Event};

/// Blocks behind a peer before a progress bar is shown.
const PROGRESS_MIN_BLOCKS: u64 = 100;

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
        Event::NotBannedLoopback(addr) => {
            warn!("peer {addr} misbehaved: disconnecting (not banned: loopback)")
        }
        Event::GenesisRefused { addr, hash } => {
            warn!("peer {addr}: genesis {hash} ignored: not from a seed or the configured genesis")
        }
        Event::AddrIgnored { addr, count } => info!(
            "peer {addr}: {count} new addresses ignored (addr rate limit or its share of the address book)"
        ),
    }
}

/// One line per chain event worth one; `addr` names the peer a block or
/// transaction came from.
pub fn chain(e: &ChainEvent, addr: impl Fn(PeerId) -> Option<SocketAddr>) {
    let from = |p: &Option<PeerId>| match p.and_then(&addr) {
        Some(a) => a.to_string(),
        None => "this node".to_string(),
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
        } => info!(
            "block {hash} connected at height {height} ({txs} transactions) from {}",
            from(f)
        ),
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

/// The initial-sync progress bar.
#[derive(Default)]
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    /// Shows a bar when we are at `ours` and a peer at `theirs`, far enough
    /// ahead, on a terminal.
    pub fn start(&mut self, ours: u64, theirs: u64) {
        if self.0.is_some()
            || theirs.saturating_sub(ours) < PROGRESS_MIN_BLOCKS
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
        self.0 = Some(bar);
    }

    /// Moves the bar to `height`; clears it at the end.
    pub fn update(&mut self, height: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(height);
            if height >= bar.length().unwrap_or(0) {
                bar.finish_and_clear();
                self.0 = None;
            }
        }
    }
}
