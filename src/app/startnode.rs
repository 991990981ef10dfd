//! `node startnode`: its options, the signal handler and the control
//! socket's answers, around [`crate::net::run_node`].

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, anyhow};
use tracing::{info, warn};

use super::cli::{Cli, NodePaths, threads};
use super::query;
use crate::chain::mempool::policy::DEFAULT_MEMPOOL_MB;
use crate::chain::{Chain, ChainEvent, MempoolLimits};
use crate::core::address::Address;
use crate::core::hash::BlockHash;
use crate::core::validation::SigCache;
use crate::net::control::{self, Request};
use crate::net::{NodeConfig, Queries};
use crate::protocol::{Config, LocalReply};
use crate::store::{ChainStore, StoreError};

/// `startnode` options. Each may also be set in a config file
/// ([`super::config`]): `DATADIR/PORT/sledchain.toml` or `--config FILE`;
/// flags override it.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeArgs {
    /// Read options from this TOML file (default: DATADIR/PORT/sledchain.toml
    /// when it exists): `option-name = value` per flag, lists as arrays;
    /// flags given here override the file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Mint blocks paying the subsidy and fees to this address.
    #[arg(long)]
    pub minter: Option<String>,
    /// Seed node(s) to greet first, `HOST:PORT` (a host name or an IP). A
    /// node listening on a seed address is the central node. Without any,
    /// a node whose `--port` is not 3000 uses 127.0.0.1:3000 (the default
    /// central node on one machine), never passed on to peers nor saved;
    /// node 3000 has no seed.
    #[arg(long = "seed")]
    pub seeds: Vec<String>,
    /// Join only the network whose genesis block has this hash: with no
    /// chain yet, a genesis with this hash is adopted from any peer (without
    /// it, whatever genesis a `--seed` sends, and only a seed).
    #[arg(long, value_name = "HASH")]
    pub genesis: Option<BlockHash>,
    /// IP address (or host name, resolved at start) to listen on
    /// (`0.0.0.0`: every interface). Also the address advertised to peers,
    /// unless `--external-addr` is given.
    #[arg(long, default_value = "127.0.0.1", value_parser = parse_host_ip)]
    pub bind: IpAddr,
    /// The address peers should dial to reach this node, `HOST` or
    /// `HOST:PORT` (an IP or a host name, resolved once at start: peers are
    /// told the IP; the port defaults to `--port`), sent in `version` and
    /// `addr`. Needed across machines with `--bind 0.0.0.0`, which
    /// otherwise advertises 127.0.0.1.
    #[arg(long = "external-addr", value_parser = parse_external_addr)]
    pub external_addr: Option<ExternalAddr>,
    /// Mint once the mempool holds at least this many valid transactions.
    #[arg(long, default_value_t = 2)]
    pub mint_threshold: usize,
    /// Drop a peer that sends nothing for this many seconds (pings keep live
    /// peers busy at a third of it).
    #[arg(long, default_value_t = 60)]
    pub idle_timeout: u64,
    /// Drop a peer that has not sent `version` within this many seconds.
    #[arg(long, default_value_t = 10)]
    pub handshake_timeout: u64,
    /// Most inbound connections at once (Bitcoin Core's default is 125).
    #[arg(long, default_value_t = 125)]
    pub max_inbound: usize,
    /// Most outbound connections at once.
    #[arg(long, default_value_t = 8)]
    pub max_outbound: usize,
    /// Misbehavior points (invalid block 100, invalid transaction 10,
    /// malformed message 20) at which a peer is disconnected and, unless on
    /// loopback, banned.
    #[arg(long, default_value_t = 100)]
    pub ban_score: u32,
    /// Ban duration in seconds.
    #[arg(long, default_value_t = 24 * 3600)]
    pub ban_time: u64,
    /// Most transaction bytes the mempool holds, in MB (10^6 bytes of
    /// encoded transactions). When full, the lowest fee-rate transactions
    /// (with their descendants) leave for better-paying ones.
    #[arg(long, default_value_t = DEFAULT_MEMPOOL_MB)]
    pub mempool_mb: u64,
    /// Size of the chain-state cache, in MiB: the UTXO set, its address
    /// index and undo data changed since the last flush are held in memory and written
    /// to the database in one atomic step when the cache passes this size,
    /// every 60 s, when the node falls idle (the end of a sync) and at
    /// shutdown. Larger flushes less often during a long sync; the node's
    /// memory grows by about this much.
    #[arg(long, default_value_t = crate::store::DEFAULT_DBCACHE_MB)]
    pub dbcache: u64,
    /// Serve the HTTP API (and explorer) on this `HOST:PORT` (an IP or a
    /// host name), or `off`.
    /// Default: 127.0.0.1 on port `--port` + 5000 (3000 -> 8000), or
    /// `--port` - 5000 when that would pass 65535; a default port already
    /// in use only logs a warning, a port given here that is in use stops
    /// the node.
    #[arg(long, value_name = "HOST:PORT|off")]
    pub http: Option<String>,
    /// A host name the HTTP API answers to besides IP addresses and
    /// `localhost` (repeatable): requests naming any other `Host` are
    /// refused (421), which stops DNS-rebinding pages.
    #[arg(long = "http-host", value_name = "NAME")]
    pub http_hosts: Vec<String>,
    /// Let the web pages of this origin (`https://site.example`) read the
    /// HTTP API and post to it (CORS). Off by default: other sites' pages
    /// can neither read answers nor change the node.
    #[arg(long = "http-cors", value_name = "ORIGIN")]
    pub http_cors: Option<String>,
}

