//! Esplora's address and mempool routes and transaction broadcast:
//! `address/:address[/txs[/chain[/:last_seen_txid]|/mempool]|/utxo]`,
//! `mempool`, `mempool/txids`, `mempool/recent`, `fee-estimates`,
//! `POST tx`; and sledchain's `node/mempool` (every mempool entry) and
//! `POST txs` (many transactions in one request).
//!
//! Confirmed history comes from the store's address-history index; the
//! mempool side is computed on the chain worker by a pass over the mempool
//! (bounded by its size limit).

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::error::{self, ApiError};
use super::schema::{self, AddressStats, MempoolEntry, MempoolInfo, TxStatus, TxoStats, Utxo};
use super::{Api, blocking, indexes_ready};
use crate::chain::{Chain, Mempool};
use crate::core::address::Address;
use crate::core::hash::Txid;
use crate::core::tx::{OutPoint, Transaction};
use crate::protocol::{LocalReply, LocalRequest};

/// Confirmed transactions per page of `address/:address/txs`.
pub const CHAIN_TXS_PAGE: usize = 25;
/// Mempool transactions listed first by `address/:address/txs`.
pub const MEMPOOL_TXS: usize = 50;
/// Transactions `mempool/recent` lists.
pub const RECENT: usize = 10;
/// Most entries `node/mempool` lists (highest fee rate first).
pub const MAX_MEMPOOL_LIST: usize = 10_000;
/// Most transactions one `POST /api/txs` may carry (the body is bounded
/// by [`super::MAX_BODY`] bytes as well).
pub const MAX_TXS_PER_POST: usize = 1_000;

/// The routes of this file.
pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/address/{address}", get(address))
        .route("/api/address/{address}/txs", get(address_txs))
        .route(
            "/api/address/{address}/txs/chain/{last_seen_txid}",
            get(address_txs_chain),
        )
        .route(
            "/api/address/{address}/txs/chain",
            get(address_txs_chain_first),
        )
        .route(
            "/api/address/{address}/txs/mempool",
            get(address_txs_mempool),
        )
        .route("/api/address/{address}/utxo", get(address_utxo))
        .route("/api/mempool", get(mempool))
        .route("/api/node/mempool", get(mempool_entries))
        .route("/api/fee-estimates", get(fee_estimates))
        .route("/api/mempool/txids", get(mempool_txids))
        .route("/api/mempool/recent", get(mempool_recent))
        .route("/api/tx", post(submit_tx))
        .route("/api/txs", post(submit_txs))
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

/// The mempool totals of `pkh` and the mempool transactions (newest
/// first, at most [`MEMPOOL_TXS`] when `list`) touching it.
fn mempool_side(c: &Chain, pkh: [u8; 20], list: bool) -> (TxoStats, Vec<schema::Tx>) {
    let mut s = TxoStats::default();
    let mut txs = Vec::new();
    for txid in c.mempool().txids().into_iter().rev() {
        let Some(t) = c.mempool().get(&txid) else {
            continue;
        };
        let prev: Vec<_> = t
            .inputs
            .iter()
            .map(|i| schema::prevout(c, &i.prev_out))
            .collect();
        let mut touched = false;
        for o in t.outputs.iter().filter(|o| o.pubkey_hash == pkh) {
            s.funded_txo_count += 1;
            s.funded_txo_sum = s.funded_txo_sum.saturating_add(o.value);
            touched = true;
        }
        for o in prev.iter().flatten().filter(|o| o.pubkey_hash == pkh) {
            s.spent_txo_count += 1;
            s.spent_txo_sum = s.spent_txo_sum.saturating_add(o.value);
            touched = true;
        }
        if touched {
            s.tx_count += 1;
            if list && txs.len() < MEMPOOL_TXS {
                txs.push(schema::Tx::new(t, &prev, TxStatus::of(None)));
            }
        }
    }
    (s, txs)
}

