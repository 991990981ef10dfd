//! One peer connection: a reader that turns frames into protocol inputs
//! and a writer that drains a bounded queue of outgoing messages.

use std::net::SocketAddr;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::chain::PeerId;
use crate::protocol::Input;
use crate::wire::frame::{Frame, FrameCodec, FrameError};
use crate::wire::message::Message;

/// Messages queued to one peer before it counts as not reading and is
/// dropped.
pub const PEER_QUEUE: usize = 1024;

/// The reactor's handle on a running peer connection.
pub struct PeerHandle {
    /// The remote address.
    pub addr: SocketAddr,
    /// Outgoing messages.
    pub tx: mpsc::Sender<Message>,
    /// Closes the connection.
    pub close: CancellationToken,
}

/// Starts the tasks of a connection and returns its handle. Inputs go to
/// `inputs`, ending with [`Input::Disconnected`]. `permit` (an inbound
/// slot) is held until the connection closes.
pub fn spawn(
    id: PeerId,
    stream: TcpStream,
    addr: SocketAddr,
    inputs: mpsc::Sender<Input>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) -> PeerHandle {
    let _ = stream.set_nodelay(true);
    let (sink, frames) = Framed::new(stream, FrameCodec::for_messages()).split();
    let (tx, rx) = mpsc::channel::<Message>(PEER_QUEUE);
    let close = CancellationToken::new();
    let writer = tokio::spawn(write_loop(id, sink, rx, inputs.clone(), close.clone()));
    let token = close.clone();
    tokio::spawn(async move {
        let reason = read_loop(id, frames, &inputs, &token).await;
        token.cancel();
        let _ = writer.await;
        if reason == "closed by peer" || reason == "closed" {
            debug!("disconnected {addr}: {reason}");
        } else {
            info!("disconnected {addr}: {reason}");
        }
        let _ = inputs.send(Input::Disconnected { peer: id }).await;
        drop(permit);
    });
    PeerHandle { addr, tx, close }
}

type Frames = futures::stream::SplitStream<Framed<TcpStream, FrameCodec>>;
type Sink = futures::stream::SplitSink<Framed<TcpStream, FrameCodec>, Frame>;

async fn read_loop(
    id: PeerId,
    mut frames: Frames,
    inputs: &mpsc::Sender<Input>,
    close: &CancellationToken,
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
    }
}

async fn write_loop(
    id: PeerId,
    mut sink: Sink,
    mut rx: mpsc::Receiver<Message>,
    inputs: mpsc::Sender<Input>,
    close: CancellationToken,
) {
    loop {
        let m = tokio::select! {
            _ = close.cancelled() => break,
            m = rx.recv() => match m { Some(m) => m, None => break },
        };
        let block_bytes = match &m {
            Message::Block(b) => Some(b.block.encoded_size()),
            _ => None,
        };
        let sent = tokio::select! {
            _ = close.cancelled() => break,
            r = sink.send(m.to_frame()) => r,
        };
        if sent.is_err() {
            break;
        }
        if let Some(bytes) = block_bytes {
            let _ = inputs.send(Input::Flushed { peer: id, bytes }).await;
        }
    }
    close.cancel();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), sink.close()).await;
}
