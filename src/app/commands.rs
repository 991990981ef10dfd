//! The commands that write: `createblockchain`, `send`, `reindexutxo`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use super::cli::{Ctx, threads};
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
/// Errors: the address's own error (checksum, version, length).
pub fn parse_address(s: &str) -> Result<Address> {
    Ok(s.parse::<Address>()?)
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
const SEED_VERDICT_WAIT: Duration = Duration::from_secs(10);

/// `send`: pays `amount` (whole coins, `fee` to the minter) from `from` (a
/// key in this node's wallet) to `to`; prints `txid: HEX` once the node
/// that takes it has accepted it. A running node takes it over the control
/// socket; else `--mint` mints it here, or it goes to `seed` over P2P.
///
/// Errors: bad addresses, amount 0, a key not in the wallet, too few coins,
/// the node's refusal (with the rule) or the seed's (over P2P the rule is
/// only in the seed's log).
pub fn send(
    ctx: &Ctx,
    (from, to): (&str, &str),
    (amount, fee): (u64, u64),
    mint: bool,
    seed: &str,
    confirmations: u64,
) -> Result<()> {
    if confirmations > u64::from(mint) && !ctx.running {
        bail!(
            "--confirmations {confirmations} needs the node on port {} running, to watch the chain{}",
            ctx.cli.port,
            if mint { " (--mint makes 1)" } else { "" }
        );
    }
    let from_addr = parse_address(from)?;
    let to_addr = parse_address(to)?;
    if amount == 0 {
        bail!("amount must be at least 1 coin");
    }
    let wallets = Wallets::load(&ctx.paths.wallet)?;
    let key = wallets.key(&from_addr).ok_or_else(|| {
        anyhow!(
            "address {from_addr} is not in this node's wallet ({})",
            ctx.paths.wallet.display()
        )
    })?;
    if ctx.running {
        if mint {
            bail!(
                "the node on port {} is running: --mint needs it stopped (without --mint the running node relays the payment)",
                ctx.cli.port
            );
        }
        let coins = control::coins(&ctx.paths.control, &from_addr)?;
        let tx = build_payment(key, &coins, to_addr.0, amount, fee)?;
        let txid = control::request(&ctx.paths.control, &control::Request::SubmitTx(tx))
            .context("the node rejected the transaction")?;
        super::out(format_args!("txid: {txid}"))?;
        return wait_confirmations(ctx, &txid, confirmations);
    }
    let txid = send_stopped(
        ctx,
        key,
        (from_addr.0, to_addr.0),
        (amount, fee),
        mint,
        seed,
    )?;
    super::out(format_args!("txid: {txid}"))?;
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
        let verdict = submit_tx(seed, &tx, SEED_VERDICT_WAIT)
            .with_context(|| format!("cannot reach seed node {seed}"))?;
        if verdict != TxVerdict::Accepted {
            bail!(
                "transaction {txid} rejected by the seed {seed} (not in its mempool after {} s; see its log for the rule)",
                SEED_VERDICT_WAIT.as_secs()
            );
        }
    }
    Ok(txid)
}

/// Polls the running node until `txid` is `n` blocks deep, then prints
/// `confirmations: N`; returns at once for `n` = 0.
///
/// Errors: the transaction left the mempool without being mined (a
/// conflicting payment was mined, or it was evicted); the node stopped.
fn wait_confirmations(ctx: &Ctx, txid: &str, n: u64) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let request = control::Request::Read {
        query: control::Query::Tx(txid.to_string()),
        json: true,
    };
    loop {
        let text = control::request(&ctx.paths.control, &request)
            .with_context(|| format!("waiting for {n} confirmations of {txid}"))?;
        let view: serde_json::Value = serde_json::from_str(&text)?;
        let have = view["confirmations"].as_u64().unwrap_or(0);
        if have >= n {
            super::out(format_args!("confirmations: {have}"))?;
            return Ok(());
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
    // A damaged store (its chain state below the recorded tip) is what
    // reindexutxo repairs: it opens without that check and records the tip
    // it rebuilt.
    let store = ctx.open_store_for_repair()?;
    store.tip()?;
    let (txs, outs) = store.reindex_utxo()?;
    super::out(format_args!(
        "Done! There are {txs} transactions with {outs} unspent outputs in the UTXO set."
    ))?;
    Ok(())
}