/// Port the HTTP API listens on by default for P2P port `port`.
pub fn default_http_port(port: u16) -> u16 {
    port.checked_add(5000).unwrap_or(port.wrapping_sub(5000))
}

/// The HTTP API service for these options, `None` with `--http off`.
///
/// Errors: `--http` is neither `off` nor `IP:PORT`.
fn http_service(
    cli: &Cli,
    paths: &NodePaths,
    args: &NodeArgs,
) -> Result<Option<crate::net::Service>> {
    let (listen, explicit) = match args.http.as_deref() {
        Some("off") => return Ok(None),
        Some(a) => (
            a.to_socket_addrs()
                .ok()
                .and_then(|mut r| r.next())
                .ok_or_else(|| anyhow!("--http {a}: expected HOST:PORT or off"))?,
            true,
        ),
        None => (
            SocketAddr::from(([127, 0, 0, 1], default_http_port(cli.port))),
            false,
        ),
    };
    let service = crate::api::service(crate::api::ApiConfig {
        listen,
        cookie: paths.dir.join(".cookie"),
        guard: crate::api::guard::Guard {
            hosts: args
                .http_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            cors: args.http_cors.clone(),
        },
    });
    if explicit {
        return Ok(Some(service));
    }
    Ok(Some(Box::new(move |node| {
        if let Err(e) = service(node) {
            warn!("HTTP API not started: {e:#} (choose another with --http IP:PORT)");
        }
        Ok(())
    })))
}

