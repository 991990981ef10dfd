//! The read-only commands and the commands that ask a running node:
//! `getbalance`, `checkchain`, `status`, `getblock`, `gettx`,
//! `listunspent`, `peers`, `mempool`, `addpeer`, `mint`.

use anyhow::{Result, bail};

use super::cli::{Command, Ctx};
use super::{inspect, nodeview, out};
use crate::net::control::{self, Query, Request};

/// Runs one of this module's commands.
///
/// Errors: the command's; a command needing a running node when none
/// answers; `checkchain` finding a discrepancy.
pub fn run(ctx: &Ctx, command: &Command) -> Result<()> {
    let read = |query: Query, json: bool| -> Result<String> {
        let q = query.clone();
        ctx.text(Request::Read { query, json }, |store| {
            inspect::read(store, None, &q, json)
        })
    };
    match command {
        Command::Getbalance {
            address: Some(address),
            json,
        } => {
            let addr = super::commands::parse_address(address)?;
            out(read(Query::Balance(addr.to_string()), *json)?)?;
        }
        Command::Checkchain { json } => {
            let text = read(Query::CheckChain, *json)?;
            out(&text)?;
            let ok = if *json {
                serde_json::from_str::<serde_json::Value>(&text)?["ok"] == true
            } else {
                text == "OK"
            };
            if !ok {
                bail!("chain check failed");
            }
        }
        Command::Status { json } => out(status(ctx, *json)?)?,
        Command::Getblock { id, json } => out(read(Query::Block(id.clone()), *json)?)?,
        Command::Gettx { txid, json } => out(read(Query::Tx(txid.clone()), *json)?)?,
        Command::Listunspent {
            address: Some(address),
            json,
        } => {
            let addr = super::commands::parse_address(address)?;
            out(read(Query::Unspent(addr.to_string()), *json)?)?;
        }
        Command::Mempool { json } => {
            need_running(ctx, "mempool")?;
            out(read(Query::Mempool, *json)?)?;
        }
        Command::Peers { json } => out(ask(ctx, "peers", &Request::Peers(*json))?)?,
        Command::Addpeer { addr } => out(ask(ctx, "addpeer", &Request::AddPeer(addr.clone()))?)?,
        Command::Mint => out(ask(ctx, "mint", &Request::Mint)?)?,
        other => bail!("not a read command: {other:?}"),
    }
    Ok(())
}

/// `status`: the running node's figures, else the store's.
fn status(ctx: &Ctx, json: bool) -> Result<String> {
    if ctx.running {
        return control::request(&ctx.paths.control, &Request::Info(json));
    }
    nodeview::stopped_status(&ctx.open_store()?, json)
}

/// Errors unless a node runs on the port.
fn need_running(ctx: &Ctx, what: &str) -> Result<()> {
    if !ctx.running {
        bail!(
            "{what} needs the node on port {} running (no node answers on {})",
            ctx.cli.port,
            ctx.paths.control.display()
        );
    }
    Ok(())
}

/// Asks the running node.
fn ask(ctx: &Ctx, what: &str, request: &Request) -> Result<String> {
    need_running(ctx, what)?;
    control::request(&ctx.paths.control, request)
}
