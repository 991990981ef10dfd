//! Peers: connection and handshake, misbehaviour scores and bans, pings,
//! the idle and handshake timeouts, and dialling.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::eviction::{self, Candidate};
use super::types::{DisconnectReason, Event, Millis, Output};
use super::{Misbehavior, PeerId, Protocol};
use crate::chain::ChainEvent;
use crate::core::hash::BlockHash;
use crate::wire::message::Message;
use crate::wire::payload::{PROTOCOL_VERSION, Version};

/// What the protocol knows of one connected peer.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Address dialled (outbound) or remote address (inbound).
    pub addr: SocketAddr,
    /// True when it dialled us.
    pub inbound: bool,
    /// When the connection came up (ms).
    pub connected_at: Millis,
    /// When its last message arrived (ms).
    pub last_recv: Millis,
    /// When we last sent a ping (ms).
    pub last_ping: Millis,
    /// Nonce and send time of the ping not answered yet.
    pub ping_pending: Option<(u64, Millis)>,
    /// Last measured round trip (ms).
    pub ping_rtt: Option<Millis>,
    /// Its listen address from `version`; `None` until the handshake.
    pub version: Option<Option<SocketAddr>>,
    /// The nonce of its `version` (0 until the handshake): two
    /// connections from one IP with one nonce are one node
    /// (`Protocol::keep_one_connection`).
    pub nonce: u64,
    /// Misbehaviour points.
    pub score: u32,
    /// Set when it is to be dropped at the next tick, for this reason (its
    /// messages are ignored until then).
    pub closing: Option<DisconnectReason>,
    /// Lowest measured ping round trip (ms).
    pub min_ping: Option<Millis>,
    /// When it last delivered a block that joined our best chain (ms); 0:
    /// never.
    pub last_block: Millis,
    /// When it last delivered a transaction our mempool accepted (ms); 0:
    /// never.
    pub last_tx: Millis,
}

impl Peer {
    fn new(addr: SocketAddr, inbound: bool, now: Millis) -> Peer {
        Peer {
            addr,
            inbound,
            connected_at: now,
            last_recv: now,
            last_ping: now,
            ping_pending: None,
            ping_rtt: None,
            version: None,
            nonce: 0,
            score: 0,
            closing: None,
            min_ping: None,
            last_block: 0,
            last_tx: 0,
        }
    }

    /// True once its `version` arrived.
    pub fn is_ready(&self) -> bool {
        self.version.is_some()
    }
}

/// Most disconnected peers remembered for charging ([`Departed`]).
pub const MAX_DEPARTED: usize = 1_024;

/// Peers gone lately, by id: their address and score when they left. The
/// chain layer judges a block or transaction after the step that took it
/// (the chain worker runs it later), so its sender may have hung up by
/// then: a fault found afterwards is still charged to its address, and
/// one that reaches the ban score bans its IP. The [`MAX_DEPARTED`] most
/// recent are kept.
#[derive(Debug, Default)]
pub struct Departed(BTreeMap<PeerId, (SocketAddr, u32)>);

impl Departed {
    fn insert(&mut self, peer: PeerId, addr: SocketAddr, score: u32) {
        self.0.insert(peer, (addr, score));
        while self.0.len() > MAX_DEPARTED {
            self.0.pop_first();
        }
    }
}

impl Protocol {
    pub(super) fn on_connected(&mut self, peer: PeerId, addr: SocketAddr, inbound: bool) {
        if inbound && self.addrs.book.is_banned(&addr.ip(), self.now) {
            return self.out.push(Output::Disconnect {
                peer,
                reason: DisconnectReason::Banned,
            });
        }
        if !inbound {
            self.addrs.book.connected(addr);
        }
        self.peers.insert(peer, Peer::new(addr, inbound, self.now));
        self.sync.add_peer(peer, self.now);
        self.txs.connected(peer, inbound, self.now);
        self.addrs.connected(peer, self.now);
        if !inbound && let Some(v) = self.version_message() {
            self.send(peer, v);
        }
    }

    pub(super) fn on_disconnected(&mut self, peer: PeerId) {
        if let Some(p) = self.peers.remove(&peer) {
            self.forget(peer, &p);
        }
    }

    /// Drops `peer` now and tells the caller to close it.
    pub(super) fn disconnect(&mut self, peer: PeerId, reason: DisconnectReason) {
        if let Some(p) = self.peers.remove(&peer) {
            self.forget(peer, &p);
            self.out.push(Output::Disconnect { peer, reason });
        }
    }

