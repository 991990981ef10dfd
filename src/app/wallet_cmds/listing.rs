//! Reading a wallet: `listaddresses`, wallet-wide `getbalance` and
//! `listunspent`, and `listtransactions`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use super::chain_view::{View, view};
use super::to_json;
use crate::api::schema::{TxStatus, TxoStats};
use crate::app::cli::Ctx;
use crate::core::address::Address;
use crate::core::hash::Txid;
use crate::wallet::Wallets;
use crate::wallet::ledger::{self, ChainView, Resolution};

/// Arguments of the wallet-wide reads (`getbalance`, `listunspent`,
/// `listtransactions` without `--address`).
#[derive(Args, Debug, Clone)]
pub struct ReadArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}
/// `listaddresses`: every address of the wallet.
///
/// Errors: no node directory on this port
/// ([`crate::app::exit::Exit::NotRunning`], naming it and `--datadir`);
/// the wallet file's.
pub fn listaddresses(ctx: &Ctx, json: bool) -> Result<()> {
    // A port with no node directory is a mistake, not an empty wallet
    // (read commands create nothing).
    if !ctx.paths.dir.is_dir() {
        ctx.need_store()?;
    }
    let addrs = Wallets::load(&ctx.paths.wallet)?.addresses();
    if json {
        let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        crate::app::out(to_json(&list)?)?;
        return Ok(());
    }
    for a in addrs {
        crate::app::out(a)?;
    }
    Ok(())
}

/// The wallet with the pending payments the chain settled left out (in
/// memory only; `send` forgets them on disk).
pub(super) fn load_current(ctx: &Ctx, view: &dyn ChainView) -> Result<Wallets> {
    let mut w = Wallets::load(&ctx.paths.wallet)?;
    let settled: Vec<Txid> = ledger::resolve_pending(&w, view)?
        .iter()
        .map(|r| match r {
            Resolution::Mined(t) | Resolution::Conflicted(t, _) => *t,
        })
        .collect();
    w.forget_pending_unsaved(&settled);
    Ok(w)
}

/// The whole wallet's balance (`getbalance --json` without `--address`):
/// the wallet's own figures, and the API's address totals summed over
/// every wallet address.
#[derive(Debug, Serialize)]
pub(super) struct WalletBalance {
    /// Sum of the wallet's coins in the best chain, whole coins.
    confirmed: u64,
    /// What unconfirmed transactions (pending payments, a running node's
    /// mempool) change, whole coins; negative while a payment is pending.
    unconfirmed: i64,
    /// What the wallet can spend now: `confirmed + unconfirmed`.
    total: u64,
    /// Number of addresses summed.
    addresses: usize,
    /// `chain_stats` of `GET /api/address/:address`, summed (a
    /// transaction touching two wallet addresses counts in both
    /// `tx_count`s).
    chain_stats: TxoStats,
    /// `mempool_stats`, summed (zero on a stopped node).
    mempool_stats: TxoStats,
}

impl WalletBalance {
    /// The three lines `confirmed: N`, `unconfirmed: N`, `total: N` that
    /// `getbalance` and `restorewallet` print.
    pub(super) fn text(&self) -> String {
        format!(
            "confirmed: {}\nunconfirmed: {}\ntotal: {}",
            self.confirmed, self.unconfirmed, self.total
        )
    }
}

fn add_stats(sum: &mut TxoStats, s: &TxoStats) {
    sum.funded_txo_count += s.funded_txo_count;
    sum.funded_txo_sum = sum.funded_txo_sum.saturating_add(s.funded_txo_sum);
    sum.spent_txo_count += s.spent_txo_count;
    sum.spent_txo_sum = sum.spent_txo_sum.saturating_add(s.spent_txo_sum);
    sum.tx_count += s.tx_count;
}

/// The whole wallet's [`WalletBalance`].
///
/// Errors: the view's.
pub(super) fn wallet_balance(w: &Wallets, view: &View) -> Result<WalletBalance> {
    let b = ledger::balance(w, view.as_ref(), None)?;
    let mut v = WalletBalance {
        confirmed: b.confirmed,
        unconfirmed: b.unconfirmed,
        total: b.total,
        addresses: b.addresses,
        chain_stats: TxoStats::default(),
        mempool_stats: TxoStats::default(),
    };
    for a in w.addresses() {
        let s = view.address_stats(&a)?;
        add_stats(&mut v.chain_stats, &s.chain_stats);
        add_stats(&mut v.mempool_stats, &s.mempool_stats);
    }
    Ok(v)
}

