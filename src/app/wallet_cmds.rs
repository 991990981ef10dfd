//! The wallet commands: `createwallet` (alias `getnewaddress`),
//! `restorewallet`, `encryptwallet`, `listaddresses`, wallet-wide
//! `getbalance` and `listunspent`, `listtransactions` and `send`.
//!
//! They read the chain through a [`ChainView`]: the running node's control
//! socket when a node answers on the port, else the stopped node's store.
//! Secrets are read from files or typed at a terminal prompt, never taken
//! from the command line; the seed phrase is shown once, when the wallet is
//! created, on standard error (or written to `--mnemonic-file`).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use serde::Serialize;
use zeroize::Zeroizing;

use super::cli::{Ctx, threads};
use super::commands::parse_address;
use crate::chain::mempool::Mempool;
use crate::chain::{ChainState, miner};
use crate::core::address::Address;
use crate::core::hash::Txid;
use crate::core::params::now_secs;
use crate::core::tx::{OutPoint, Transaction, TxOut};
use crate::core::validation::SigCache;
use crate::net::control::{self, Query, Request};
use crate::net::submit::{TxVerdict, submit_tx};
use crate::store::ChainStore;
use crate::wallet::hd::SeedPhrase;
use crate::wallet::ledger::{self, ChainView, HistoryItem, Resolution, TxState};
use crate::wallet::send::build_wallet_payment;
use crate::wallet::{Chain, Wallets, crypt};

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
    /// Print JSON instead of text.
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
    /// Unused addresses in a row after which the scan of a chain stops.
    #[arg(long, default_value_t = ledger::GAP_LIMIT)]
    pub gap_limit: u32,
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
    fn read_json(&self, query: Query) -> Result<serde_json::Value> {
        let text = control::request(self.0, &Request::Read { query, json: true })?;
        Ok(serde_json::from_str(&text)?)
    }
}

impl ChainView for NodeView<'_> {
    fn confirmed(&self, a: &Address) -> Result<Vec<(OutPoint, TxOut)>> {
        let v = self.read_json(Query::Unspent(a.to_string()))?;
        let mut out = Vec::new();
        for u in v.as_array().into_iter().flatten() {
            let txid: Txid = u["txid"].as_str().unwrap_or_default().parse()?;
            let op = OutPoint {
                txid,
                vout: u["vout"].as_u64().unwrap_or_default() as u32,
            };
            let value = u["value"].as_u64().unwrap_or_default();
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
        match self.read_json(Query::Tx(txid.to_string())) {
            Ok(v) if v["status"] == "mempool" => Ok(TxState::Mempool),
            Ok(v) => Ok(TxState::Confirmed(v["confirmations"].as_u64().unwrap_or(1))),
            Err(e) if e.to_string().contains("not found") => Ok(TxState::Unknown),
            Err(e) => Err(e),
        }
    }
    fn spender(&self, _op: &OutPoint) -> Result<Option<Txid>> {
        Ok(None)
    }
}

/// The chain view of this port: the running node, else the store.
fn view<'a>(ctx: &'a Ctx) -> Result<Box<dyn ChainView + 'a>> {
    if ctx.running {
        return Ok(Box::new(NodeView(&ctx.paths.control)));
    }
    let store = ctx.open_store()?;
    store.tip()?;
    Ok(Box::new(StoreView(store)))
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
        bail!(
            "wallet {} is encrypted: give --passphrase-file FILE (no terminal to ask on)",
            wallet.display()
        );
    }
    Ok(Zeroizing::new(rpassword::prompt_password(
        "Wallet passphrase: ",
    )?))
}

/// Unlocks `w` if it is encrypted.
fn unlock(w: &mut Wallets, file: Option<&Path>) -> Result<()> {
    if w.is_unlocked() {
        return Ok(());
    }
    let p = passphrase(file, w.path())?;
    w.unlock(p.as_bytes())?;
    Ok(())
}

