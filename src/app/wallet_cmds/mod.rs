//! The wallet commands: `createwallet` (alias `getnewaddress`),
//! `restorewallet`, `encryptwallet`, `listaddresses`, wallet-wide
//! `getbalance` and `listunspent`, `listtransactions` and `send`.
//!
//! They read the chain through a [`ChainView`]: the running node's control
//! socket when a node answers on the port, else the stopped node's store
//! (`chain_view.rs`).
//! Secrets are read from files or typed at a terminal prompt, never taken
//! from the command line; the seed phrase is shown once, when the wallet is
//! created, on standard error (or written to `--mnemonic-file`).
//!
//! [`ChainView`]: crate::wallet::ledger::ChainView

mod chain_view;
mod listing;
mod payment;
mod secrets;
mod setup;

use anyhow::Result;
use serde::Serialize;

pub use listing::{ReadArgs, getbalance, listaddresses, listtransactions, listunspent};
pub use payment::{PaymentArgs, SendArgs, create_raw, send};
pub use setup::{CreateArgs, EncryptArgs, RestoreArgs, createwallet, encryptwallet, restorewallet};

/// `v` as indented JSON, for `--json`.
fn to_json(v: &impl Serialize) -> Result<String> {
    Ok(serde_json::to_string_pretty(v)?)
}
