//! The commands that write: `createblockchain`, `send`, `reindexutxo`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use super::cli::{Ctx, threads};
use super::exit::{Exit, fail};
use crate::chain::mempool::{Mempool, spendable_coins};
use crate::chain::{ChainState, miner};
use crate::core::address::Address;
use crate::core::block::Block;
use crate::core::hash::BlockHash;
use crate::core::params::{MAX_DIFFICULTY, MIN_DIFFICULTY, SUBSIDY, now_secs};
use crate::core::validation::SigCache;
use crate::net::control;
use crate::net::submit::{TxVerdict, submit_tx};
use crate::store::StoreError;
use crate::wallet::Wallets;
use crate::wallet::send::build_payment;

/// Parses a Base58Check address.
///
/// Errors: the address's own error (checksum, version, length), as
/// [`Exit::Usage`].
pub fn parse_address(s: &str) -> Result<Address> {
    s.parse::<Address>()
        .map_err(|e| fail(Exit::Usage, format!("address {s:?}: {e}")))
}

/// `createblockchain`: a genesis block paying the subsidy to `address`
/// at `difficulty` bits; prints its hash.
///
/// Errors: bad address or difficulty, a running node, a chain already.
pub fn createblockchain(ctx: &Ctx, address: &str, difficulty: u32) -> Result<()> {
    let addr = parse_address(address)?;
    if !(MIN_DIFFICULTY..=MAX_DIFFICULTY).contains(&difficulty) {
        bail!("difficulty must be between {MIN_DIFFICULTY} and {MAX_DIFFICULTY} bits");
    }
    if ctx.running {
        bail!(
            "the node on port {} is running: stop it first",
            ctx.cli.port
        );
    }
    let store = ctx.open_store()?;
    if store.genesis_hash()?.is_some() {
        return Err(StoreError::ChainExists.into());
    }
    let time = now_secs() as u32;
    let mut genesis = Block::template(
        BlockHash::ZERO,
        0,
        difficulty,
        time,
        addr.0,
        SUBSIDY,
        vec![],
    );
    miner::solve(&mut genesis, threads(), &Default::default());
    store.init_genesis(&genesis)?;
    store.flush()?;
    super::out(genesis.hash())?;
    Ok(())
}

/// How long `send` waits for the seed's verdict over P2P.
pub const SEED_VERDICT_WAIT: Duration = Duration::from_secs(10);

/// `send`: pays `amount` (whole coins, `fee` to the minter) from `from` (a
/// key in this node's wallet) to `to`; prints `txid: HEX` (or JSON
/// `{"txid": HEX}`) once the node that takes it has accepted it. A running
/// node takes it over the control socket; else `--mint` mints it here, or
/// it goes to `seed` over P2P.
///
/// Errors: bad addresses ([`Exit::Usage`]), amount 0, a key not in the
/// wallet, too few coins, the node's refusal ([`Exit::Rejected`], with the
/// rule) or the seed's (over P2P the rule is only in the seed's log); no
/// node running and no seed ([`Exit::NotRunning`]).
pub fn send(
    ctx: &Ctx,
    (from, to): (&str, &str),
    (amount, fee): (u64, u64),
    mint: bool,
    seed: Option<&str>,
    (confirmations, timeout, json): (u64, Option<u64>, bool),
) -> Result<()> {
    if confirmations > u64::from(mint) && !ctx.running {
        return Err(fail(
            Exit::NotRunning,
            format!(
                "--confirmations {confirmations} needs the node on port {} running, to watch the chain{}",
                ctx.cli.port,
                if mint { " (--mint makes 1)" } else { "" }
            ),
        ));
    }
    let from_addr = parse_address(from)?;
    let to_addr = parse_address(to)?;
    if amount == 0 {
        return Err(fail(Exit::Usage, "amount must be at least 1 coin"));
    }
    let wallets = Wallets::load(&ctx.paths.wallet)?;
    let key = wallets.key(&from_addr).ok_or_else(|| {
        anyhow!(
            "address {from_addr} is not in this node's wallet ({})",
            ctx.paths.wallet.display()
        )
    })?;
    let print = |txid: &str, conf: Option<u64>| -> Result<()> {
        if json {
            let mut v = serde_json::json!({ "txid": txid });
            if let Some(c) = conf {
                v["confirmations"] = c.into();
            }
            super::out(v)?;
        } else {
            super::out(format_args!("txid: {txid}"))?;
            if let Some(c) = conf {
                super::out(format_args!("confirmations: {c}"))?;
            }
        }
        Ok(())
    };
    if ctx.running {
        if mint {
            bail!(
                "the node on port {} is running: --mint needs it stopped (without --mint the running node relays the payment)",
                ctx.cli.port
            );
        }
        let coins = control::coins(&ctx.paths.control, &from_addr)?;
        let tx = build_payment(key, &coins, to_addr.0, amount, fee)?;
        let txid = submit_running(ctx, tx)?;
        if confirmations == 0 {
            return print(&txid, None);
        }
        if !json {
            // The txid at once: the payment is in, whatever the wait gives.
            super::out(format_args!("txid: {txid}"))?;
        }
        let have = wait_confirmations(ctx, &txid, confirmations, timeout)?;
        if !json {
            return Ok(super::out(format_args!("confirmations: {have}"))?);
        }
        return print(&txid, Some(have));
    }
    if !mint && seed.is_none() {
        return Err(fail(
            Exit::NotRunning,
            format!(
                "no node runs on port {} to take the payment: start it, give --seed HOST:PORT, or --mint",
                ctx.cli.port
            ),
        ));
    }
    let txid = send_stopped(
        ctx,
        key,
        (from_addr.0, to_addr.0),
        (amount, fee),
        mint,
        seed.unwrap_or_default(),
    )?;
    print(&txid.to_string(), None)
}

