//! One peer connection: a reader that turns frames into protocol inputs
//! and a writer that drains a queue of outgoing frames bounded in bytes.
//!
//! Every queued frame is charged (its encoded length plus
//! [`MESSAGE_OVERHEAD`]) to its peer and to the whole node until the
//! writer has handed it to the socket, or it is dropped with the
//! connection. The cost of a peer that does not read falls on that peer
//! alone (Bitcoin Core's `fPauseSend`):
//!
//! * while more than [`PAUSE_BYTES`] wait for it, its next message is not
//!   read (so not served either), whatever it is: a peer that does not
//!   read its answers goes silent to the protocol and is dropped as idle,
//!   pongs or not;
//! * its socket's kernel send buffer is fixed ([`SOCKET_SEND_BUFFER`]), so
//!   what it parks beyond this accounting stays small;
//! * a frame its writer cannot hand to the socket within the write timeout
//!   (the idle timeout) drops it as not reading;
//! * a peer whose queue would pass [`PEER_QUEUE_BYTES`] is dropped;
//! * when the node's total passes [`TOTAL_QUEUE_BYTES`], the reactor drops
//!   the peer whose queue has waited longest without a frame written
//!   ([`PeerHandle::stalled_ms`]), never one merely for having frames
//!   waiting: a peer that reads keeps its queue moving and is not chosen
//!   while a stalled one exists.
//!
//! Besides its queue, a connection holds no buffer that outlives a frame:
//! the writer hands each queued frame's header and payload to the socket
//! as they are (no second, encoded copy, and no write buffer that keeps
//! the size of the largest frame ever sent), and the reader reads each
//! frame into a buffer that grows only with the bytes that arrived (a
//! declared length reserves nothing), freed with the message. A whole
//! message then waits for its share of the node-wide receive budget
//! ([`RECV_BUDGET_BYTES`]) before it goes to the reactor, and the share is
//! returned when the reactor has handled it: however many peers send
//! large messages at once, the node holds at most that much of them
//! decoded, plus one message being read per connection (bounded by its
//! command's payload limit). The budget is taken only for a whole
//! message, so a peer that announces a large payload and sends it slowly
//! (or never) holds none of it and delays nobody but itself; it pays its
//! own read buffer, and the idle timeout drops it. So what a peer that does not read makes the node hold is
//! its queue: at most [`PAUSE_BYTES`] plus the answers to the one message
//! read after that, [`PEER_QUEUE_BYTES`] at worst, and all such peers
//! together about [`TOTAL_QUEUE_BYTES`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::queue::Load;
use crate::chain::PeerId;
use crate::protocol::Input;
use crate::wire::frame::{Frame, FrameCodec, FrameError, HEADER_LEN, MAGIC};
use crate::wire::message::Message;

/// Bytes queued to one peer and not yet written to its socket before it
/// counts as not reading and is dropped: room for the paced block answers
/// ([`crate::protocol::sync::ANSWER_BYTES`] plus one 1 MB block) and a
/// largest `inv` (50,000 hashes, 1.6 MB).
pub const PEER_QUEUE_BYTES: u64 = 4 << 20;
/// Bytes queued to one peer past which its next message is not read until
/// the writer has brought the queue back under (module docs). Above the
/// paced block answers ([`crate::protocol::sync::ANSWER_BYTES`] plus one
/// 1 MB block), so a syncing peer is paused only while it is behind on
/// reading.
pub const PAUSE_BYTES: u64 = 1 << 20;
/// Bytes queued to all peers together past which the most stalled peer is
/// dropped (module docs).
pub const TOTAL_QUEUE_BYTES: u64 = 32 << 20;
/// Bytes charged per queued frame besides its encoded length (the queue
/// node and frame bookkeeping).
pub const MESSAGE_OVERHEAD: u64 = 128;

