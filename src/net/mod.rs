//! Peer networking (tokio). Frames and messages come from [`crate::wire`].
//!
//! * [`control`]: the local control socket the CLI uses while a node runs.
//! * [`node`]: the running node: listener, peers, sync, relay, minting.

pub mod control;
pub mod node;

pub use node::{NodeArgs, run_node};

use anyhow::{Context, Result};
use futures::SinkExt;
use tokio_util::codec::Framed;

use crate::core::tx::Transaction;
use crate::wire::frame::{Frame, FrameCodec};
use crate::wire::message::Message;
use crate::wire::payload::TxMsg;

/// Sends one `tx` message to the node at `addr` (`host:port`) on a fresh
/// connection and closes it: how `node send` reaches the seed when no node
/// runs locally.
///
/// Errors: the connection or the write failed (within 10 seconds).
pub fn send_tx_to(addr: &str, tx: &Transaction) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let stream = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        .context("timed out")??;
        let mut framed = Framed::new(stream, FrameCodec::for_messages());
        let msg = Message::Tx(TxMsg {
            addr_from: String::new(),
            transaction: tx.clone(),
        });
        framed.send(msg.to_frame()).await?;
        SinkExt::<Frame>::flush(&mut framed).await?;
        Ok(())
    })
}
