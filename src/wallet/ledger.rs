//! The wallet's view of the chain: coins, balances, history, the restore
//! scan and what became of pending payments, over any [`ChainView`] (a
//! stopped node's store or a running node's control socket; the
//! implementations live in the application layer).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use serde::Serialize;

use super::hd::{ExtendedKey, ExtendedPublicKey, SeedPhrase};
use super::{Chain, Wallets, derive_address};
use crate::core::address::Address;
use crate::core::hash::{Txid, hash160};
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
    /// chain (its txid when the view can name it: a running node's control
    /// socket cannot), or the input is no longer spendable at all.
    Conflicted(Txid, Option<Txid>),
}

/// The pending payments that are mined or conflicted (to forget); the
/// others stay pending.
///
/// A payment neither mined nor in the mempool is conflicted when the view
/// names another transaction spending one of its inputs, or, for a view
/// that cannot name spenders (a running node), when one of its inputs is
/// neither among its owner's confirmed nor spendable coins nor an output of
/// another pending payment: that coin is gone, the payment can never be
/// accepted, and its change must not be counted.
///
/// Errors: the view's.
pub fn resolve_pending(w: &Wallets, view: &dyn ChainView) -> Result<Vec<Resolution>> {
    let mut out = Vec::new();
    let pending: BTreeSet<Txid> = w.pending().iter().map(|p| p.tx.txid()).collect();
    let mut coins_of: BTreeMap<Address, BTreeSet<OutPoint>> = BTreeMap::new();
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
                        out.push(Resolution::Conflicted(txid, Some(by)));
                        continue 'next;
                    }
                }
                for i in &p.tx.inputs {
                    if pending.contains(&i.prev_out.txid) {
                        continue;
                    }
                    let owner = Address(hash160(&i.pubkey));
                    let coins = match coins_of.entry(owner) {
                        std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::btree_map::Entry::Vacant(e) => {
                            let mut set: BTreeSet<OutPoint> =
                                view.confirmed(&owner)?.into_iter().map(|c| c.0).collect();
                            set.extend(view.spendable(&owner)?.into_iter().map(|c| c.0));
                            e.insert(set)
                        }
                    };
                    if !coins.contains(&i.prev_out) {
                        out.push(Resolution::Conflicted(txid, None));
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
                .fold(0u64, |s, o| s.saturating_add(o.value));
        out.push(WalletTx {
            txid,
            height: None,
            net: (i128::from(back) - i128::from(p.spent)) as i64,
            status: "pending",
        });
    }
    Ok(out)
}

/// Largest gap limit a restore takes: each unused address costs two
/// look-ups, and a wallet holds at most [`super::MAX_KEYS`] addresses.
pub const MAX_GAP_LIMIT: u32 = 10_000;

/// How many addresses of each chain a restore keeps: one past the last
/// address with history, scanning until `gap` (1 to [`MAX_GAP_LIMIT`])
/// unused addresses in a row or the last non-hardened index. Returns
/// (receive count, change count).
///
/// Errors: a gap outside 1 ..= [`MAX_GAP_LIMIT`]; the view's.
pub fn gap_scan(account: &ExtendedPublicKey, view: &dyn ChainView, gap: u32) -> Result<(u32, u32)> {
    if !(1..=MAX_GAP_LIMIT).contains(&gap) {
        anyhow::bail!("the gap limit must be 1 to {MAX_GAP_LIMIT}, not {gap}");
    }
    let mut counts = [0u32; 2];
    for (n, chain) in [Chain::Receive, Chain::Change].into_iter().enumerate() {
        let (mut i, mut unused) = (0u32, 0u32);
        while unused < gap && i < super::hd::HARDENED {
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

/// Restores the seed of `phrase` (BIP39 `passphrase`) into `w` (opened with
/// [`Wallets::open_exclusive`]) and records every address a gap-limit scan
/// ([`gap_scan`]) of `view` finds used. The scan runs before anything is
/// written, so a failed scan leaves the file as it was; restoring the same
/// phrase again rescans and adds what is new. Returns (receive count,
/// change count) found.
///
/// Errors: the wallet has another seed ([`super::WalletError::HasSeed`]);
/// those of [`gap_scan`], [`Wallets::set_seed`] and [`Wallets::extend_to`].
pub fn restore(
    w: &mut Wallets,
    phrase: &SeedPhrase,
    passphrase: &str,
    view: &dyn ChainView,
    gap: u32,
) -> Result<(u32, u32)> {
    let account = account_of(phrase, passphrase);
    if w.account().is_some_and(|a| *a != account) {
        return Err(super::WalletError::HasSeed {
            path: w.path().to_path_buf(),
        }
        .into());
    }
    let (receive, change) = gap_scan(&account, view, gap)?;
    if !w.has_seed() {
        w.set_seed(phrase, passphrase)?;
    }
    w.extend_to(receive, change)?;
    Ok((receive, change))
}

/// The account's extended public key (`m/44'/1'/0'`) of `phrase` with BIP39
/// `passphrase`.
pub fn account_of(phrase: &SeedPhrase, passphrase: &str) -> ExtendedPublicKey {
    let seed = phrase.to_seed(passphrase);
    ExtendedKey::master(&seed[..])
        .derive(&super::hd::ACCOUNT_PATH)
        .public()
}
