//! The transaction manager ([`TxMgr`]): everything the protocol knows of
//! transactions, in one owner. Bitcoin Core's `TxRequestTracker`
//! (`src/txrequest.h`), simplified, plus its `recentRejects` filter and
//! the answers to transaction `getdata`.
//!
//! * **Announcements.** Every peer that announces a txid we do not have is
//!   remembered as one of its announcers, up to
//!   [`MAX_PEER_TX_ANNOUNCEMENTS`] txids per peer (further announcements
//!   from that peer are ignored until some of its txids are settled).
//! * **Requests.** A txid is asked of one announcer at a time: outbound
//!   announcers before inbound ones (an attacker picks its inbound
//!   connections, not our outbound ones), then in the order they
//!   announced. A peer has at most [`MAX_PEER_TX_REQUEST_IN_FLIGHT`]
//!   transactions asked of it at once; txids it announced past that wait
//!   until one of its requests ends. A request that is not answered
//!   within [`TX_REQUEST_TIMEOUT`], answered by `notfound`, or whose peer
//!   disconnects, goes to the next announcer: a peer that announces a
//!   txid and never delivers it delays it, but cannot keep it from us.
//!   Timeouts are found through an index ordered by expiry, so a tick
//!   touches only the requests that expire, never the whole map.
//! * **Bounds.** Everything kept per txid is kept for at least one
//!   announcer and dropped with the last one, and each peer's share is
//!   capped; past [`MAX_TX_ANNOUNCEMENTS`] txids node-wide, only outbound
//!   peers may add new ones, so the node-wide state is at most that plus
//!   `outbound peers × MAX_PEER_TX_ANNOUNCEMENTS` txids. A disconnected peer's
//!   announcements, requests and answers are forgotten at once.
//! * **Filters.** The reject filter and each peer's missing-input budget
//!   ([`super::txflood`]), and the filter of transactions that recently
//!   left the mempool (mostly mined; not fetched again when announced
//!   late, forgotten when a block is disconnected).
//! * **Answers.** A transaction `getdata` is queued per peer, each txid
//!   once however often it is named ([`TX_SERVE_QUEUE_MAX`] txids at
//!   most), and answered while less than [`TX_ANSWER_BYTES`] of
//!   transactions sent to the peer are unflushed (reported by
//!   [`super::Input::TxFlushed`]): the node holds at most that much (plus
//!   one transaction) of answers per peer, whatever the peer asks.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;

use super::PeerId;
use super::points::Misbehavior;
use super::txflood::{RejectFilter, TxBucket};
use super::types::Millis;
use crate::chain::MempoolError;
use crate::core::encode::encoded_len;
use crate::core::hash::Txid;
use crate::core::tx::Transaction;
use crate::core::validation::TxError;

/// Txids one peer may have announced and not yet settled (Core's
/// `MAX_PEER_TX_ANNOUNCEMENTS`); its further announcements are ignored.
pub const MAX_PEER_TX_ANNOUNCEMENTS: usize = 5_000;

/// Txids tracked node-wide past which announcements of new txids from
/// inbound peers are ignored (outbound peers, which we chose, are still
/// heard, each within its own cap): with the per-peer cap, many inbound
/// sockets cannot make the node track more than this plus the outbound
/// peers' share (about 250 bytes each).
pub const MAX_TX_ANNOUNCEMENTS: usize = 100_000;

/// Transactions asked of one peer at once (Core's
/// `MAX_PEER_TX_REQUEST_IN_FLIGHT`).
pub const MAX_PEER_TX_REQUEST_IN_FLIGHT: usize = 100;

/// How long a transaction request may go unanswered before the txid is
/// asked of its next announcer (ms; Core's `GETDATA_TX_INTERVAL`).
pub const TX_REQUEST_TIMEOUT: Millis = 60_000;

/// Bytes of transactions sent to one peer and not yet flushed to its
/// socket before further `getdata` answers wait.
pub const TX_ANSWER_BYTES: u64 = 256_000;

/// Txids one peer may have waiting to be served; further `getdata` items
/// are ignored until it drains (not even answered with `notfound`, so that
/// a peer that does not read cannot make one `getdata` of 50,000 unknown
/// txids cost the node a 1.6 MB answer; as for blocks,
/// [`super::sync::SERVE_QUEUE_MAX`]).
pub const TX_SERVE_QUEUE_MAX: usize = MAX_PEER_TX_ANNOUNCEMENTS;

