//! Peers: connection and handshake, misbehaviour scores and bans, pings,
//! the idle and handshake timeouts, and dialling.

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::types::{DisconnectReason, Event, Millis, Output};
use super::{PeerId, Protocol};
use crate::core::hash::{BlockHash, Hash256};
use crate::wire::message::Message;
use crate::wire::payload::{Addr, MAX_ADDRS, PROTOCOL_VERSION, Version};

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
    /// Its best height: from `version`, raised by the blocks it sends.
    pub best_height: u64,
    /// Misbehaviour points.
    pub score: u32,
    /// Blocks asked of it that are not processed yet.
    pub blocks_pending: usize,
    /// When we sent a `getblocks` whose answer is awaited.
    pub getblocks_pending: Option<Millis>,
    /// Block hashes it asked for and we have not sent yet.
    pub serve_queue: VecDeque<Hash256>,
    /// Bytes of blocks sent and not yet reported flushed.
    pub unflushed: u64,
    /// When block answers last made progress (ms): a send with nothing
    /// unflushed, or a flush.
    pub last_flush: Millis,
    /// Whether our `addr` went out already (once per connection).
    pub addr_sent: bool,
    /// Its budget of transactions refused for missing inputs
    /// ([`super::txflood`]).
    pub missing_inputs: super::txflood::TxBucket,
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
            best_height: 0,
            score: 0,
            blocks_pending: 0,
            getblocks_pending: None,
            serve_queue: VecDeque::new(),
            unflushed: 0,
            last_flush: now,
            addr_sent: false,
            missing_inputs: super::txflood::TxBucket::new(now),
        }
    }

    /// True once its `version` arrived.
    pub fn is_ready(&self) -> bool {
        self.version.is_some()
    }
}

impl Protocol {
    pub(super) fn on_connected(&mut self, peer: PeerId, addr: SocketAddr, inbound: bool) {
        if inbound && self.book.is_banned(&addr.ip(), self.now) {
            return self.out.push(Output::Disconnect {
                peer,
                reason: DisconnectReason::Banned,
            });
        }
        if !inbound {
            self.book.connected(addr);
        }
        self.peers.insert(peer, Peer::new(addr, inbound, self.now));
        if !inbound {
            let v = self.version_message();
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
        self.blocks_in_flight.retain(|_, r| r.peer != peer);
        if !p.inbound {
            if p.is_ready() {
                self.book.closed(p.addr, self.now);
            } else {
                self.book.failed(p.addr, self.now);
            }
        }
    }

    /// Adds `points` to `peer`'s score; at the ban score it is dropped and,
    /// unless on loopback, its IP banned for [`super::Config::ban_time`].
    pub(super) fn misbehaving(&mut self, peer: PeerId, points: u32, reason: &str) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.score = p.score.saturating_add(points);
        let (addr, score) = (p.addr, p.score);
        self.event(Event::Misbehaved {
            addr,
            points,
            score,
            reason: reason.to_string(),
        });
        if score < self.config.ban_score {
            return;
        }
        if addr.ip().is_loopback() {
            self.event(Event::NotBannedLoopback(addr));
        } else {
            let until = self.now.saturating_add(self.config.ban_time);
            self.book.ban(addr.ip(), until);
            self.event(Event::Banned {
                ip: addr.ip(),
                until,
            });
        }
        self.disconnect(peer, DisconnectReason::Misbehaving(score));
    }

    pub(super) fn version_message(&self) -> Message {
        let tip = self.tip();
        Message::Version(Version {
            version: PROTOCOL_VERSION,
            best_height: tip.map_or(0, |t| t.height),
            addr_from: self.config.me.to_string(),
            genesis: self.store.genesis_hash().ok().flatten(),
            nonce: self.config.nonce,
        })
    }

    pub(super) fn on_version(&mut self, peer: PeerId, v: Version) {
        if v.nonce == self.config.nonce {
            return self.disconnect(peer, DisconnectReason::SelfConnection);
        }
        let stored = self.store.genesis_hash().ok().flatten();
        let ours = stored.or(self.config.genesis);
        if let (Some(ours), Some(theirs)) = (ours, v.genesis)
            && ours != theirs
        {
            return self.disconnect(peer, DisconnectReason::DifferentNetwork { ours, theirs });
        }
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.version.is_some() {
            return self.misbehaving(peer, 20, "second version");
        }
        let listen = v.addr_from.parse::<SocketAddr>().ok();
        p.version = Some(listen);
        p.best_height = v.best_height;
        let (addr, inbound) = (p.addr, p.inbound);
        if !inbound {
            self.book.handshaked(addr);
        }
        let left_out = self.book.learn(listen);
        self.log_ignored(addr, left_out);
        self.event(Event::PeerReady {
            peer,
            addr,
            height: v.best_height,
            inbound,
        });
        if inbound {
            let v = self.version_message();
            self.send(peer, v);
        }
        self.send_addr(peer);
        let behind = match self.height() {
            None => v
                .genesis
                .is_some_and(|g| self.may_give_genesis(peer, Some(g))),
            Some(h) => v.best_height > h,
        };
        if behind {
            let ours = self.height().unwrap_or(0);
            self.event(Event::Syncing {
                peer,
                ours,
                theirs: v.best_height,
            });
            self.send_getblocks(peer);
        }
    }

