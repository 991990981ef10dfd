//! Esplora's address and mempool routes and transaction broadcast:
//! `address/:address[/txs[/chain/:last_seen_txid]|/utxo]`, `mempool`,
//! `mempool/txids`, `mempool/recent`, `POST tx`.
//!
//! Confirmed history comes from the store's `addr_history` index; the
//! mempool side is computed on the chain worker by a pass over the mempool
//! (bounded by its size limit).

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::error::{self, ApiError};
use super::{Api, blocking, json};
use crate::chain::{Chain, Mempool};
use crate::core::address::Address;
use crate::core::hash::Txid;
use crate::core::tx::{OutPoint, Transaction, TxOut};
use crate::protocol::{LocalReply, LocalRequest};

/// Confirmed transactions per page of `address/:address/txs`.
pub const CHAIN_TXS_PAGE: usize = 25;
/// Mempool transactions listed first by `address/:address/txs`.
pub const MEMPOOL_TXS: usize = 50;
/// Most outputs `address/:address/utxo` lists.
pub const MAX_UTXOS: usize = 1000;
/// Transactions `mempool/recent` lists.
pub const RECENT: usize = 10;

/// The routes of this file.
pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/address/{address}", get(address))
        .route("/api/address/{address}/txs", get(address_txs))
        .route(
            "/api/address/{address}/txs/chain/{last_seen_txid}",
            get(address_txs_chain),
        )
        .route("/api/address/{address}/utxo", get(address_utxo))
        .route("/api/mempool", get(mempool))
        .route("/api/mempool/txids", get(mempool_txids))
        .route("/api/mempool/recent", get(mempool_recent))
        .route("/api/tx", post(submit_tx))
}

/// The output `op` spends as the worker sees it: the UTXO set, else the
/// mempool.
fn prevout(chain: &Chain, op: &OutPoint) -> Option<TxOut> {
    chain
        .store()
        .utxo(op)
        .ok()
        .flatten()
        .or_else(|| chain.mempool().output(op))
}

/// A mempool transaction as JSON, `None` when not in the mempool.
///
/// Errors: 503 when the node is stopping.
pub async fn mempool_tx(api: &Api, txid: Txid) -> Result<Option<Value>, ApiError> {
    Ok(api
        .node
        .query(move |c| {
            let t = c.mempool().get(&txid)?;
            let prev: Vec<_> = t.inputs.iter().map(|i| prevout(c, &i.prev_out)).collect();
            Some(json::tx(t, &prev, json::status(None)))
        })
        .await?)
}

/// The mempool transaction spending `op` and the input index.
pub fn mempool_spender(pool: &Mempool, op: &OutPoint) -> Option<(Txid, u32)> {
    let txid = pool.spender(op)?;
    let vin = pool
        .get(&txid)?
        .inputs
        .iter()
        .position(|i| i.prev_out == *op)?;
    Some((txid, vin as u32))
}

/// (funded count, funded sum, spent count, spent sum, tx count) plus the
/// mempool transactions (JSON, newest first) touching `pkh`.
fn mempool_side(c: &Chain, pkh: [u8; 20], list: bool) -> ([u64; 5], Vec<Value>) {
    let mut s = [0u64; 5];
    let mut txs = Vec::new();
    for txid in c.mempool().txids().into_iter().rev() {
        let Some(t) = c.mempool().get(&txid) else {
            continue;
        };
        let prev: Vec<_> = t.inputs.iter().map(|i| prevout(c, &i.prev_out)).collect();
        let mut touched = false;
        for o in t.outputs.iter().filter(|o| o.pubkey_hash == pkh) {
            s[0] += 1;
            s[1] = s[1].saturating_add(o.value);
            touched = true;
        }
        for o in prev.iter().flatten().filter(|o| o.pubkey_hash == pkh) {
            s[2] += 1;
            s[3] = s[3].saturating_add(o.value);
            touched = true;
        }
        if touched {
            s[4] += 1;
            if list && txs.len() < MEMPOOL_TXS {
                txs.push(json::tx(t, &prev, json::status(None)));
            }
        }
    }
    (s, txs)
}

fn stats(s: [u64; 5]) -> Value {
    json!({
        "funded_txo_count": s[0], "funded_txo_sum": s[1],
        "spent_txo_count": s[2], "spent_txo_sum": s[3], "tx_count": s[4],
    })
}

async fn address(State(api): State<Api>, Path(a): Path<String>) -> Result<Json<Value>, ApiError> {
    let addr = error::address("address", &a)?;
    let pkh = addr.pubkey_hash();
    let store = api.node.store().clone();
    let chain = blocking(move || {
        let mut s = [0u64; 5];
        for e in store.address_history_all(&pkh)? {
            s[0] += u64::from(e.outputs);
            s[1] = s[1].saturating_add(e.received);
            s[2] += u64::from(e.inputs);
            s[3] = s[3].saturating_add(e.sent);
            s[4] += 1;
        }
        Ok(s)
    })
    .await?;
    let (pool, _) = api.node.query(move |c| mempool_side(c, pkh, false)).await?;
    Ok(Json(json!({
        "address": addr.to_string(),
        "chain_stats": stats(chain),
        "mempool_stats": stats(pool),
    })))
}