async fn address(
    State(api): State<Api>,
    Path(a): Path<String>,
) -> Result<Json<AddressStats>, ApiError> {
    let addr = error::address("address", &a)?;
    let pkh = addr.pubkey_hash();
    let store = api.node.store().clone();
    let chain = blocking(move || {
        indexes_ready(&store)?;
        schema::chain_stats(&store, &pkh)
    })
    .await?;
    let (pool, _) = api.node.query(move |c| mempool_side(c, pkh, false)).await?;
    Ok(Json(AddressStats {
        address: addr.to_string(),
        chain_stats: chain,
        mempool_stats: pool,
    }))
}

async fn chain_txs(
    api: &Api,
    addr: Address,
    before: Option<Txid>,
) -> Result<Vec<schema::Tx>, ApiError> {
    let store = api.node.store().clone();
    blocking(move || {
        indexes_ready(&store)?;
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
            let prev = schema::confirmed_prevouts(&store, &b, pos as usize)?;
            if let Some(t) = b.transactions.get(pos as usize) {
                out.push(schema::Tx::new(t, &prev, TxStatus::of(Some(&b))));
            }
        }
        Ok(out)
    })
    .await
}

async fn address_txs(
    State(api): State<Api>,
    Path(a): Path<String>,
) -> Result<Json<Vec<schema::Tx>>, ApiError> {
    let addr = error::address("address", &a)?;
    let pkh = addr.pubkey_hash();
    let (_, mut txs) = api.node.query(move |c| mempool_side(c, pkh, true)).await?;
    txs.extend(chain_txs(&api, addr, None).await?);
    Ok(Json(txs))
}

async fn address_txs_chain_first(
    State(api): State<Api>,
    Path(a): Path<String>,
) -> Result<Json<Vec<schema::Tx>>, ApiError> {
    let addr = error::address("address", &a)?;
    Ok(Json(chain_txs(&api, addr, None).await?))
}

async fn address_txs_chain(
    State(api): State<Api>,
    Path((a, last)): Path<(String, String)>,
) -> Result<Json<Vec<schema::Tx>>, ApiError> {
    let addr = error::address("address", &a)?;
    let last = error::txid("last_seen_txid", &last)?;
    Ok(Json(chain_txs(&api, addr, Some(last)).await?))
}

async fn address_txs_mempool(
    State(api): State<Api>,
    Path(a): Path<String>,
) -> Result<Json<Vec<schema::Tx>>, ApiError> {
    let addr = error::address("address", &a)?;
    let pkh = addr.pubkey_hash();
    let (_, txs) = api.node.query(move |c| mempool_side(c, pkh, true)).await?;
    Ok(Json(txs))
}

async fn address_utxo(
    State(api): State<Api>,
    Path(a): Path<String>,
) -> Result<Json<Vec<Utxo>>, ApiError> {
    let addr = error::address("address", &a)?;
    let store = api.node.store().clone();
    Ok(Json(
        blocking(move || {
            indexes_ready(&store)?;
            schema::utxos(&store, &addr.pubkey_hash())
        })
        .await?,
    ))
}

async fn mempool(State(api): State<Api>) -> Result<Json<MempoolInfo>, ApiError> {
    Ok(Json(
        api.node
            .query(|c| schema::mempool_info(c.mempool()))
            .await?,
    ))
}

/// Every mempool entry (at most [`MAX_MEMPOOL_LIST`]), in the order the
/// mempool took them.
///
/// Errors: 503 when the node is stopping.
pub async fn mempool_list(api: &Api) -> Result<Vec<MempoolEntry>, ApiError> {
    Ok(api
        .node
        .query(|c| {
            let m = c.mempool();
            m.txids()
                .iter()
                .take(MAX_MEMPOOL_LIST)
                .filter_map(|t| schema::mempool_entry(m, t))
                .collect::<Vec<_>>()
        })
        .await?)
}

async fn mempool_entries(State(api): State<Api>) -> Result<Json<Vec<MempoolEntry>>, ApiError> {
    Ok(Json(mempool_list(&api).await?))
}

