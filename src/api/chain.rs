//! Esplora's block and transaction routes: `blocks[/tip|/:start_height]`,
//! `blocks/tip/{height,hash}`, `block/:hash[/status|/txids|/txid/:index|
//! /txs[/:start_index]|/header|/raw]`, `block-height/:height`,
//! `tx/:txid[/status|/hex|/raw|/merkle-proof|/outspend/:vout|/outspends]`.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};

use super::error::{self, ApiError};
use super::schema::{self, BlockStatus, Outspend, Tx, TxStatus, confirmed, load_block};
use super::{Api, blocking, indexes_ready};
use crate::chain::mtp::HeaderTimes;
use crate::core::block::Block;
use crate::core::hash::Txid;
use crate::core::tx::{OutPoint, Transaction};
use crate::store::ChainStore;

/// Transactions per page of `block/:hash/txs`.
pub const TXS_PAGE: usize = 25;
/// Blocks per page of `blocks`.
pub const BLOCKS_PAGE: u64 = 10;

/// The routes of this file.
pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/blocks/tip/height", get(tip_height))
        .route("/api/blocks/tip/hash", get(tip_hash))
        .route("/api/blocks", get(blocks_tip))
        .route("/api/blocks/tip", get(blocks_tip))
        .route("/api/blocks/{start_height}", get(blocks_from))
        .route("/api/block/{hash}", get(block))
        .route("/api/block/{hash}/status", get(block_status))
        .route("/api/block/{hash}/txids", get(block_txids))
        .route("/api/block/{hash}/txid/{index}", get(block_txid))
        .route("/api/block/{hash}/txs", get(block_txs_first))
        .route("/api/block/{hash}/txs/{start_index}", get(block_txs))
        .route("/api/block/{hash}/header", get(block_header))
        .route("/api/block/{hash}/raw", get(block_raw))
        .route("/api/block-height/{height}", get(block_height))
        .route("/api/tx/{txid}", get(tx))
        .route("/api/tx/{txid}/status", get(tx_status))
        .route("/api/tx/{txid}/hex", get(tx_hex))
        .route("/api/tx/{txid}/raw", get(tx_raw))
        .route("/api/tx/{txid}/merkle-proof", get(merkle_proof))
        .route("/api/tx/{txid}/outspend/{vout}", get(outspend))
        .route("/api/tx/{txid}/outspends", get(outspends))
}

async fn tip_height(State(api): State<Api>) -> Result<String, ApiError> {
    Ok(api.node.store().tip()?.height.to_string())
}

async fn tip_hash(State(api): State<Api>) -> Result<String, ApiError> {
    Ok(api.node.store().tip()?.hash.to_string())
}

async fn with_block<T: Send + 'static>(
    api: &Api,
    hash: &str,
    f: impl FnOnce(&ChainStore, Block) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let hash = error::block_hash("hash", hash)?;
    let store = api.node.store().clone();
    blocking(move || {
        let b = load_block(&store, &hash)?;
        f(&store, b)
    })
    .await
}

async fn blocks_tip(State(api): State<Api>) -> Result<Json<Vec<schema::Block>>, ApiError> {
    let tip = api.node.store().tip()?.height;
    blocks_page(api, tip).await
}

async fn blocks_from(
    State(api): State<Api>,
    Path(start): Path<String>,
) -> Result<Json<Vec<schema::Block>>, ApiError> {
    let start: u64 = error::number("start_height", &start)?;
    let tip = api.node.store().tip()?.height;
    blocks_page(api, start.min(tip)).await
}

async fn blocks_page(api: Api, start: u64) -> Result<Json<Vec<schema::Block>>, ApiError> {
    let store = api.node.store().clone();
    blocking(move || {
        let mut out = Vec::new();
        let times = HeaderTimes::default();
        for h in (start.saturating_sub(BLOCKS_PAGE - 1)..=start).rev() {
            if let Some(hash) = store.hash_at(h)? {
                out.push(schema::Block::new(
                    &load_block(&store, &hash)?,
                    &store,
                    &times,
                )?);
            }
        }
        Ok(Json(out))
    })
    .await
}

async fn block(
    State(api): State<Api>,
    Path(hash): Path<String>,
) -> Result<Json<schema::Block>, ApiError> {
    with_block(&api, &hash, |store, b| {
        Ok(Json(schema::Block::new(
            &b,
            store,
            &HeaderTimes::default(),
        )?))
    })
    .await
}

async fn block_status(
    State(api): State<Api>,
    Path(hash): Path<String>,
) -> Result<Json<BlockStatus>, ApiError> {
    with_block(&api, &hash, |store, b| {
        Ok(Json(schema::block_status(store, &b)?))
    })
    .await
}