/// The kernel send buffer asked for on each peer socket (Linux doubles
/// it): what a peer that does not read can park in the kernel, beyond our
/// own accounting, before its frames wait in its queue and it is paused.
/// Left to autotuning, one non-reading socket on loopback held 4 MB there
/// and kept talking.
pub const SOCKET_SEND_BUFFER: usize = 256 << 10;

/// Bytes of payload that all peers together may have read whole and not
/// yet had handled by the reactor (module docs): room for a few of the
/// largest messages at once. A larger payload waits for the whole budget.
pub const RECV_BUDGET_BYTES: usize = 8 << 20;

/// Most bytes a payload's read buffer grows by at once: a buffer grows
/// with what the peer has sent, never to a length it only announced.
const READ_CHUNK: usize = 64 << 10;

/// How often a reader paused for the chain worker ([`Load::over`]) looks
/// again at the latest: it is woken as soon as the worker takes one of the
/// peer's jobs ([`Load::taken`]); this covers a pause for the node's total
/// (other peers' jobs).
const WORKER_POLL: Duration = Duration::from_millis(20);

/// Bytes a connection has read and written: whole frames (header and
/// payload) as they crossed the socket, counted by the reader when a frame
/// is decoded and by the writer when the socket took it. Kept per peer (on
/// its [`PeerHandle`]) and for the whole node (in [`Wiring::traffic`],
/// closed connections included).
#[derive(Debug, Default)]
pub struct Traffic {
    read: AtomicU64,
    written: AtomicU64,
}