/// Hands `tx` to the running node; its txid once in the mempool.
///
/// Errors: the node's refusal with the rule ([`Exit::Rejected`]); the
/// node cannot be reached ([`Exit::NotRunning`]).
pub fn submit_running(ctx: &Ctx, tx: crate::core::tx::Transaction) -> Result<String> {
    if !control::is_running(&ctx.paths.control) {
        return Err(fail(
            Exit::NotRunning,
            format!("the node on port {} stopped", ctx.cli.port),
        ));
    }
    control::request(&ctx.paths.control, &control::Request::SubmitTx(tx)).map_err(|e| {
        fail(
            Exit::Rejected,
            format!("the node rejected the transaction: {e:#}"),
        )
    })
}

/// Hands `tx` to `seed` over P2P and waits for its verdict.
///
/// Errors: the seed cannot be reached ([`Exit::NotRunning`]); it did not
/// take the transaction ([`Exit::Rejected`]).
pub fn submit_to_seed(seed: &str, tx: &crate::core::tx::Transaction) -> Result<()> {
    let txid = tx.txid();
    let verdict = submit_tx(seed, tx, SEED_VERDICT_WAIT).map_err(|e| {
        fail(
            Exit::NotRunning,
            format!("cannot reach seed node {seed}: {e:#}"),
        )
    })?;
    if verdict != TxVerdict::Accepted {
        return Err(fail(
            Exit::Rejected,
            format!(
                "transaction {txid} rejected by the seed {seed} (not in its mempool after {} s; see its log for the rule)",
                SEED_VERDICT_WAIT.as_secs()
            ),
        ));
    }
    Ok(())
}

/// `send` with no node running: the payment from the store's coins,
/// minted here (`mint`) or handed to `seed` over P2P; its txid once taken.
///
/// Errors: as [`send`].
fn send_stopped(
    ctx: &Ctx,
    key: &p256::ecdsa::SigningKey,
    (from, to): ([u8; 20], [u8; 20]),
    (amount, fee): (u64, u64),
    mint: bool,
    seed: &str,
) -> Result<crate::core::hash::Txid> {
    ctx.need_store()?;
    let chain = ChainState::new(ctx.open_store()?, Arc::new(SigCache::new(100_000)))?;
    let mut mempool = Mempool::new();
    let coins = spendable_coins(chain.store(), &mempool, &from)?;
    let tx = build_payment(key, &coins, to, amount, fee)?;
    let txid = tx.txid();
    if mint {
        let now = now_secs();
        mempool.accept(tx, chain.store(), chain.sig_cache(), now)?;
        let mut block = miner::template(&chain, &mempool, from, now as u32)?;
        miner::solve(&mut block, threads(), &Default::default());
        chain.accept_block(&block, now)?;
        chain.store().flush()?;
    } else {
        drop(chain);
        submit_to_seed(seed, &tx)?;
    }
    Ok(txid)
}

/// Polls the running node until `txid` is `n` blocks deep; returns the
/// confirmations then. Each change is reported on stderr.
///
/// Errors: the transaction left the mempool without being mined (a
/// conflicting payment was mined, or it was evicted); the node stopped;
/// `timeout` seconds passed.
fn wait_confirmations(ctx: &Ctx, txid: &str, n: u64, timeout: Option<u64>) -> Result<u64> {
    let mut last = None;
    let start = std::time::Instant::now();
    loop {
        let tx = super::reads::get_text(ctx, &format!("/api/tx/{txid}/status"), |_| {
            Err(crate::api::ApiError::unavailable("the node stopped"))
        })
        .with_context(|| format!("waiting for {n} confirmations of {txid}"))?;
        let status: crate::api::schema::TxStatus = serde_json::from_str(&tx)?;
        let have = match status.block_height {
            Some(h) => {
                let tip = super::reads::get_text(ctx, "/api/blocks/tip/height", |_| {
                    Err(crate::api::ApiError::unavailable("the node stopped"))
                })?;
                tip.trim().parse::<u64>()?.saturating_sub(h) + 1
            }
            None => 0,
        };
        if have >= n {
            return Ok(have);
        }
        if let Some(t) = timeout
            && start.elapsed() >= Duration::from_secs(t)
        {
            bail!(
                "gave up after {t} s with {} of {n} for {txid} (it stays in the mempool; `gettx` follows it)",
                super::text::plural(have, "confirmation")
            );
        }
        if last != Some(have) {
            eprintln!(
                "{txid}: {} of {n}, waiting",
                super::text::plural(have, "confirmation")
            );
            last = Some(have);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `reindexutxo`: rebuilds the UTXO set from the blocks; prints the counts.
///
/// Errors: a running node, no chain, the store.
pub fn reindexutxo(ctx: &Ctx) -> Result<()> {
    if ctx.running {
        bail!(
            "the node on port {} is running: stop it before reindexutxo",
            ctx.cli.port
        );
    }
    ctx.need_store()?;
    let store = ctx.open_store()?;
    store.tip()?;
    let (txs, outs) = store.reindex_utxo()?;
    super::out(format_args!(
        "Done! There are {txs} transactions with {outs} unspent outputs in the UTXO set."
    ))?;
    Ok(())
}