/// One announced txid we do not have yet.
#[derive(Debug, Default)]
struct Announced {
    /// Peers that announced it and were not asked for it yet (or were
    /// asked and are asked now), in announcement order.
    announcers: Vec<PeerId>,
    /// The request in flight: the peer asked and when it expires (ms).
    requested: Option<(PeerId, Millis)>,
}

/// What the transaction manager keeps of one connected peer.
#[derive(Debug)]
struct TxPeer {
    /// Outbound (dialled by us): asked before inbound announcers.
    preferred: bool,
    /// Txids it announced that are not settled yet; ordered, so a
    /// disconnect hands them on in the same order every run (the
    /// simulator replays runs exactly).
    announced: BTreeSet<Txid>,
    /// Txids asked of it and not answered yet.
    in_flight: usize,
    /// Txids it announced that nobody is asked for: asked of it when it
    /// has room.
    waiting: BTreeSet<Txid>,
    /// Its budget of missing-input refusals ([`super::txflood`]).
    missing_inputs: TxBucket,
    /// Txids it asked for, to be answered in order.
    serve: VecDeque<Txid>,
    /// The same txids, so each is queued once.
    queued: HashSet<Txid>,
    /// Bytes of transactions sent to it and not reported flushed yet.
    unflushed: u64,
    /// When its answers last made progress (ms).
    last_flush: Millis,
}

/// What to do with a received transaction ([`TxMgr::received`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxVerdict {
    /// Hand it to the chain layer.
    Validate,
    /// Drop it: held already, left the mempool lately, or its sender's
    /// budget is spent.
    Ignore,
    /// Drop it and charge the sender: refused before, while the refusal is
    /// remembered.
    Blame(Misbehavior),
}

/// The transaction manager (module docs).
#[derive(Debug, Default)]
pub struct TxMgr {
    /// The mempool as reported by the chain layer.
    mempool: BTreeMap<Txid, Arc<Transaction>>,
    /// Encoded size of `mempool`'s transactions, bytes.
    mempool_bytes: u64,
    /// Recently rejected transactions, cleared when the tip changes.
    rejects: RejectFilter,
    /// Transactions that recently left the mempool.
    removed: RejectFilter,
    /// Announced txids we do not have.
    announced: BTreeMap<Txid, Announced>,
    /// Requests in flight by expiry (ms).
    expiries: BTreeSet<(Millis, Txid)>,
    peers: BTreeMap<PeerId, TxPeer>,
    /// Requests decided and not sent yet, per peer.
    to_request: BTreeMap<PeerId, Vec<Txid>>,
    /// Transactions accepted and not announced yet, with their senders.
    accepted: Vec<(Txid, Option<PeerId>)>,
}

impl TxMgr {
    /// `peer` connected at `now`; `inbound` when it dialled us.
    pub fn connected(&mut self, peer: PeerId, inbound: bool, now: Millis) {
        self.peers.insert(
            peer,
            TxPeer {
                preferred: !inbound,
                announced: BTreeSet::new(),
                in_flight: 0,
                waiting: BTreeSet::new(),
                missing_inputs: TxBucket::new(now),
                serve: VecDeque::new(),
                queued: HashSet::new(),
                unflushed: 0,
                last_flush: now,
            },
        );
    }

    /// `peer` is gone: its announcements, requests and answers are
    /// forgotten; what was asked of it goes to the next announcer.
    pub fn disconnected(&mut self, peer: PeerId, now: Millis) {
        let Some(p) = self.peers.remove(&peer) else {
            return;
        };
        self.to_request.remove(&peer);
        for txid in p.announced {
            let Some(a) = self.announced.get_mut(&txid) else {
                continue;
            };
            a.announcers.retain(|x| *x != peer);
            if let Some((asked, expiry)) = a.requested
                && asked == peer
            {
                a.requested = None;
                self.expiries.remove(&(expiry, txid));
            }
            self.assign(txid, now);
        }
    }

