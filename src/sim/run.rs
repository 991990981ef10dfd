//! Carrying out scheduled events and the protocol's outputs inside the
//! simulation, and the controls tests use (payments, partitions, stops).

use std::net::SocketAddr;

use crate::chain::ChainEvent;
use crate::core::block::Block;
use crate::core::hash::Txid;
use crate::core::tx::Transaction;
use crate::protocol::{Input, LocalRequest, Output, ReplyId};

use super::{Event, Sim, node};

/// Seconds since the Unix epoch at sim time `ms`.
fn secs(ms: u64) -> u64 {
    ms / 1000
}

impl Sim {
    pub(super) fn handle(&mut self, event: Event) {
        match event {
            Event::Input(i, input) => self.feed(i, input),
            Event::Tick(i) => {
                if self.nodes[i].up {
                    self.feed(i, Input::Tick);
                    let next = self.now + self.config.tick;
                    self.schedule(next, Event::Tick(i));
                }
            }
            Event::Dial(i, addr) => self.dial(i, addr),
            Event::Mined(i, block) => self.mined(i, block),
        }
    }

    /// Hands `input` to node `i`'s protocol and carries out its outputs.
    pub(super) fn feed(&mut self, i: usize, input: Input) {
        if !self.nodes[i].up {
            return;
        }
        self.log(&format!("{i} {}", summary(&input)));
        let outputs = self.nodes[i].protocol.step(input, self.now);
        for out in outputs {
            self.execute(i, out);
        }
    }

    fn execute(&mut self, i: usize, out: Output) {
        match out {
            Output::Send { peer, message } => self.send(i, peer, message),
            Output::Connect(addr) => {
                let lat = node::index_of(&addr).map_or(1_000, |j| self.net.latency(i, j));
                self.schedule(self.now + 2 * lat, Event::Dial(i, addr));
            }
            Output::Disconnect { peer, reason } => {
                self.log(&format!("{i} disconnect {peer} {reason}"));
                self.stats.disconnects.push((i, peer, reason));
                if let Some((j, pj)) = self.net.close((i, peer)) {
                    let at = self.now + self.net.latency(i, j);
                    self.schedule(at, Event::Input(j, Input::Disconnected { peer: pj }));
                }
            }
            Output::ProcessBlock { block, from } => {
                let events = self.nodes[i]
                    .chain
                    .process_block(block, from, secs(self.now));
                self.chain_events(i, events);
            }
            Output::AcceptTx { tx, from } => {
                self.stats.tx_checks += 1;
                let events = self.nodes[i].chain.accept_tx(tx, from, secs(self.now));
                self.chain_events(i, events);
            }
            Output::Mint {
                minter,
                time,
                threshold,
            } => self.mint(i, minter, time, threshold),
            Output::Reply(id, reply) => {
                self.nodes[i].replies.insert(id, reply);
            }
            Output::Event(e) => self.log(&format!("{i} event {e:?}")),
        }
    }

    fn send(&mut self, i: usize, peer: u64, message: crate::wire::message::Message) {
        self.stats.messages += 1;
        let frame = message.to_frame();
        self.stats.bytes += (frame.payload.len() + crate::wire::frame::HEADER_LEN) as u64;
        if let crate::wire::message::Message::GetData(g) = &message
            && g.kind == crate::wire::payload::InvKind::Block
        {
            self.stats.block_getdata += g.items.len() as u64;
        }
        let Some((j, pj)) = self.net.other((i, peer)) else {
            if self.nodes[i].attached.contains(&peer) {
                self.stats.to_attached.push((i, peer, message));
            }
            return;
        };
        if let crate::wire::message::Message::Block(b) = &message {
            let bytes = b.block.encoded_size();
            self.schedule(self.now, Event::Input(i, Input::Flushed { peer, bytes }));
        }
        if let crate::wire::message::Message::Tx(t) = &message {
            let bytes = crate::core::encode::encoded_len(&t.transaction);
            self.schedule(self.now, Event::Input(i, Input::TxFlushed { peer, bytes }));
        }
        if self.net.blocked(i, j) || self.net.lose() {
            self.stats.dropped += 1;
            return;
        }
        let at = self.net.arrival((i, peer), j, self.now);
        let input = Input::Received { peer: pj, message };
        self.schedule(at, Event::Input(j, input));
    }

    fn chain_events(&mut self, i: usize, events: Vec<ChainEvent>) {
        for e in &events {
            match e {
                ChainEvent::BlockConnected { hash, .. } => {
                    let now = self.now;
                    let entry = self.stats.block_times.entry(*hash).or_insert((now, vec![]));
                    entry.1.push(now);
                }
                ChainEvent::Reorg { .. } => self.stats.reorgs += 1,
                _ => {}
            }
        }
        self.schedule(self.now, Event::Input(i, Input::Chain(events)));
    }

    fn dial(&mut self, i: usize, addr: SocketAddr) {
        let target = node::index_of(&addr).filter(|j| self.nodes[*j].up && *j != i);
        let Some(j) = target.filter(|j| !self.net.blocked(i, *j)) else {
            return self.feed(i, Input::DialFailed { addr });
        };
        let pi = self.nodes[i].next_peer;
        self.nodes[i].next_peer += 1;
        let pj = self.nodes[j].next_peer;
        self.nodes[j].next_peer += 1;
        self.net.connect((i, pi), (j, pj));
        // The inbound side sees an ephemeral port on the dialler's IP.
        let remote = SocketAddr::new(self.nodes[i].addr.ip(), 40_000 + (pi % 20_000) as u16);
        self.feed(
            j,
            Input::Connected {
                peer: pj,
                addr: remote,
                inbound: true,
            },
        );
        self.feed(
            i,
            Input::Connected {
                peer: pi,
                addr,
                inbound: false,
            },
        );
    }