/// Writes `text` to a new file at `path` with mode 0600, synced.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist)", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// `createwallet` / `getnewaddress`: creates the wallet's seed on first use
/// (showing the phrase once), then hands out the next receive address.
///
/// Errors: the wallet file's; a bad `--words`; an unwritable
/// `--mnemonic-file`.
pub fn createwallet(ctx: &Ctx, args: &CreateArgs) -> Result<()> {
    let mut w = Wallets::open_exclusive(&ctx.paths.wallet)?;
    let mut phrase_shown = None;
    if !w.has_seed() {
        let phrase = SeedPhrase::generate(args.words)?;
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
            None => {}
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
/// Errors: the wallet file's.
pub fn listaddresses(ctx: &Ctx, json: bool) -> Result<()> {
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

/// `getbalance` without `--address`: the whole wallet's balance.
///
/// Errors: the wallet file's; the chain's.
pub fn getbalance(ctx: &Ctx, json: bool) -> Result<()> {
    let view = view(ctx)?;
    let w = load_current(ctx, view.as_ref())?;
    let b = ledger::balance(&w, view.as_ref(), None)?;
    if json {
        return Ok(super::out(to_json(&b)?)?);
    }
    super::out(format_args!(
        "confirmed: {}\nunconfirmed: {}\ntotal: {}",
        b.confirmed, b.unconfirmed, b.total
    ))?;
    Ok(())
}

/// `listunspent` without `--address`: every coin the wallet may spend.
///
/// Errors: the wallet file's; the chain's.
pub fn listunspent(ctx: &Ctx, json: bool) -> Result<()> {
    let view = view(ctx)?;
    let w = load_current(ctx, view.as_ref())?;
    let coins = ledger::wallet_coins(&w, view.as_ref(), None)?;
    if json {
        return Ok(super::out(to_json(&coins)?)?);
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
/// Errors: a bad phrase; a wallet that has a seed already; the chain's.
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
    let phrase = SeedPhrase::parse(&text)?;
    let pass = match &args.seed_passphrase_file {
        Some(f) => read_secret_file(f, "seed passphrase")?,
        None => Zeroizing::new(String::new()),
    };
    let view = view(ctx)?;
    let mut w = Wallets::open_exclusive(&ctx.paths.wallet)?;
    w.set_seed(&phrase, &pass)?;
    let account = w
        .account()
        .cloned()
        .ok_or_else(|| anyhow!("the wallet has no account key after restoring"))?;
    let (receive, change) = ledger::gap_scan(&account, view.as_ref(), args.gap_limit.max(1))?;
    w.extend_to(receive, change)?;
    let b = ledger::balance(&w, view.as_ref(), None)?;
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
/// Errors: already encrypted; no passphrase source; mismatched prompts;
/// the wallet file's.
pub fn encryptwallet(ctx: &Ctx, args: &EncryptArgs) -> Result<()> {
    let pass = match &args.passphrase_file {
        Some(f) => read_secret_file(f, "passphrase")?,
        None if std::io::stdin().is_terminal() => {
            let a = Zeroizing::new(rpassword::prompt_password("New wallet passphrase: ")?);
            let b = Zeroizing::new(rpassword::prompt_password("Repeat the passphrase: ")?);
            if *a != *b {
                bail!("the two passphrases differ; the wallet is unchanged");
            }
            a
        }
        None => bail!("encryptwallet needs --passphrase-file FILE (no terminal to ask on)"),
    };
    if pass.is_empty() {
        bail!("the passphrase is empty; the wallet is unchanged");
    }
    let mut w = Wallets::open_exclusive(&ctx.paths.wallet)?;
    if w.is_empty() && !w.has_seed() {
        bail!(
            "wallet {} is empty: run createwallet first",
            ctx.paths.wallet.display()
        );
    }
    w.encrypt(pass.as_bytes(), crypt::DEFAULT_COST)?;
    if args.json {
        let v = serde_json::json!({ "encrypted": true, "wallet": ctx.paths.wallet.display().to_string() });
        return Ok(super::out(to_json(&v)?)?);
    }
    super::out(format_args!(
        "wallet {} is encrypted; commands that sign ask for the passphrase (or take --passphrase-file)",
        ctx.paths.wallet.display()
    ))?;
    Ok(())
}

/// Arguments of `send` after parsing.
pub struct SendArgs<'a> {
    /// Paying address (only its coins, change back to it), or the whole wallet.
    pub from: Option<&'a str>,
    /// Receiving address.
    pub to: &'a str,
    /// Whole coins.
    pub amount: u64,
    /// Whole coins left to the minter.
    pub fee: u64,
    /// Mint it here (node stopped).
    pub mint: bool,
    /// Seed node for a stopped node.
    pub seed: &'a str,
    /// Confirmations to wait for.
    pub confirmations: u64,
    /// File with the wallet's passphrase.
    pub passphrase_file: Option<&'a Path>,
    /// Print JSON.
    pub json: bool,
}

/// How long `send` waits for the seed's verdict over P2P.
const SEED_VERDICT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// `send`: pays `amount` to `to` from the wallet (or `--from` one address),
/// records the payment as pending (its coins locked) before handing it on,
/// and forgets it again when it is refused, saying why.
///
/// Errors: bad addresses, amount 0, an address not in the wallet, too few
/// unlocked coins, a locked wallet without passphrase, the node's or the
/// local rule check's refusal, an unreachable or refusing seed.
pub fn send(ctx: &Ctx, a: &SendArgs) -> Result<()> {
    if a.confirmations > u64::from(a.mint) && !ctx.running {
        bail!(
            "--confirmations {} needs the node on port {} running, to watch the chain{}",
            a.confirmations,
            ctx.cli.port,
            if a.mint { " (--mint makes 1)" } else { "" }
        );
    }
    let from = a.from.map(parse_address).transpose()?;
    let to = parse_address(a.to)?;
    if a.amount == 0 {
        bail!("amount must be at least 1 coin");
    }
    if ctx.running && a.mint {
        bail!(
            "the node on port {} is running: --mint needs it stopped (without --mint the running node relays the payment)",
            ctx.cli.port
        );
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
    settle_pending(ctx, &mut w, view.as_ref())?;
    let coins: Vec<(OutPoint, TxOut)> = ledger::wallet_coins(&w, view.as_ref(), from.as_ref())?
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
    let change_needed = match build(&w, [0; 20]) {
        Ok((tx, _)) => tx.outputs.len() > 1,
        Err(e) if locked > 0 => {
            bail!("{e} ({locked} coins are locked by this wallet's pending payments)")
        }
        Err(e) => return Err(e.into()),
    };
    let change = match (from, change_needed) {
        (Some(f), _) => f,
        (None, true) => w.new_address(Chain::Change)?,
        (None, false) => Address([0; 20]),
    };
    let miner = match from {
        Some(f) => f,
        None if a.mint && !change_needed => w.new_address(Chain::Change)?,
        None => change,
    };
    let (tx, spent) = build(&w, change.0)?;
    let txid = tx.txid();
    w.add_pending(tx.clone(), spent, now_secs())?;
    let result = if ctx.running {
        drop(view);
        control::request(&ctx.paths.control, &Request::SubmitTx(tx))
            .map(|_| ())
            .map_err(|e| anyhow!("the node refused payment {txid}: {e}"))
    } else {
        drop(view);
        submit_stopped(ctx, &w, tx, a.mint, a.seed, miner)
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
    if a.json {
        let v = serde_json::json!({
            "txid": txid.to_string(),
            "amount": a.amount,
            "fee": a.fee,
            "change_address": (change_needed).then(|| change.to_string()),
            "mined": a.mint,
        });
        super::out(to_json(&v)?)?;
    } else {
        super::out(format_args!("txid: {txid}"))?;
    }
    super::commands::wait_confirmations(ctx, &txid.to_string(), a.confirmations)
}

/// Forgets mined and conflicted pending payments; on a running node,
/// hands the others it does not know to it again and forgets those it
/// refuses (saying why on standard error).
fn settle_pending(ctx: &Ctx, w: &mut Wallets, view: &dyn ChainView) -> Result<()> {
    let mut gone = Vec::new();
    for r in ledger::resolve_pending(w, view)? {
        match r {
            Resolution::Mined(t) => gone.push(t),
            Resolution::Conflicted(t, by) => {
                eprintln!("pending payment {t} conflicted with {by}, mined instead; forgotten");
                gone.push(t);
            }
        }
    }
    if ctx.running {
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
        .map_err(|e| anyhow!("payment {txid} breaks a rule: {e}"))?;
    if mint {
        let mut block = miner::template(&chain, &mempool, miner.0, now as u32)?;
        miner::solve(&mut block, threads(), &Default::default());
        chain.accept_block(&block, now)?;
        chain.store().flush()?;
        return Ok(());
    }
    drop(chain);
    let verdict = submit_tx(seed, &tx, SEED_VERDICT_WAIT)
        .with_context(|| format!("cannot reach seed node {seed}"))?;
    if verdict != TxVerdict::Accepted {
        bail!(
            "payment {txid} refused by the seed {seed}: it passed this node's rules but is not in the seed's mempool after {} s (the seed may know a newer chain where its coins are spent; start this node to sync)",
            SEED_VERDICT_WAIT.as_secs()
        );
    }
    Ok(())
}