    /// Our known addresses and our own, once per connection.
    fn send_addr(&mut self, peer: PeerId) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if std::mem::replace(&mut p.addr_sent, true) {
            return;
        }
        let mut addrs: Vec<String> = self
            .book
            .addresses()
            .iter()
            .map(ToString::to_string)
            .collect();
        addrs.truncate(MAX_ADDRS - 1);
        addrs.push(self.config.me.to_string());
        self.send(peer, Message::Addr(Addr { addrs }));
    }

    pub(super) fn on_addr(&mut self, peer: PeerId, addrs: Vec<String>) {
        let me = self.config.me;
        let parsed = addrs
            .iter()
            .filter_map(|a| a.parse::<SocketAddr>().ok())
            .filter(|a| *a != me);
        let left_out = self.book.learn(parsed);
        if let Some(addr) = self.peers.get(&peer).map(|p| p.addr) {
            self.log_ignored(addr, left_out);
        }
    }

    fn log_ignored(&mut self, addr: SocketAddr, count: usize) {
        if count > 0 {
            self.event(Event::AddrIgnored { addr, count });
        }
    }

    pub(super) fn on_pong(&mut self, peer: PeerId, nonce: u64) {
        if let Some(p) = self.peers.get_mut(&peer)
            && let Some((n, sent)) = p.ping_pending
            && n == nonce
        {
            p.ping_rtt = Some(self.now.saturating_sub(sent));
            p.ping_pending = None;
        }
    }

    pub(super) fn on_tick(&mut self) {
        self.check_timeouts();
        self.dial();
        self.expire_requests();
        self.maybe_mint();
    }

    /// Idle and handshake timeouts, and pings at a third of the idle
    /// timeout.
    fn check_timeouts(&mut self) {
        let now = self.now;
        let (idle, handshake) = (self.config.idle_timeout, self.config.handshake_timeout);
        let mut drop = Vec::new();
        let mut ping = Vec::new();
        for (id, p) in &self.peers {
            let stalled = p.unflushed > 0 && now.saturating_sub(p.last_flush) >= idle;
            let silent = now.saturating_sub(p.last_recv) >= idle;
            if stalled || (silent && p.unflushed > 0) {
                drop.push((*id, DisconnectReason::NotReading(idle / 1000)));
            } else if silent {
                drop.push((*id, DisconnectReason::Idle(idle / 1000)));
            } else if !p.is_ready() && now.saturating_sub(p.connected_at) >= handshake {
                drop.push((*id, DisconnectReason::HandshakeTimeout(handshake / 1000)));
            } else if p.is_ready() && now.saturating_sub(p.last_ping) >= idle / 3 {
                ping.push(*id);
            }
        }
        for (id, reason) in drop {
            self.disconnect(id, reason);
        }
        for id in ping {
            let nonce = self.random();
            if let Some(p) = self.peers.get_mut(&id) {
                p.last_ping = now;
                p.ping_pending = Some((nonce, now));
            }
            self.send(id, Message::Ping(nonce));
        }
    }

    /// Dials seeds first, then random known addresses, up to the outbound
    /// limit, skipping addresses connected, being dialled, banned or
    /// backing off.
    fn dial(&mut self) {
        let outbound = self.peers.values().filter(|p| !p.inbound).count();
        let mut budget = self.config.max_outbound.saturating_sub(outbound);
        let connected: Vec<SocketAddr> = self
            .peers
            .values()
            .flat_map(|p| [Some(p.addr), p.version.flatten()])
            .flatten()
            .collect();
        let me = self.config.me;
        let usable = |a: &SocketAddr| *a != me && !connected.contains(a);
        // A seed counts as connected only through a connection we dialled:
        // an inbound peer's claimed listen address proves nothing, and only
        // a dialled seed may give us our genesis.
        let dialled: Vec<SocketAddr> = (self.peers.values())
            .filter(|p| !p.inbound)
            .map(|p| p.addr)
            .collect();
        let seeds: Vec<SocketAddr> = self.config.seeds.clone();
        for s in seeds
            .into_iter()
            .filter(|a| *a != me && !dialled.contains(a))
        {
            if budget > 0 && self.book.due(&s, self.now) {
                budget -= 1;
                self.book.dialing(s);
                self.out.push(Output::Connect(s));
            }
        }
        let mut candidates: Vec<SocketAddr> = self
            .book
            .due_addresses(self.now)
            .into_iter()
            .filter(usable)
            .collect();
        while budget > 0 && !candidates.is_empty() {
            let i = (self.random() % candidates.len() as u64) as usize;
            let a = candidates.swap_remove(i);
            budget -= 1;
            self.book.dialing(a);
            self.out.push(Output::Connect(a));
        }
    }

    /// Forgets block and transaction requests unanswered for a minute, so
    /// another peer's announcement can fetch them.
    fn expire_requests(&mut self) {
        const REQUEST_TIMEOUT: Millis = 60_000;
        let now = self.now;
        let mut expired: Vec<(BlockHash, PeerId)> = Vec::new();
        for (h, r) in &self.blocks_in_flight {
            if !r.received && now.saturating_sub(r.asked) >= REQUEST_TIMEOUT {
                expired.push((*h, r.peer));
            }
        }
        for (h, p) in expired {
            self.blocks_in_flight.remove(&h);
            if let Some(peer) = self.peers.get_mut(&p) {
                peer.blocks_pending = peer.blocks_pending.saturating_sub(1);
            }
        }
        self.txs_requested
            .retain(|_, at| now.saturating_sub(*at) < REQUEST_TIMEOUT);
        for p in self.peers.values_mut() {
            if p.getblocks_pending
                .is_some_and(|at| now.saturating_sub(at) >= REQUEST_TIMEOUT)
            {
                p.getblocks_pending = None;
            }
        }
    }
}
