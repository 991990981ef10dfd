//! The read-only queries of single objects (`getbalance`, `checkchain`,
//! `getblock`, `gettx`, `listunspent`, `mempool`) as text for people or
//! JSON for scripts. The CLI computes them from the store of a stopped
//! node; a running node computes the same on its chain worker
//! ([`crate::net::control::Request::Read`]).

use anyhow::{Result, anyhow, bail};
use serde::Serialize;

use super::query::{self, JsonBlock, JsonTx, describe, describe_tx};
use crate::chain::mempool::Mempool;
use crate::core::address::Address;
use crate::core::block::Block;
use crate::core::hash::{BlockHash, Txid};
use crate::net::control::Query;
use crate::store::ChainStore;

/// The answer to `q` as text or JSON; `mempool` is the running node's
/// (`None` on a stopped node).
///
/// Errors: a malformed address, hash, height or txid; an unknown block or
/// transaction; [`Query::Mempool`] without a mempool; the store's errors.
pub fn read(
    store: &ChainStore,
    mempool: Option<&Mempool>,
    q: &Query,
    json: bool,
) -> Result<String> {
    match q {
        Query::Balance(a) => {
            let addr: Address = a.parse()?;
            if !json {
                return Ok(query::balance_text(store, &addr)?);
            }
            let balance = store.balance(&addr.0)?;
            to_json(&serde_json::json!({ "address": addr.to_string(), "balance": balance }))
        }
        Query::CheckChain => {
            let text = query::checkchain_text(store)?;
            if !json {
                return Ok(text);
            }
            to_json(&serde_json::json!({ "ok": text == "OK", "result": text }))
        }
        Query::Block(id) => block(store, id, json),
        Query::Tx(id) => tx(store, mempool, id, json),
        Query::Unspent(a) => unspent(store, a, json),
        Query::History(a) => history(store, a),
        Query::Mempool => {
            let m = mempool.ok_or_else(|| anyhow!("mempool: the node is not running"))?;
            mempool_view(m, json)
        }
    }
}

fn to_json(v: &impl Serialize) -> Result<String> {
    Ok(serde_json::to_string_pretty(v)?)
}

#[derive(Serialize)]
struct BlockView {
    #[serde(flatten)]
    block: JsonBlock,
    best_chain: bool,
    confirmations: u64,
}

/// Confirmations of a best-chain block at `height` (0 off the best chain).
fn confirmations(store: &ChainStore, hash: &BlockHash, height: u64) -> Result<(bool, u64)> {
    let best = store.is_on_best_chain(hash)?;
    let tip = store.tip()?.height;
    Ok((best, if best { tip + 1 - height.min(tip) } else { 0 }))
}

fn block(store: &ChainStore, id: &str, json: bool) -> Result<String> {
    let hash = if id.len() == 64 {
        id.parse::<BlockHash>()
            .map_err(|e| anyhow!("block hash {id:?}: {e}"))?
    } else {
        let height: u64 = id.parse().map_err(|_| {
            anyhow!("expected a block hash (64 hex digits) or a height, got {id:?}")
        })?;
        store
            .hash_at(height)?
            .ok_or_else(|| anyhow!("no block at height {height} in the best chain"))?
    };
    let b = store
        .block(&hash)?
        .ok_or_else(|| anyhow!("block {hash} not found"))?;
    let undo = store.undo(&hash)?;
    let (best_chain, confirmations) = confirmations(store, &hash, b.height)?;
    let view = BlockView {
        block: describe(&b, undo.as_deref()),
        best_chain,
        confirmations,
    };
    if json {
        return to_json(&view);
    }
    Ok(format!(
        "{}\nConfirmations: {confirmations}",
        query::block_text(&view.block)
    ))
}

/// Finds `txid` in the best chain through the transaction index (kept
/// with every connect and disconnect); the block and the transaction's
/// position in it.
///
/// Errors: the store's; an index entry naming a block that is not stored.
pub fn find_tx(store: &ChainStore, txid: &Txid) -> Result<Option<(Block, usize)>> {
    let Some((hash, pos)) = store.tx_location(txid)? else {
        return Ok(None);
    };
    let block = store
        .block(&hash)?
        .ok_or_else(|| anyhow!("transaction index names block {hash}, which is not stored"))?;
    Ok(Some((block, pos as usize)))
}