impl Traffic {
    /// Bytes received so far.
    pub fn bytes_in(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Bytes sent so far.
    pub fn bytes_out(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

/// A connection's counter and the node's total, counted together.
#[derive(Clone)]
struct Counted {
    peer: Arc<Traffic>,
    node: Arc<Traffic>,
}

impl Counted {
    fn read(&self, bytes: u64) {
        self.peer.read.fetch_add(bytes, Ordering::Relaxed);
        self.node.read.fetch_add(bytes, Ordering::Relaxed);
    }

    fn written(&self, bytes: u64) {
        self.peer.written.fetch_add(bytes, Ordering::Relaxed);
        self.node.written.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Why a peer's queue is given up: the peer is dropped as not reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueFull {
    /// The peer's own queue would pass [`PEER_QUEUE_BYTES`]; bytes queued.
    Peer(u64),
    /// The node's total passed [`TOTAL_QUEUE_BYTES`] and this peer's queue
    /// had waited longest: bytes queued, milliseconds since its writer
    /// last wrote a frame.
    Node(u64, u64),
}

impl std::fmt::Display for QueueFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Peer(n) => write!(f, "send queue full: {n} bytes waiting"),
            Self::Node(n, ms) => write!(
                f,
                "node send queues full; {n} bytes waiting for it, none written for {ms} ms"
            ),
        }
    }
}

/// Bytes charged to a peer's queue and the node's total while a frame
/// waits; released on drop.
struct Charge {
    bytes: u64,
    peer: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.peer.fetch_sub(self.bytes, Ordering::Relaxed);
        self.total.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// One queued frame: what to write, and the block bytes (or, when the
/// flag is set, transaction bytes) to report flushed once written.
struct Queued {
    frame: Frame,
    block_bytes: Option<(u64, bool)>,
    _charge: Charge,
}

/// The reactor's handle on a running peer connection.
pub struct PeerHandle {
    /// The remote address.
    pub addr: SocketAddr,
    /// Closes the connection.
    pub close: CancellationToken,
    /// The inbound slot it holds (`None` when outbound), released when the
    /// reactor drops the handle.
    pub permit: Option<OwnedSemaphorePermit>,
    /// Signalled by the reactor when it has handled the peer's last
    /// message: the reader reads the next one only then, so what a peer
    /// makes us hold between its socket and the protocol is one message.
    pub processed: Arc<Notify>,
    /// What it has waiting for the chain worker.
    pub load: Arc<Load>,
    /// Bytes read from and written to it ([`Traffic`]).
    pub traffic: Arc<Traffic>,
    tx: mpsc::UnboundedSender<Queued>,
    queue: Arc<SendQueue>,
    total: Arc<AtomicU64>,
}

/// A peer's send queue as its reader, writer and the reactor see it.
#[derive(Default)]
struct SendQueue {
    /// Bytes charged and not yet written.
    bytes: Arc<AtomicU64>,
    /// When the writer last wrote a frame, or the queue last turned
    /// non-empty (ms since the Unix epoch).
    moved: AtomicU64,
    /// Signalled by the writer after each frame: a paused reader checks
    /// the queue again.
    drained: Notify,
}

impl PeerHandle {
    /// Queues `message` for the writer.
    ///
    /// Errors: [`QueueFull::Peer`] when the peer's queue would pass
    /// [`PEER_QUEUE_BYTES`]; nothing is queued then. The node's total is
    /// the reactor's to enforce ([`PeerHandle::stalled_ms`]).
    pub fn send(&self, message: Message) -> Result<(), QueueFull> {
        let block_bytes = match &message {
            Message::Block(b) => Some((b.block.encoded_size(), false)),
            Message::Tx(t) => Some((crate::core::encode::encoded_len(&t.transaction), true)),
            _ => None,
        };
        let frame = message.to_frame();
        drop(message);
        let max = FrameCodec::for_messages().max_payload(&frame.command);
        if frame.payload.len() > max as usize {
            // Never built by the protocol; not worth the connection.
            warn!(
                "not sent to {}: a {:?} of {} bytes exceeds its limit of {max}",
                self.addr,
                frame.command_text(),
                frame.payload.len()
            );
            return Ok(());
        }
        let bytes = (frame.payload.len() + HEADER_LEN) as u64 + MESSAGE_OVERHEAD;
        let queued = self.queued();
        if queued.saturating_add(bytes) > PEER_QUEUE_BYTES {
            return Err(QueueFull::Peer(queued));
        }
        if queued == 0 {
            self.queue
                .moved
                .store(super::reactor::now_ms(), Ordering::Relaxed);
        }
        self.queue.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.total.fetch_add(bytes, Ordering::Relaxed);
        let charge = Charge {
            bytes,
            peer: self.queue.bytes.clone(),
            total: self.total.clone(),
        };
        let item = Queued {
            frame,
            block_bytes,
            _charge: charge,
        };
        // A closed writer drops the item (and its charge) at once.
        let _ = self.tx.send(item);
        Ok(())
    }

    /// Bytes queued to this peer and not yet written.
    pub fn queued(&self) -> u64 {
        self.queue.bytes.load(Ordering::Relaxed)
    }