    /// True when `peer`'s budget of missing-input refusals is spent at
    /// `now`: its transactions and their announcements are dropped.
    pub fn out_of_budget(&mut self, peer: PeerId, now: Millis) -> bool {
        self.peers
            .get_mut(&peer)
            .is_some_and(|p| p.missing_inputs.is_empty(now))
    }

    /// True when we hold `txid` or need not fetch it (refused or left the
    /// mempool lately).
    fn unwanted(&self, txid: &Txid) -> bool {
        self.mempool.contains_key(txid)
            || self.rejects.contains(txid)
            || self.removed.contains(txid)
    }

    /// `peer` announced `txids` at `now`: each new one is remembered with
    /// this announcer, and asked of it if nobody is asked yet and it has
    /// room (the requests come out of [`TxMgr::take_requests`]).
    pub fn announced(&mut self, peer: PeerId, txids: &[Txid], now: Millis) {
        if self.out_of_budget(peer, now) {
            return;
        }
        for txid in txids {
            if self.unwanted(txid) {
                continue;
            }
            let Some(p) = self.peers.get_mut(&peer) else {
                return;
            };
            if p.announced.len() >= MAX_PEER_TX_ANNOUNCEMENTS {
                return;
            }
            let full = self.announced.len() >= MAX_TX_ANNOUNCEMENTS;
            if full && !p.preferred && !self.announced.contains_key(txid) {
                continue;
            }
            if !p.announced.insert(*txid) {
                continue;
            }
            self.announced
                .entry(*txid)
                .or_default()
                .announcers
                .push(peer);
            self.assign(*txid, now);
        }
    }

    /// Asks for `txid` if nobody is asked: of the first announcer with
    /// room (outbound ones first); with none, it waits in every
    /// announcer's queue. Forgets it when no announcer is left.
    fn assign(&mut self, txid: Txid, now: Millis) {
        let Some(a) = self.announced.get(&txid) else {
            return;
        };
        if a.requested.is_some() {
            return;
        }
        if a.announcers.is_empty() {
            self.announced.remove(&txid);
            return;
        }
        let room = |id: &PeerId| {
            self.peers
                .get(id)
                .is_some_and(|p| p.in_flight < MAX_PEER_TX_REQUEST_IN_FLIGHT)
        };
        let preferred = |id: &PeerId| self.peers.get(id).is_some_and(|p| p.preferred);
        let pick = a
            .announcers
            .iter()
            .filter(|id| room(id))
            .min_by_key(|id| !preferred(id))
            .copied();
        let announcers = a.announcers.clone();
        match pick {
            Some(peer) => {
                for id in &announcers {
                    if let Some(p) = self.peers.get_mut(id) {
                        p.waiting.remove(&txid);
                    }
                }
                self.request(txid, peer, now);
            }
            None => {
                for id in &announcers {
                    if let Some(p) = self.peers.get_mut(id) {
                        p.waiting.insert(txid);
                    }
                }
            }
        }
    }

    fn request(&mut self, txid: Txid, peer: PeerId, now: Millis) {
        let expiry = now.saturating_add(TX_REQUEST_TIMEOUT);
        if let Some(a) = self.announced.get_mut(&txid) {
            a.requested = Some((peer, expiry));
            self.expiries.insert((expiry, txid));
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            p.in_flight += 1;
        }
        self.to_request.entry(peer).or_default().push(txid);
    }

