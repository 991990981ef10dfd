//! The reactor: one task owns the [`Protocol`], feeds it inputs from peer
//! tasks, the chain worker, the control socket and a timer, and carries out
//! its outputs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tracing::{debug, warn};

use super::log;
use super::peer::{self, PeerHandle};
use super::queue::JobSender;
use super::worker::Job;
use crate::chain::PeerId;
use crate::protocol::{Input, LocalReply, Millis, Output, Protocol, ReplyId};

/// Inbound sockets still closing allowed on top of `--max-inbound`.
pub const CLOSING_SOCKETS: usize = 8;

/// How often the protocol gets a [`Input::Tick`].
pub const TICK: Duration = Duration::from_millis(500);

/// What the reactor reads besides peer inputs.
pub enum Control {
    /// A local request and where its answer goes.
    Local(crate::protocol::LocalRequest, oneshot::Sender<LocalReply>),
}

/// The reactor's state.
pub struct Reactor {
    protocol: Protocol,
    peers: HashMap<PeerId, PeerHandle>,
    next_peer: PeerId,
    next_reply: ReplyId,
    replies: HashMap<ReplyId, oneshot::Sender<LocalReply>>,
    inputs: mpsc::Sender<Input>,
    jobs: JobSender,
    inbound: Arc<Semaphore>,
    /// Inbound sockets open, those still closing included.
    sockets: Arc<Semaphore>,
    max_inbound: usize,
    dialed: mpsc::Sender<Dialed>,
    dialed_rx: Option<mpsc::Receiver<Dialed>>,
    progress: log::Progress,
    /// Bytes queued to every peer together (see [`peer::TOTAL_QUEUE_BYTES`]).
    queued_total: Arc<std::sync::atomic::AtomicU64>,
    /// Live events for subscribers (the HTTP API), if any.
    events: Option<tokio::sync::broadcast::Sender<super::NodeEvent>>,
    /// Bytes read and written by every connection together.
    traffic: Arc<peer::Traffic>,
    /// Bytes of payload read from peers and not yet handled (see
    /// [`peer::RECV_BUDGET_BYTES`]).
    recv_budget: Arc<Semaphore>,
}