    /// Milliseconds (at `now`, ms since the Unix epoch) its queue has
    /// waited without the writer writing a frame; 0 when nothing waits.
    pub fn stalled_ms(&self, now: u64) -> u64 {
        if self.queued() == 0 {
            return 0;
        }
        now.saturating_sub(self.queue.moved.load(Ordering::Relaxed))
    }
}

/// What a connection needs besides its socket: where inputs go (ending
/// with [`Input::Disconnected`]), the node's total of queued bytes, and
/// the most a frame may take to be written before the peer is dropped as
/// not reading.
#[derive(Clone)]
pub struct Wiring {
    /// The reactor's input channel.
    pub inputs: mpsc::Sender<Input>,
    /// Bytes queued to every peer of the node.
    pub total: Arc<AtomicU64>,
    /// The write timeout (the protocol's idle timeout).
    pub write_timeout: Duration,
    /// The peer's share of the chain worker's queue.
    pub load: Arc<Load>,
    /// Bytes read and written by every connection of the node.
    pub traffic: Arc<Traffic>,
    /// The node's receive budget: [`RECV_BUDGET_BYTES`] permits, one per
    /// byte of payload read and not yet handled.
    pub recv_budget: Arc<Semaphore>,
}

/// Starts the tasks of a connection and returns its handle. `permit` (an
/// inbound slot) is kept in the handle; `socket` (an inbound socket) is
/// held until the socket is really closed.
pub fn spawn(
    id: PeerId,
    stream: TcpStream,
    addr: SocketAddr,
    wiring: Wiring,
    (permit, socket): (Option<OwnedSemaphorePermit>, Option<OwnedSemaphorePermit>),
) -> PeerHandle {
    let _ = stream.set_nodelay(true);
    let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SOCKET_SEND_BUFFER);
    let (read_half, sink) = stream.into_split();
    let (tx, rx) = mpsc::unbounded_channel::<Queued>();
    let close = CancellationToken::new();
    let queue = Arc::new(SendQueue::default());
    let Wiring {
        inputs,
        total,
        write_timeout,
        load,
        traffic: node_traffic,
        recv_budget,
    } = wiring;
    let frames = FrameReader::new(read_half, recv_budget);
    let traffic = Arc::new(Traffic::default());
    let counted = Counted {
        peer: traffic.clone(),
        node: node_traffic,
    };
    let writer = Writer {
        counted: counted.clone(),
        id,
        inputs: inputs.clone(),
        close: close.clone(),
        queue: queue.clone(),
        timeout: write_timeout,
    };
    let writer = tokio::spawn(writer.run(sink, rx));
    let processed = Arc::new(Notify::new());
    let done = processed.clone();
    let token = close.clone();
    let paused = (queue.clone(), load.clone());
    tokio::spawn(async move {
        let mut reason = read_loop(id, frames, &inputs, &token, &done, &paused, &counted).await;
        token.cancel();
        if let Ok(Some(stalled)) = writer.await {
            reason = stalled;
        }
        drop(socket);
        if reason == "closed by peer" || reason == "closed" {
            debug!("disconnected {addr}: {reason}");
        } else {
            info!("disconnected {addr}: {reason}");
        }
        let _ = inputs.send(Input::Disconnected { peer: id }).await;
    });
    PeerHandle {
        addr,
        close,
        permit,
        processed,
        load,
        traffic,
        tx,
        queue,
        total,
    }
}

/// Reads a connection's frames one at a time: the header (the magic
/// checked as soon as it is read, then the command's payload limit), then
/// the payload into a buffer that grows as its bytes arrive, and only once
/// the payload is whole, its share of the receive budget.
struct FrameReader<R> {
    socket: BufReader<R>,
    codec: FrameCodec,
    budget: Arc<Semaphore>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    fn new(socket: R, budget: Arc<Semaphore>) -> FrameReader<R> {
        FrameReader {
            socket: BufReader::new(socket),
            codec: FrameCodec::for_messages(),
            budget,
        }
    }