/// Runs the node until Ctrl-C or SIGTERM; returns after a clean shutdown
/// (store flushed, control socket removed).
///
/// Errors: bad options, a node already running on the port, the store.
pub fn run(cli: &Cli, paths: &NodePaths, args: &NodeArgs) -> Result<()> {
    init_logging();
    let minter = args
        .minter
        .as_deref()
        .map(|m| m.parse::<Address>().context("--minter"))
        .transpose()?;
    if args.mint_threshold == 0 {
        return Err(anyhow!("--mint-threshold must be at least 1"));
    }
    if args.mempool_mb == 0 {
        return Err(anyhow!("--mempool-mb must be at least 1"));
    }
    if args.dbcache == 0 {
        return Err(anyhow!("--dbcache must be at least 1"));
    }
    std::fs::create_dir_all(&paths.dir)?;
    restrict_dir(&paths.dir);
    let dir = std::fs::canonicalize(&paths.dir).unwrap_or_else(|_| paths.dir.clone());
    info!("data directory {}", dir.display());
    if let Some(file) = super::config::path(cli) {
        info!("options from {} (flags override them)", file.display());
    }
    if control::is_running(&paths.control) {
        return Err(anyhow!("a node is already running on port {}", cli.port));
    }
    let store = ChainStore::open(&paths.chain, cli.cache_mb << 20)?;
    store.set_dbcache(args.dbcache.saturating_mul(1 << 20));
    if let (Some(want), Some(have)) = (args.genesis, store.genesis_hash()?)
        && want != have
    {
        return Err(anyhow!(
            "--genesis {want}: this node's chain has genesis {have}"
        ));
    }
    let (mut chain, events) = Chain::open(store, Arc::new(SigCache::new(200_000)))?;
    chain.set_mempool_limits(MempoolLimits::with_mb(args.mempool_mb));
    for e in &events {
        if let ChainEvent::TipChanged(tip) = e {
            info!(
                "completed an interrupted reorg: tip {} at height {}",
                tip.hash, tip.height
            );
        }
    }
    let config = node_config(cli, paths, args, minter)?;
    if let Some(m) = &minter {
        info!("minting to {m} at {} transactions", args.mint_threshold);
    }
    let (tx, rx) = tokio::sync::watch::channel(false);
    let signals = AtomicUsize::new(0);
    ctrlc::set_handler(move || {
        if signals.fetch_add(1, Ordering::SeqCst) > 0 {
            eprintln!("second interrupt: exiting now");
            std::process::exit(130);
        }
        let _ = tx.send(true);
    })
    .context("cannot install the signal handler")?;
    let local = crate::api::LocalApi::default();
    let text = Text {
        local: local.clone(),
    };
    let mut services = vec![local.service()];
    services.extend(http_service(cli, paths, args)?);
    crate::net::run_node_with(config, chain, Arc::new(text), rx, services)
}

fn node_config(
    cli: &Cli,
    paths: &NodePaths,
    args: &NodeArgs,
    minter: Option<Address>,
) -> Result<NodeConfig> {
    let me = advertised_addr(args, cli.port);
    if args.bind.is_unspecified() && args.external_addr.is_none() {
        warn!(
            "--bind {} without --external-addr: advertising {me}, which peers on other machines cannot dial",
            args.bind
        );
    }
    let (mut seeds, mut hidden) = (Vec::new(), Vec::new());
    let defaults = default_seeds(cli.port, &args.seeds);
    if args.seeds.is_empty() && !defaults.is_empty() {
        info!(
            "no --seed given: using the default seed {}",
            defaults.join(", ")
        );
    }
    for (s, default) in args
        .seeds
        .iter()
        .map(|s| (s, false))
        .chain(defaults.iter().map(|s| (s, true)))
    {
        match s.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(a)) => {
                seeds.push(a);
                if default {
                    hidden.push(a);
                }
            }
            _ => warn!("cannot resolve seed {s}; ignored"),
        }
    }
    Ok(NodeConfig {
        listen: SocketAddr::new(args.bind, cli.port),
        control: paths.control.clone(),
        max_inbound: args.max_inbound,
        threads: threads(),
        protocol: Config {
            me,
            seeds,
            default_seeds: hidden,
            genesis: args.genesis,
            minter: minter.map(|m| m.0),
            mint_threshold: args.mint_threshold,
            idle_timeout: args.idle_timeout.max(1) * 1000,
            handshake_timeout: args.handshake_timeout.max(1) * 1000,
            max_outbound: args.max_outbound,
            ban_score: args.ban_score,
            ban_time: args.ban_time.saturating_mul(1000),
            nonce: random_u64(),
        },
    })
}

/// The seed a node on `port` uses when `given` names none: 127.0.0.1:3000,
/// unless the node is 3000 itself.
pub fn default_seeds(port: u16, given: &[String]) -> Vec<String> {
    if given.is_empty() && port != DEFAULT_SEED_PORT {
        vec![format!("127.0.0.1:{DEFAULT_SEED_PORT}")]
    } else {
        Vec::new()
    }
}

/// The port of the default seed (the central node on one machine).
pub const DEFAULT_SEED_PORT: u16 = 3000;

/// `--external-addr`: an IP address, with the port peers should dial when
/// it differs from the listening port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExternalAddr {
    /// The IP address peers dial.
    pub ip: IpAddr,
    /// The port peers dial; `None`: the listening port (`--port`).
    pub port: Option<u16>,
}

