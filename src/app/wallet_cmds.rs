//! The wallet commands: `createwallet` (alias `getnewaddress`),
//! `restorewallet`, `encryptwallet`, `listaddresses`, wallet-wide
//! `getbalance` and `listunspent`, `listtransactions` and `send`.
//!
//! They read the chain through a [`ChainView`]: the running node's control
//! socket when a node answers on the port, else the stopped node's store.
//! Secrets are read from files or typed at a terminal prompt, never taken
//! from the command line; the seed phrase is shown once, when the wallet is
//! created, on standard error (or written to `--mnemonic-file`).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;
use zeroize::Zeroizing;

use super::cli::{Ctx, Source, threads};
use super::commands::parse_address;
use super::exit::{Exit, classify, fail};
use crate::api::schema::{self, AddressStats, TxStatus, TxoStats, Utxo};
use crate::chain::mempool::Mempool;
use crate::chain::{ChainState, miner};
use crate::core::address::Address;
use crate::core::hash::Txid;
use crate::core::params::now_secs;
use crate::core::tx::{OutPoint, Transaction, TxOut};
use crate::core::validation::SigCache;
use crate::net::control::{self, Query, Request};
use crate::store::ChainStore;
use crate::wallet::hd::SeedPhrase;
use crate::wallet::ledger::{self, ChainView, HistoryItem, Resolution, TxState};
use crate::wallet::send::build_wallet_payment;
use crate::wallet::{Chain, Wallets, crypt, derive_address};

/// Arguments of `createwallet`.
#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Words in the seed phrase of a new wallet: 12 or 24 (ignored once the
    /// wallet has a seed).
    #[arg(long, default_value_t = 12)]
    pub words: usize,
    /// Write the new wallet's seed phrase to this file (mode 0600) instead
    /// of showing it on standard error.
    #[arg(long)]
    pub mnemonic_file: Option<PathBuf>,
    /// File holding an optional BIP39 passphrase for a new wallet's seed
    /// (its first line). Without it the seed has no passphrase.
    #[arg(long)]
    pub seed_passphrase_file: Option<PathBuf>,
    /// File holding the wallet's passphrase (its first line), needed only
    /// when an encrypted wallet of imported keys takes its first seed;
    /// without it the passphrase is asked at a terminal.
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
    /// Print JSON instead of text: `address`, `created`, and a new wallet's
    /// seed phrase in `mnemonic` (null with --mnemonic-file), on standard
    /// output instead of standard error.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `restorewallet`.
#[derive(Args, Debug, Clone)]
pub struct RestoreArgs {
    /// File holding the seed phrase. Without it the phrase is read from
    /// standard input (hidden at a terminal prompt).
    #[arg(long)]
    pub mnemonic_file: Option<PathBuf>,
    /// File holding the BIP39 passphrase given when the wallet was created.
    #[arg(long)]
    pub seed_passphrase_file: Option<PathBuf>,
    /// Unused addresses in a row after which the scan of a chain stops
    /// (1 to 10000). Restoring the same phrase again with a larger limit
    /// finds addresses handed out further ahead.
    #[arg(long, default_value_t = ledger::GAP_LIMIT)]
    pub gap_limit: u32,
    /// File holding the wallet's passphrase (its first line), needed only
    /// when an encrypted wallet of imported keys takes the seed; without
    /// it the passphrase is asked at a terminal.
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `encryptwallet`.
#[derive(Args, Debug, Clone)]
pub struct EncryptArgs {
    /// File holding the new passphrase (its first line). Without it the
    /// passphrase is asked twice at the terminal.
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of the wallet-wide reads (`getbalance`, `listunspent`,
/// `listtransactions` without `--address`).
#[derive(Args, Debug, Clone)]
pub struct ReadArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// A stopped node's store as the wallet's chain view.
struct StoreView(ChainStore);

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
struct NodeView<'a>(&'a Path);

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
enum View<'a> {
    Node(NodeView<'a>),
    Store(StoreView),
}

impl View<'_> {
    /// As the wallet's [`ChainView`].
    fn as_ref(&self) -> &dyn ChainView {
        match self {
            View::Node(n) => n,
            View::Store(s) => s,
        }
    }

