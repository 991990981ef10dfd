//! The read-only commands and the commands that ask a running node:
//! `getbalance`, `checkchain`, `status`, `getblock`, `gettx`,
//! `listunspent`, `peers`, `mempool`, `addpeer`, `mint`.
//!
//! Each read is one HTTP API route: on a running node the CLI asks the
//! node's own API router over the control socket ([`Request::Get`]) and
//! prints its body under `--json`, byte for byte; on a stopped node it
//! builds the same [`crate::api::schema`] object from the store with the
//! API's own builders. Text output is rendered from that object
//! ([`super::text`]).

use anyhow::{Result, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cli::{Command, Ctx, Source};
use super::exit::{Exit, fail};
use super::{inspect, out, text};
use crate::api::ApiError;
use crate::api::schema::{self, AddressStats, Block, BlockStatus, Status, Tx, TxoStats};
use crate::core::hash::{BlockHash, Txid};
use crate::net::control::{self, GetAnswer, Query, Request};
use crate::store::ChainStore;

/// Runs one of this module's commands.
///
/// Errors: the command's; a command needing a running node when none
/// answers; `checkchain` finding a discrepancy.
pub fn run(ctx: &Ctx, command: &Command) -> Result<()> {
    match command {
        Command::Getbalance {
            address: Some(address),
            json,
        } => {
            let addr = super::commands::parse_address(address)?;
            let path = format!("/api/address/{addr}");
            let (body, stats): (_, AddressStats) = get(ctx, &path, |store| {
                Ok(AddressStats {
                    address: addr.to_string(),
                    chain_stats: schema::chain_stats(store, &addr.0)?,
                    mempool_stats: TxoStats::default(),
                })
            })?;
            print(*json, &body, || text::balance(&stats))?;
        }
        Command::Checkchain { json } => {
            let q = Query::CheckChain;
            let text = ctx.text(
                Request::Read {
                    query: q.clone(),
                    json: *json,
                },
                |store| inspect::read(store, None, &q, *json),
            )?;
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
        Command::Status { json } => {
            // A node directory without a chain database: report it, and
            // create nothing.
            let (body, s): (_, Status) =
                if !ctx.running && ctx.paths.dir.is_dir() && !ctx.paths.chain.is_dir() {
                    let s = no_chain_status();
                    (schema::to_text(&s), s)
                } else {
                    get(ctx, "/api/node/status", stopped_status)?
                };
            print(*json, &body, || text::status(&s))?;
        }
        Command::Getblock { id, json } => getblock(ctx, id, *json)?,
        Command::Gettx { txid, json } => {
            let txid: Txid = txid
                .parse()
                .map_err(|e| fail(Exit::Usage, format!("txid {txid:?}: {e}")))?;
            let (body, t): (_, Tx) = get(ctx, &format!("/api/tx/{txid}"), |store| {
                schema::confirmed_tx(store, &txid)?
                    .ok_or_else(|| ApiError::not_found(format!("transaction {txid}")))
            })?;
            if *json {
                out(body)?;
            } else {
                let tip = tip_height(ctx).ok();
                out(text::tx(&t, tip))?;
            }
        }
        Command::Listunspent {
            address: Some(address),
            json,
        } => {
            let addr = super::commands::parse_address(address)?;
            let (body, list): (_, Vec<schema::Utxo>) =
                get(ctx, &format!("/api/address/{addr}/utxo"), |store| {
                    schema::utxos(store, &addr.0)
                })?;
            print(*json, &body, || text::utxos(&addr.to_string(), &list))?;
        }
        Command::Mempool { json } => {
            need_running(ctx, "mempool")?;
            let (body, list): (_, Vec<schema::MempoolEntry>) =
                get(ctx, "/api/node/mempool", |_| unreachable_store())?;
            print(*json, &body, || text::mempool(&list))?;
        }
        Command::Peers { json } => {
            need_running(ctx, "peers")?;
            let (body, list): (_, Vec<schema::Peer>) =
                get(ctx, "/api/node/peers", |_| unreachable_store())?;
            print(*json, &body, || text::peers(&list))?;
        }
        Command::Addpeer { addr } => out(ask(ctx, "addpeer", &Request::AddPeer(addr.clone()))?)?,
        Command::Mint => out(ask(ctx, "mint", &Request::Mint)?)?,
        other => bail!("not a read command: {other:?}"),
    }
    Ok(())
}

/// The error of a node-only route asked of a stopped node's store (never
/// reached: [`need_running`] comes first).
fn unreachable_store<T>() -> Result<T, ApiError> {
    Err(ApiError::unavailable("the node is not running"))
}

/// Prints `body` under `--json`, else `text()`.
fn print(json: bool, body: &str, text: impl FnOnce() -> String) -> Result<()> {
    if json {
        out(body)?;
    } else {
        out(text())?;
    }
    Ok(())
}

/// `status` of a stopped node without a chain database.
fn no_chain_status() -> Status {
    Status {
        running: false,
        height: None,
        tip: None,
        genesis: None,
        difficulty: None,
        mempool: None,
        peers: None,
        sync: None,
        uptime_s: None,
        minter: None,
        mint_threshold: None,
        indexed_height: None,
        index_tip: None,
        listen: None,
        version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// `status` of a stopped node, from its store: `running` false, the
/// running-only fields null.
fn stopped_status(store: &ChainStore) -> Result<Status, ApiError> {
    let tip = store.tip_opt()?;
    let index = crate::api::schema::index_status(store)?;
    Ok(Status {
        running: false,
        height: tip.map(|t| t.height),
        tip: tip.map(|t| t.hash.to_string()),
        genesis: store.genesis_hash()?.map(|g| g.to_string()),
        difficulty: store.params().ok().map(|p| p.difficulty),
        indexed_height: index.0,
        index_tip: index.1,
        ..no_chain_status()
    })
}

/// The best height.
fn tip_height(ctx: &Ctx) -> Result<u64> {
    let body = get_text(ctx, "/api/blocks/tip/height", |store| {
        Ok(store.tip()?.height.to_string())
    })?;
    Ok(body.trim().parse()?)
}

fn getblock(ctx: &Ctx, id: &str, json: bool) -> Result<()> {
    let hash: BlockHash = if id.len() == 64 {
        id.parse()
            .map_err(|e| fail(Exit::Usage, format!("block hash {id:?}: {e}")))?
    } else {
        let height: u64 = id.parse().map_err(|_| {
            fail(
                Exit::Usage,
                format!("expected a block hash (64 hex digits) or a height, got {id:?}"),
            )
        })?;
        let text = get_text(ctx, &format!("/api/block-height/{height}"), |store| {
            Ok(schema::hash_at(store, height)?.to_string())
        })?;
        text.trim().parse()?
    };
    let (body, b): (_, Block) = get(ctx, &format!("/api/block/{hash}"), |store| {
        let b = schema::load_block(store, &hash)?;
        Block::new(&b, store, &Default::default())
    })?;
    if json {
        return Ok(out(body)?);
    }
    let (_, st): (_, BlockStatus) = get(ctx, &format!("/api/block/{hash}/status"), |store| {
        schema::block_status(store, &schema::load_block(store, &hash)?)
    })?;
    let (_, txids): (_, Vec<String>) = get(ctx, &format!("/api/block/{hash}/txids"), |store| {
        Ok(schema::load_block(store, &hash)?
            .txids()
            .iter()
            .map(|t| t.to_string())
            .collect())
    })?;
    let tip = tip_height(ctx)?;
    Ok(out(text::block(&b, &st, tip, &txids))?)
}

/// `GET path` of the API as text: from the running node, else `local`
/// on the store.
///
/// Errors: the API's error with its exit kind ([`Exit::from_http`]).
pub fn get_text(
    ctx: &Ctx,
    path: &str,
    local: impl FnOnce(&ChainStore) -> Result<String, ApiError>,
) -> Result<String> {
    match ctx.source()? {
        Source::Node => {
            let answer = control::request(&ctx.paths.control, &Request::Get(path.to_string()))
                .map_err(|e| fail(Exit::NotRunning, format!("{e:#}")))?;
            let a: GetAnswer = serde_json::from_str(&answer)?;
            if (200..300).contains(&a.status) {
                return Ok(a.body);
            }
            let v: serde_json::Value = serde_json::from_str(&a.body).unwrap_or_default();
            let msg = v["error"].as_str().unwrap_or(&a.body).to_string();
            Err(fail(exit_of(a.status, &msg), msg))
        }
        Source::Store(store) => {
            local(&store).map_err(|e| fail(exit_of(e.status.as_u16(), &e.error), e.error))
        }
    }
}

/// The exit code of an API error: as its HTTP status says
/// ([`Exit::from_http`]), but a chain store that cannot be read (503 on
/// every route) is an error of the node's store, not a node that is not
/// running.
fn exit_of(status: u16, error: &str) -> Exit {
    if error.starts_with(crate::api::error::CHAIN_STORE_UNREADABLE) {
        Exit::Error
    } else {
        Exit::from_http(status)
    }
}

/// `GET path` of the API: the JSON body exactly as the API sends it, and
/// the object parsed from it.
///
/// Errors: as [`get_text`]; a body that is not a `T`.
pub fn get<T: Serialize + DeserializeOwned>(
    ctx: &Ctx,
    path: &str,
    local: impl FnOnce(&ChainStore) -> Result<T, ApiError>,
) -> Result<(String, T)> {
    let body = get_text(ctx, path, |store| local(store).map(|v| schema::to_text(&v)))?;
    let v: T = serde_json::from_str(&body)?;
    Ok((body, v))
}

/// Errors unless a node runs on the port.
fn need_running(ctx: &Ctx, what: &str) -> Result<()> {
    if !ctx.running {
        return Err(fail(
            Exit::NotRunning,
            format!(
                "{what} needs the node on port {} running (no node answers on {})",
                ctx.cli.port,
                ctx.paths.control.display()
            ),
        ));
    }
    Ok(())
}

/// Asks the running node.
fn ask(ctx: &Ctx, what: &str, request: &Request) -> Result<String> {
    need_running(ctx, what)?;
    control::request(&ctx.paths.control, request)
        .map_err(|e| fail(Exit::Rejected, format!("{e:#}")))
}