/// Resolves `host` (an IP or a name) to its first IP address.
///
/// Errors: a message for clap when it does not resolve.
fn parse_host_ip(host: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    if host.is_empty() || host.contains(['/', ' ']) {
        return Err(format!(
            "expected an IP address or a host name, got {host:?}"
        ));
    }
    (host, 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(|a| a.ip())
        .ok_or_else(|| format!("cannot resolve host name {host:?}"))
}

/// Parses `HOST` or `HOST:PORT` (`[IPv6]:PORT` for IPv6 with a port); a
/// host name is resolved now (peers are told an address, not a name).
///
/// Errors: anything else, or a name that does not resolve, as a message
/// for clap.
fn parse_external_addr(s: &str) -> Result<ExternalAddr, String> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(ExternalAddr { ip, port: None });
    }
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(ExternalAddr {
            ip: a.ip(),
            port: Some(a.port()),
        });
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => {
            let port = p
                .parse::<u16>()
                .map_err(|_| format!("expected HOST or HOST:PORT, got {s:?}"))?;
            (h, Some(port))
        }
        _ => (s, None),
    };
    Ok(ExternalAddr {
        ip: parse_host_ip(host)?,
        port,
    })
}

/// The address sent to peers: `--external-addr` when given, else the
/// bound IP, with 127.0.0.1 standing in for an unspecified bind address.
fn advertised_addr(args: &NodeArgs, port: u16) -> SocketAddr {
    match args.external_addr {
        Some(e) => SocketAddr::new(e.ip, e.port.unwrap_or(port)),
        None if args.bind.is_unspecified() => SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port),
        None => SocketAddr::new(args.bind, port),
    }
}

/// The control socket's answers: the same text as the stopped-node CLI,
/// and the HTTP API's answers for [`Request::Get`].
struct Text {
    /// The API router, answering in-process.
    local: crate::api::LocalApi,
}

impl Queries for Text {
    fn get(&self, path: String) -> futures::future::BoxFuture<'static, Result<String>> {
        let local = self.local.clone();
        Box::pin(async move {
            let (status, body) = local.get(&path).await?;
            Ok(serde_json::to_string(&control::GetAnswer { status, body })?)
        })
    }

    fn answer(&self, chain: &Chain, request: &Request) -> Result<String> {
        let store = chain.store();
        if chain.state().is_none() {
            return Err(StoreError::NoChain.into());
        }
        Ok(match request {
            Request::Balance(a) => query::balance_text(store, &a.parse()?)?,
            Request::PrintChain(json) => query::printchain_text(store, *json, false)?,
            Request::PrintChainVerified(json) => query::printchain_text(store, *json, true)?,
            Request::CheckChain => query::checkchain_text(store)?,
            Request::Coins(a) => {
                let a: Address = a.parse()?;
                serde_json::to_string(&crate::chain::mempool::spendable_coins(
                    store,
                    chain.mempool(),
                    &a.0,
                )?)?
            }
            Request::Read { query, json } => {
                super::inspect::read(store, Some(chain.mempool()), query, *json)?
            }
            _ => return Err(anyhow!("not a chain query")),
        })
    }

    /// The long scans (`checkchain`, `printchain`, `printchain --verify`)
    /// and the reads of [`Request::Read`] (an address history: the
    /// explorer indexes) read the store alone, off the chain worker.
    fn answer_from_store(&self, store: &ChainStore, request: &Request) -> Option<Result<String>> {
        let scan = |f: &dyn Fn() -> Result<String>| {
            if matches!(store.tip(), Err(StoreError::NoChain)) {
                return Err(StoreError::NoChain.into());
            }
            f()
        };
        Some(match request {
            Request::PrintChain(json) => scan(&|| Ok(query::printchain_text(store, *json, false)?)),
            Request::PrintChainVerified(json) => {
                scan(&|| Ok(query::printchain_text(store, *json, true)?))
            }
            Request::CheckChain => scan(&|| Ok(query::checkchain_text(store)?)),
            Request::Read { query, json } => {
                scan(&|| super::inspect::read_off_worker(store, query, *json))
            }
            _ => return None,
        })
    }

    /// As on a stopped node: with no chain yet, `status` is the
    /// no-chain error (so scripts waiting for height 0 wait for a genesis).
    fn status(&self, reply: &LocalReply) -> Result<String> {
        match reply {
            LocalReply::Status {
                height,
                tip: Some(tip),
                mempool,
                peers,
            } => Ok(query::status_lines(*height, Some(tip), *mempool, *peers)),
            LocalReply::Status { tip: None, .. } => Err(StoreError::NoChain.into()),
            other => Err(anyhow!("unexpected reply {other:?}")),
        }
    }
}