async fn chain_txs(api: &Api, addr: Address, before: Option<Txid>) -> Result<Vec<Value>, ApiError> {
    let store = api.node.store().clone();
    blocking(move || {
        let before = match before {
            None => None,
            Some(t) => {
                let (hash, pos) = store
                    .tx_location(&t)?
                    .ok_or_else(|| ApiError::not_found(format!("transaction {t}")))?;
                let meta = store
                    .block_meta(&hash)?
                    .ok_or_else(|| ApiError::not_found("block"))?;
                Some((meta.height, pos))
            }
        };
        let mut out = Vec::new();
        for e in store.address_history(&addr.pubkey_hash(), before, CHAIN_TXS_PAGE)? {
            let Some((hash, pos)) = store.tx_location(&e.txid)? else {
                continue;
            };
            let Some(b) = store.block(&hash)? else {
                continue;
            };
            let prev = json::confirmed_prevouts(&store, &b, pos as usize)?;
            if let Some(t) = b.transactions.get(pos as usize) {
                out.push(json::tx(t, &prev, json::status(Some(&b))));
            }
        }
        Ok(out)
    })
    .await
}

async fn address_txs(
    State(api): State<Api>,
    Path(a): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let addr = error::address("address", &a)?;
    let pkh = addr.pubkey_hash();
    let (_, mut txs) = api.node.query(move |c| mempool_side(c, pkh, true)).await?;
    txs.extend(chain_txs(&api, addr, None).await?);
    Ok(Json(Value::Array(txs)))
}

async fn address_txs_chain(
    State(api): State<Api>,
    Path((a, last)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let addr = error::address("address", &a)?;
    let last = error::txid("last_seen_txid", &last)?;
    Ok(Json(Value::Array(chain_txs(&api, addr, Some(last)).await?)))
}

async fn address_utxo(
    State(api): State<Api>,
    Path(a): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let addr = error::address("address", &a)?;
    let store = api.node.store().clone();
    blocking(move || {
        let mut out = Vec::new();
        for (op, value) in store
            .utxos_of(&addr.pubkey_hash())?
            .into_iter()
            .take(MAX_UTXOS)
        {
            let b = match store.tx_location(&op.txid)? {
                Some((hash, _)) => store.block(&hash)?,
                None => None,
            };
            out.push(json!({
                "txid": op.txid.to_string(), "vout": op.vout, "value": value,
                "status": json::status(b.as_ref()),
            }));
        }
        Ok(Json(Value::Array(out)))
    })
    .await
}

async fn mempool(State(api): State<Api>) -> Result<Json<Value>, ApiError> {
    let (count, bytes, fee) = api
        .node
        .query(|c| {
            let m = c.mempool();
            let fee = m
                .txids()
                .iter()
                .filter_map(|t| m.fee(t))
                .fold(0u64, u64::saturating_add);
            (m.len(), m.bytes(), fee)
        })
        .await?;
    Ok(Json(
        json!({"count": count, "vsize": bytes, "total_fee": fee, "fee_histogram": []}),
    ))
}

async fn mempool_txids(State(api): State<Api>) -> Result<Json<Value>, ApiError> {
    let ids = api.node.query(|c| c.mempool().txids()).await?;
    Ok(Json(json!(
        ids.iter().map(|t| t.to_string()).collect::<Vec<_>>()
    )))
}

async fn mempool_recent(State(api): State<Api>) -> Result<Json<Value>, ApiError> {
    let recent = api
        .node
        .query(|c| {
            let m = c.mempool();
            m.txids()
                .into_iter()
                .rev()
                .take(RECENT)
                .filter_map(|t| {
                    let tx = m.get(&t)?;
                    Some(json!({
                        "txid": t.to_string(),
                        "fee": m.fee(&t),
                        "vsize": crate::core::encode::encoded_len(tx.as_ref()),
                        "value": tx.output_sum(),
                    }))
                })
                .collect::<Vec<_>>()
        })
        .await?;
    Ok(Json(Value::Array(recent)))
}

async fn submit_tx(State(api): State<Api>, body: String) -> Result<String, ApiError> {
    let bytes = hex::decode(body.trim()).map_err(|e| ApiError::bad("tx", e))?;
    let tx: Transaction = crate::core::encode::decode(&bytes, super::MAX_BODY as u64)
        .map_err(|e| ApiError::bad("tx", e))?;
    match api.node.local(LocalRequest::SubmitTx(tx)).await? {
        LocalReply::Accepted(txid) => Ok(txid.to_string()),
        LocalReply::Rejected(rule) => Err(ApiError::refused(rule)),
        other => Err(ApiError::internal(format!("unexpected reply {other:?}"))),
    }
}