    fn forget(&mut self, peer: PeerId, p: &Peer) {
        self.departed.insert(peer, p.addr, p.score);
        self.sync.remove_peer(peer);
        self.txs.disconnected(peer, self.now);
        self.addrs.disconnected(peer);
        if !p.inbound {
            if p.is_ready() {
                self.addrs.book.closed(p.addr, self.now);
            } else {
                self.addrs.book.failed(p.addr, self.now);
            }
        }
    }

    /// Charges `fault`'s points ([`super::points`]) to `peer` (connected,
    /// or gone lately: [`Departed`]); at the ban score it is disconnected
    /// and, unless on loopback, its IP banned for
    /// [`super::Config::ban_time`].
    pub(super) fn misbehaving(&mut self, peer: PeerId, fault: Misbehavior) {
        let points = fault.points();
        let (addr, score) = match self.peers.get_mut(&peer) {
            Some(p) => {
                p.score = p.score.saturating_add(points);
                (p.addr, p.score)
            }
            // Gone before the chain layer judged what it sent: charged
            // all the same ([`Departed`]).
            None => match self.departed.0.get_mut(&peer) {
                Some((addr, score)) => {
                    *score = score.saturating_add(points);
                    (*addr, *score)
                }
                None => return,
            },
        };
        let reason = fault.to_string();
        self.event(Event::Misbehaved {
            addr,
            points,
            score,
            reason,
        });
        if score < self.config.ban_score {
            return;
        }
        if addr.ip().is_loopback() {
            self.event(Event::NotBannedLoopback(addr));
        } else {
            let until = self.now.saturating_add(self.config.ban_time);
            self.addrs.book.ban(addr.ip(), until, self.now);
            self.addrs.ban_set();
            self.save_peers();
            self.event(Event::Banned {
                ip: addr.ip(),
                until,
            });
        }
        self.disconnect(peer, DisconnectReason::Misbehaving(score));
    }

    /// Our `version`: our height and genesis as the chain says. `None`
    /// after reporting a failed read: no `version` goes out claiming "no
    /// chain" or height 0 on a guess (the peer is then dropped at the
    /// handshake timeout).
    pub(super) fn version_message(&mut self) -> Option<Message> {
        let tip = self.read_tip()?;
        let genesis = self.store.genesis();
        let genesis = self.read(genesis)?;
        Some(Message::Version(Version {
            version: PROTOCOL_VERSION,
            best_height: tip.map_or(0, |t| t.height),
            addr_from: self.config.me.to_string(),
            genesis,
            nonce: self.secrets.version,
        }))
    }

    pub(super) fn on_version(&mut self, peer: PeerId, v: Version) {
        if v.nonce == self.secrets.version {
            return self.disconnect(peer, DisconnectReason::SelfConnection);
        }
        let Some(stored) = self.read(self.store.genesis()) else {
            return; // cannot check its network: not taken as ready
        };
        // Our tip, for what follows the network check: on a failed read
        // (reported) one connection per pair is not enforced and no
        // blocks are asked for on a guess.
        let tip = self.read_tip();
        let has_chain = tip.is_some_and(|t| t.is_some());
        let ours = stored.or(self.config.genesis);
        if let (Some(ours), Some(theirs)) = (ours, v.genesis)
            && ours != theirs
        {
            return self.refuse_network(peer, ours, theirs);
        }
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.version.is_some() {
            return self.misbehaving(peer, Misbehavior::SecondVersion);
        }
        if v.genesis.is_some() && has_chain && !self.keep_one_connection(peer, v.nonce) {
            return;
        }
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let listen = v.addr_from.parse::<SocketAddr>().ok();
        p.version = Some(listen);
        p.nonce = v.nonce;
        let (addr, inbound) = (p.addr, p.inbound);
        self.sync.set_version(peer, v.version);
        self.sync.claim(peer, v.best_height);
        if !inbound {
            self.addrs.book.handshaked(addr, self.now);
        }
        let left_out = self.addrs.book.learn(listen, Some(addr.ip()));
        self.log_ignored(addr, left_out);
        self.event(Event::PeerReady {
            peer,
            addr,
            height: v.best_height,
            inbound,
        });
        if inbound && let Some(v) = self.version_message() {
            self.send(peer, v);
        }
        self.send_addr(peer);
        self.announce_mempool(peer, v.best_height);
        let height = tip.map(|t| t.map(|t| t.height));
        let behind = match height {
            None => false,
            Some(None) => v
                .genesis
                .is_some_and(|g| self.may_give_genesis(peer, Some(g))),
            Some(Some(h)) => v.best_height > h,
        };
        if behind || self.headers_first(peer) {
            // Its claim is only a hint: the sync starts (`Event::Syncing`)
            // once it answers with blocks, or headers (a headers-first
            // peer is asked whatever it claims: its headers decide).
            self.send_getblocks(peer);
        } else if height
            .flatten()
            .is_some_and(|h| h > 0 && h == v.best_height)
        {
            // Same height: the peer may be on another branch of equal work,
            // which wins here if its tip hash is lower (`chain::beats`).
            // Without this, a healed partition would stay split until the
            // next block.
            self.send_getblocks(peer);
        }
    }

