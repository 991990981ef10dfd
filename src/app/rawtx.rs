//! Raw transactions: `createrawtransaction` (build and sign, print hex),
//! `sendrawtransaction` (submit hex with `send`'s verdict) and
//! `decoderawtransaction` (hex to the API's JSON). The hex is the
//! transaction's wire encoding, the same bytes `POST /api/tx` takes and
//! `GET /api/tx/:txid/hex` answers.

use anyhow::Result;

use super::cli::Ctx;
use super::commands::{submit_running, submit_to_seed};
use super::exit::{Exit, fail};
use super::wallet_cmds::{PaymentArgs, create_raw};
use crate::api::schema::{self, Tx, TxStatus};
use crate::core::params::MAX_TX_SIZE;
use crate::core::tx::Transaction;

/// Decodes a transaction from hex (surrounding whitespace ignored).
///
/// Errors: not hex, or not a transaction ([`Exit::Usage`]).
pub fn parse_hex(hex: &str) -> Result<Transaction> {
    let bytes =
        hex::decode(hex.trim()).map_err(|e| fail(Exit::Usage, format!("transaction hex: {e}")))?;
    crate::core::encode::decode(&bytes, MAX_TX_SIZE)
        .map_err(|e| fail(Exit::Usage, format!("transaction hex: {e}")))
}

/// `createrawtransaction`: prints the hex of a signed payment built from
/// the wallet as `send` builds it ([`super::wallet_cmds::create_raw`]).
///
/// Errors: as [`super::wallet_cmds::create_raw`].
pub fn create(ctx: &Ctx, args: &PaymentArgs) -> Result<()> {
    let tx = create_raw(ctx, args)?;
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
