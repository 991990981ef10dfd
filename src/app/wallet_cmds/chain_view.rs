//! The chain as the wallet commands see it ([`ChainView`]): the running
//! node through its control socket, or the stopped node's store.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;

use crate::api::schema::{self, AddressStats, TxStatus, TxoStats, Utxo};
use crate::app::cli::{Ctx, Source};
use crate::app::exit::{Exit, fail};
use crate::core::address::Address;
use crate::core::hash::Txid;
use crate::core::tx::{OutPoint, TxOut};
use crate::net::control::{self, Query, Request};
use crate::store::ChainStore;
use crate::wallet::ledger::{ChainView, HistoryItem, TxState};

/// A stopped node's store as the wallet's chain view.
pub(super) struct StoreView(ChainStore);

impl ChainView for StoreView {
    fn confirmed(&self, a: &Address) -> Result<Vec<(OutPoint, TxOut)>> {
        Ok(self
            .0
            .utxos_of(&a.0)?
            .into_iter()
            .map(|(op, value)| {
                (
                    op,
                    TxOut {
                        value,
                        pubkey_hash: a.0,
                    },
                )
            })
            .collect())
    }
    fn spendable(&self, a: &Address) -> Result<Vec<(OutPoint, TxOut)>> {
        self.confirmed(a)
    }
    fn history(&self, a: &Address) -> Result<Vec<HistoryItem>> {
        Ok(self
            .0
            .address_history_all(&a.0)?
            .into_iter()
            .map(|h| HistoryItem {
                txid: h.txid,
                height: h.height,
                received: h.received,
                sent: h.sent,
            })
            .collect())
    }
    fn tx_state(&self, txid: &Txid) -> Result<TxState> {
        let Some((hash, _)) = self.0.tx_location(txid)? else {
            return Ok(TxState::Unknown);
        };
        let height = self.0.block_meta(&hash)?.map_or(0, |m| m.height);
        let tip = self.0.tip()?.height;
        Ok(TxState::Confirmed(tip.saturating_sub(height) + 1))
    }
    fn spender(&self, op: &OutPoint) -> Result<Option<Txid>> {
        Ok(self.0.spender(op)?.map(|(t, _)| t))
    }
}

/// A running node, asked over its control socket.
pub(super) struct NodeView<'a>(&'a Path);

impl NodeView<'_> {
    /// `GET path` of the node's API, parsed.
    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.get_found(path)?
            .ok_or_else(|| fail(Exit::NotFound, format!("{path}: not found")))
    }

    /// `GET path` of the node's API, parsed; `None` on 404.
    fn get_found<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<Option<T>> {
        let answer = control::request(self.0, &Request::Get(path.to_string()))
            .map_err(|e| fail(Exit::NotRunning, format!("{e:#}")))?;
        let a: control::GetAnswer = serde_json::from_str(&answer)?;
        if a.status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&a.status) {
            return Err(fail(Exit::from_http(a.status), a.body));
        }
        Ok(Some(serde_json::from_str(&a.body)?))
    }

    fn read_json(&self, query: Query) -> Result<serde_json::Value> {
        let text = control::request(self.0, &Request::Read { query, json: true })?;
        Ok(serde_json::from_str(&text)?)
    }
}

impl ChainView for NodeView<'_> {
    fn confirmed(&self, a: &Address) -> Result<Vec<(OutPoint, TxOut)>> {
        let list: Vec<Utxo> = self.get(&format!("/api/address/{a}/utxo"))?;
        let mut out = Vec::with_capacity(list.len());
        for u in list.into_iter().filter(|u| u.status.confirmed) {
            let op = OutPoint {
                txid: u.txid.parse()?,
                vout: u.vout,
            };
            let value = u.value;
            out.push((
                op,
                TxOut {
                    value,
                    pubkey_hash: a.0,
                },
            ));
        }
        Ok(out)
    }
    fn spendable(&self, a: &Address) -> Result<Vec<(OutPoint, TxOut)>> {
        control::coins(self.0, a)
    }
    fn history(&self, a: &Address) -> Result<Vec<HistoryItem>> {
        let v = self.read_json(Query::History(a.to_string()))?;
        let mut out = Vec::new();
        for h in v.as_array().into_iter().flatten() {
            out.push(HistoryItem {
                txid: h["txid"].as_str().unwrap_or_default().parse()?,
                height: h["height"].as_u64().unwrap_or_default(),
                received: h["received"].as_u64().unwrap_or_default(),
                sent: h["sent"].as_u64().unwrap_or_default(),
            });
        }
        Ok(out)
    }
    fn tx_state(&self, txid: &Txid) -> Result<TxState> {
        let Some(status) = self.get_found::<TxStatus>(&format!("/api/tx/{txid}/status"))? else {
            return Ok(TxState::Unknown);
        };
        let Some(height) = status.block_height.filter(|_| status.confirmed) else {
            return Ok(TxState::Mempool);
        };
        let tip: u64 = self.get("/api/blocks/tip/height")?;
        Ok(TxState::Confirmed(tip.saturating_sub(height) + 1))
    }
    fn spender(&self, _op: &OutPoint) -> Result<Option<Txid>> {
        Ok(None)
    }
}

/// Where the wallet commands read the chain: the running node or the
/// stopped node's store.
pub(super) enum View<'a> {
    Node(NodeView<'a>),
    Store(StoreView),
}

impl View<'_> {
    /// As the wallet's [`ChainView`].
    pub(super) fn as_ref(&self) -> &dyn ChainView {
        match self {
            View::Node(n) => n,
            View::Store(s) => s,
        }
    }

    /// `a`'s totals in the API's shape (`GET /api/address/:address`); on
    /// a stopped node `mempool_stats` is zero.
    pub(super) fn address_stats(&self, a: &Address) -> Result<AddressStats> {
        match self {
            View::Node(n) => n.get(&format!("/api/address/{a}")),
            View::Store(s) => Ok(AddressStats {
                address: a.to_string(),
                chain_stats: schema::chain_stats(&s.0, &a.0).map_err(api_err)?,
                mempool_stats: TxoStats::default(),
            }),
        }
    }

    /// The place of each of `a`'s confirmed unspent outputs, as the API's
    /// `GET /api/address/:address/utxo` gives it.
    pub(super) fn utxo_status(&self, a: &Address) -> Result<HashMap<(String, u32), TxStatus>> {
        let list: Vec<Utxo> = match self {
            View::Node(n) => n.get(&format!("/api/address/{a}/utxo"))?,
            View::Store(s) => schema::utxos(&s.0, &a.0).map_err(api_err)?,
        };
        Ok(list
            .into_iter()
            .map(|u| ((u.txid, u.vout), u.status))
            .collect())
    }
}

pub(super) fn api_err(e: crate::api::ApiError) -> anyhow::Error {
    fail(Exit::from_http(e.status.as_u16()), e.error)
}

/// The chain view of this port: the running node, else the store
/// ([`Ctx::source`]: nothing is created, and a node starting meanwhile
/// answers instead).
///
/// Errors: no node directory ([`Exit::NotRunning`]) or no chain
/// ([`Exit::NotFound`]); the store cannot be opened.
pub(super) fn view<'a>(ctx: &'a Ctx) -> Result<View<'a>> {
    match ctx.source()? {
        Source::Node => Ok(View::Node(NodeView(&ctx.paths.control))),
        Source::Store(store) => {
            store.tip()?;
            Ok(View::Store(StoreView(store)))
        }
    }
}
