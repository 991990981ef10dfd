//! Paying from a wallet: `send`, the signed transaction
//! `createrawtransaction` builds the same way without sending it
//! ([`create_raw`]), and pending payments settled or submitted again.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, bail};

use super::chain_view::{View, view};
use super::secrets::unlock;
use super::to_json;
use crate::app::cli::{Ctx, threads};
use crate::app::commands::parse_address;
use crate::app::exit::{Exit, classify, fail};
use crate::chain::mempool::Mempool;
use crate::chain::{ChainState, miner};
use crate::core::address::Address;
use crate::core::hash::Txid;
use crate::core::params::now_secs;
use crate::core::tx::{OutPoint, Transaction, TxOut};
use crate::core::validation::SigCache;
use crate::net::control::{self, Request};
use crate::wallet::ledger::{self, ChainView, Resolution, TxState};
use crate::wallet::send::build_wallet_payment;
use crate::wallet::{Chain, Wallets};

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
    check_send_route(ctx, a)?;
    let (txid, change) = make_payment(ctx, a)?;
    report_sent(ctx, a, &txid.to_string(), change)
}

/// Fails before anything is built or locked when the payment has nowhere
/// to go: `--confirmations` past what `--mint` gives without a running
/// node ([`Exit::NotRunning`]), `--mint` with the node running, or no
/// running node, `--seed` or `--mint` ([`Exit::NotRunning`], after the
/// recipient address is checked).
fn check_send_route(ctx: &Ctx, a: &SendArgs) -> Result<()> {
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
    Ok(())
}

/// Builds, records as pending and hands over the payment (to the running
/// node, a seed, or a block minted here); returns its txid and change
/// address. With `--mint` the mined payment is no longer pending; when it
/// could not be handed over it is forgotten and its coins are free again.
///
/// Errors: the wallet's, the payment builder's, the submission's.
fn make_payment(ctx: &Ctx, a: &SendArgs) -> Result<(Txid, Option<Address>)> {
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
        crate::app::commands::submit_running(ctx, p.tx).map(|_| ())
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
    Ok((txid, p.change))
}

/// Prints what `send` did: `txid: ...` at once (text), then, after
/// waiting for `--confirmations` (1 with `--mint`), `confirmations: N`;
/// or one JSON object at the end.
///
/// Errors: writing the output; the confirmation wait's.
fn report_sent(ctx: &Ctx, a: &SendArgs, txid: &str, change: Option<Address>) -> Result<()> {
    if !a.json {
        crate::app::out(format_args!("txid: {txid}"))?;
    }
    let confirmations = match a.confirmations {
        0 => None,
        _ if a.mint => Some(1),
        n => Some(crate::app::commands::wait_confirmations(
            ctx, txid, n, a.timeout,
        )?),
    };
    if a.json {
        let mut v = serde_json::json!({
            "txid": txid,
            "amount": a.payment.amount,
            "fee": a.payment.fee,
            "change_address": change.map(|c| c.to_string()),
            "mined": a.mint,
        });
        if let Some(c) = confirmations {
            v["confirmations"] = c.into();
        }
        crate::app::out(to_json(&v)?)?;
    } else if let Some(c) = confirmations {
        crate::app::out(format_args!("confirmations: {c}"))?;
    }
    Ok(())
}

/// Forgets mined and conflicted pending payments; on a running node with
/// `resubmit`, hands the others it does not know to it again and forgets
/// those it refuses (saying why on standard error).
pub(super) fn settle_pending(
    ctx: &Ctx,
    w: &mut Wallets,
    view: &dyn ChainView,
    resubmit: bool,
) -> Result<()> {
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
/// ([`crate::app::commands::submit_to_seed`]).
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
    crate::app::commands::submit_to_seed(seed, &tx).map_err(|e| match classify(&e) {
        Exit::Rejected => fail(
            Exit::Rejected,
            format!(
                "payment {txid} refused by the seed {seed}: it passed this node's rules but is not in the seed's mempool after {} s (the seed may know a newer chain where its coins are spent; start this node to sync)",
                crate::app::commands::SEED_VERDICT_WAIT.as_secs()
            ),
        ),
        _ => e,
    })
}
