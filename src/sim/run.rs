//! Carrying out scheduled events and the protocol's outputs inside the
//! simulation (chain work through each node's queue and [`exec::run`], as
//! the node's worker does), and the controls tests use (payments,
//! partitions, stops).

use std::net::SocketAddr;

use crate::chain::ChainEvent;
use crate::core::block::Block;
use crate::core::hash::Txid;
use crate::core::tx::Transaction;
use crate::exec;
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
            Event::Work(i) => self.work(i),
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
            out @ (Output::ProcessBlock { .. }
            | Output::AcceptTx { .. }
            | Output::Mint { .. }
            | Output::SavePeers(_)) => {
                if let Ok(job) = exec::Job::from_output(out) {
                    self.queue_job(i, job);
                }
            }
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

    /// Queues `job` for node `i`'s chain worker, which takes it up after
    /// [`super::SimConfig::work`] if it is idle.
    fn queue_job(&mut self, i: usize, job: exec::Job) {
        if matches!(job, exec::Job::Tx(..)) {
            self.stats.tx_checks += 1;
        }
        self.nodes[i].jobs.push(job);
        if !self.nodes[i].working {
            self.nodes[i].working = true;
            let at = self.now + self.work_time();
            self.schedule(at, Event::Work(i));
        }
    }

    /// How long the next run of a chain worker takes (ms, seeded).
    fn work_time(&mut self) -> u64 {
        match self.config.work {
            0 => 0,
            w => 1 + self.rng.below(2 * w),
        }
    }

    /// Node `i`'s chain worker finishes a run and takes up the next, if
    /// any.
    fn work(&mut self, i: usize) {
        if self.run_job(i) && !self.nodes[i].jobs.is_empty() {
            let at = self.now + self.work_time();
            self.schedule(at, Event::Work(i));
        } else {
            self.nodes[i].working = false;
        }
    }

    /// Runs node `i`'s queued chain work now, as a wallet query on the
    /// node waits for the jobs queued before it.
    pub fn settle(&mut self, i: usize) {
        while self.run_job(i) {}
    }

    /// Runs every node's queued chain work now ([`Sim::settle`]) and
    /// what is due now, with no sim time passing: a test's way to see
    /// the verdict on what it injected at once.
    pub fn settle_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.settle(i);
        }
        self.run_for(0);
    }

    /// Node `i`'s chain worker carries out its next run, as the node's
    /// worker thread does ([`exec::run`]): what the chain did goes to the
    /// protocol now, a template to the minter. False when nothing waited.
    fn run_job(&mut self, i: usize) -> bool {
        let node = &mut self.nodes[i];
        let Some(first) = node.jobs.take_next() else {
            return false;
        };
        let jobs = &mut node.jobs;
        let done = exec::run(
            &mut node.chain,
            first,
            &mut || jobs.next_in_lane(),
            secs(self.now),
        );
        if let Some(next) = done.next {
            self.nodes[i].jobs.put_back(next);
        }
        if let exec::Work::Blocks(n) = done.work {
            self.stats.block_runs += 1;
            self.stats.largest_run = self.stats.largest_run.max(n);
        }
        if let Some(w) = &done.warning {
            self.log(&format!("{i} worker {w}"));
        }
        if let Some(mut block) = done.solve {
            crate::chain::miner::solve(&mut block, 1, &Default::default());
            let delay = self.rng.exp(self.config.mint_time).max(1);
            self.schedule(self.now + delay, Event::Mined(i, block));
        }
        for input in done.inputs {
            match input {
                Input::Chain(events) => self.chain_events(i, events),
                other => self.schedule(self.now, Event::Input(i, other)),
            }
        }
        true
    }

    /// A block found by node `i`'s minter: handed to its chain worker if
    /// the tip has not moved meanwhile, else abandoned, as the node's
    /// miner is when a new tip arrives first.
    fn mined(&mut self, i: usize, block: Block) {
        let tip = self.nodes[i].chain.store().tip_opt().ok().flatten();
        let current = tip.is_some_and(|t| t.hash == block.header.prev_block_hash);
        let block = (self.nodes[i].up && current).then(|| {
            self.stats.minted += 1;
            self.log(&format!("{i} minted {}", block.hash()));
            block
        });
        self.queue_job(i, exec::Job::Minted(block));
    }

    /// Submits `tx` to node `i` as the control socket would and waits
    /// for the node's worker to check it ([`Sim::settle`]); the reply
    /// lands in `nodes[i].replies` under the returned id once the protocol
    /// has the verdict.
    pub fn submit(&mut self, i: usize, tx: Transaction) -> ReplyId {
        let id = self.nodes[i].next_reply;
        self.nodes[i].next_reply += 1;
        self.feed(i, Input::Local(id, LocalRequest::SubmitTx(tx)));
        // `node send` waits for the verdict: the node's worker has checked
        // the transaction (and what was queued before it) when it returns.
        self.settle(i);
        id
    }

    /// Pays `amount` coins from the sim wallet to `to`, built from node
    /// `i`'s view of the chain (once the chain work queued there has run,
    /// as a wallet's query to the node would wait for it) and submitted
    /// there; `None` when the wallet cannot pay.
    pub fn pay(&mut self, i: usize, to: [u8; 20], amount: u64) -> Option<Txid> {
        self.pay_with_fee(i, to, amount, 0)
    }

    /// [`Sim::pay`] leaving `fee` whole coins to the minter.
    pub fn pay_with_fee(&mut self, i: usize, to: [u8; 20], amount: u64, fee: u64) -> Option<Txid> {
        self.settle(i);
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