    /// The next frame and its share of the budget (held until the message
    /// is handled); `None` when the peer closed the connection between
    /// frames.
    ///
    /// Errors: [`FrameError::BadMagic`], [`FrameError::Oversize`], and
    /// [`FrameError::Io`] (a read error, or the connection closed within a
    /// frame).
    async fn next(&mut self) -> Result<Option<(Frame, OwnedSemaphorePermit)>, FrameError> {
        if self.socket.fill_buf().await?.is_empty() {
            return Ok(None);
        }
        let mut header = [0u8; HEADER_LEN];
        self.socket.read_exact(&mut header[..MAGIC.len()]).await?;
        self.codec.payload_len(&header)?;
        self.socket.read_exact(&mut header[MAGIC.len()..]).await?;
        let len = self.codec.payload_len(&header)?;
        let total = HEADER_LEN + len;
        let mut buf = BytesMut::with_capacity(HEADER_LEN + len.min(READ_CHUNK));
        buf.extend_from_slice(&header);
        while buf.len() < total {
            let want = (total - buf.len()).min(READ_CHUNK);
            buf.reserve(want);
            let room = buf.capacity() - buf.len();
            let mut part = (&mut self.socket).take(room.min(total - buf.len()) as u64);
            if part.read_buf(&mut buf).await? == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
        }
        let share = len.min(RECV_BUDGET_BYTES) as u32;
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(share)
            .await
            .map_err(|_| std::io::Error::other("the receive budget is closed"))?;
        match self.codec.decode(&mut buf)? {
            Some(frame) => Ok(Some((frame, permit))),
            None => Err(std::io::Error::other("incomplete frame").into()),
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    id: PeerId,
    mut frames: FrameReader<R>,
    inputs: &mpsc::Sender<Input>,
    close: &CancellationToken,
    processed: &Notify,
    (queue, load): &(Arc<SendQueue>, Arc<Load>),
    counted: &Counted,
) -> String {
    loop {
        let next = tokio::select! {
            _ = close.cancelled() => return "closed".into(),
            next = frames.next() => next,
        };
        let (input, share) = match next {
            Ok(None) => return "closed by peer".into(),
            Err(FrameError::Io(e)) => return format!("read error: {e}"),
            Err(e) => return format!("protocol violation: {e}"),
            Ok(Some((frame, share))) => {
                counted.read((frame.payload.len() + HEADER_LEN) as u64);
                let input = match Message::from_frame(&frame) {
                    Ok(message) => Input::Received { peer: id, message },
                    Err(e) => Input::Malformed {
                        peer: id,
                        error: std::sync::Arc::new(e),
                    },
                };
                (input, share)
            }
        };
        if inputs.send(input).await.is_err() {
            return "shutting down".into();
        }
        tokio::select! {
            _ = close.cancelled() => return "closed".into(),
            _ = processed.notified() => {}
        }
        // Handled: its share of the receive budget goes back.
        drop(share);
        // Its answers are not read: neither is its next message.
        while queue.bytes.load(Ordering::Relaxed) > PAUSE_BYTES {
            tokio::select! {
                _ = close.cancelled() => return "closed".into(),
                _ = queue.drained.notified() => {}
            }
        }
        // The chain worker is behind on its blocks: wait for it to take
        // some. Polling alone (every 20 ms) left the worker idle once it
        // had taken a run, until the reader looked again.
        while load.over() {
            tokio::select! {
                _ = close.cancelled() => return "closed".into(),
                _ = load.taken() => {}
                _ = tokio::time::sleep(WORKER_POLL) => {}
            }
        }
    }
}

/// A connection's writer task.
struct Writer {
    id: PeerId,
    counted: Counted,
    inputs: mpsc::Sender<Input>,
    close: CancellationToken,
    queue: Arc<SendQueue>,
    timeout: Duration,
}

/// Frames of at most this many bytes (header included) queued together
/// are written with one system call, copied into one buffer; a larger
/// frame goes out on its own, straight from the queue.
const COALESCE_FRAME: usize = 16 << 10;

/// Most bytes of small frames one write takes.
const COALESCE_BYTES: usize = 64 << 10;

impl Queued {
    /// Bytes it puts on the wire: header and payload.
    fn wire_len(&self) -> usize {
        self.frame.payload.len() + HEADER_LEN
    }
}

impl Writer {
    /// Writes queued frames until the connection closes; returns why it
    /// closed it, if it did (frames not written within the timeout). A
    /// frame goes out as its header and its payload, straight from the
    /// queue; small frames queued together (transactions answering one
    /// `getdata`, an `inv` and a `ping`) are copied into one buffer and
    /// written with one system call, at most [`COALESCE_BYTES`] at a time,
    /// so the peer is woken once for them, not once per frame.
    async fn run(
        self,
        mut sink: OwnedWriteHalf,
        mut rx: mpsc::UnboundedReceiver<Queued>,
    ) -> Option<String> {
        let mut stalled = None;
        // A large frame met while gathering small ones: written next.
        let mut held: Option<Queued> = None;
        loop {
            let first = match held.take() {
                Some(m) => m,
                None => tokio::select! {
                    _ = self.close.cancelled() => break,
                    m = rx.recv() => match m { Some(m) => m, None => break },
                },
            };
            let mut batch = vec![first];
            let mut size = batch[0].wire_len();
            if size <= COALESCE_FRAME {
                while let Ok(m) = rx.try_recv() {
                    // A large frame, or one that would take the write past
                    // its bytes, starts the next write.
                    if m.wire_len() > COALESCE_FRAME || size + m.wire_len() > COALESCE_BYTES {
                        held = Some(m);
                        break;
                    }
                    size += m.wire_len();
                    batch.push(m);
                }
            }
            let sent = match batch.as_slice() {
                [one] => {
                    let header = one.frame.header();
                    let mut out = Buf::chain(header.as_slice(), one.frame.payload.clone());
                    tokio::select! {
                        _ = self.close.cancelled() => break,
                        r = tokio::time::timeout(self.timeout, sink.write_all_buf(&mut out)) => r,
                    }
                }
                many => {
                    let mut buf = Vec::with_capacity(size);
                    for m in many {
                        buf.extend_from_slice(&m.frame.header());
                        buf.extend_from_slice(&m.frame.payload);
                    }
                    tokio::select! {
                        _ = self.close.cancelled() => break,
                        r = tokio::time::timeout(self.timeout, sink.write_all(&buf)) => r,
                    }
                }
            };
            match sent {
                Ok(Ok(())) => self.counted.written(size as u64),
                Ok(Err(_)) => break,
                Err(_) => {
                    stalled = Some(format!(
                        "not reading: a frame waited {}s to be written",
                        self.timeout.as_secs()
                    ));
                    break;
                }
            }
            self.queue
                .moved
                .store(super::reactor::now_ms(), Ordering::Relaxed);
            let flushed: Vec<Option<(u64, bool)>> = batch.iter().map(|m| m.block_bytes).collect();
            // Their charges are released before the reactor hears of them.
            drop(batch);
            self.queue.drained.notify_one();
            for (bytes, tx) in flushed.into_iter().flatten() {
                let input = match tx {
                    true => Input::TxFlushed {
                        peer: self.id,
                        bytes,
                    },
                    false => Input::Flushed {
                        peer: self.id,
                        bytes,
                    },
                };
                let _ = self.inputs.send(input).await;
            }
        }
        self.close.cancel();
        // What is still queued is released now, not after the close.
        drop(held);
        drop(rx);
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.shutdown()).await;
        stalled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::hash::Hash256;
    use crate::wire::payload::{InvKind, NotFound};

    fn notfound(items: usize) -> Message {
        Message::NotFound(NotFound {
            kind: InvKind::Tx,
            items: (0..items as u32)
                .map(|i| {
                    let mut h = [7u8; 32];
                    h[..4].copy_from_slice(&i.to_le_bytes());
                    Hash256(h)
                })
                .collect(),
        })
    }

    /// A connection over loopback spawned as peer 1, with what the tests
    /// read from its other sides.
    struct Loopback {
        handle: PeerHandle,
        /// The client end, connecting.
        client: tokio::task::JoinHandle<std::io::Result<TcpStream>>,
        /// What the connection reports to the reactor.
        reports: mpsc::Receiver<Input>,
        /// Bytes queued to all peers together.
        total: Arc<AtomicU64>,
        /// Kept so the chain-job queue stays open.
        _jobs: super::super::queue::JobReceiver,
    }

    async fn loopback_peer() -> Loopback {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let client = tokio::spawn(async move { TcpStream::connect(addr).await });
        let (stream, peer_addr) = listener.accept().await.expect("accept");
        let (inputs, reports) = mpsc::channel(8);
        let total = Arc::new(AtomicU64::new(0));
        let (jobs, job_rx) = super::super::queue::channel();
        let wiring = Wiring {
            inputs,
            total: total.clone(),
            write_timeout: Duration::from_secs(5),
            load: jobs.new_load(),
            traffic: Arc::default(),
            recv_budget: Arc::new(Semaphore::new(RECV_BUDGET_BYTES)),
        };
        Loopback {
            handle: spawn(1, stream, peer_addr, wiring, (None, None)),
            client,
            reports,
            total,
            _jobs: job_rx,
        }
    }

    fn bytes_of(m: &Message) -> Vec<u8> {
        let f = m.to_frame();
        let mut b = f.header().to_vec();
        b.extend_from_slice(&f.payload);
        b
    }

    /// Frames are read whole and in order, each holding its payload's
    /// share of the receive budget until dropped; a bad magic is refused
    /// from its first 4 bytes.
    #[tokio::test]
    async fn frames_are_read_whole_each_holding_its_share_of_the_budget() {
        let (big, small) = (notfound(20_000), Message::Ping(9));
        let mut wire = bytes_of(&big);
        wire.extend_from_slice(&bytes_of(&small));
        let budget = Arc::new(Semaphore::new(RECV_BUDGET_BYTES));
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let writer = tokio::spawn(async move { client.write_all(&wire).await });
        let mut frames = FrameReader::new(server, budget.clone());
        let (first, share) = frames.next().await.expect("framed").expect("a frame");
        assert_eq!(Message::from_frame(&first).expect("message"), big);
        let len = first.payload.len();
        assert_eq!(budget.available_permits(), RECV_BUDGET_BYTES - len);
        drop((first, share));
        assert_eq!(budget.available_permits(), RECV_BUDGET_BYTES);
        let (second, _share) = frames.next().await.expect("framed").expect("a frame");
        assert_eq!(Message::from_frame(&second).expect("message"), small);
        writer.await.expect("writer").expect("written");
        assert!(
            frames
                .next()
                .await
                .expect("closed between frames")
                .is_none()
        );

        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b"GET ").await.expect("written");
        let mut frames = FrameReader::new(server, budget.clone());
        assert!(matches!(frames.next().await, Err(FrameError::BadMagic(_))));
    }

    /// A peer that announces a large payload and sends only part of it
    /// holds none of the receive budget, and its buffer is only as large
    /// as what it sent: another connection's messages are read and
    /// handled meanwhile, even when each needs the whole budget.
    #[tokio::test]
    async fn a_payload_sent_slowly_holds_no_budget_and_delays_no_other_peer() {
        let budget = Arc::new(Semaphore::new(RECV_BUDGET_BYTES));
        let big = bytes_of(&notfound(50_000));
        // Four slow peers announce together more than the whole budget.
        let mut slow = Vec::new();
        for _ in 0..4 {
            let (mut end, slow_end) = tokio::io::duplex(1 << 20);
            end.write_all(&big[..HEADER_LEN + 1000])
                .await
                .expect("written");
            let budget = budget.clone();
            let task = tokio::spawn(async move {
                let mut reader = FrameReader::new(slow_end, budget);
                reader.next().await.map(|f| f.is_some())
            });
            slow.push((end, task));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            slow.iter().all(|(_, task)| !task.is_finished()),
            "a partial payload is not a frame"
        );
        assert_eq!(budget.available_permits(), RECV_BUDGET_BYTES);

        let (mut honest, honest_end) = tokio::io::duplex(1 << 20);
        let mut wire = big.clone();
        wire.extend_from_slice(&big);
        let writer = tokio::spawn(async move { honest.write_all(&wire).await });
        let mut reader = FrameReader::new(honest_end, budget.clone());
        for _ in 0..2 {
            let next = tokio::time::timeout(Duration::from_secs(10), reader.next()).await;
            let (frame, share) = next
                .expect("not delayed")
                .expect("framed")
                .expect("a frame");
            assert_eq!(frame.payload.len(), big.len() - HEADER_LEN);
            drop((frame, share));
        }
        writer.await.expect("writer").expect("written");
        for (_, task) in slow {
            task.abort();
        }
    }

    /// Frames queued on a connection reach the other end whole and in
    /// order, and their charge is released once written.
    #[tokio::test]
    async fn queued_frames_are_written_whole_and_their_charge_released() {
        let Loopback {
            handle,
            client,
            total,
            ..
        } = loopback_peer().await;
        let sent = [notfound(50_000), Message::Ping(1), notfound(3)];
        for m in &sent {
            handle.send(m.clone()).expect("queued");
        }
        let client = client.await.expect("client").expect("connect");
        let budget = Arc::new(Semaphore::new(RECV_BUDGET_BYTES));
        let mut frames = FrameReader::new(client, budget);
        for m in &sent {
            let (f, _) = frames.next().await.expect("framed").expect("a frame");
            assert_eq!(&Message::from_frame(&f).expect("message"), m);
        }
        // The writer releases a frame's charge once the socket took it,
        // which may be just after the client read it.
        let written: u64 = sent.iter().map(|m| bytes_of(m).len() as u64).sum();
        for _ in 0..1000 {
            if handle.queued() == 0 && handle.traffic.bytes_out() == written {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!((handle.queued(), total.load(Ordering::Relaxed)), (0, 0));
        assert_eq!(handle.traffic.bytes_out(), written);
        handle.close.cancel();
    }

    /// Small frames queued together (written with one system call) and a
    /// large one among them reach the other end whole and in order, and
    /// each transaction written is reported flushed with its size.
    #[tokio::test]
    async fn small_frames_written_together_keep_their_order_and_flush_reports() {
        use crate::core::hash::Txid;
        use crate::core::tx::{OutPoint, Transaction, TxIn, TxOut};
        use crate::wire::payload::TxMsg;
        let Loopback {
            handle,
            client,
            mut reports,
            ..
        } = loopback_peer().await;
        let tx = |n: u8| {
            Message::Tx(TxMsg {
                addr_from: String::new(),
                transaction: Transaction {
                    version: 1,
                    inputs: vec![TxIn::unsigned(OutPoint {
                        txid: Txid(Hash256([n; 32])),
                        vout: 0,
                    })],
                    outputs: vec![TxOut {
                        value: u64::from(n),
                        pubkey_hash: [n; 20],
                    }],
                    coinbase_height: 0,
                },
            })
        };
        let sent = [
            Message::Ping(1),
            tx(1),
            notfound(1000),
            tx(2),
            Message::Ping(2),
        ];
        for m in &sent {
            handle.send(m.clone()).expect("queued");
        }
        let client = client.await.expect("client").expect("connect");
        let mut frames = FrameReader::new(client, Arc::new(Semaphore::new(RECV_BUDGET_BYTES)));
        // A frame lost or held back fails the test rather than hang it.
        let within = Duration::from_secs(10);
        for m in &sent {
            let next = tokio::time::timeout(within, frames.next()).await;
            let (f, _) = next.expect("in time").expect("framed").expect("a frame");
            assert_eq!(&Message::from_frame(&f).expect("message"), m);
        }
        for m in [tx(1), tx(2)] {
            let Message::Tx(t) = m else { unreachable!() };
            let want = crate::core::encode::encoded_len(&t.transaction);
            match tokio::time::timeout(within, reports.recv())
                .await
                .expect("in time")
            {
                Some(Input::TxFlushed { peer: 1, bytes }) => assert_eq!(bytes, want),
                other => panic!("expected a transaction flushed, got {other:?}"),
            }
        }
        let written: u64 = sent.iter().map(|m| bytes_of(m).len() as u64).sum();
        assert_eq!(handle.traffic.bytes_out(), written);
        handle.close.cancel();
    }
}
