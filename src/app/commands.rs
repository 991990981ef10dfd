//! The commands that write: `createblockchain`, `reindexutxo` (and the
//! confirmation wait of `send`, which is in [`super::wallet_cmds`]).

use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::cli::{Ctx, threads};
use super::exit::{Exit, fail};
use crate::chain::miner;
use crate::core::address::Address;
use crate::core::block::Block;
use crate::core::hash::BlockHash;
use crate::core::params::{MAX_DIFFICULTY, MIN_DIFFICULTY, SUBSIDY, now_secs};
use crate::net::control;
use crate::net::submit::{TxVerdict, submit_tx};
use crate::store::StoreError;

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

/// Polls the running node until `txid` is `n` blocks deep; returns the
/// confirmations then. Each change is reported on stderr.
///
/// Errors: the transaction left the mempool without being mined (a
/// conflicting payment was mined, or it was evicted); the node stopped;
/// `timeout` seconds passed.
pub(super) fn wait_confirmations(
    ctx: &Ctx,
    txid: &str,
    n: u64,
    timeout: Option<u64>,
) -> Result<u64> {
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
    // A damaged store (its chain state below the recorded tip) is what
    // reindexutxo repairs: it opens without that check and records the tip
    // it rebuilt.
    let store = ctx.open_store_for_repair()?;
    store.tip()?;
    let (txs, outs) = store.reindex_utxo()?;
    // Durable before the answer; the exit then skips freeing sled's cache.
    store.close_for_exit()?;
    super::out(format_args!(
        "Done! There are {txs} transactions with {outs} unspent outputs in the UTXO set."
    ))?;
    Ok(())
}