    /// Two nodes that dialled each other keep one connection, not one each
    /// way: when `peer` (handshaking with `nonce`) and a ready peer of the
    /// other direction share the remote IP and the `version` nonce, the
    /// connection dialled by the node with the lower nonce stays, the
    /// other is dropped ([`DisconnectReason::Duplicate`]). Both nodes
    /// apply the same rule to the same two nonces, so they drop the same
    /// connection. Requiring the same IP keeps a peer that copies another
    /// node's nonce from closing our connection to that node. Applied
    /// only when both ends have a chain (ours, and a genesis in its
    /// `version`): a node with none must keep the connection it dialled to
    /// its seed, the only peer it takes a genesis block from. Returns
    /// false when `peer` itself was dropped.
    pub(super) fn keep_one_connection(&mut self, peer: PeerId, nonce: u64) -> bool {
        let Some(new) = self.peers.get(&peer) else {
            return false;
        };
        let (ip, inbound) = (new.addr.ip(), new.inbound);
        let other = self
            .peers
            .iter()
            .find(|(id, p)| {
                **id != peer
                    && p.is_ready()
                    && p.nonce == nonce
                    && p.inbound != inbound
                    && p.addr.ip() == ip
            })
            .map(|(id, _)| *id);
        let Some(other) = other else {
            return true;
        };
        // The connection we dialled is the outbound one.
        let keep_ours = self.secrets.version < nonce;
        let drop = if keep_ours == inbound { peer } else { other };
        if let Some(p) = self.peers.get_mut(&drop) {
            // A handshake, not a failed dial: the address book must not
            // count it against the address.
            p.version.get_or_insert(None);
        }
        self.disconnect(drop, DisconnectReason::Duplicate);
        drop != peer
    }

    /// A peer on another network: an outbound one is dropped at once (it
    /// has our `version`); an inbound one first gets our `version`, so it
    /// can say why too, and is dropped at the next tick, its messages
    /// ignored meanwhile.
    fn refuse_network(&mut self, peer: PeerId, ours: BlockHash, theirs: BlockHash) {
        let reason = DisconnectReason::DifferentNetwork { ours, theirs };
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if !p.inbound {
            return self.disconnect(peer, reason);
        }
        p.closing = Some(reason);
        let addr = p.addr;
        if let Some(v) = self.version_message() {
            self.send(peer, v);
        }
        self.event(Event::OtherNetwork { addr, ours, theirs });
    }

    /// A `pong` counts only when it carries the nonce of our outstanding
    /// `ping` (as in Bitcoin Core): it then clears that ping, measures the
    /// round trip and counts as a message received for the idle timeout.
    /// Any other `pong` is ignored, so a peer that never reads our `ping`s
    /// cannot keep itself alive with made-up ones.
    pub(super) fn on_pong(&mut self, peer: PeerId, nonce: u64) {
        if let Some(p) = self.peers.get_mut(&peer)
            && let Some((n, sent)) = p.ping_pending
            && n == nonce
        {
            p.last_recv = self.now;
            let rtt = self.now.saturating_sub(sent);
            p.ping_rtt = Some(rtt);
            p.min_ping = Some(p.min_ping.map_or(rtt, |m| m.min(rtt)));
            p.ping_pending = None;
        }
    }

