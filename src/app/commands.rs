//! The commands that write: `createblockchain`, `reindexutxo` (and the
//! confirmation wait of `send`, which is in [`super::wallet_cmds`]).

use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::cli::{Ctx, threads};
use crate::chain::miner;
use crate::core::address::Address;
use crate::core::block::Block;
use crate::core::hash::BlockHash;
use crate::core::params::{MAX_DIFFICULTY, MIN_DIFFICULTY, SUBSIDY, now_secs};
use crate::net::control;
use crate::store::StoreError;

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

/// Polls the running node until `txid` is `n` blocks deep, then prints
/// `confirmations: N`; returns at once for `n` = 0.
///
/// Errors: the transaction left the mempool without being mined (a
/// conflicting payment was mined, or it was evicted); the node stopped.
pub(super) fn wait_confirmations(ctx: &Ctx, txid: &str, n: u64) -> Result<()> {
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
    let store = ctx.open_store()?;
    store.tip()?;
    let (txs, outs) = store.reindex_utxo()?;
    super::out(format_args!(
        "Done! There are {txs} transactions with {outs} unspent outputs in the UTXO set."
    ))?;
    Ok(())
}
