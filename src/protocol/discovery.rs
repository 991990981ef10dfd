//! Address gossip and dialling: our `addr` (once per connection), theirs
//! (rate limited per peer by the address manager, [`super::addrs`],
//! credited to the sender's netgroup in the address book), and the choice
//! of addresses to dial.

use std::net::SocketAddr;

use super::types::{Event, Output};
use super::{PeerId, Protocol};
use crate::wire::message::Message;
use crate::wire::payload::{Addr, MAX_ADDRS};

pub use super::addrs::{ADDR_BURST, ADDR_TOKEN_MS};

impl Protocol {
    /// Our known addresses and our own, once per connection.
    pub(super) fn send_addr(&mut self, peer: PeerId) {
        if !self.addrs.first_send(peer) {
            return;
        }
        let mut addrs: Vec<String> = self
            .addrs
            .book
            .shareable()
            .iter()
            .map(ToString::to_string)
            .collect();
        addrs.truncate(MAX_ADDRS - 1);
        addrs.push(self.config.me.to_string());
        self.send(peer, Message::Addr(Addr { addrs }));
    }

    /// Takes as many of `addrs` as `peer` has tokens for; the rest, and
    /// what the book refuses from this source, are reported as ignored.
    pub(super) fn on_addr(&mut self, peer: PeerId, addrs: Vec<String>) {
        let Some(from) = self.peers.get(&peer).map(|p| p.addr) else {
            return;
        };
        let allowed = self.addrs.admit(peer, addrs.len(), self.now);
        let limited = addrs.len() - allowed;
        let me = self.config.me;
        let parsed = addrs
            .iter()
            .take(allowed)
            .filter_map(|a| a.parse::<SocketAddr>().ok())
            .filter(|a| *a != me);
        let left_out = self.addrs.book.learn(parsed, Some(from.ip()));
        self.log_ignored(from, left_out + limited);
    }

    pub(super) fn log_ignored(&mut self, addr: SocketAddr, count: usize) {
        if count > 0 {
            self.event(Event::AddrIgnored { addr, count });
        }
    }

    /// Dials seeds we have no outbound connection to first, then known
    /// addresses, up to the outbound limit, each slot drawn from the tried
    /// table or the new table at even odds (whichever has candidates),
    /// skipping addresses we are connected or dialling to, banned or
    /// backing off. Connected means dialled by us, or the listen address
    /// an inbound peer gave in `version` when it is at the IP the peer
    /// connected from (it dialled us: dialling it back would only make a
    /// second connection, dropped as a duplicate, see
    /// `Protocol::keep_one_connection`); a claim of another IP's address
    /// proves nothing and is not heeded. With no chain yet, a seed is dialled
    /// even when it dialled us: only an outbound connection to a seed may
    /// give us a genesis block.
    pub(super) fn dial(&mut self) {
        let outbound = self.peers.values().filter(|p| !p.inbound).count();
        let mut budget = self.config.max_outbound.saturating_sub(outbound);
        let connected: Vec<SocketAddr> = self
            .peers
            .values()
            .filter_map(|p| match (p.inbound, p.version) {
                (false, _) => Some(p.addr),
                (true, Some(Some(listen))) if listen.ip() == p.addr.ip() => Some(listen),
                _ => None,
            })
            .collect();
        let me = self.config.me;
        let usable = |a: &SocketAddr| *a != me && !connected.contains(a);
        let Some(tip) = self.read_tip() else {
            return; // reported; seeds are not dialled as for "no chain"
        };
        let no_chain = tip.is_none();
        let dialled: Vec<SocketAddr> = self
            .peers
            .values()
            .filter(|p| !p.inbound)
            .map(|p| p.addr)
            .collect();
        let seeds: Vec<SocketAddr> = self.config.seeds.clone();
        let seed_usable = |a: &SocketAddr| match no_chain {
            true => *a != me && !dialled.contains(a),
            false => usable(a),
        };
        for s in seeds.into_iter().filter(seed_usable) {
            if budget > 0 && self.addrs.book.due(&s, self.now) {
                budget -= 1;
                self.addrs.book.dialing(s);
                self.out.push(Output::Connect(s));
            }
        }
        let (mut tried, mut new): (Vec<SocketAddr>, Vec<SocketAddr>) = self
            .addrs
            .book
            .due_addresses(self.now)
            .into_iter()
            .filter(usable)
            .partition(|a| self.addrs.book.is_tried(a));
        while budget > 0 && !(tried.is_empty() && new.is_empty()) {
            let pick_tried =
                new.is_empty() || (!tried.is_empty() && self.random().is_multiple_of(2));
            let from = if pick_tried { &mut tried } else { &mut new };
            let i = (self.random() % from.len() as u64) as usize;
            let a = from.swap_remove(i);
            budget -= 1;
            self.addrs.book.dialing(a);
            self.out.push(Output::Connect(a));
        }
    }
}