    /// Credits the sender of a block that joined the best chain or of a
    /// transaction the mempool took: such peers are kept by eviction.
    pub(super) fn note_useful(&mut self, event: &ChainEvent) {
        let from = match event {
            ChainEvent::BlockConnected { from, .. } | ChainEvent::TxAccepted { from, .. } => *from,
            _ => None,
        };
        let now = self.now;
        if let Some(p) = from.and_then(|id| self.peers.get_mut(&id)) {
            match event {
                ChainEvent::BlockConnected { .. } => p.last_block = now,
                _ => p.last_tx = now,
            }
        }
    }

    /// Inbound slots are full and `addr` knocks: evicts the inbound peer
    /// [`eviction::select_victim`] picks, unless `addr` is banned.
    pub(super) fn on_inbound_full(&mut self, addr: SocketAddr) {
        if self.addrs.book.is_banned(&addr.ip(), self.now) {
            return;
        }
        let candidates: Vec<Candidate> = self
            .peers
            .iter()
            .filter(|(_, p)| p.inbound)
            .map(|(id, p)| Candidate {
                peer: *id,
                netgroup: eviction::netgroup(&p.addr),
                connected_at: p.connected_at,
                handshaked: p.is_ready(),
                min_ping: p.min_ping,
                last_block: p.last_block,
                last_tx: p.last_tx,
            })
            .collect();
        if let Some(victim) = eviction::select_victim(&candidates, self.secrets.eviction) {
            self.disconnect(victim, DisconnectReason::Evicted);
        }
    }

    /// Asks for the address book to be saved when it is due
    /// ([`super::addrs::AddrMgr::save_due`]).
    fn save_peers(&mut self) {
        if let Some(records) = self.addrs.save_due(self.now) {
            self.out.push(Output::SavePeers(records));
        }
    }

    pub(super) fn on_tick(&mut self) {
        self.check_timeouts();
        self.addrs.book.prune_bans(self.now);
        self.save_peers();
        self.dial();
        self.expire_requests();
        self.txs.expire(self.now);
        self.resume_sync();
        self.maybe_mint();
    }

    /// Idle, handshake and ping timeouts, and pings at a third of the idle
    /// timeout: a `ping` is sent when a third of the idle timeout has
    /// passed since the last one and none is outstanding, and a `ping`
    /// not answered (by a `pong` with its nonce) within the idle timeout
    /// drops the peer ([`DisconnectReason::PingTimeout`]; Bitcoin Core's
    /// `TIMEOUT_INTERVAL`, 20 minutes there, is the idle timeout here, 60 s
    /// by default, so a peer that answers nothing is gone within 80 s).
    fn check_timeouts(&mut self) {
        let now = self.now;
        let (idle, handshake) = (self.config.idle_timeout, self.config.handshake_timeout);
        let mut drop = Vec::new();
        let mut ping = Vec::new();
        for (id, p) in &self.peers {
            if let Some(reason) = &p.closing {
                drop.push((*id, reason.clone()));
                continue;
            }
            let (unflushed, last_flush) = self
                .sync
                .peer(*id)
                .map_or((0, now), |s| (s.unflushed, s.last_flush));
            let stalled = self.txs.stalled(*id, now, idle)
                || (unflushed > 0 && now.saturating_sub(last_flush) >= idle);
            let silent = now.saturating_sub(p.last_recv) >= idle;
            if stalled || (silent && unflushed > 0) {
                drop.push((*id, DisconnectReason::NotReading(idle / 1000)));
            } else if silent {
                drop.push((*id, DisconnectReason::Idle(idle / 1000)));
            } else if !p.is_ready() && now.saturating_sub(p.connected_at) >= handshake {
                drop.push((*id, DisconnectReason::HandshakeTimeout(handshake / 1000)));
            } else if p
                .ping_pending
                .is_some_and(|(_, sent)| now.saturating_sub(sent) >= idle)
            {
                drop.push((*id, DisconnectReason::PingTimeout(idle / 1000)));
            } else if p.is_ready()
                && p.ping_pending.is_none()
                && now.saturating_sub(p.last_ping) >= idle / 3
            {
                ping.push(*id);
            }
        }
        for (id, reason) in drop {
            self.disconnect(id, reason);
        }
        for id in ping {
            let nonce = self.ping_nonce();
            if let Some(p) = self.peers.get_mut(&id) {
                p.last_ping = now;
                p.ping_pending = Some((nonce, now));
            }
            self.send(id, Message::Ping(nonce));
        }
    }
}
