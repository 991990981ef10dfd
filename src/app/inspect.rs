//! `checkchain` as text for
//! people or JSON for scripts. The CLI computes them from the store of a
//! stopped node; a running node computes the same on its chain worker
//! ([`crate::net::control::Request::Read`]). The other reads go through
//! the HTTP API's routes ([`super::reads`]).

use anyhow::Result;
use serde::Serialize;

use super::query;
use crate::chain::mempool::Mempool;
use crate::core::address::Address;
use crate::net::control::Query;
use crate::store::ChainStore;

/// The answer to `q` as text or JSON; `mempool` is the running node's
/// (`None` on a stopped node; no query reads it today).
///
/// Errors: the store's.
pub fn read(
    store: &ChainStore,
    mempool: Option<&Mempool>,
    q: &Query,
    json: bool,
) -> Result<String> {
    let _ = mempool;
    match q {
        Query::CheckChain => {
            let text = query::checkchain_text(store)?;
            if !json {
                return Ok(text);
            }
            to_json(&serde_json::json!({ "ok": text == "OK", "result": text }))
        }
        Query::History(a) => history(store, a),
    }
}

/// [`read`] for a running node's control socket, on a blocking thread off
/// the chain worker (no query reads the mempool): an address history
/// ([`Query::History`]) is refused while the explorer indexes trail the
/// tip by more than [`crate::api::INDEX_MAX_LAG`] blocks, as the HTTP
/// API's index routes are (the index builder is catching up; the read
/// would otherwise build the missing blocks' entries itself first).
///
/// Errors: [`crate::store::StoreError::IndexBehind`] then; as [`read`].
pub fn read_off_worker(store: &ChainStore, q: &Query, json: bool) -> Result<String> {
    if matches!(q, Query::History(_)) {
        store.check_indexes(crate::api::INDEX_MAX_LAG)?;
    }
    read(store, None, q, json)
}

fn to_json(v: &impl Serialize) -> Result<String> {
    Ok(serde_json::to_string_pretty(v)?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::block::Block;
    use crate::core::hash::BlockHash;

    #[test]
    fn a_running_nodes_history_waits_for_the_index_builder_when_far_behind() {
        let store = ChainStore::temporary().expect("store");
        let payee = [1; 20];
        let g = Block::template(BlockHash::ZERO, 0, 1, 1, payee, 50, vec![]);
        store.init_genesis(&g).expect("genesis");
        let mut prev = g.hash();
        let tip = crate::api::INDEX_MAX_LAG + 5;
        for h in 1..=tip {
            let b = Block::template(prev, h, 1, 1 + h as u32, payee, 50, vec![]);
            store.connect_block(&b, &[]).expect("connect");
            prev = b.hash();
        }
        let q = Query::History(Address(payee).to_string());
        let e = read_off_worker(&store, &q, true).expect_err("far behind");
        assert!(e.to_string().contains("catching up"), "{e}");
        assert_eq!(store.indexed_height().expect("read"), None, "built inline");
        // Caught up by the builder, the history answers.
        store.sync_indexes().expect("index");
        let text = read_off_worker(&store, &q, true).expect("history");
        let list: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(list.as_array().map(Vec::len), Some(tip as usize + 1));
    }
}