    /// `peer`'s request for `txid` ended (answered or not): it gets one
    /// of its waiting txids instead.
    fn release(&mut self, peer: PeerId, now: Millis) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.in_flight = p.in_flight.saturating_sub(1);
        loop {
            let Some(p) = self.peers.get_mut(&peer) else {
                return;
            };
            if p.in_flight >= MAX_PEER_TX_REQUEST_IN_FLIGHT {
                return;
            }
            let Some(next) = p.waiting.pop_first() else {
                return;
            };
            self.assign(next, now);
        }
    }

    /// Forgets `txid` (delivered, or no longer wanted), ending its request.
    fn settle(&mut self, txid: Txid, now: Millis) {
        let Some(a) = self.announced.remove(&txid) else {
            return;
        };
        for id in &a.announcers {
            if let Some(p) = self.peers.get_mut(id) {
                p.announced.remove(&txid);
                p.waiting.remove(&txid);
            }
        }
        if let Some((peer, expiry)) = a.requested {
            self.expiries.remove(&(expiry, txid));
            self.release(peer, now);
        }
    }

    /// `peer` failed to deliver `txid` (timeout or `notfound`): it is not
    /// asked for it again, and the next announcer is.
    fn failed(&mut self, txid: Txid, peer: PeerId, now: Millis) {
        let Some(a) = self.announced.get_mut(&txid) else {
            return;
        };
        let Some((asked, expiry)) = a.requested else {
            return;
        };
        if asked != peer {
            return;
        }
        a.requested = None;
        a.announcers.retain(|x| *x != peer);
        self.expiries.remove(&(expiry, txid));
        if let Some(p) = self.peers.get_mut(&peer) {
            p.announced.remove(&txid);
        }
        self.assign(txid, now);
        self.release(peer, now);
    }

    /// Requests unanswered for [`TX_REQUEST_TIMEOUT`] at `now` go to the
    /// next announcer. Touches only the expired requests.
    pub fn expire(&mut self, now: Millis) {
        while let Some(&(expiry, txid)) = self.expiries.first() {
            if expiry > now {
                break;
            }
            self.expiries.pop_first();
            let asked = self.announced.get(&txid).and_then(|a| a.requested);
            if let Some((peer, at)) = asked
                && at == expiry
            {
                self.failed(txid, peer, now);
            }
        }
    }

    /// `peer` answered `notfound` for `txids`.
    pub fn notfound(&mut self, peer: PeerId, txids: &[Txid], now: Millis) {
        for txid in txids {
            self.failed(*txid, peer, now);
        }
    }

    /// Requests decided since the last call, per peer: send each a
    /// `getdata`.
    pub fn take_requests(&mut self) -> BTreeMap<PeerId, Vec<Txid>> {
        std::mem::take(&mut self.to_request)
    }

    /// `peer` sent `tx` at `now` (requested or not): what to do with it.
    pub fn received(&mut self, peer: PeerId, txid: Txid, now: Millis) -> TxVerdict {
        self.settle(txid, now);
        // Left the mempool lately (mostly mined): a late copy from another
        // peer would only fail for missing inputs and spend that peer's
        // budget, then drop its next, new transactions.
        if self.mempool.contains_key(&txid)
            || self.removed.contains(&txid)
            || self.out_of_budget(peer, now)
        {
            return TxVerdict::Ignore;
        }
        match self.rejects.get(&txid) {
            // Refused since the tip last changed: not validated again.
            Some(0) => TxVerdict::Ignore,
            Some(points) => TxVerdict::Blame(Misbehavior::RejectedTxAgain(txid, points)),
            None => TxVerdict::Validate,
        }
    }

    /// The mempool took `tx` (from `from`): announced at the end of the
    /// step ([`TxMgr::take_accepted`]).
    pub fn accepted(&mut self, tx: Arc<Transaction>, from: Option<PeerId>, now: Millis) {
        let txid = tx.txid();
        self.settle(txid, now);
        self.mempool_bytes = self
            .mempool_bytes
            .saturating_add(crate::core::encode::encoded_len(&*tx));
        if let Some(old) = self.mempool.insert(txid, tx) {
            self.mempool_bytes = self
                .mempool_bytes
                .saturating_sub(crate::core::encode::encoded_len(&*old));
        }
        self.accepted.push((txid, from));
    }

    /// Transactions accepted since the last call, with their senders.
    pub fn take_accepted(&mut self) -> Vec<(Txid, Option<PeerId>)> {
        std::mem::take(&mut self.accepted)
    }

    /// The chain layer refused `txid` from `from` at `now`: the fault to
    /// charge `from` with, if any.
    ///
    /// A missing input is what an honest peer sends when the transaction
    /// was mined, or its parent not yet seen, while it was being relayed:
    /// not held against the peer, but taken from its budget. A broken
    /// consensus rule and a non-standard size are charged
    /// ([`Misbehavior::InvalidTx`], [`Misbehavior::NonStandardTx`]).
    /// Refusals the txid determines go to the reject filter
    /// ([`super::txflood`]).
    pub fn rejected(
        &mut self,
        txid: Txid,
        from: Option<PeerId>,
        error: &MempoolError,
        now: Millis,
    ) -> Option<Misbehavior> {
        self.settle(txid, now);
        match error {
            MempoolError::Invalid {
                error: TxError::MissingInput { .. },
                ..
            } => {
                if let Some(p) = from.and_then(|p| self.peers.get_mut(&p)) {
                    p.missing_inputs.take(now);
                }
                None
            }
            MempoolError::Invalid { error: e, .. } => {
                let fault = Misbehavior::InvalidTx(txid, e.to_string());
                // Signatures and keys are not covered by the txid.
                if !matches!(e, TxError::BadSignature(..) | TxError::WrongOwner(_)) {
                    self.rejects.insert(txid, fault.points());
                }
                from.map(|_| fault)
            }
            MempoolError::NonStandardSize(size) => {
                let fault = Misbehavior::NonStandardTx(txid, *size);
                self.rejects.insert(txid, fault.points());
                from.map(|_| fault)
            }
            MempoolError::Conflict { .. } => {
                self.rejects.insert(txid, 0);
                None
            }
            _ => None,
        }
    }

    /// `txid` left the mempool: remembered so a late announcement of it
    /// is not fetched again.
    pub fn removed(&mut self, txid: Txid) {
        if let Some(tx) = self.mempool.remove(&txid) {
            self.mempool_bytes = self
                .mempool_bytes
                .saturating_sub(crate::core::encode::encoded_len(&*tx));
            self.removed.insert(txid, 0);
        }
    }

    /// The tip changed: refusals may no longer hold.
    pub fn tip_changed(&mut self) {
        self.rejects.clear();
    }

    /// A block was disconnected: transactions it held may be wanted again.
    pub fn block_disconnected(&mut self) {
        self.removed.clear();
    }

    /// `peer` asked for `txids`: each queued once (up to
    /// [`TX_SERVE_QUEUE_MAX`]); returns how many were left out (ignored).
    pub fn getdata(&mut self, peer: PeerId, txids: impl IntoIterator<Item = Txid>) -> usize {
        let Some(p) = self.peers.get_mut(&peer) else {
            return 0;
        };
        let mut left_out = 0;
        for txid in txids {
            if p.queued.contains(&txid) {
                continue;
            }
            if p.serve.len() >= TX_SERVE_QUEUE_MAX {
                left_out += 1;
                continue;
            }
            p.queued.insert(txid);
            p.serve.push_back(txid);
        }
        left_out
    }

    /// The next answers for `peer` at `now`: transactions to send (while
    /// less than [`TX_ANSWER_BYTES`] are unflushed) and txids not in the
    /// mempool, to answer with `notfound`.
    pub fn serve(&mut self, peer: PeerId, now: Millis) -> (Vec<Arc<Transaction>>, Vec<Txid>) {
        let (mut send, mut missing) = (Vec::new(), Vec::new());
        let Some(p) = self.peers.get_mut(&peer) else {
            return (send, missing);
        };
        while p.unflushed < TX_ANSWER_BYTES {
            let Some(txid) = p.serve.pop_front() else {
                break;
            };
            p.queued.remove(&txid);
            match self.mempool.get(&txid) {
                Some(tx) => {
                    if p.unflushed == 0 {
                        p.last_flush = now;
                    }
                    p.unflushed = p.unflushed.saturating_add(encoded_len(&**tx));
                    send.push(Arc::clone(tx));
                }
                None => missing.push(txid),
            }
        }
        if p.serve.is_empty() && p.serve.capacity() > MAX_PEER_TX_REQUEST_IN_FLIGHT {
            // A drained burst leaves no room of its size behind.
            p.serve = VecDeque::new();
            p.queued = HashSet::new();
        }
        (send, missing)
    }

    /// `bytes` of transactions were flushed to `peer` at `now`.
    pub fn flushed(&mut self, peer: PeerId, bytes: u64, now: Millis) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.unflushed = p.unflushed.saturating_sub(bytes);
            p.last_flush = now;
        }
    }

    /// True when `peer` has had transaction answers unflushed, with no
    /// flush, for `limit` ms at `now`: it does not read.
    pub fn stalled(&self, peer: PeerId, now: Millis, limit: Millis) -> bool {
        self.peers
            .get(&peer)
            .is_some_and(|p| p.unflushed > 0 && now.saturating_sub(p.last_flush) >= limit)
    }

    /// The mempool as reported by the chain layer.
    pub fn mempool(&self) -> &BTreeMap<Txid, Arc<Transaction>> {
        &self.mempool
    }

    /// The encoded size of [`TxMgr::mempool`]'s transactions, bytes (the
    /// chain's `Mempool::bytes` as last reported).
    pub fn mempool_bytes(&self) -> u64 {
        self.mempool_bytes
    }

    /// The filter of recently rejected transactions.
    pub fn rejects(&self) -> &RejectFilter {
        &self.rejects
    }

    /// Announced txids tracked (node-wide), and requests in flight.
    pub fn tracked(&self) -> (usize, usize) {
        (self.announced.len(), self.expiries.len())
    }

    /// The peer `txid` is asked of now, if any.
    pub fn requested_of(&self, txid: &Txid) -> Option<PeerId> {
        self.announced
            .get(txid)
            .and_then(|a| a.requested)
            .map(|(p, _)| p)
    }

    /// Txids `peer` announced that are not settled, and how many are
    /// asked of it now.
    pub fn peer_load(&self, peer: PeerId) -> Option<(usize, usize)> {
        self.peers
            .get(&peer)
            .map(|p| (p.announced.len(), p.in_flight))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::hash::Hash256;

    fn t(i: u64) -> Txid {
        let mut h = [0u8; 32];
        h[..8].copy_from_slice(&i.to_le_bytes());
        Txid(Hash256(h))
    }

    fn sent(m: &mut TxMgr) -> BTreeMap<PeerId, Vec<Txid>> {
        m.take_requests()
    }

    #[test]
    fn one_request_per_txid_and_the_next_announcer_after_a_timeout() {
        let mut m = TxMgr::default();
        m.connected(1, true, 0);
        m.connected(2, true, 0);
        m.announced(1, &[t(1)], 0);
        m.announced(2, &[t(1)], 10);
        assert_eq!(sent(&mut m), BTreeMap::from([(1, vec![t(1)])]));
        m.expire(TX_REQUEST_TIMEOUT - 1);
        assert!(sent(&mut m).is_empty());
        m.expire(TX_REQUEST_TIMEOUT);
        assert_eq!(sent(&mut m), BTreeMap::from([(2, vec![t(1)])]));
        assert_eq!(m.peer_load(1), Some((0, 0)));
        assert_eq!(
            m.received(2, t(1), TX_REQUEST_TIMEOUT + 5),
            TxVerdict::Validate
        );
        assert_eq!(m.tracked(), (0, 0));
        assert_eq!(m.peer_load(2), Some((0, 0)));
    }

    #[test]
    fn outbound_announcers_are_asked_first_and_notfound_falls_back() {
        let mut m = TxMgr::default();
        m.connected(1, true, 0);
        m.connected(2, false, 0);
        m.connected(3, true, 0);
        m.announced(3, &[], 0);
        m.to_request.clear();
        // Nobody asked yet when both announce in one step? The first
        // announcer is asked at once; a later outbound one waits its turn.
        m.announced(1, &[t(7)], 0);
        m.announced(2, &[t(7)], 0);
        m.announced(3, &[t(7)], 0);
        assert_eq!(sent(&mut m), BTreeMap::from([(1, vec![t(7)])]));
        m.notfound(1, &[t(7)], 5);
        assert_eq!(sent(&mut m), BTreeMap::from([(2, vec![t(7)])]));
        m.disconnected(2, 6);
        assert_eq!(sent(&mut m), BTreeMap::from([(3, vec![t(7)])]));
        m.disconnected(3, 7);
        assert_eq!(m.tracked(), (0, 0));
    }

    #[test]
    fn per_peer_caps_on_announcements_and_requests() {
        let mut m = TxMgr::default();
        m.connected(1, true, 0);
        let many: Vec<Txid> = (0..MAX_PEER_TX_ANNOUNCEMENTS as u64 + 500).map(t).collect();
        m.announced(1, &many, 0);
        assert_eq!(
            m.peer_load(1),
            Some((MAX_PEER_TX_ANNOUNCEMENTS, MAX_PEER_TX_REQUEST_IN_FLIGHT))
        );
        assert_eq!(sent(&mut m)[&1].len(), MAX_PEER_TX_REQUEST_IN_FLIGHT);
        assert_eq!(
            m.tracked(),
            (MAX_PEER_TX_ANNOUNCEMENTS, MAX_PEER_TX_REQUEST_IN_FLIGHT)
        );
        // One delivered: the next waiting txid is asked.
        m.received(1, t(0), 1);
        assert_eq!(sent(&mut m)[&1].len(), 1);
        // All expire: each timeout frees room that the next waiting txid
        // takes, so the whole backlog drains in bounded steps.
        m.expire(TX_REQUEST_TIMEOUT + 1);
        m.disconnected(1, TX_REQUEST_TIMEOUT + 2);
        assert_eq!(m.tracked(), (0, 0));
    }

    #[test]
    fn getdata_is_deduplicated_and_paced_by_bytes() {
        let mut m = TxMgr::default();
        m.connected(1, true, 0);
        let tx = Arc::new(Transaction {
            version: 1,
            inputs: vec![],
            outputs: vec![],
            coinbase_height: 0,
        });
        let txid = tx.txid();
        m.accepted(tx, None, 0);
        assert_eq!(m.getdata(1, std::iter::repeat_n(txid, 50_000)), 0);
        let (send, missing) = m.serve(1, 0);
        assert_eq!((send.len(), missing.len()), (1, 0));
        assert!(m.serve(1, 0).0.is_empty());
    }

    #[test]
    fn answers_wait_for_flushes_past_the_byte_budget() {
        use crate::core::tx::TxOut;
        let mut m = TxMgr::default();
        m.connected(1, true, 0);
        let big = |i: u64| {
            Arc::new(Transaction {
                version: 1,
                inputs: vec![],
                outputs: vec![
                    TxOut {
                        value: i,
                        pubkey_hash: [0; 20],
                    };
                    3_000
                ],
                coinbase_height: 0,
            })
        };
        let txids: Vec<Txid> = (0..10)
            .map(|i| {
                let tx = big(i);
                let txid = tx.txid();
                m.accepted(tx, None, 0);
                txid
            })
            .collect();
        let size = encoded_len(&*big(0));
        assert!(size > 80_000 && size < TX_ANSWER_BYTES / 2);
        assert_eq!(m.getdata(1, txids.iter().copied()), 0);
        let (first, _) = m.serve(1, 0);
        let per_round = TX_ANSWER_BYTES.div_ceil(size) as usize;
        assert_eq!(first.len(), per_round);
        assert!(m.serve(1, 0).0.is_empty(), "nothing flushed yet");
        assert!(m.stalled(1, 60_000, 60_000));
        m.flushed(1, size * per_round as u64, 5);
        assert_eq!(m.serve(1, 5).0.len(), per_round);
        assert!(!m.stalled(1, 60_000, 60_000));
    }

    #[test]
    fn past_the_node_wide_cap_only_outbound_peers_add_txids() {
        let mut m = TxMgr::default();
        let per = MAX_PEER_TX_ANNOUNCEMENTS as u64;
        let inbound = MAX_TX_ANNOUNCEMENTS as u64 / per;
        for peer in 0..inbound {
            m.connected(peer, true, 0);
            let txids: Vec<Txid> = (0..per).map(|i| t(peer * per + i)).collect();
            m.announced(peer, &txids, 0);
        }
        assert_eq!(m.tracked().0, MAX_TX_ANNOUNCEMENTS);
        m.connected(1_000, true, 0);
        m.connected(1_001, false, 0);
        m.announced(1_000, &[t(u64::MAX), t(0)], 0);
        assert_eq!(
            m.tracked().0,
            MAX_TX_ANNOUNCEMENTS,
            "a new txid from inbound"
        );
        assert_eq!(
            m.peer_load(1_000),
            Some((1, 0)),
            "a known txid is still heard"
        );
        m.announced(1_001, &[t(u64::MAX)], 0);
        assert_eq!(m.tracked().0, MAX_TX_ANNOUNCEMENTS + 1);
    }
}
