//! Raw transactions: `createrawtransaction` (build and sign, print hex),
//! `sendrawtransaction` (submit hex with `send`'s verdict) and
//! `decoderawtransaction` (hex to the API's JSON). The hex is the
//! transaction's wire encoding, the same bytes `POST /api/tx` takes and
//! `GET /api/tx/:txid/hex` answers.

use std::sync::Arc;

use anyhow::{Result, anyhow};

use super::cli::Ctx;
use super::commands::{parse_address, submit_running, submit_to_seed};
use super::exit::{Exit, fail};
use crate::api::schema::{self, Tx, TxStatus};
use crate::chain::ChainState;
use crate::chain::mempool::{Mempool, spendable_coins};
use crate::core::params::MAX_TX_SIZE;
use crate::core::tx::Transaction;
use crate::core::validation::SigCache;
use crate::net::control;
use crate::wallet::Wallets;
use crate::wallet::send::build_payment;

/// Decodes a transaction from hex (surrounding whitespace ignored).
///
/// Errors: not hex, or not a transaction ([`Exit::Usage`]).
pub fn parse_hex(hex: &str) -> Result<Transaction> {
    let bytes =
        hex::decode(hex.trim()).map_err(|e| fail(Exit::Usage, format!("transaction hex: {e}")))?;
    crate::core::encode::decode(&bytes, MAX_TX_SIZE)
        .map_err(|e| fail(Exit::Usage, format!("transaction hex: {e}")))
}

/// `createrawtransaction`: prints the hex of a signed payment.
///
/// Errors: bad addresses or amount ([`Exit::Usage`]), a key not in the
/// wallet, too few coins, no chain.
pub fn create(ctx: &Ctx, (from, to): (&str, &str), (amount, fee): (u64, u64)) -> Result<()> {
    let from = parse_address(from)?;
    let to = parse_address(to)?;
    if amount == 0 {
        return Err(fail(Exit::Usage, "amount must be at least 1 coin"));
    }
    let wallets = Wallets::load(&ctx.paths.wallet)?;
    let key = wallets.key(&from).ok_or_else(|| {
        anyhow!(
            "address {from} is not in this node's wallet ({})",
            ctx.paths.wallet.display()
        )
    })?;
    let coins = if ctx.running {
        control::coins(&ctx.paths.control, &from)?
    } else {
        ctx.need_store()?;
        let chain = ChainState::new(ctx.open_store()?, Arc::new(SigCache::new(1000)))?;
        spendable_coins(chain.store(), &Mempool::new(), &from.0)?
    };
    let tx = build_payment(key, &coins, to.0, amount, fee)?;
    super::out(hex::encode(crate::core::encode::encode(&tx)))?;
    Ok(())
}

/// `sendrawtransaction`: submits `hex` to the running node, else to
/// `seed`; prints the txid (or `{"txid": TXID}`).
///
/// Errors: bad hex ([`Exit::Usage`]); refused ([`Exit::Rejected`]); no
/// node and no seed, or the seed unreachable ([`Exit::NotRunning`]).
pub fn send(ctx: &Ctx, hex: &str, seed: Option<&str>, json: bool) -> Result<()> {
    let tx = parse_hex(hex)?;
    let txid = if ctx.running {
        submit_running(ctx, tx)?
    } else if let Some(seed) = seed {
        submit_to_seed(seed, &tx)?;
        tx.txid().to_string()
    } else {
        return Err(fail(
            Exit::NotRunning,
            format!(
                "no node runs on port {} to take the transaction: start it or give --seed HOST:PORT",
                ctx.cli.port
            ),
        ));
    };
    if json {
        super::out(serde_json::json!({ "txid": txid }))?;
    } else {
        super::out(txid)?;
    }
    Ok(())
}

/// `decoderawtransaction`: the API's JSON of the transaction in `hex`,
/// unconfirmed, with spent outputs and fee `null`.
///
/// Errors: bad hex ([`Exit::Usage`]).
pub fn decode(hex: &str) -> Result<()> {
    let tx = parse_hex(hex)?;
    let view = Tx::new(&tx, &[], TxStatus::of(None));
    super::out(schema::to_text(&view))?;
    Ok(())
}
