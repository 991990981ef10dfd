//! The local control socket: how CLI commands reach a running node.
//!
//! sled locks the database while the node runs, so the read commands
//! (`getbalance`, `printchain`, `status`, `checkchain`, `getblock`, `gettx`,
//! `listunspent`), `send`, and the running node's own commands (`peers`,
//! `mempool`, `addpeer`, `mint`) for that port talk to the node through the
//! Unix socket `DATADIR/PORT/control.sock` instead (mode 0600,
//! inside the node's own directory; never the P2P port). The object reads
//! ask the node's HTTP API routes in-process ([`Request::Get`]), so they
//! print exactly what the API answers.
//!
//! Protocol: one JSON [`Request`] per line from the client, one JSON
//! [`Response`] line back, then the client closes. Private keys never cross
//! it: `send` asks for spendable coins, signs in the CLI process, and submits
//! the signed transaction.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, anyhow};
use serde::{Deserialize, Serialize};

use crate::core::address::Address;
use crate::core::tx::{OutPoint, Transaction, TxOut};

/// Largest request line the node reads, in bytes.
pub const MAX_REQUEST: usize = 2_000_000;

/// Most transactions one [`Request::SubmitTxs`] may carry (the request
/// line is bounded by [`MAX_REQUEST`] bytes as well).
pub const MAX_SUBMIT_BATCH: usize = 1_000;

/// A request to the running node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// `status` text.
    Status,
    /// `getbalance` text for an address.
    Balance(String),
    /// `printchain` text (`true` = JSON), with the recorded block status.
    PrintChain(bool),
    /// `printchain --verify` text (`true` = JSON): every signature verified
    /// again.
    PrintChainVerified(bool),
    /// `checkchain` text.
    CheckChain,
    /// Spendable coins of an address (JSON list of outpoint and output).
    Coins(String),
    /// Add a signed transaction to the mempool and relay it; answers its txid.
    SubmitTx(Transaction),
    /// [`Request::SubmitTx`] for each of up to [`MAX_SUBMIT_BATCH`]
    /// transactions, handed to the node in the order given (a child may
    /// follow its parent) and checked as they come: one round trip for
    /// many. Answers a JSON list of [`SubmitResult`], one per
    /// transaction, in the same order, once every verdict is in; a
    /// refused transaction does not stop the others. More than
    /// [`MAX_SUBMIT_BATCH`] transactions is an error for the whole
    /// request, and nothing is submitted.
    SubmitTxs(Vec<Transaction>),
    /// A read-only chain query, as text (`json` false) or JSON.
    Read {
        /// What to read.
        query: Query,
        /// JSON instead of text.
        json: bool,
    },
    /// Dial `HOST:PORT` now.
    AddPeer(String),
    /// A minter mints a block now from its mempool.
    Mint,
    /// `GET` of this HTTP API path (`/api/...`), answered in-process by the
    /// node's API router (even with `--http off`) as a JSON [`GetAnswer`].
    Get(String),
}

/// The answer to [`Request::Get`]: the HTTP status and body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetAnswer {
    /// HTTP status code.
    pub status: u16,
    /// The body, as the HTTP API sends it.
    pub body: String,
}

/// The verdict on one transaction of [`Request::SubmitTxs`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitResult {
    /// Its txid (hex, as `node send` prints it).
    pub txid: String,
    /// `None`: the node accepted it into its mempool (and relays it);
    /// otherwise why it was refused (the rule, as [`Request::SubmitTx`]
    /// answers it).
    pub error: Option<String>,
}

/// The read-only chain queries of [`Request::Read`]; a stopped node's CLI
/// answers the same from its store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Query {
    /// Verify the chain and the UTXO set.
    CheckChain,
    /// Confirmed history of an address, oldest first (JSON list of txid,
    /// height, received, sent).
    History(String),
}

/// The node's answer: exactly one of `ok` (the text to print) or `err`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    /// Output text on success.
    pub ok: Option<String>,
    /// Error message on failure.
    pub err: Option<String>,
}

/// True when a node answers on the control socket at `path`.
pub fn is_running(path: &Path) -> bool {
    path.exists() && UnixStream::connect(path).is_ok()
}

/// Sends `req` to the node at `path` and returns its text.
///
/// Errors: the node's own error text, or an I/O error reaching it.
pub fn request(path: &Path, req: &Request) -> Result<String> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(600)))?;
    let mut line = serde_json::to_string(req)?;
    line.push('\n');
    s.write_all(line.as_bytes())?;
    let mut reader = BufReader::new(s);
    let mut answer = String::new();
    reader.read_line(&mut answer)?;
    let resp: Response =
        serde_json::from_str(&answer).map_err(|e| anyhow!("bad answer from the node: {e}"))?;
    match (resp.ok, resp.err) {
        (Some(ok), _) => Ok(ok),
        (None, Some(err)) => Err(anyhow!(err)),
        (None, None) => Err(anyhow!("empty answer from the node")),
    }
}

/// Submits `txs` in one [`Request::SubmitTxs`] and returns the verdict
/// on each, in order.
///
/// Errors: the node's error text for the whole request (more than
/// [`MAX_SUBMIT_BATCH`] transactions, a request line over
/// [`MAX_REQUEST`] bytes), an I/O error reaching it, or an answer that
/// is not the list.
pub fn submit_txs(path: &Path, txs: &[Transaction]) -> Result<Vec<SubmitResult>> {
    let text = request(path, &Request::SubmitTxs(txs.to_vec()))?;
    serde_json::from_str(&text).map_err(|e| anyhow!("bad answer from the node: {e}"))
}

/// Spendable coins of `addr` as the running node sees them (confirmed and
/// not spent by its mempool, plus unconfirmed change).
pub fn coins(path: &Path, addr: &Address) -> Result<Vec<(OutPoint, TxOut)>> {
    let text = request(path, &Request::Coins(addr.to_string()))?;
    Ok(serde_json::from_str(&text)?)
}
