//! The wallet's view of the chain: coins, balances, history, the restore
//! scan and what became of pending payments, over any [`ChainView`] (a
//! stopped node's store or a running node's control socket; the
//! implementations live in the application layer).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use serde::Serialize;

use super::hd::ExtendedPublicKey;
use super::{Chain, Wallets, derive_address};
use crate::core::address::Address;
use crate::core::hash::Txid;
use crate::core::tx::{OutPoint, TxOut};

/// The standard gap limit: a restore stops after this many unused
/// addresses in a row on a chain (BIP44's rule).
pub const GAP_LIMIT: u32 = 20;

/// One transaction of an address's confirmed history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryItem {
    /// The transaction.
    pub txid: Txid,
    /// Height of its block.
    pub height: u64,
    /// Whole coins its outputs pay the address.
    pub received: u64,
    /// Whole coins its inputs take from the address.
    pub sent: u64,
}

/// What the chain says of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxState {
    /// In the best chain with this many confirmations (≥ 1).
    Confirmed(u64),
    /// In the running node's mempool.
    Mempool,
    /// Neither (or not knowable: a stopped node has no mempool).
    Unknown,
}

/// Read access to a chain for the wallet.
pub trait ChainView {
    /// Confirmed unspent outputs paying `addr`.
    fn confirmed(&self, addr: &Address) -> Result<Vec<(OutPoint, TxOut)>>;
    /// Outputs paying `addr` the node would let the wallet spend now:
    /// confirmed ones its mempool does not spend, plus unconfirmed ones of
    /// its mempool (a stopped node: the confirmed ones).
    fn spendable(&self, addr: &Address) -> Result<Vec<(OutPoint, TxOut)>>;
    /// The confirmed history of `addr`, oldest first.
    fn history(&self, addr: &Address) -> Result<Vec<HistoryItem>>;
    /// Where `txid` is.
    fn tx_state(&self, txid: &Txid) -> Result<TxState>;
    /// The best-chain transaction spending `op`, when known.
    fn spender(&self, op: &OutPoint) -> Result<Option<Txid>>;
}

/// What became of a pending payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Mined: it is in the best chain.
    Mined(Txid),
    /// Conflicted: another transaction spent one of its inputs in the best
    /// chain.
    Conflicted(Txid, Txid),
}

/// The pending payments that are mined or conflicted (to forget); the
/// others stay pending.
///
/// Errors: the view's.
pub fn resolve_pending(w: &Wallets, view: &dyn ChainView) -> Result<Vec<Resolution>> {
    let mut out = Vec::new();
    'next: for p in w.pending() {
        let txid = p.tx.txid();
        match view.tx_state(&txid)? {
            TxState::Confirmed(_) => out.push(Resolution::Mined(txid)),
            TxState::Mempool => {}
            TxState::Unknown => {
                for i in &p.tx.inputs {
                    if let Some(by) = view.spender(&i.prev_out)?
                        && by != txid
                    {
                        out.push(Resolution::Conflicted(txid, by));
                        continue 'next;
                    }
                }
            }
        }
    }
    Ok(out)
}

/// A coin the wallet can spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Coin {
    /// Its outpoint.
    #[serde(serialize_with = "ser_outpoint")]
    pub outpoint: OutPoint,
    /// Whole coins.
    pub value: u64,
    /// The wallet address it pays.
    #[serde(serialize_with = "ser_address")]
    pub address: [u8; 20],
    /// In the best chain (else a mempool or pending transaction's output).
    pub confirmed: bool,
}

fn ser_outpoint<S: serde::Serializer>(op: &OutPoint, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{}:{}", op.txid, op.vout))
}

fn ser_address<S: serde::Serializer>(a: &[u8; 20], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&Address(*a).to_string())
}

/// Every coin of the wallet it may spend now: the view's spendable coins
/// of each address (or of `only`), minus those pending payments spend, plus
/// the outputs of pending payments paying the wallet (change) that no other
/// pending payment spends.
///
/// Errors: the view's.
pub fn wallet_coins(
    w: &Wallets,
    view: &dyn ChainView,
    only: Option<&Address>,
) -> Result<Vec<Coin>> {
    let locked = w.locked_outpoints();
    let addrs: Vec<Address> = match only {
        Some(a) => vec![*a],
        None => w.addresses(),
    };
    let mut coins: BTreeMap<OutPoint, Coin> = BTreeMap::new();
    for a in &addrs {
        let confirmed: BTreeSet<OutPoint> = view.confirmed(a)?.into_iter().map(|c| c.0).collect();
        for (op, out) in view.spendable(a)? {
            if !locked.contains(&op) {
                coins.insert(
                    op,
                    Coin {
                        outpoint: op,
                        value: out.value,
                        address: a.0,
                        confirmed: confirmed.contains(&op),
                    },
                );
            }
        }
    }
    for p in w.pending() {
        let txid = p.tx.txid();
        for (vout, out) in p.tx.outputs.iter().enumerate() {
            let op = OutPoint {
                txid,
                vout: vout as u32,
            };
            if addrs.iter().any(|a| a.0 == out.pubkey_hash) && !locked.contains(&op) {
                coins.entry(op).or_insert(Coin {
                    outpoint: op,
                    value: out.value,
                    address: out.pubkey_hash,
                    confirmed: false,
                });
            }
        }
    }
    Ok(coins.into_values().collect())
}