/// The log filter for `RUST_LOG`'s value: a bare level (`debug`, `trace`)
/// applies to sledchain's own lines, other crates (sled, hyper...) stay at
/// `warn`; a directive naming targets (`sled=debug,info`) is taken as
/// written; unset or empty means `info` for sledchain.
pub fn log_directives(rust_log: Option<&str>) -> String {
    let v = rust_log.map(str::trim).unwrap_or_default();
    if v.is_empty() {
        return "warn,sledchain=info".to_string();
    }
    let bare = ["off", "error", "warn", "info", "debug", "trace"];
    if bare.contains(&v.to_ascii_lowercase().as_str()) {
        return format!("warn,sledchain={v}");
    }
    v.to_string()
}

fn init_logging() {
    let directives = log_directives(std::env::var("RUST_LOG").ok().as_deref());
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sledchain=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::net::log::LogWriter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return crate::core::params::now_secs() ^ u64::from(std::process::id());
    }
    u64::from_le_bytes(b)
}

fn restrict_dir(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::cli::{Cli, Command};
    use super::*;

    fn advertised(argv: &[&str]) -> SocketAddr {
        let cli = Cli::try_parse_from(argv).expect("arguments parse");
        let Command::Startnode(args) = &cli.command else {
            panic!("not startnode");
        };
        advertised_addr(args, cli.port)
    }

    #[test]
    fn the_advertised_address_follows_external_addr_then_bind() {
        let base = ["node", "--port", "3001", "startnode"];
        let with = |extra: &[&'static str]| [&base[..], extra].concat();
        assert_eq!(advertised(&base), "127.0.0.1:3001".parse().unwrap());
        assert_eq!(
            advertised(&with(&["--bind", "0.0.0.0"])),
            "127.0.0.1:3001".parse().unwrap()
        );
        assert_eq!(
            advertised(&with(&["--bind", "10.1.2.3"])),
            "10.1.2.3:3001".parse().unwrap()
        );
        assert_eq!(
            advertised(&with(&[
                "--bind",
                "0.0.0.0",
                "--external-addr",
                "10.210.0.4"
            ])),
            "10.210.0.4:3001".parse().unwrap()
        );
        assert_eq!(
            advertised(&with(&["--external-addr", "203.0.113.7:8333"])),
            "203.0.113.7:8333".parse().unwrap()
        );
        assert_eq!(
            advertised(&with(&["--external-addr", "[2001:db8::1]:3005"])),
            "[2001:db8::1]:3005".parse().unwrap()
        );
    }

    #[test]
    fn a_bare_log_level_is_for_sledchain_only() {
        assert_eq!(log_directives(Some("debug")), "warn,sledchain=debug");
        assert_eq!(log_directives(None), "warn,sledchain=info");
        assert_eq!(log_directives(Some("sled=debug,info")), "sled=debug,info");
    }

    #[test]
    fn the_default_seed_is_3000_except_for_3000_itself() {
        assert_eq!(default_seeds(3001, &[]), vec!["127.0.0.1:3000"]);
        assert!(default_seeds(3000, &[]).is_empty());
        assert!(default_seeds(3001, &["10.0.0.1:3000".into()]).is_empty());
    }

    #[test]
    fn external_addr_takes_host_names_and_refuses_junk() {
        let local = parse_external_addr("localhost:3005").expect("localhost resolves");
        assert!(local.ip.is_loopback());
        assert_eq!(local.port, Some(3005));
        assert!(parse_host_ip("localhost").is_ok_and(|ip| ip.is_loopback()));
        for bad in [
            "no-such-host.invalid",
            "no-such-host.invalid:3000",
            "10.0.0.1:",
            "10.0.0.1:70000",
            "",
        ] {
            assert!(parse_external_addr(bad).is_err(), "{bad:?} accepted");
        }
    }
}
