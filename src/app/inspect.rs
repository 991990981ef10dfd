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