async fn block_txids(
    State(api): State<Api>,
    Path(hash): Path<String>,
) -> Result<Json<Value>, ApiError> {
    with_block(&api, &hash, |_, b| {
        Ok(Json(json!(
            b.txids().iter().map(|t| t.to_string()).collect::<Vec<_>>()
        )))
    })
    .await
}

async fn block_txid(
    State(api): State<Api>,
    Path((hash, index)): Path<(String, String)>,
) -> Result<String, ApiError> {
    let index: usize = error::number("index", &index)?;
    with_block(&api, &hash, move |_, b| {
        b.transactions
            .get(index)
            .map(|t| t.txid().to_string())
            .ok_or_else(|| ApiError::not_found(format!("transaction {index} of the block")))
    })
    .await
}

/// An `application/octet-stream` answer.
fn octets(bytes: Vec<u8>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes)
}

async fn block_header(
    State(api): State<Api>,
    Path(hash): Path<String>,
) -> Result<String, ApiError> {
    with_block(&api, &hash, |_, b| Ok(hex::encode(b.header.encode()))).await
}

async fn block_raw(
    State(api): State<Api>,
    Path(hash): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    with_block(&api, &hash, |_, b| {
        Ok(octets(crate::core::encode::encode(&b)))
    })
    .await
}

async fn block_txs_first(
    State(api): State<Api>,
    Path(hash): Path<String>,
) -> Result<Json<Vec<Tx>>, ApiError> {
    block_txs_page(api, hash, 0).await
}

async fn block_txs(
    State(api): State<Api>,
    Path((hash, start)): Path<(String, String)>,
) -> Result<Json<Vec<Tx>>, ApiError> {
    let start: usize = error::number("start_index", &start)?;
    block_txs_page(api, hash, start).await
}

async fn block_txs_page(api: Api, hash: String, start: usize) -> Result<Json<Vec<Tx>>, ApiError> {
    with_block(&api, &hash, move |store, b| {
        if start >= b.transactions.len() {
            return Err(ApiError::bad(
                "start_index",
                "past the block's last transaction",
            ));
        }
        let st = TxStatus::of(Some(&b));
        let mut out = Vec::new();
        for pos in start..(start + TXS_PAGE).min(b.transactions.len()) {
            let prev = schema::confirmed_prevouts(store, &b, pos)?;
            if let Some(t) = b.transactions.get(pos) {
                out.push(Tx::new(t, &prev, st.clone()));
            }
        }
        Ok(Json(out))
    })
    .await
}

async fn block_height(
    State(api): State<Api>,
    Path(height): Path<String>,
) -> Result<String, ApiError> {
    let height: u64 = error::number("height", &height)?;
    match api.node.store().hash_at(height)? {
        Some(h) => Ok(h.to_string()),
        None => Err(ApiError::not_found(format!("block at height {height}"))),
    }
}

/// Transaction `txid`: confirmed, else from the mempool.
///
/// Errors: 404 when neither has it; 503 reading the store
/// ([`ApiError::chain_read`]) or when the node is stopping.
pub async fn find_tx(api: &Api, txid: Txid) -> Result<Tx, ApiError> {
    let store = api.node.store().clone();
    let found = blocking(move || {
        indexes_ready(&store)?;
        schema::confirmed_tx(&store, &txid)
    })
    .await?;
    if let Some(t) = found {
        return Ok(t);
    }
    api.node
        .query(move |c| schema::mempool_tx(c, &txid))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("transaction {txid}")))
}

async fn tx(State(api): State<Api>, Path(txid): Path<String>) -> Result<Json<Tx>, ApiError> {
    let txid = error::txid("txid", &txid)?;
    Ok(Json(find_tx(&api, txid).await?))
}

/// The transaction `txid` itself: confirmed, else from the mempool.
async fn raw_tx(api: &Api, txid: Txid) -> Result<Transaction, ApiError> {
    let store = api.node.store().clone();
    let found = blocking(move || {
        indexes_ready(&store)?;
        Ok(confirmed(&store, &txid)?.and_then(|(b, p)| b.transactions.get(p).cloned()))
    })
    .await?;
    if let Some(t) = found {
        return Ok(t);
    }
    api.node
        .query(move |c| c.mempool().get(&txid).map(|t| t.as_ref().clone()))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("transaction {txid}")))
}

async fn tx_hex(State(api): State<Api>, Path(txid): Path<String>) -> Result<String, ApiError> {
    let txid = error::txid("txid", &txid)?;
    let t = raw_tx(&api, txid).await?;
    Ok(hex::encode(crate::core::encode::encode(&t)))
}

async fn tx_raw(
    State(api): State<Api>,
    Path(txid): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let txid = error::txid("txid", &txid)?;
    let t = raw_tx(&api, txid).await?;
    Ok(octets(crate::core::encode::encode(&t)))
}