/// A wallet's balance in whole coins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Balance {
    /// Sum of the wallet's outputs in the best chain's UTXO set.
    pub confirmed: u64,
    /// What unconfirmed transactions (pending payments, and a running
    /// node's mempool) change: change and incoming payments less the
    /// confirmed coins they spend. Negative while a payment is pending.
    pub unconfirmed: i64,
    /// What the wallet can spend now: `confirmed + unconfirmed`.
    pub total: u64,
    /// Number of addresses summed.
    pub addresses: usize,
}

/// The balance of the whole wallet (or of `only`).
///
/// Errors: the view's.
pub fn balance(w: &Wallets, view: &dyn ChainView, only: Option<&Address>) -> Result<Balance> {
    let addrs: Vec<Address> = match only {
        Some(a) => vec![*a],
        None => w.addresses(),
    };
    let mut confirmed = 0u64;
    for a in &addrs {
        confirmed = view
            .confirmed(a)?
            .iter()
            .fold(confirmed, |s, c| s.saturating_add(c.1.value));
    }
    let total = wallet_coins(w, view, only)?
        .iter()
        .fold(0u64, |s, c| s.saturating_add(c.value));
    Ok(Balance {
        confirmed,
        unconfirmed: (i128::from(total) - i128::from(confirmed)) as i64,
        total,
        addresses: addrs.len(),
    })
}

/// One wallet transaction for `listtransactions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalletTx {
    /// The transaction.
    pub txid: String,
    /// Block height, `None` while pending.
    pub height: Option<u64>,
    /// Whole coins paid to the wallet less whole coins taken from it (the
    /// fee included for payments the wallet made).
    pub net: i64,
    /// `confirmed` or `pending`.
    pub status: &'static str,
}

/// The wallet's transactions: confirmed ones from the address index
/// (oldest first), then pending payments.
///
/// Errors: the view's.
pub fn transactions(w: &Wallets, view: &dyn ChainView) -> Result<Vec<WalletTx>> {
    let mut by_tx: BTreeMap<(u64, Txid), i128> = BTreeMap::new();
    for a in w.addresses() {
        for h in view.history(&a)? {
            *by_tx.entry((h.height, h.txid)).or_default() +=
                i128::from(h.received) - i128::from(h.sent);
        }
    }
    let mut out: Vec<WalletTx> = by_tx
        .into_iter()
        .map(|((height, txid), net)| WalletTx {
            txid: txid.to_string(),
            height: Some(height),
            net: net as i64,
            status: "confirmed",
        })
        .collect();
    for p in w.pending() {
        let txid = p.tx.txid().to_string();
        if out.iter().any(|t| t.txid == txid) {
            continue;
        }
        let back: u64 =
            p.tx.outputs
                .iter()
                .filter(|o| w.contains(&Address(o.pubkey_hash)))
                .map(|o| o.value)
                .sum();
        out.push(WalletTx {
            txid,
            height: None,
            net: (i128::from(back) - i128::from(p.spent)) as i64,
            status: "pending",
        });
    }
    Ok(out)
}

/// How many addresses of each chain a restore keeps: one past the last
/// address with history, scanning until `gap` unused addresses in a row.
/// Returns (receive count, change count).
///
/// Errors: the view's.
pub fn gap_scan(account: &ExtendedPublicKey, view: &dyn ChainView, gap: u32) -> Result<(u32, u32)> {
    let mut counts = [0u32; 2];
    for (n, chain) in [Chain::Receive, Chain::Change].into_iter().enumerate() {
        let (mut i, mut unused) = (0u32, 0u32);
        while unused < gap {
            let a = derive_address(account, chain, i);
            if view.history(&a)?.is_empty() && view.spendable(&a)?.is_empty() {
                unused += 1;
            } else {
                unused = 0;
                counts[n] = i + 1;
            }
            i += 1;
        }
    }
    Ok((counts[0], counts[1]))
}