/// `getbalance` without `--address`: the whole wallet's balance; JSON
/// `WalletBalance` (`confirmed`, `unconfirmed`, `total`, `addresses`,
/// summed `chain_stats` and `mempool_stats`).
///
/// Errors: the wallet file's; the chain's.
pub fn getbalance(ctx: &Ctx, json: bool) -> Result<()> {
    let view = view(ctx)?;
    let w = load_current(ctx, view.as_ref())?;
    let b = wallet_balance(&w, &view)?;
    if json {
        return Ok(crate::app::out(to_json(&b)?)?);
    }
    crate::app::out(b.text())?;
    Ok(())
}

/// One coin of `listunspent --json` without `--address`: the API's
/// unspent output (`GET /api/address/:address/utxo`) and the wallet
/// address it pays.
#[derive(Debug, Serialize)]
struct WalletUtxo {
    /// Its transaction.
    txid: String,
    /// Its index there.
    vout: u32,
    /// Whole coins.
    value: u64,
    /// Its transaction's place: `confirmed` false for an output of the
    /// mempool or of this wallet's pending payments.
    status: TxStatus,
    /// The wallet address it pays.
    address: String,
}

/// `listunspent` without `--address`: every coin the wallet may spend;
/// JSON a list of `WalletUtxo` (`txid`, `vout`, `value`, `status`,
/// `address`).
///
/// Errors: the wallet file's; the chain's.
pub fn listunspent(ctx: &Ctx, json: bool) -> Result<()> {
    let view = view(ctx)?;
    let w = load_current(ctx, view.as_ref())?;
    let coins = ledger::wallet_coins(&w, view.as_ref(), None)?;
    if json {
        let mut places: HashMap<[u8; 20], HashMap<(String, u32), TxStatus>> = HashMap::new();
        let mut list = Vec::new();
        for c in coins {
            let txid = c.outpoint.txid.to_string();
            let status = match c.confirmed {
                false => TxStatus::of(None),
                true => {
                    let place = match places.entry(c.address) {
                        Entry::Occupied(e) => e.into_mut(),
                        Entry::Vacant(e) => e.insert(view.utxo_status(&Address(c.address))?),
                    };
                    place
                        .get(&(txid.clone(), c.outpoint.vout))
                        .cloned()
                        .unwrap_or(TxStatus {
                            confirmed: true,
                            block_height: None,
                            block_hash: None,
                            block_time: None,
                        })
                }
            };
            list.push(WalletUtxo {
                txid,
                vout: c.outpoint.vout,
                value: c.value,
                status,
                address: Address(c.address).to_string(),
            });
        }
        return Ok(crate::app::out(to_json(&list)?)?);
    }
    if coins.is_empty() {
        return Ok(crate::app::out("no unspent outputs in this wallet")?);
    }
    for c in coins {
        let state = if c.confirmed { "" } else { " unconfirmed" };
        crate::app::out(format_args!(
            "{}:{} {} {}{state}",
            c.outpoint.txid,
            c.outpoint.vout,
            c.value,
            Address(c.address)
        ))?;
    }
    Ok(())
}

/// `listtransactions`: the wallet's confirmed and pending transactions.
///
/// Errors: the wallet file's; the chain's.
pub fn listtransactions(ctx: &Ctx, json: bool) -> Result<()> {
    let view = view(ctx)?;
    let w = load_current(ctx, view.as_ref())?;
    let txs = ledger::transactions(&w, view.as_ref())?;
    if json {
        return Ok(crate::app::out(to_json(&txs)?)?);
    }
    if txs.is_empty() {
        return Ok(crate::app::out("no transactions in this wallet")?);
    }
    for t in txs {
        let at = t
            .height
            .map_or("pending".to_string(), |h| format!("height {h}"));
        crate::app::out(format_args!("{} {:+} {at}", t.txid, t.net))?;
    }
    Ok(())
}
