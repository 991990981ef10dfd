//! One peer connection: a reader that turns frames into protocol inputs
//! and a writer that drains a queue of outgoing frames bounded in bytes.
//!
//! Every queued frame is charged (its encoded length plus
//! [`MESSAGE_OVERHEAD`]) to its peer and to the whole node until the
//! writer has handed it to the socket, or it is dropped with the
//! connection. A peer whose charge would pass [`PEER_QUEUE_BYTES`], or
//! that has frames waiting while the node's total would pass
//! [`TOTAL_QUEUE_BYTES`], does not read and is dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit, mpsc};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::chain::PeerId;
use crate::protocol::Input;
use crate::wire::frame::{Frame, FrameCodec, FrameError, HEADER_LEN};
use crate::wire::message::Message;

/// Bytes queued to one peer and not yet written to its socket before it
/// counts as not reading and is dropped: room for the paced block answers
/// ([`crate::protocol::sync::ANSWER_BYTES`] plus one 1 MB block) and a
/// largest `notfound` (50,000 hashes, 1.6 MB).
pub const PEER_QUEUE_BYTES: u64 = 4 << 20;
/// Bytes queued to all peers together past which a peer that still has
/// frames waiting is dropped instead of queued more.
pub const TOTAL_QUEUE_BYTES: u64 = 32 << 20;
/// Bytes charged per queued frame besides its encoded length (the queue
/// node and frame bookkeeping).
pub const MESSAGE_OVERHEAD: u64 = 128;

/// Why a message could not be queued: the peer is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueFull {
    /// The peer's own queue would pass [`PEER_QUEUE_BYTES`]; bytes queued.
    Peer(u64),
    /// The node's total would pass [`TOTAL_QUEUE_BYTES`] and the peer has
    /// this many bytes waiting.
    Node(u64),
}

impl std::fmt::Display for QueueFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Peer(n) => write!(f, "send queue full: {n} bytes waiting"),
            Self::Node(n) => write!(f, "node send queues full; {n} bytes waiting for it"),
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
    tx: mpsc::UnboundedSender<Queued>,
    queued: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
}

impl PeerHandle {
    /// Queues `message` for the writer.
    ///
    /// Errors: [`QueueFull`] when the peer's or the node's queue is full
    /// (module docs); nothing is queued then.
    pub fn send(&self, message: Message) -> Result<(), QueueFull> {
        let block_bytes = match &message {
            Message::Block(b) => Some((b.block.encoded_size(), false)),
            Message::Tx(t) => Some((crate::core::encode::encoded_len(&t.transaction), true)),
            _ => None,
        };
        let frame = message.to_frame();
        let bytes = (frame.payload.len() + HEADER_LEN) as u64 + MESSAGE_OVERHEAD;
        let queued = self.queued.load(Ordering::Relaxed);
        if queued.saturating_add(bytes) > PEER_QUEUE_BYTES {
            return Err(QueueFull::Peer(queued));
        }
        let total = self.total.load(Ordering::Relaxed);
        if queued > 0 && total.saturating_add(bytes) > TOTAL_QUEUE_BYTES {
            return Err(QueueFull::Node(queued));
        }
        self.queued.fetch_add(bytes, Ordering::Relaxed);
        self.total.fetch_add(bytes, Ordering::Relaxed);
        let charge = Charge {
            bytes,
            peer: self.queued.clone(),
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
        self.queued.load(Ordering::Relaxed)
    }
}

/// Starts the tasks of a connection and returns its handle. Inputs go to
/// `inputs`, ending with [`Input::Disconnected`]. `permit` (an inbound
/// slot) is kept in the handle; `socket` (an inbound socket) is held until
/// the socket is really closed; `total` counts the bytes queued to every
/// peer of the node.
pub fn spawn(
    id: PeerId,
    stream: TcpStream,
    addr: SocketAddr,
    inputs: mpsc::Sender<Input>,
    (permit, socket): (Option<OwnedSemaphorePermit>, Option<OwnedSemaphorePermit>),
    total: Arc<AtomicU64>,
) -> PeerHandle {
    let _ = stream.set_nodelay(true);
    let (sink, frames) = Framed::new(stream, FrameCodec::for_messages()).split();
    let (tx, rx) = mpsc::unbounded_channel::<Queued>();
    let close = CancellationToken::new();
    let writer = tokio::spawn(write_loop(id, sink, rx, inputs.clone(), close.clone()));
    let processed = Arc::new(Notify::new());
    let done = processed.clone();
    let token = close.clone();
    tokio::spawn(async move {
        let reason = read_loop(id, frames, &inputs, &token, &done).await;
        token.cancel();
        let _ = writer.await;
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
        tx,
        queued: Arc::new(AtomicU64::new(0)),
        total,
    }
}

type Frames = futures::stream::SplitStream<Framed<TcpStream, FrameCodec>>;
type Sink = futures::stream::SplitSink<Framed<TcpStream, FrameCodec>, Frame>;

async fn read_loop(
    id: PeerId,
    mut frames: Frames,
    inputs: &mpsc::Sender<Input>,
    close: &CancellationToken,
    processed: &Notify,
) -> String {
    loop {
        let next = tokio::select! {
            _ = close.cancelled() => return "closed".into(),
            next = frames.next() => next,
        };
        let input = match next {
            None => return "closed by peer".into(),
            Some(Err(FrameError::Io(e))) => return format!("read error: {e}"),
            Some(Err(e)) => return format!("protocol violation: {e}"),
            Some(Ok(frame)) => match Message::from_frame(&frame) {
                Ok(message) => Input::Received { peer: id, message },
                Err(e) => Input::Malformed {
                    peer: id,
                    error: std::sync::Arc::new(e),
                },
            },
        };
        if inputs.send(input).await.is_err() {
            return "shutting down".into();
        }
        tokio::select! {
            _ = close.cancelled() => return "closed".into(),
            _ = processed.notified() => {}
        }
    }
}

async fn write_loop(
    id: PeerId,
    mut sink: Sink,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    inputs: mpsc::Sender<Input>,
    close: CancellationToken,
) {
    loop {
        let m = tokio::select! {
            _ = close.cancelled() => break,
            m = rx.recv() => match m { Some(m) => m, None => break },
        };
        let Queued {
            frame,
            block_bytes,
            _charge: charge,
        } = m;
        let sent = tokio::select! {
            _ = close.cancelled() => break,
            r = sink.send(frame) => r,
        };
        drop(charge);
        if sent.is_err() {
            break;
        }
        if let Some((bytes, tx)) = block_bytes {
            let input = match tx {
                true => Input::TxFlushed { peer: id, bytes },
                false => Input::Flushed { peer: id, bytes },
            };
            let _ = inputs.send(input).await;
        }
    }
    close.cancel();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), sink.close()).await;
}