type Dialed = (SocketAddr, Option<TcpStream>);

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Reactor {
    /// A reactor around `protocol`; chain work goes to `jobs`, and
    /// `inputs` is the sender of the channel [`Reactor::run`] reads.
    pub fn new(
        protocol: Protocol,
        inputs: mpsc::Sender<Input>,
        jobs: JobSender,
        max_inbound: usize,
    ) -> Reactor {
        let (dialed, dialed_rx) = mpsc::channel(64);
        Reactor {
            dialed,
            dialed_rx: Some(dialed_rx),
            progress: log::Progress::default(),
            protocol,
            peers: HashMap::new(),
            next_peer: 1,
            next_reply: 1,
            replies: HashMap::new(),
            inputs,
            jobs,
            inbound: Arc::new(Semaphore::new(max_inbound)),
            sockets: Arc::new(Semaphore::new(max_inbound + CLOSING_SOCKETS)),
            max_inbound,
            queued_total: Arc::default(),
            events: None,
            traffic: Arc::default(),
            recv_budget: Arc::new(Semaphore::new(peer::RECV_BUDGET_BYTES)),
        }
    }

    /// Also publishes [`super::NodeEvent`]s on `events`.
    pub fn with_events(
        mut self,
        events: tokio::sync::broadcast::Sender<super::NodeEvent>,
    ) -> Reactor {
        self.events = Some(events);
        self
    }

    /// Counts the bytes of every connection into `traffic` (the node's
    /// totals, shared with [`super::NodeHandle::traffic`]).
    pub fn with_traffic(mut self, traffic: Arc<peer::Traffic>) -> Reactor {
        self.traffic = traffic;
        self
    }

    fn publish(&self, event: super::NodeEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }

    /// Runs until `shutdown` turns true; returns the protocol (for its
    /// address book).
    pub async fn run(
        mut self,
        listener: TcpListener,
        mut rx: mpsc::Receiver<Input>,
        mut control: mpsc::Receiver<Control>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Protocol {
        let mut tick = tokio::time::interval(TICK);
        let Some(mut dialed) = self.dialed_rx.take() else {
            return self.protocol;
        };
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                Some(input) = rx.recv() => self.step(input),
                Some(Control::Local(req, reply)) = control.recv() => {
                    let id = self.next_reply;
                    self.next_reply += 1;
                    self.replies.insert(id, reply);
                    self.step(Input::Local(id, req));
                }
                r = listener.accept() => self.accept(r),
                Some((addr, stream)) = dialed.recv() => self.dial_done(addr, stream),
                _ = tick.tick() => self.step(Input::Tick),
            }
        }
        for p in self.peers.values() {
            p.close.cancel();
        }
        self.protocol
    }

    fn step(&mut self, input: Input) {
        if let Input::Disconnected { peer } = &input {
            // Its tasks ended: the inbound slot is free again.
            if let Some(p) = self.peers.remove(peer) {
                self.publish(super::NodeEvent::PeerDisconnected {
                    addr: p.addr.to_string(),
                    reason: "connection closed".into(),
                });
            }
        }
        if let Input::Chain(events) = &input {
            let mut after_reorg = false;
            for e in events {
                if let Some(ev) = super::NodeEvent::from_chain(e) {
                    self.publish(ev);
                }
                after_reorg |= matches!(e, crate::chain::ChainEvent::Reorg { .. });
                log::chain(e, after_reorg, |id| self.peers.get(&id).map(|p| p.addr));
                if let crate::chain::ChainEvent::TipChanged(t) = e {
                    self.progress.update(t.height);
                }
            }
        }
        let from = match &input {
            Input::Received { peer, .. } | Input::Malformed { peer, .. } => Some(*peer),
            _ => None,
        };
        for out in self.protocol.step(input, now_ms()) {
            self.execute(out);
        }
        // Its message is handled: the peer's reader may read the next one.
        if let Some(p) = from.and_then(|id| self.peers.get(&id)) {
            p.processed.notify_one();
        }
    }

    fn accept(&mut self, r: std::io::Result<(TcpStream, SocketAddr)>) {
        let (stream, addr) = match r {
            Ok(x) => x,
            Err(e) => return warn!("accept failed: {e}"),
        };
        // Sockets of peers being closed count too: at most
        // CLOSING_SOCKETS of them on top of the slots, so a flood that
        // evicts faster than sockets close cannot pile up descriptors.
        let Ok(socket) = self.sockets.clone().try_acquire_owned() else {
            return warn!("refused {addr}: too many inbound sockets still closing");
        };
        let permit = match self.inbound.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                // Full: the protocol may evict an inbound peer, whose slot
                // is released as its handle is dropped.
                self.step(Input::InboundFull { addr });
                match self.inbound.clone().try_acquire_owned() {
                    Ok(p) => p,
                    Err(_) => {
                        return warn!("refused {addr}: {} inbound peers already", self.max_inbound);
                    }
                }
            }
        };
        debug!("inbound connection from {addr}");
        let id = self.new_peer(stream, addr, (Some(permit), Some(socket)));
        self.step(Input::Connected {
            peer: id,
            addr,
            inbound: true,
        });
    }

    fn new_peer(
        &mut self,
        stream: TcpStream,
        addr: SocketAddr,
        permits: (
            Option<tokio::sync::OwnedSemaphorePermit>,
            Option<tokio::sync::OwnedSemaphorePermit>,
        ),
    ) -> PeerId {
        let id = self.next_peer;
        self.next_peer += 1;
        let wiring = peer::Wiring {
            inputs: self.inputs.clone(),
            total: self.queued_total.clone(),
            write_timeout: Duration::from_millis(self.protocol.config().idle_timeout.max(1000)),
            load: self.jobs.new_load(),
            traffic: self.traffic.clone(),
            recv_budget: self.recv_budget.clone(),
        };
        let handle = peer::spawn(id, stream, addr, wiring, permits);
        self.peers.insert(id, handle);
        id
    }

    fn execute(&mut self, out: Output) {
        match out {
            Output::Send { peer, message } => {
                let Some(p) = self.peers.get(&peer) else {
                    return;
                };
                if p.close.is_cancelled() {
                    return;
                }
                if let Err(full) = p.send(message) {
                    warn!("disconnected {}: not reading ({full})", p.addr);
                    p.close.cancel();
                }
                self.shed_send_queues();
            }
            Output::Connect(addr) => self.dial(addr),
            Output::Disconnect { peer, reason } => {
                if let Some(p) = self.peers.remove(&peer) {
                    log::disconnect(p.addr, &reason);
                    p.close.cancel();
                    self.publish(super::NodeEvent::PeerDisconnected {
                        addr: p.addr.to_string(),
                        reason: reason.to_string(),
                    });
                }
            }
            out @ (Output::ProcessBlock { .. }
            | Output::AcceptTx { .. }
            | Output::Mint { .. }
            | Output::SavePeers(_)) => {
                if let Ok(job) = crate::exec::Job::from_output(out) {
                    self.job(Job::Chain(job));
                }
            }
            Output::Reply(id, mut reply) => {
                // The protocol never sees the sockets: the bytes each
                // connection moved are the reactor's to add.
                if let LocalReply::Info(info) = &mut reply {
                    for p in &mut info.peers {
                        if let Some(h) = self.peers.get(&p.peer) {
                            p.bytes_in = Some(h.traffic.bytes_in());
                            p.bytes_out = Some(h.traffic.bytes_out());
                        }
                    }
                }
                if let Some(r) = self.replies.remove(&id) {
                    let _ = r.send(reply);
                }
            }
            Output::Event(e) => self.event(e),
        }
    }

    /// While the node's queued bytes pass [`peer::TOTAL_QUEUE_BYTES`],
    /// drops the open peer whose queue has waited longest without a frame
    /// written (then the larger queue): the peers that do not read pay for
    /// the cap, not whoever happens to send next. Bytes of peers already
    /// closing are not counted: they are released as their writers stop.
    fn shed_send_queues(&mut self) {
        use std::sync::atomic::Ordering;
        let mut total = self.queued_total.load(Ordering::Relaxed);
        if total <= peer::TOTAL_QUEUE_BYTES {
            return;
        }
        let now = now_ms();
        let closing: u64 = self
            .peers
            .values()
            .filter(|p| p.close.is_cancelled())
            .map(|p| p.queued())
            .sum();
        total = total.saturating_sub(closing);
        while total > peer::TOTAL_QUEUE_BYTES {
            let victim = self
                .peers
                .values()
                .filter(|p| !p.close.is_cancelled() && p.queued() > 0)
                .max_by_key(|p| (p.stalled_ms(now), p.queued()));
            let Some(p) = victim else { return };
            let full = peer::QueueFull::Node(p.queued(), p.stalled_ms(now));
            warn!("disconnected {}: not reading ({full})", p.addr);
            total = total.saturating_sub(p.queued());
            p.close.cancel();
        }
    }

    /// A protocol event: the progress bar, live subscribers, a log line.
    fn event(&mut self, e: crate::protocol::Event) {
        use crate::protocol::Event;
        match &e {
            Event::Syncing { ours, theirs, .. } => self.progress.start(*ours, *theirs),
            Event::PeerReady {
                addr,
                height,
                inbound,
                ..
            } => self.publish(super::NodeEvent::PeerConnected {
                addr: addr.to_string(),
                inbound: *inbound,
                height: *height,
            }),
            _ => {}
        }
        log::event(&e);
    }

    /// Queues `job` for the chain worker, charged to the load of the peer
    /// it came from (its reader pauses while the load is over,
    /// [`super::queue`]).
    fn job(&self, job: Job) {
        let sent = match job.lane().and_then(|id| self.peers.get(&id)) {
            Some(p) => self.jobs.send_charged(job, &p.load),
            None => self.jobs.send(job),
        };
        if sent.is_err() {
            warn!("chain worker stopped");
        }
    }

    fn dial(&mut self, addr: SocketAddr) {
        let dialed = self.dialed.clone();
        tokio::spawn(async move {
            let r = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await;
            let stream = match r {
                Ok(Ok(stream)) => Some(stream),
                _ => None,
            };
            let _ = dialed.send((addr, stream)).await;
        });
    }

    fn dial_done(&mut self, addr: SocketAddr, stream: Option<TcpStream>) {
        let Some(stream) = stream else {
            log::dial_failed(addr);
            return self.step(Input::DialFailed { addr });
        };
        tracing::info!("connected to {addr}");
        let peer = self.new_peer(stream, addr, (None, None));
        self.step(Input::Connected {
            peer,
            addr,
            inbound: false,
        });
    }
}