    /// `a`'s totals in the API's shape (`GET /api/address/:address`); on
    /// a stopped node `mempool_stats` is zero.
    fn address_stats(&self, a: &Address) -> Result<AddressStats> {
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
    fn utxo_status(&self, a: &Address) -> Result<HashMap<(String, u32), TxStatus>> {
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

fn api_err(e: crate::api::ApiError) -> anyhow::Error {
    fail(Exit::from_http(e.status.as_u16()), e.error)
}

/// The chain view of this port: the running node, else the store
/// ([`Ctx::source`]: nothing is created, and a node starting meanwhile
/// answers instead).
///
/// Errors: no node directory ([`Exit::NotRunning`]) or no chain
/// ([`Exit::NotFound`]); the store cannot be opened.
fn view<'a>(ctx: &'a Ctx) -> Result<View<'a>> {
    match ctx.source()? {
        Source::Node => Ok(View::Node(NodeView(&ctx.paths.control))),
        Source::Store(store) => {
            store.tip()?;
            Ok(View::Store(StoreView(store)))
        }
    }
}

fn to_json(v: &impl Serialize) -> Result<String> {
    Ok(serde_json::to_string_pretty(v)?)
}

/// The first line of `path`, without its line ending.
fn read_secret_file(path: &Path, what: &str) -> Result<Zeroizing<String>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the {what} file {}", path.display()))?,
    );
    Ok(Zeroizing::new(
        text.lines().next().unwrap_or_default().to_string(),
    ))
}

/// The wallet's passphrase: from `file`, else typed at the terminal.
///
/// Errors: no file and no terminal; an unreadable file.
fn passphrase(file: Option<&Path>, wallet: &Path) -> Result<Zeroizing<String>> {
    if let Some(f) = file {
        return read_secret_file(f, "passphrase");
    }
    if !std::io::stdin().is_terminal() {
        return Err(fail(
            Exit::Usage,
            format!(
                "wallet {} is encrypted: give --passphrase-file FILE (no terminal to ask on)",
                wallet.display()
            ),
        ));
    }
    Ok(Zeroizing::new(rpassword::prompt_password(
        "Wallet passphrase: ",
    )?))
}

/// Unlocks `w` if it is encrypted.
///
/// Errors: no `--passphrase-file` and no terminal ([`Exit::Usage`]); a
/// wrong passphrase ([`crate::wallet::WalletError::WrongPassphrase`],
/// exit 1).
fn unlock(w: &mut Wallets, file: Option<&Path>) -> Result<()> {
    if w.is_unlocked() {
        return Ok(());
    }
    let p = passphrase(file, w.path())?;
    w.unlock(p.as_bytes())?;
    Ok(())
}

/// Writes `text` to a new file at `path` with mode 0600, synced, and syncs
/// its directory so the file survives a power cut as surely as the seed
/// saved after it.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist)", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync directory {}", dir.display()))?;
    Ok(())
}