async fn tx_status(
    State(api): State<Api>,
    Path(txid): Path<String>,
) -> Result<Json<TxStatus>, ApiError> {
    let txid = error::txid("txid", &txid)?;
    let store = api.node.store().clone();
    let found = blocking(move || {
        indexes_ready(&store)?;
        Ok(confirmed(&store, &txid)?.map(|(b, _)| b))
    })
    .await?;
    if let Some(b) = found {
        return Ok(Json(TxStatus::of(Some(&b))));
    }
    let in_pool = api.node.query(move |c| c.mempool().contains(&txid)).await?;
    if in_pool {
        Ok(Json(TxStatus::of(None)))
    } else {
        Err(ApiError::not_found(format!("transaction {txid}")))
    }
}

/// The merkle branch of leaf `pos` among `leaves` (siblings, bottom up).
pub fn merkle_branch(leaves: &[crate::core::hash::Hash256], mut pos: usize) -> Vec<String> {
    let mut level = leaves.to_vec();
    let mut branch = Vec::new();
    while level.len() > 1 {
        let sibling = pos ^ 1;
        let s = level
            .get(sibling)
            .or(level.get(pos))
            .copied()
            .unwrap_or_default();
        branch.push(s.to_string());
        let ids: Vec<Txid> = level.iter().map(|h| Txid(*h)).collect();
        level = ids
            .chunks(2)
            .map(|pair| match pair {
                [a] => crate::core::block::merkle_root(&[*a, *a]),
                two => crate::core::block::merkle_root(two),
            })
            .collect();
        pos /= 2;
    }
    branch
}

async fn merkle_proof(
    State(api): State<Api>,
    Path(txid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let txid = error::txid("txid", &txid)?;
    let store = api.node.store().clone();
    blocking(move || {
        indexes_ready(&store)?;
        let (b, pos) = confirmed(&store, &txid)?
            .ok_or_else(|| ApiError::not_found("confirmed transaction"))?;
        let leaves: Vec<_> = b.transactions.iter().map(|t| t.wtxid()).collect();
        Ok(Json(json!({
            "block_height": b.height,
            "merkle": merkle_branch(&leaves, pos),
            "pos": pos,
        })))
    })
    .await
}

async fn spend_of(api: &Api, op: OutPoint) -> Result<Outspend, ApiError> {
    let store = api.node.store().clone();
    let found = blocking(move || {
        indexes_ready(&store)?;
        let Some((txid, vin)) = store.spender(&op)? else {
            return Ok(None);
        };
        let b = confirmed(&store, &txid)?.map(|(b, _)| b);
        Ok(Some((txid, vin, TxStatus::of(b.as_ref()))))
    })
    .await?;
    let spent = |txid: Txid, vin: u32, status: TxStatus| Outspend {
        spent: true,
        txid: Some(txid.to_string()),
        vin: Some(vin),
        status: Some(status),
    };
    if let Some((txid, vin, status)) = found {
        return Ok(spent(txid, vin, status));
    }
    let pool = api
        .node
        .query(move |c| super::addr::mempool_spender(c.mempool(), &op))
        .await?;
    Ok(match pool {
        Some((txid, vin)) => spent(txid, vin, TxStatus::of(None)),
        None => Outspend {
            spent: false,
            txid: None,
            vin: None,
            status: None,
        },
    })
}

async fn outputs_of(api: &Api, txid: Txid) -> Result<usize, ApiError> {
    let store = api.node.store().clone();
    let n = blocking(move || {
        indexes_ready(&store)?;
        Ok(confirmed(&store, &txid)?
            .and_then(|(b, p)| b.transactions.get(p).map(|t| t.outputs.len())))
    })
    .await?;
    if let Some(n) = n {
        return Ok(n);
    }
    api.node
        .query(move |c| c.mempool().get(&txid).map(|t| t.outputs.len()))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("transaction {txid}")))
}

async fn outspend(
    State(api): State<Api>,
    Path((txid, vout)): Path<(String, String)>,
) -> Result<Json<Outspend>, ApiError> {
    let txid = error::txid("txid", &txid)?;
    let vout: u32 = error::number("vout", &vout)?;
    if vout as usize >= outputs_of(&api, txid).await? {
        return Err(ApiError::not_found(format!("output {txid}:{vout}")));
    }
    Ok(Json(spend_of(&api, OutPoint { txid, vout }).await?))
}

async fn outspends(
    State(api): State<Api>,
    Path(txid): Path<String>,
) -> Result<Json<Vec<Outspend>>, ApiError> {
    let txid = error::txid("txid", &txid)?;
    let n = outputs_of(&api, txid).await?;
    let mut out = Vec::with_capacity(n);
    for vout in 0..n as u32 {
        out.push(spend_of(&api, OutPoint { txid, vout }).await?);
    }
    Ok(Json(out))
}