async fn fee_estimates(State(api): State<Api>) -> Result<Json<Value>, ApiError> {
    let entries = api
        .node
        .query(|c| {
            let m = c.mempool();
            m.txids()
                .iter()
                .filter_map(|t| schema::mempool_entry(m, t))
                .map(|e| (e.fee, e.vsize))
                .collect::<Vec<_>>()
        })
        .await?;
    let est = schema::fee_estimates(&entries, crate::core::params::MAX_BLOCK_SIZE);
    let map: serde_json::Map<String, Value> = est
        .into_iter()
        .map(|(n, r)| (n.to_string(), json!(r)))
        .collect();
    Ok(Json(Value::Object(map)))
}

async fn mempool_txids(State(api): State<Api>) -> Result<Json<Value>, ApiError> {
    let ids = api.node.query(|c| c.mempool().txids()).await?;
    Ok(Json(json!(
        ids.iter().map(|t| t.to_string()).collect::<Vec<_>>()
    )))
}

async fn mempool_recent(State(api): State<Api>) -> Result<Json<Vec<MempoolEntry>>, ApiError> {
    let recent = api
        .node
        .query(|c| {
            let m = c.mempool();
            m.txids()
                .into_iter()
                .rev()
                .take(RECENT)
                .filter_map(|t| schema::mempool_entry(m, &t))
                .collect::<Vec<_>>()
        })
        .await?;
    Ok(Json(recent))
}

/// A transaction from its wire encoding in hex.
///
/// Errors: 400 with `field` `tx` when `text` is not hex or not a
/// transaction.
fn decode_tx(text: &str) -> Result<Transaction, ApiError> {
    let bytes = hex::decode(text).map_err(|e| ApiError::bad("tx", e))?;
    crate::core::encode::decode(&bytes, super::MAX_BODY as u64).map_err(|e| ApiError::bad("tx", e))
}

async fn submit_tx(State(api): State<Api>, body: String) -> Result<String, ApiError> {
    // The hex, bare (`text/plain`) or as a JSON string (`application/json`).
    let text = body.trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let tx = decode_tx(text)?;
    match api.node.local(LocalRequest::SubmitTx(tx)).await? {
        LocalReply::Accepted(txid) => Ok(txid.to_string()),
        LocalReply::Rejected(rule) => Err(ApiError::refused(rule)),
        other => Err(ApiError::unexpected(other)),
    }
}

/// `POST /api/txs`: a JSON array of up to [`MAX_TXS_PER_POST`]
/// transactions in hex, each handed to the node as `POST /api/tx` would,
/// in the order given and before any verdict is awaited (so the chain
/// worker checks them in runs). Answers one [`schema::SubmitResult`] per
/// item, in order: the txid and `error` null when accepted, else the
/// rule, or why the item is not a transaction (its txid then null).
///
/// Errors: 400 with `field` `txs` when the body is not a JSON array of
/// strings or holds more than [`MAX_TXS_PER_POST`] items (nothing is
/// submitted); 503 while the node stops.
async fn submit_txs(
    State(api): State<Api>,
    body: String,
) -> Result<Json<Vec<schema::SubmitResult>>, ApiError> {
    let items: Vec<String> = serde_json::from_str(&body).map_err(|e| ApiError::bad("txs", e))?;
    if items.len() > MAX_TXS_PER_POST {
        return Err(ApiError::bad(
            "txs",
            format!(
                "{} transactions: at most {MAX_TXS_PER_POST} per request",
                items.len()
            ),
        ));
    }
    let node = &api.node;
    let verdicts = futures::future::join_all(items.iter().map(|item| async move {
        let tx = match decode_tx(item.trim()) {
            Ok(tx) => tx,
            Err(e) => return Ok((None, Some(e.error))),
        };
        let txid = tx.txid();
        match node.local(LocalRequest::SubmitTx(tx)).await? {
            LocalReply::Accepted(_) => Ok((Some(txid), None)),
            LocalReply::Rejected(rule) => Ok((Some(txid), Some(rule))),
            other => Err(ApiError::unexpected(other)),
        }
    }))
    .await;
    let mut out = Vec::with_capacity(verdicts.len());
    for verdict in verdicts {
        let (txid, error): (Option<Txid>, Option<String>) = verdict?;
        out.push(schema::SubmitResult {
            txid: txid.map(|t| t.to_string()),
            error,
        });
    }
    Ok(Json(out))
}