/// `createwallet` / `getnewaddress`: creates the wallet's seed on first use
/// (showing the phrase once), then hands out the next receive address.
///
/// Errors: the wallet file's; a bad `--words` ([`Exit::Usage`]); an
/// unwritable `--mnemonic-file`.
pub fn createwallet(ctx: &Ctx, args: &CreateArgs) -> Result<()> {
    let mut w = Wallets::open_exclusive(&ctx.paths.wallet)?;
    let mut phrase_shown = None;
    if !w.has_seed() {
        // An encrypted wallet of imported keys seals its new seed under its
        // passphrase: unlock it before a phrase is shown.
        unlock(&mut w, args.passphrase_file.as_deref())?;
        let phrase = SeedPhrase::generate(args.words)
            .map_err(|e| fail(Exit::Usage, format!("--words: {e}")))?;
        let pass = match &args.seed_passphrase_file {
            Some(f) => read_secret_file(f, "seed passphrase")?,
            None => Zeroizing::new(String::new()),
        };
        // The phrase is shown (or written) before the seed is saved: a
        // seed on disk was always shown, even if the process dies here.
        match &args.mnemonic_file {
            Some(f) => write_private(f, &format!("{}\n", *phrase.words()))?,
            None if !args.json => eprintln!(
                "New wallet {}. Its seed phrase, shown only this once: write it down and keep it safe;\n\
                 anyone who has it can spend the coins, and `restorewallet` rebuilds the wallet from it:\n\n    {}\n",
                ctx.paths.wallet.display(),
                *phrase.words()
            ),
            None => {
                // --json: the whole answer goes out before the seed is
                // saved, for the same reason. A wallet without a seed has
                // no derived address, so its first is index 0.
                let first = derive_address(&ledger::account_of(&phrase, &pass), Chain::Receive, 0);
                let v = serde_json::json!({
                    "address": first.to_string(),
                    "created": true,
                    "mnemonic": phrase.words().as_str(),
                });
                super::out(to_json(&v)?)?;
                w.set_seed(&phrase, &pass)?;
                let address = w.new_address(Chain::Receive)?;
                if address != first {
                    bail!("the wallet handed out {address}, not the {first} printed");
                }
                return Ok(());
            }
        }
        w.set_seed(&phrase, &pass)?;
        phrase_shown = Some(phrase);
    }
    let address = w.new_address(Chain::Receive)?;
    drop(w);
    let mnemonic = phrase_shown
        .as_ref()
        .filter(|_| args.mnemonic_file.is_none())
        .map(|p| p.words());
    if args.json {
        let v = serde_json::json!({
            "address": address.to_string(),
            "created": phrase_shown.is_some(),
            "mnemonic": mnemonic.as_deref().map(|m| m.as_str()),
        });
        super::out(to_json(&v)?)?;
        return Ok(());
    }
    if let (Some(_), Some(f)) = (&phrase_shown, &args.mnemonic_file) {
        eprintln!("New wallet; its seed phrase is in {}", f.display());
    }
    super::out(address)?;
    Ok(())
}

/// `listaddresses`: every address of the wallet.
///
/// Errors: no node directory on this port ([`Exit::NotRunning`], naming
/// it and `--datadir`); the wallet file's.
pub fn listaddresses(ctx: &Ctx, json: bool) -> Result<()> {
    // A port with no node directory is a mistake, not an empty wallet
    // (read commands create nothing).
    if !ctx.paths.dir.is_dir() {
        ctx.need_store()?;
    }
    let addrs = Wallets::load(&ctx.paths.wallet)?.addresses();
    if json {
        let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        super::out(to_json(&list)?)?;
        return Ok(());
    }
    for a in addrs {
        super::out(a)?;
    }
    Ok(())
}