    fn mint(&mut self, i: usize, minter: [u8; 20], time: u32, threshold: usize) {
        match self.nodes[i].chain.template(minter, time, threshold) {
            Ok(Some(mut block)) => {
                crate::chain::miner::solve(&mut block, 1, &Default::default());
                let delay = self.rng.exp(self.config.mint_time).max(1);
                self.schedule(self.now + delay, Event::Mined(i, block));
            }
            _ => self.schedule(self.now, Event::Input(i, Input::MintDone)),
        }
    }

    /// A block found by node `i`'s minter: processed if the tip has not
    /// moved meanwhile (else abandoned, as the real miner does).
    fn mined(&mut self, i: usize, block: Block) {
        let tip = self.nodes[i].protocol.tip().map(|t| t.hash);
        if self.nodes[i].up && tip == Some(block.header.prev_block_hash) {
            self.stats.minted += 1;
            self.log(&format!("{i} minted {}", block.hash()));
            let events = self.nodes[i]
                .chain
                .process_block(block, None, secs(self.now));
            self.chain_events(i, events);
        }
        self.schedule(self.now, Event::Input(i, Input::MintDone));
    }

    /// Submits `tx` to node `i` as the control socket would; the reply
    /// lands in `nodes[i].replies` under the returned id.
    pub fn submit(&mut self, i: usize, tx: Transaction) -> ReplyId {
        let id = self.nodes[i].next_reply;
        self.nodes[i].next_reply += 1;
        self.feed(i, Input::Local(id, LocalRequest::SubmitTx(tx)));
        id
    }

    /// Pays `amount` coins from the sim wallet to `to`, built from node
    /// `i`'s view of the chain and submitted there; `None` when the wallet
    /// cannot pay.
    pub fn pay(&mut self, i: usize, to: [u8; 20], amount: u64) -> Option<Txid> {
        self.pay_with_fee(i, to, amount, 0)
    }

    /// [`Sim::pay`] leaving `fee` whole coins to the minter.
    pub fn pay_with_fee(&mut self, i: usize, to: [u8; 20], amount: u64, fee: u64) -> Option<Txid> {
        let tx = self
            .wallet
            .pay_with_fee(&self.nodes[i].chain, to, amount, fee)?;
        let txid = tx.txid();
        self.submit(i, tx);
        Some(txid)
    }

    /// Stops node `i`: its connections close (peers see it after the
    /// link's latency) and it ignores everything until started again.
    pub fn stop(&mut self, i: usize) {
        for end in self.net.ends_of(i) {
            if let Some((j, pj)) = self.net.close(end) {
                let at = self.now + self.net.latency(i, j);
                self.schedule(at, Event::Input(j, Input::Disconnected { peer: pj }));
            }
            self.feed(i, Input::Disconnected { peer: end.1 });
        }
        self.nodes[i].up = false;
    }

    /// Splits the network: `groups[i]` is node i's side; messages between
    /// sides are lost and dials fail until [`Sim::heal`].
    pub fn partition(&mut self, groups: Vec<u32>) {
        self.log(&format!("partition {groups:?}"));
        self.net.partition(groups);
    }

    /// Cuts the link between nodes `a` and `b` for the rest of the run:
    /// dials between them fail and messages are lost.
    pub fn cut(&mut self, a: usize, b: usize) {
        self.log(&format!("cut {a} {b}"));
        self.net.cut(a, b);
    }

    /// Ends the partition.
    pub fn heal(&mut self) {
        self.log("heal");
        self.net.heal();
    }

    /// Opens a raw connection from a test's fake peer into node `i`:
    /// returns (the node's peer id for it, the fake peer's address). What
    /// the node sends it goes to [`super::Stats::to_attached`]; feed its
    /// messages with [`Sim::inject`].
    pub fn attach(&mut self, i: usize, from: SocketAddr) -> u64 {
        let p = self.nodes[i].next_peer;
        self.nodes[i].next_peer += 1;
        self.nodes[i].attached.push(p);
        self.feed(
            i,
            Input::Connected {
                peer: p,
                addr: from,
                inbound: true,
            },
        );
        p
    }

    /// Delivers `input` to node `i` now.
    pub fn inject(&mut self, i: usize, input: Input) {
        self.feed(i, input);
    }
}

/// A short, stable description of an input for the event log.
fn summary(input: &Input) -> String {
    match input {
        Input::Received { peer, message } => format!("recv {peer} {}", describe(message)),
        Input::Chain(events) => {
            let parts: Vec<String> = events.iter().map(chain_summary).collect();
            format!("chain [{}]", parts.join(", "))
        }
        Input::Local(id, _) => format!("local {id}"),
        other => format!("{other:?}"),
    }
}

fn describe(m: &crate::wire::message::Message) -> String {
    use crate::wire::message::Message;
    match m {
        Message::Block(b) => format!("block {}", b.block.hash()),
        Message::Tx(t) => format!("tx {}", t.transaction.txid()),
        Message::Inv(i) => format!("inv {:?} {}", i.kind, i.items.len()),
        Message::GetData(g) => format!("getdata {:?} {}", g.kind, g.items.len()),
        other => other.command().to_string(),
    }
}

fn chain_summary(e: &ChainEvent) -> String {
    match e {
        ChainEvent::TxAccepted { tx, from, .. } => format!("TxAccepted {} {from:?}", tx.txid()),
        ChainEvent::TxRejected { txid, from, error } => {
            format!("TxRejected {txid} {from:?} {error}")
        }
        other => format!("{other:?}"),
    }
}
