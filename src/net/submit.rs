//! `node send` without a local node: hand a transaction to a node over P2P
//! and learn its verdict.
//!
//! The protocol has no reject message. After `version` and `tx`, the
//! client asks `getdata` for the txid until the node answers `tx` (it holds
//! the transaction in its mempool: accepted) or the deadline passes with
//! only `notfound` answers (it did not accept it). The node validates on
//! its chain worker, so the first answers may be `notfound` while the
//! transaction waits in line; the deadline covers that wait. A minter may
//! mine the transaction before an ask reaches the node: the client also
//! fetches every block the node announces by `inv`, and a block holding
//! the transaction counts as accepted.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use crate::core::tx::Transaction;
use crate::wire::frame::{Frame, FrameCodec};
use crate::wire::message::Message;
use crate::wire::payload::{GetData, InvKind, PROTOCOL_VERSION, TxMsg, Version};

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between two `getdata` asks, in milliseconds.
const ASK_EVERY_MS: u64 = 100;

/// What the node did with a submitted transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxVerdict {
    /// The node answered `tx`: the transaction is in its mempool.
    Accepted,
    /// Only `notfound` until the deadline: the node refused it (the rule
    /// is in the node's log; the protocol does not carry it).
    NotAccepted,
}

/// Sends `tx` to the node at `addr` (`host:port`) on a fresh connection and
/// waits up to `wait` for its verdict (module docs).
///
/// Errors: the connection failed (within 10 seconds), a write failed, or the
/// node closed the connection or sent a malformed frame before a verdict.
pub fn submit_tx(addr: &str, tx: &Transaction, wait: Duration) -> Result<TxVerdict> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(submit(addr, tx, wait))
}

/// Says `version` (a peer must say it first; this one has no chain and no
/// listen address), then sends `tx`.
async fn hand_over(framed: &mut Framed<TcpStream, FrameCodec>, tx: &Transaction) -> Result<()> {
    let hello = Message::Version(Version {
        version: PROTOCOL_VERSION,
        best_height: 0,
        addr_from: String::new(),
        genesis: None,
        nonce: crate::core::params::now_secs() ^ u64::from(std::process::id()) << 32,
    });
    framed.send(hello.to_frame()).await?;
    let msg = Message::Tx(TxMsg {
        addr_from: String::new(),
        transaction: tx.clone(),
    });
    framed.send(msg.to_frame()).await?;
    Ok(())
}

async fn submit(addr: &str, tx: &Transaction, wait: Duration) -> Result<TxVerdict> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .context("timed out")??;
    let mut framed = Framed::new(stream, FrameCodec::for_messages());
    hand_over(&mut framed, tx).await?;
    let txid = tx.txid();
    let deadline = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < deadline {
        let ask = Message::GetData(GetData {
            addr_from: String::new(),
            kind: InvKind::Tx,
            items: vec![txid.0],
        });
        framed.send(ask.to_frame()).await?;
        SinkExt::<Frame>::flush(&mut framed).await?;
        // Read until this ask's answer; other messages (version, inv,
        // ping, getblocks) are not for us.
        loop {
            let next = tokio::time::timeout_at(deadline, framed.next()).await;
            let Ok(frame) = next else {
                return Ok(TxVerdict::NotAccepted);
            };
            let Some(frame) = frame else {
                bail!("the node closed the connection before answering");
            };
            match Message::from_frame(&frame?) {
                Ok(Message::Tx(t)) if t.transaction.txid() == txid => {
                    return Ok(TxVerdict::Accepted);
                }
                Ok(Message::NotFound(n)) if n.items.contains(&txid.0) => break,
                Ok(Message::Inv(inv)) if inv.kind == InvKind::Block => {
                    let fetch = Message::GetData(GetData {
                        addr_from: String::new(),
                        kind: InvKind::Block,
                        items: inv.items,
                    });
                    framed.send(fetch.to_frame()).await?;
                }
                Ok(Message::Block(b)) if b.block.transactions.iter().any(|t| t.txid() == txid) => {
                    return Ok(TxVerdict::Accepted);
                }
                Ok(Message::Ping(n)) => framed.send(Message::Pong(n).to_frame()).await?,
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(ASK_EVERY_MS)).await;
    }
    Ok(TxVerdict::NotAccepted)
}