/// The wallet with the pending payments the chain settled left out (in
/// memory only; `send` forgets them on disk).
fn load_current(ctx: &Ctx, view: &dyn ChainView) -> Result<Wallets> {
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
struct WalletBalance {
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
fn wallet_balance(w: &Wallets, view: &View) -> Result<WalletBalance> {
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
/// [`WalletBalance`].
///
/// Errors: the wallet file's; the chain's.
pub fn getbalance(ctx: &Ctx, json: bool) -> Result<()> {
    let view = view(ctx)?;
    let w = load_current(ctx, view.as_ref())?;
    let b = wallet_balance(&w, &view)?;
    if json {
        return Ok(super::out(to_json(&b)?)?);
    }
    super::out(format_args!(
        "confirmed: {}\nunconfirmed: {}\ntotal: {}",
        b.confirmed, b.unconfirmed, b.total
    ))?;
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
/// JSON a list of [`WalletUtxo`].
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
        return Ok(super::out(to_json(&list)?)?);
    }
    if coins.is_empty() {
        return Ok(super::out("no unspent outputs in this wallet")?);
    }
    for c in coins {
        let state = if c.confirmed { "" } else { " unconfirmed" };
        super::out(format_args!(
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
        return Ok(super::out(to_json(&txs)?)?);
    }
    if txs.is_empty() {
        return Ok(super::out("no transactions in this wallet")?);
    }
    for t in txs {
        let at = t
            .height
            .map_or("pending".to_string(), |h| format!("height {h}"));
        super::out(format_args!("{} {:+} {at}", t.txid, t.net))?;
    }
    Ok(())
}

/// `restorewallet`: the seed from the phrase, every used address found by
/// a gap-limit scan of the address index, and the balance.
///
/// Errors: a bad phrase ([`Exit::Usage`]); a wallet that has a seed
/// already; the chain's.
pub fn restorewallet(ctx: &Ctx, args: &RestoreArgs) -> Result<()> {
    let text = match &args.mnemonic_file {
        Some(f) => Zeroizing::new(
            std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the seed phrase file {}", f.display()))?,
        ),
        None if std::io::stdin().is_terminal() => {
            Zeroizing::new(rpassword::prompt_password("Seed phrase: ")?)
        }
        None => {
            let mut s = Zeroizing::new(String::new());
            std::io::stdin()
                .take(4096)
                .read_to_string(&mut s)
                .context("reading the seed phrase from standard input")?;
            s
        }
    };
    let phrase = SeedPhrase::parse(&text).map_err(|e| fail(Exit::Usage, e))?;
    let pass = match &args.seed_passphrase_file {
        Some(f) => read_secret_file(f, "seed passphrase")?,
        None => Zeroizing::new(String::new()),
    };
    let view = view(ctx)?;
    let mut w = Wallets::open_exclusive(&ctx.paths.wallet)?;
    if !w.has_seed() {
        unlock(&mut w, args.passphrase_file.as_deref())?;
    }
    let (receive, change) = ledger::restore(&mut w, &phrase, &pass, view.as_ref(), args.gap_limit)?;
    let b = wallet_balance(&w, &view)?;
    drop(w);
    if args.json {
        let v = serde_json::json!({
            "receive_addresses": receive,
            "change_addresses": change,
            "balance": b,
        });
        return Ok(super::out(to_json(&v)?)?);
    }
    super::out(format_args!(
        "restored {receive} receive and {change} change addresses with history\nconfirmed: {}\nunconfirmed: {}\ntotal: {}",
        b.confirmed, b.unconfirmed, b.total
    ))?;
    Ok(())
}

/// `encryptwallet`: encrypts the seed and imported keys under a new
/// passphrase.
///
/// Errors: no passphrase source, mismatched prompts or an empty
/// passphrase ([`Exit::Usage`]); already encrypted; the wallet file's.
pub fn encryptwallet(ctx: &Ctx, args: &EncryptArgs) -> Result<()> {
    let pass = match &args.passphrase_file {
        Some(f) => read_secret_file(f, "passphrase")?,
        None if std::io::stdin().is_terminal() => {
            let a = Zeroizing::new(rpassword::prompt_password("New wallet passphrase: ")?);
            let b = Zeroizing::new(rpassword::prompt_password("Repeat the passphrase: ")?);
            if *a != *b {
                return Err(fail(
                    Exit::Usage,
                    "the two passphrases differ; the wallet is unchanged",
                ));
            }
            a
        }
        None => {
            return Err(fail(
                Exit::Usage,
                "encryptwallet needs --passphrase-file FILE (no terminal to ask on)",
            ));
        }
    };
    if pass.is_empty() {
        return Err(fail(
            Exit::Usage,
            "the passphrase is empty; the wallet is unchanged",
        ));
    }
    let mut w = Wallets::open_exclusive(&ctx.paths.wallet)?;
    if w.is_empty() && !w.has_seed() {
        bail!(
            "wallet {} is empty: run createwallet first",
            ctx.paths.wallet.display()
        );
    }
    w.encrypt(pass.as_bytes(), crypt::DEFAULT_COST)?;
    // Backups of a migrated version-1 file still hold its keys in plain
    // form: encrypting the wallet does not cover them.
    let plain: Vec<String> = w
        .v1_backups()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    drop(w);
    if !plain.is_empty() {
        eprintln!(
            "warning: {} still hold this wallet's imported keys UNENCRYPTED (backups of its \
             version-1 file): anyone who reads them can spend those coins. Move them to safe \
             offline storage, or delete them; the encrypted wallet holds the same keys.",
            plain.join(", ")
        );
    }
    if args.json {
        let v = serde_json::json!({
            "encrypted": true,
            "wallet": ctx.paths.wallet.display().to_string(),
            "unencrypted_backups": plain,
        });
        return Ok(super::out(to_json(&v)?)?);
    }
    super::out(format_args!(
        "wallet {} is encrypted; commands that sign ask for the passphrase (or take --passphrase-file)",
        ctx.paths.wallet.display()
    ))?;
    Ok(())
}

/// What `send` and `createrawtransaction` both take.
pub struct PaymentArgs<'a> {
    /// Paying address (only its coins, change back to it), or the whole wallet.
    pub from: Option<&'a str>,
    /// Receiving address.
    pub to: &'a str,
    /// Whole coins.
    pub amount: u64,
    /// Whole coins left to the minter.
    pub fee: u64,
    /// File with the wallet's passphrase.
    pub passphrase_file: Option<&'a Path>,
}

/// Arguments of `send` after parsing.
pub struct SendArgs<'a> {
    /// What to pay, from where, and the wallet's passphrase file.
    pub payment: PaymentArgs<'a>,
    /// Mint it here (node stopped).
    pub mint: bool,
    /// Seed node for a stopped node; without it (and without `mint`) a
    /// stopped node's payment fails with [`Exit::NotRunning`].
    pub seed: Option<&'a str>,
    /// Confirmations to wait for.
    pub confirmations: u64,
    /// Give up waiting for `confirmations` after this many seconds.
    pub timeout: Option<u64>,
    /// Print JSON.
    pub json: bool,
}

/// A signed payment from the wallet's coins, not yet recorded or handed on.
struct Payment {
    tx: Transaction,
    /// Whole coins its inputs spend.
    spent: u64,
    /// `--from`'s address, if given.
    from: Option<Address>,
    /// Where its change goes, if it has change.
    change: Option<Address>,
}

/// The wallet, unlocked, with its settled pending payments forgotten
/// (on a running node with `resubmit`, its other pending payments handed
/// to the node again), and the chain view of this port.
///
/// Errors: bad addresses or amount 0 ([`Exit::Usage`]), `--from` not in
/// the wallet, a locked wallet without passphrase ([`Exit::Usage`]) or a
/// wrong one; no chain ([`Ctx::need_store`]).
fn open_for_payment<'c>(
    ctx: &'c Ctx,
    a: &PaymentArgs,
    resubmit: bool,
) -> Result<(Wallets, View<'c>)> {
    let from = a.from.map(parse_address).transpose()?;
    parse_address(a.to)?;
    if a.amount == 0 {
        return Err(fail(Exit::Usage, "amount must be at least 1 coin"));
    }
    let mut w = Wallets::open_exclusive(&ctx.paths.wallet)?;
    if let Some(f) = &from
        && !w.contains(f)
    {
        bail!(
            "address {f} is not in this node's wallet ({})",
            ctx.paths.wallet.display()
        );
    }
    unlock(&mut w, a.passphrase_file)?;
    let view = view(ctx)?;
    settle_pending(ctx, &mut w, view.as_ref(), resubmit)?;
    Ok((w, view))
}

/// Builds and signs `a`'s payment from the coins the wallet may spend
/// (all of them, or `--from`'s), largest first, leaving out those its
/// pending payments lock; change to a new change address (saved in the
/// wallet), or back to `--from`. Shared by `send` and
/// `createrawtransaction`.
///
/// Errors: too few unlocked coins (saying how many pending payments
/// lock); the wallet file's.
fn build_payment(w: &mut Wallets, view: &dyn ChainView, a: &PaymentArgs) -> Result<Payment> {
    let from = a.from.map(parse_address).transpose()?;
    let to = parse_address(a.to)?;
    let coins: Vec<(OutPoint, TxOut)> = ledger::wallet_coins(w, view, from.as_ref())?
        .into_iter()
        .map(|c| {
            (
                c.outpoint,
                TxOut {
                    value: c.value,
                    pubkey_hash: c.address,
                },
            )
        })
        .collect();
    let locked = w.locked_outpoints().len();
    let build = |w: &Wallets, change: [u8; 20]| {
        build_wallet_payment(
            &|h| w.key(&Address(*h)),
            &coins,
            (to.0, a.amount),
            a.fee,
            change,
        )
    };
    let change_needed = match build(w, [0; 20]) {
        Ok((tx, _)) => tx.outputs.len() > 1,
        Err(e) if locked > 0 => {
            bail!("{e} ({locked} coins are locked by this wallet's pending payments)")
        }
        Err(e) => return Err(e.into()),
    };
    let change = match (from, change_needed) {
        (_, false) => None,
        (Some(f), true) => Some(f),
        (None, true) => Some(w.new_address(Chain::Change)?),
    };
    let (tx, spent) = build(w, change.map_or([0; 20], |c| c.0))?;
    Ok(Payment {
        tx,
        spent,
        from,
        change,
    })
}

/// `createrawtransaction`: builds and signs a payment as `send` does
/// (the same coin selection and change) and returns it, recording
/// nothing but the new change address: the payment is not pending and
/// locks no coins until the wallet sees it in the mempool or a block.
///
/// Errors: as `send`'s checks before it hands the payment on.
pub fn create_raw(ctx: &Ctx, a: &PaymentArgs) -> Result<Transaction> {
    let (mut w, view) = open_for_payment(ctx, a, false)?;
    Ok(build_payment(&mut w, view.as_ref(), a)?.tx)
}

/// `send`: pays `amount` to `to` from the wallet (or `--from` one address),
/// records the payment as pending (its coins locked) before handing it on,
/// and forgets it again when it is refused, saying why. Prints `txid: TXID`
/// (then, with `--confirmations N`, `confirmations: N` once it is that deep,
/// progress on standard error), or one JSON object `{"txid", "amount",
/// "fee", "change_address", "mined"` (and `"confirmations"`)`}`.
///
/// Errors: bad addresses or amount 0 ([`Exit::Usage`]); `--confirmations`
/// or no `--seed`/`--mint` with the node stopped ([`Exit::NotRunning`]);
/// an address not in the wallet, too few unlocked coins, a wrong
/// passphrase (exit 1); the node's, the local rule check's or the seed's
/// refusal ([`Exit::Rejected`]); an unreachable seed ([`Exit::NotRunning`]).
pub fn send(ctx: &Ctx, a: &SendArgs) -> Result<()> {
    if a.confirmations > u64::from(a.mint) && !ctx.running {
        return Err(fail(
            Exit::NotRunning,
            format!(
                "--confirmations {} needs the node on port {} running, to watch the chain{}",
                a.confirmations,
                ctx.cli.port,
                if a.mint { " (--mint makes 1)" } else { "" }
            ),
        ));
    }
    if ctx.running && a.mint {
        bail!(
            "the node on port {} is running: --mint needs it stopped (without --mint the running node relays the payment)",
            ctx.cli.port
        );
    }
    if !ctx.running && !a.mint && a.seed.is_none() {
        // Checked before anything is built or locked.
        parse_address(a.payment.to)?;
        return Err(fail(
            Exit::NotRunning,
            format!(
                "no node runs on port {} to take the payment: start it, give --seed HOST:PORT, or --mint",
                ctx.cli.port
            ),
        ));
    }
    let (mut w, view) = open_for_payment(ctx, &a.payment, true)?;
    let p = build_payment(&mut w, view.as_ref(), &a.payment)?;
    drop(view);
    let miner = match (p.from, p.change) {
        (Some(f), _) => f,
        (None, Some(c)) => c,
        (None, None) if a.mint => w.new_address(Chain::Change)?,
        (None, None) => Address([0; 20]),
    };
    let txid = p.tx.txid();
    w.add_pending(p.tx.clone(), p.spent, now_secs())?;
    let result = if ctx.running {
        super::commands::submit_running(ctx, p.tx).map(|_| ())
    } else {
        submit_stopped(ctx, &w, p.tx, a.mint, a.seed.unwrap_or_default(), miner)
    };
    match result {
        Ok(()) if a.mint => w.remove_pending(&[txid])?,
        Ok(()) => {}
        Err(e) => {
            w.remove_pending(&[txid])?;
            return Err(e.context("the payment was not made; its coins are free again"));
        }
    }
    drop(w);
    let txid = txid.to_string();
    if !a.json {
        super::out(format_args!("txid: {txid}"))?;
    }
    let confirmations = match a.confirmations {
        0 => None,
        _ if a.mint => Some(1),
        n => Some(super::commands::wait_confirmations(
            ctx, &txid, n, a.timeout,
        )?),
    };
    if a.json {
        let mut v = serde_json::json!({
            "txid": txid,
            "amount": a.payment.amount,
            "fee": a.payment.fee,
            "change_address": p.change.map(|c| c.to_string()),
            "mined": a.mint,
        });
        if let Some(c) = confirmations {
            v["confirmations"] = c.into();
        }
        super::out(to_json(&v)?)?;
    } else if let Some(c) = confirmations {
        super::out(format_args!("confirmations: {c}"))?;
    }
    Ok(())
}

/// Forgets mined and conflicted pending payments; on a running node with
/// `resubmit`, hands the others it does not know to it again and forgets
/// those it refuses (saying why on standard error).
fn settle_pending(ctx: &Ctx, w: &mut Wallets, view: &dyn ChainView, resubmit: bool) -> Result<()> {
    let mut gone = Vec::new();
    for r in ledger::resolve_pending(w, view)? {
        match r {
            Resolution::Mined(t) => gone.push(t),
            Resolution::Conflicted(t, by) => {
                match by {
                    Some(by) => eprintln!(
                        "pending payment {t} conflicted with {by}, mined instead; forgotten"
                    ),
                    None => eprintln!(
                        "pending payment {t} spends a coin the chain no longer has (another \
                         payment spent it); forgotten"
                    ),
                }
                gone.push(t);
            }
        }
    }
    if ctx.running && resubmit {
        for p in w.pending().to_vec() {
            let txid = p.tx.txid();
            if gone.contains(&txid) || view.tx_state(&txid)? != TxState::Unknown {
                continue;
            }
            if let Err(e) = control::request(&ctx.paths.control, &Request::SubmitTx(p.tx)) {
                eprintln!("pending payment {txid} refused by the node ({e}); forgotten");
                gone.push(txid);
            }
        }
    }
    w.remove_pending(&gone)?;
    Ok(())
}

/// Hands `tx` on with no node running: checks it against the store's
/// rules first (with the wallet's other pending payments in a mempool, so
/// the reason of a refusal is known here), then mints it (`mint`, paying
/// `miner`) or sends it to `seed`.
///
/// Errors: a broken rule ([`Exit::Rejected`]); the seed's
/// ([`super::commands::submit_to_seed`]).
fn submit_stopped(
    ctx: &Ctx,
    w: &Wallets,
    tx: Transaction,
    mint: bool,
    seed: &str,
    miner: Address,
) -> Result<()> {
    let txid = tx.txid();
    let chain = ChainState::new(ctx.open_store()?, Arc::new(SigCache::new(100_000)))?;
    let mut mempool = Mempool::new();
    let now = now_secs();
    for p in w.pending() {
        if p.tx.txid() != txid {
            let _ = mempool.accept(p.tx.clone(), chain.store(), chain.sig_cache(), now);
        }
    }
    mempool
        .accept(tx.clone(), chain.store(), chain.sig_cache(), now)
        .map_err(|e| fail(Exit::Rejected, format!("payment {txid} breaks a rule: {e}")))?;
    if mint {
        let mut block = miner::template(&chain, &mempool, miner.0, now as u32)?;
        miner::solve(&mut block, threads(), &Default::default());
        chain.accept_block(&block, now)?;
        chain.store().flush()?;
        return Ok(());
    }
    drop(chain);
    super::commands::submit_to_seed(seed, &tx).map_err(|e| match classify(&e) {
        Exit::Rejected => fail(
            Exit::Rejected,
            format!(
                "payment {txid} refused by the seed {seed}: it passed this node's rules but is not in the seed's mempool after {} s (the seed may know a newer chain where its coins are spent; start this node to sync)",
                super::commands::SEED_VERDICT_WAIT.as_secs()
            ),
        ),
        _ => e,
    })
}
