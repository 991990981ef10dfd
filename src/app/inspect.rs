//! `checkchain` as text for
//! people or JSON for scripts. The CLI computes them from the store of a
//! stopped node; a running node computes the same on its chain worker
//! ([`crate::net::control::Request::Read`]). The other reads go through
//! the HTTP API's routes ([`super::reads`]).

use anyhow::Result;
use serde::Serialize;

use super::query;
use crate::chain::mempool::Mempool;
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
    }
}

fn to_json(v: &impl Serialize) -> Result<String> {
    Ok(serde_json::to_string_pretty(v)?)
}