#[derive(Serialize)]
struct TxView {
    txid: String,
    /// `mempool` or `confirmed`.
    status: &'static str,
    block_hash: Option<String>,
    height: Option<u64>,
    confirmations: u64,
    fee: Option<u64>,
    transaction: JsonTx,
}

fn tx(store: &ChainStore, mempool: Option<&Mempool>, id: &str, json: bool) -> Result<String> {
    let txid: Txid = id.parse().map_err(|e| anyhow!("txid {id:?}: {e}"))?;
    let view = if let Some(t) = mempool.and_then(|m| m.get(&txid)) {
        TxView {
            txid: txid.to_string(),
            status: "mempool",
            block_hash: None,
            height: None,
            confirmations: 0,
            fee: mempool.and_then(|m| m.fee(&txid)),
            transaction: describe_tx(t, &mut std::iter::empty(), false),
        }
    } else {
        let Some((b, i)) = find_tx(store, &txid)? else {
            bail!("transaction {txid} not found in the mempool or the best chain");
        };
        let hash = b.hash();
        let undo = store.undo(&hash)?;
        let (_, confirmations) = confirmations(store, &hash, b.height)?;
        let mut block = describe(&b, undo.as_deref());
        if i >= block.transactions.len() {
            bail!("transaction {txid} not found");
        }
        TxView {
            txid: txid.to_string(),
            status: "confirmed",
            block_hash: Some(hash.to_string()),
            height: Some(b.height),
            confirmations,
            fee: None,
            transaction: block.transactions.swap_remove(i),
        }
    };
    if json {
        return to_json(&view);
    }
    let mut s = query::tx_text(&view.transaction);
    match (&view.block_hash, view.height) {
        (Some(h), Some(height)) => s.push_str(&format!(
            "Block: {h} at height {height} ({} confirmations)",
            view.confirmations
        )),
        _ => s.push_str(&format!(
            "In the mempool (fee {})",
            view.fee.unwrap_or_default()
        )),
    }
    Ok(s)
}

#[derive(Serialize)]
struct Unspent {
    txid: String,
    vout: u32,
    value: u64,
}

fn unspent(store: &ChainStore, a: &str, json: bool) -> Result<String> {
    let addr: Address = a.parse()?;
    let list: Vec<Unspent> = store
        .utxos_of(&addr.0)?
        .into_iter()
        .map(|(op, value)| Unspent {
            txid: op.txid.to_string(),
            vout: op.vout,
            value,
        })
        .collect();
    if json {
        return to_json(&list);
    }
    if list.is_empty() {
        return Ok(format!("no unspent outputs for {addr}"));
    }
    let lines: Vec<String> = list
        .iter()
        .map(|u| format!("{}:{} {}", u.txid, u.vout, u.value))
        .collect();
    Ok(lines.join("\n"))
}

/// The confirmed history of an address as JSON (for wallets): txid,
/// height, received and sent whole coins, oldest first.
fn history(store: &ChainStore, a: &str) -> Result<String> {
    let addr: Address = a.parse()?;
    let list: Vec<serde_json::Value> = store
        .address_history_all(&addr.0)?
        .into_iter()
        .map(|h| {
            serde_json::json!({
                "txid": h.txid.to_string(),
                "height": h.height,
                "received": h.received,
                "sent": h.sent,
            })
        })
        .collect();
    to_json(&list)
}

#[derive(Serialize)]
struct MempoolEntry {
    txid: String,
    fee: u64,
}

fn mempool_view(m: &Mempool, json: bool) -> Result<String> {
    let list: Vec<MempoolEntry> = m
        .txids()
        .into_iter()
        .map(|t| MempoolEntry {
            txid: t.to_string(),
            fee: m.fee(&t).unwrap_or_default(),
        })
        .collect();
    if json {
        return to_json(&list);
    }
    if list.is_empty() {
        return Ok("the mempool is empty".to_string());
    }
    let lines: Vec<String> = list
        .iter()
        .map(|e| format!("{} fee {}", e.txid, e.fee))
        .collect();
    Ok(lines.join("\n"))
}
