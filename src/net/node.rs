//! The running node: the P2P listener, peer connections, block sync,
//! transaction relay, minting, the control socket, and graceful shutdown.
//!
//! Every peer connection is one tokio task reading frames through
//! [`FrameCodec`] and one writing from a bounded channel. The chain state and
//! mempool sit behind one mutex; block validation runs on the blocking pool.
//!
//! Sync follows Bitcoin's pre-headers design: the side with the lower height
//! in `version` sends `getblocks` with a block locator, is answered with an
//! `inv` of up to 500 hashes, asks for the unknown ones in one `getdata`, and
//! repeats once that batch has arrived while the peer is still ahead.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::codec::Framed;
use tracing::{debug, info, warn};

use super::control::{MAX_REQUEST, Request, Response};
use crate::cli::{Cli, NodePaths, threads};
use crate::core::address::Address;
use crate::core::block::{Block, solve_header};
use crate::core::hash::{BlockHash, Hash256, Txid};
use crate::core::params::{MAX_BLOCK_SIZE, SUBSIDY, now_secs};
use crate::core::validation::{SigCache, TxError, check_block_sanity};
use crate::node::mempool::{Mempool, MempoolError};
use crate::node::{BlockOutcome, ChainError, ChainState, query};
use crate::store::{ChainStore, PeerRecord};
use crate::wire::frame::{Frame, FrameCodec, FrameError};
use crate::wire::message::Message;
use crate::wire::payload::{
    Addr, BlockMsg, GetBlocks, GetData, Inv, InvKind, MAX_ADDRS, MAX_BLOCKS_PER_INV, MAX_INV_ITEMS,
    NotFound, PROTOCOL_VERSION, TxMsg, Version,
};

/// `startnode` options.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeArgs {
    /// Mint blocks paying the subsidy and fees to this address.
    #[arg(long)]
    pub minter: Option<String>,
    /// Seed node(s) to greet first, `host:port`. A node listening on a seed
    /// address is the central node.
    #[arg(long = "seed", default_values_t = vec!["127.0.0.1:3000".to_string()])]
    pub seeds: Vec<String>,
    /// IP address to listen on (and to advertise).
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Mint once the mempool holds at least this many valid transactions.
    #[arg(long, default_value_t = 2)]
    pub mint_threshold: usize,
    /// Drop a peer that sends nothing for this many seconds (pings keep live
    /// peers busy at a third of it).
    #[arg(long, default_value_t = 60)]
    pub idle_timeout: u64,
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
}

/// Blocks kept whose parent is unknown (orphans), and how long, in seconds.
const MAX_ORPHANS: usize = 100;
const ORPHAN_EXPIRY: u64 = 20 * 60;
/// Most peer addresses remembered (from `version` and `addr`); past it, new
/// ones are ignored, so peers cannot grow the address book (and the dial
/// loop's list, read every half second) without bound.
const MAX_KNOWN_PEERS: usize = 1_000;
/// Bytes of blocks a `getdata` answer may have queued to one peer at once
/// (about: the queued blocks are assumed as large as the next one).
const ANSWER_BYTES: u64 = 8_000_000;
/// Messages queued to one peer before it counts as stalled.
const PEER_QUEUE: usize = 1024;

struct PeerHandle {
    addr: SocketAddr,
    listen: Option<String>,
    inbound: bool,
    tx: mpsc::Sender<Message>,
}

struct PeerSync {
    best_height: u64,
    in_flight: usize,
    score: u32,
}

struct State {
    chain: Option<ChainState>,
    mempool: Mempool,
    orphans: HashMap<BlockHash, (Block, u64)>,
}

struct Shared {
    args: NodeArgs,
    me: String,
    nonce: u64,
    store: ChainStore,
    sig_cache: Arc<SigCache>,
    state: Mutex<State>,
    peers: Mutex<HashMap<u64, PeerHandle>>,
    next_peer: AtomicU64,
    inbound: AtomicUsize,
    minter: Option<Address>,
    mint_wake: Notify,
    tip: watch::Sender<Option<BlockHash>>,
    shutdown: watch::Sender<bool>,
    bans: Mutex<HashMap<IpAddr, u64>>,
    backoff: Mutex<HashMap<String, (u32, Instant)>>,
    /// Initial-sync progress bar, shown only when stderr is a terminal.
    progress: Mutex<Option<indicatif::ProgressBar>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn height(&self) -> Option<u64> {
        lock(&self.state)
            .chain
            .as_ref()
            .and_then(|c| c.tip().ok())
            .map(|t| t.height)
    }

    fn send_to(&self, peer: u64, msg: Message) {
        if let Some(p) = lock(&self.peers).get(&peer)
            && p.tx.try_send(msg).is_err()
        {
            debug!("peer {} queue full; message dropped", p.addr);
        }
    }

    fn broadcast(&self, except: Option<u64>, msg: &Message) {
        for (id, p) in lock(&self.peers).iter() {
            if Some(*id) != except && p.tx.try_send(msg.clone()).is_err() {
                debug!("peer {} queue full; announcement dropped", p.addr);
            }
        }
    }

    fn version(&self) -> Message {
        let st = lock(&self.state);
        let (height, genesis) = match &st.chain {
            Some(c) => (c.tip().map(|t| t.height).unwrap_or(0), Some(c.genesis())),
            None => (0, None),
        };
        Message::Version(Version {
            version: PROTOCOL_VERSION,
            best_height: height,
            addr_from: self.me.clone(),
            genesis,
            nonce: self.nonce,
        })
    }

    fn getblocks(&self) -> Message {
        let locator = lock(&self.state)
            .chain
            .as_ref()
            .and_then(|c| c.locator().ok())
            .unwrap_or_default();
        Message::GetBlocks(GetBlocks {
            addr_from: self.me.clone(),
            locator,
            stop: BlockHash::ZERO,
        })
    }

    /// Saves the addresses among `addrs` not known yet, while the address
    /// book has room ([`MAX_KNOWN_PEERS`]); returns how many new ones were
    /// left out for lack of room.
    fn remember_peers<'a>(&self, addrs: impl IntoIterator<Item = &'a str>) -> usize {
        let known = self.store.peers().map_or(MAX_KNOWN_PEERS, |p| p.len());
        let mut room = MAX_KNOWN_PEERS.saturating_sub(known);
        let mut left_out = 0usize;
        for addr in addrs {
            if addr == self.me || addr.is_empty() || addr.len() > 256 {
                continue;
            }
            if let Ok(None) = self.store.peer(addr) {
                if room == 0 {
                    left_out = left_out.saturating_add(1);
                    continue;
                }
                room -= 1;
                let rec = PeerRecord {
                    last_seen: now_secs(),
                    ..Default::default()
                };
                if let Err(e) = self.store.put_peer(addr, &rec) {
                    warn!("cannot save peer {addr}: {e}");
                }
            }
        }
        left_out
    }
}

/// Outcome of handling one message: keep the connection or drop it.
enum Verdict {
    Keep,
    Disconnect(String),
}

/// Runs the node until Ctrl-C or SIGTERM; returns after a clean shutdown
/// (store flushed, control socket removed).
pub fn run_node(cli: &Cli, paths: &NodePaths, args: &NodeArgs) -> Result<()> {
    init_logging();
    let minter = args
        .minter
        .as_deref()
        .map(|m| m.parse::<Address>().context("--minter"))
        .transpose()?;
    if args.mint_threshold == 0 {
        return Err(anyhow!("--mint-threshold must be at least 1"));
    }
    std::fs::create_dir_all(&paths.dir)?;
    restrict_dir(&paths.dir);
    if super::control::is_running(&paths.control) {
        return Err(anyhow!("a node is already running on port {}", cli.port));
    }
    let store = ChainStore::open(&paths.chain, cli.cache_mb << 20)?;
    let sig_cache = Arc::new(SigCache::new(200_000));
    let chain = match store.genesis_hash()? {
        Some(_) => Some(ChainState::new(store.clone(), sig_cache.clone())?),
        None => None,
    };
    if let Some(c) = &chain {
        match c.activate_best_chain() {
            Ok(Some(BlockOutcome::Reorged { tip, .. })) => info!(
                "completed an interrupted reorg: tip {} at height {}",
                tip.hash, tip.height
            ),
            Ok(_) => {}
            Err(e) => warn!("cannot switch to the branch with the most work: {e}"),
        }
    }
    let advertised_ip = if args.bind.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        args.bind
    };
    let me = SocketAddr::new(advertised_ip, cli.port).to_string();
    let (tip_tx, _) = watch::channel(chain.as_ref().and_then(|c| c.tip().ok()).map(|t| t.hash));
    let (shutdown_tx, _) = watch::channel(false);
    let shared = Arc::new(Shared {
        args: args.clone(),
        me,
        nonce: random_u64(),
        store,
        sig_cache,
        state: Mutex::new(State {
            chain,
            mempool: Mempool::new(),
            orphans: HashMap::new(),
        }),
        peers: Mutex::new(HashMap::new()),
        next_peer: AtomicU64::new(1),
        inbound: AtomicUsize::new(0),
        minter,
        mint_wake: Notify::new(),
        tip: tip_tx,
        shutdown: shutdown_tx,
        bans: Mutex::new(HashMap::new()),
        backoff: Mutex::new(HashMap::new()),
        progress: Mutex::new(None),
    });

    // Ctrl-C / SIGTERM: the first asks for a clean shutdown, a second exits at once.
    let sd = shared.shutdown.clone();
    let signals = Arc::new(AtomicUsize::new(0));
    ctrlc::set_handler(move || {
        if signals.fetch_add(1, Ordering::SeqCst) > 0 {
            eprintln!("second interrupt: exiting now");
            std::process::exit(130);
        }
        let _ = sd.send(true);
    })
    .context("cannot install the signal handler")?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(serve(shared.clone(), paths.clone(), cli.port));
    rt.shutdown_timeout(Duration::from_secs(2));
    // Everything is stopped; wait for any block connection in progress, flush.
    let st = lock(&shared.state);
    shared.store.flush()?;
    drop(st);
    let _ = std::fs::remove_file(&paths.control);
    info!("database flushed; node stopped");
    result
}

async fn serve(shared: Arc<Shared>, paths: NodePaths, port: u16) -> Result<()> {
    let listener = TcpListener::bind(SocketAddr::new(shared.args.bind, port))
        .await
        .with_context(|| format!("cannot listen on {}:{port}", shared.args.bind))?;
    let _ = std::fs::remove_file(&paths.control);
    let control = UnixListener::bind(&paths.control).context("cannot create the control socket")?;
    restrict_file(&paths.control);
    let height = shared.height();
    info!(
        "node listening on {} (height {}, {}{})",
        shared.me,
        height.map_or("none: will sync from the seed".to_string(), |h| h
            .to_string()),
        if is_central(&shared) {
            "central node"
        } else {
            "seed "
        },
        if is_central(&shared) {
            String::new()
        } else {
            shared.args.seeds.join(",")
        }
    );
    if let Some(m) = &shared.minter {
        info!(
            "minting to {m} at {} transactions",
            shared.args.mint_threshold
        );
    }
    tokio::spawn(accept_loop(shared.clone(), listener));
    tokio::spawn(control_loop(shared.clone(), control));
    tokio::spawn(dial_loop(shared.clone()));
    if shared.minter.is_some() {
        tokio::spawn(mint_loop(shared.clone()));
    }
    let mut sd = shared.shutdown.subscribe();
    while !*sd.borrow() {
        if sd.changed().await.is_err() {
            break;
        }
    }
    info!("shutting down");
    shared.mint_wake.notify_waiters();
    Ok(())
}

fn is_central(shared: &Shared) -> bool {
    shared.args.seeds.contains(&shared.me)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return now_secs() ^ u64::from(std::process::id());
    }
    u64::from_le_bytes(b)
}

fn restrict_dir(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
}

fn restrict_file(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600));
}

// ---------------------------------------------------------------- listener

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut sd = shared.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = sd.changed() => return,
            r = listener.accept() => match r {
                Ok((stream, addr)) => {
                    if let Some(until) = lock(&shared.bans).get(&addr.ip()).copied()
                        && until > now_secs()
                    {
                        debug!("refused banned {addr}");
                        continue;
                    }
                    if shared.inbound.load(Ordering::SeqCst) >= shared.args.max_inbound {
                        warn!("refused {addr}: {} inbound peers already", shared.args.max_inbound);
                        continue;
                    }
                    shared.inbound.fetch_add(1, Ordering::SeqCst);
                    let s = shared.clone();
                    tokio::spawn(async move {
                        run_peer(s.clone(), stream, addr, true, None).await;
                        s.inbound.fetch_sub(1, Ordering::SeqCst);
                    });
                }
                Err(e) => {
                    warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Keeps connections to the seeds and to known nodes, with exponential
/// backoff (1 s doubling to 60 s) for those that cannot be reached.
async fn dial_loop(shared: Arc<Shared>) {
    let mut sd = shared.shutdown.subscribe();
    loop {
        let connected: HashSet<String> = lock(&shared.peers)
            .values()
            .filter_map(|p| {
                p.listen
                    .clone()
                    .or_else(|| (!p.inbound).then(|| p.addr.to_string()))
            })
            .collect();
        let outbound = lock(&shared.peers).values().filter(|p| !p.inbound).count();
        let mut targets: Vec<String> = shared.args.seeds.clone();
        if let Ok(known) = shared.store.peers() {
            targets.extend(known.into_iter().map(|(a, _)| a));
        }
        targets.dedup();
        let mut budget = shared.args.max_outbound.saturating_sub(outbound);
        for t in targets {
            if budget == 0 {
                break;
            }
            if t == shared.me || connected.contains(&t) {
                continue;
            }
            let due = lock(&shared.backoff)
                .get(&t)
                .is_none_or(|(_, at)| Instant::now() >= *at);
            if !due {
                continue;
            }
            budget -= 1;
            let s = shared.clone();
            tokio::spawn(async move { dial(s, t).await });
        }
        tokio::select! {
            _ = sd.changed() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

async fn dial(shared: Arc<Shared>, target: String) {
    // Mark as attempted so the next round does not dial it twice at once.
    lock(&shared.backoff).insert(
        target.clone(),
        (0, Instant::now() + Duration::from_secs(3600)),
    );
    let r = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&target)).await;
    match r {
        Ok(Ok(stream)) => {
            let addr = stream
                .peer_addr()
                .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
            lock(&shared.backoff)
                .insert(target.clone(), (0, Instant::now() + Duration::from_secs(1)));
            run_peer(shared.clone(), stream, addr, false, Some(target.clone())).await;
            lock(&shared.backoff).insert(target, (0, Instant::now() + Duration::from_secs(1)));
        }
        _ => {
            let mut b = lock(&shared.backoff);
            let failures = b.get(&target).map_or(0, |x| x.0).saturating_add(1);
            let wait = 1u64 << failures.min(6);
            debug!("cannot reach {target}; retrying in {}s", wait.min(60));
            b.insert(
                target.clone(),
                (failures, Instant::now() + Duration::from_secs(wait.min(60))),
            );
            drop(b);
            if let Ok(Some(mut rec)) = shared.store.peer(&target) {
                rec.failures = rec.failures.saturating_add(1);
                let _ = shared.store.put_peer(&target, &rec);
            }
        }
    }
}

// ---------------------------------------------------------------- peers

async fn run_peer(
    shared: Arc<Shared>,
    stream: TcpStream,
    addr: SocketAddr,
    inbound: bool,
    dialed: Option<String>,
) {
    let id = shared.next_peer.fetch_add(1, Ordering::SeqCst);
    let _ = stream.set_nodelay(true);
    let framed = Framed::new(stream, FrameCodec::for_messages());
    let (mut sink, mut frames) = framed.split();
    let (tx, mut rx) = mpsc::channel::<Message>(PEER_QUEUE);
    lock(&shared.peers).insert(
        id,
        PeerHandle {
            addr,
            listen: dialed.clone(),
            inbound,
            tx: tx.clone(),
        },
    );
    if inbound {
        debug!("inbound connection from {addr}");
    } else {
        info!("connected to {}", dialed.as_deref().unwrap_or("?"));
        let _ = tx.try_send(shared.version());
    }
    let mut writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m.to_frame()).await.is_err() {
                break;
            }
        }
        let _ = SinkExt::<Frame>::close(&mut sink).await;
    });
    let mut sync = PeerSync {
        best_height: 0,
        in_flight: 0,
        score: 0,
    };
    let idle = Duration::from_secs(shared.args.idle_timeout.max(1));
    let mut ping = tokio::time::interval(idle / 3);
    ping.tick().await;
    let mut sd = shared.shutdown.subscribe();
    // The idle deadline counts from the last whole frame received; pings
    // sent meanwhile must not restart it.
    let mut heard = tokio::time::Instant::now();
    let reason: String = loop {
        tokio::select! {
            _ = sd.changed() => break "shutting down".into(),
            _ = ping.tick() => { let _ = tx.try_send(Message::Ping(random_u64())); }
            next = tokio::time::timeout_at(heard + idle, frames.next()) => match next {
                Err(_) => break format!("idle for {}s", idle.as_secs()),
                Ok(None) => break "closed by peer".into(),
                Ok(Some(Err(FrameError::Io(e)))) => break format!("read error: {e}"),
                Ok(Some(Err(e))) => break format!("protocol violation: {e}"),
                Ok(Some(Ok(frame))) => {
                    heard = tokio::time::Instant::now();
                    match Message::from_frame(&frame) {
                        Err(e) => {
                            warn!("peer {addr}: dropped message: {e}");
                            sync.score = sync.score.saturating_add(20);
                        }
                        Ok(msg) => match handle(&shared, id, addr, &mut sync, msg).await {
                            Verdict::Keep => {}
                            Verdict::Disconnect(r) => break r,
                        },
                    }
                }
            }
        }
        if sync.score >= shared.args.ban_score {
            ban(&shared, addr);
            break format!("misbehavior score {}", sync.score);
        }
    };
    lock(&shared.peers).remove(&id);
    drop(tx);
    // A writer still blocked on a peer that does not read is stopped, so
    // the socket closes now rather than when (if ever) the peer reads.
    if tokio::time::timeout(Duration::from_secs(2), &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
    if inbound && reason == "closed by peer" {
        debug!("disconnected {addr}: {reason}");
    } else {
        info!("disconnected {addr}: {reason}");
    }
}

fn ban(shared: &Shared, addr: SocketAddr) {
    if addr.ip().is_loopback() {
        warn!("peer {addr} misbehaved: disconnecting (not banned: loopback)");
        return;
    }
    let until = now_secs() + shared.args.ban_time;
    warn!(
        "peer {addr} misbehaved: banned for {}s",
        shared.args.ban_time
    );
    lock(&shared.bans).insert(addr.ip(), until);
}

async fn handle(
    shared: &Arc<Shared>,
    id: u64,
    addr: SocketAddr,
    sync: &mut PeerSync,
    msg: Message,
) -> Verdict {
    match msg {
        Message::Version(v) => {
            if v.nonce == shared.nonce {
                return Verdict::Disconnect("connected to ourselves".into());
            }
            let ours = lock(&shared.state).chain.as_ref().map(|c| c.genesis());
            if let (Some(a), Some(b)) = (ours, v.genesis)
                && a != b
            {
                return Verdict::Disconnect(format!("different network (genesis {b}, ours {a})"));
            }
            sync.best_height = v.best_height;
            if !v.addr_from.is_empty() && v.addr_from.len() <= 256 {
                if let Some(p) = lock(&shared.peers).get_mut(&id) {
                    p.listen = Some(v.addr_from.clone());
                }
                shared.remember_peers([v.addr_from.as_str()]);
            }
            let inbound = lock(&shared.peers).get(&id).is_some_and(|p| p.inbound);
            if inbound {
                shared.send_to(id, shared.version());
            }
            // Share the nodes we know.
            let mut addrs: Vec<String> = shared
                .store
                .peers()
                .unwrap_or_default()
                .into_iter()
                .map(|(a, _)| a)
                .collect();
            addrs.push(shared.me.clone());
            addrs.truncate(MAX_ADDRS);
            shared.send_to(id, Message::Addr(Addr { addrs }));
            let our_height = shared.height();
            let behind = match our_height {
                None => v.genesis.is_some(),
                Some(h) => v.best_height > h,
            };
            if behind {
                info!("peer {addr} is at height {}; syncing", v.best_height);
                start_progress(shared, our_height.unwrap_or(0), v.best_height);
                shared.send_to(id, shared.getblocks());
            }
        }
        Message::GetBlocks(g) => {
            let hashes = {
                let st = lock(&shared.state);
                let Some(chain) = &st.chain else {
                    return Verdict::Keep;
                };
                if g.locator.is_empty() {
                    let mut v = vec![chain.genesis()];
                    v.extend(
                        chain
                            .hashes_after_locator(
                                &[chain.genesis()],
                                &g.stop,
                                MAX_BLOCKS_PER_INV - 1,
                            )
                            .unwrap_or_default(),
                    );
                    v
                } else {
                    chain
                        .hashes_after_locator(&g.locator, &g.stop, MAX_BLOCKS_PER_INV)
                        .unwrap_or_default()
                }
            };
            if !hashes.is_empty() {
                shared.send_to(
                    id,
                    Message::Inv(Inv {
                        addr_from: shared.me.clone(),
                        kind: InvKind::Block,
                        items: hashes.into_iter().map(|h| h.0).collect(),
                    }),
                );
            }
        }
        Message::Inv(inv) => {
            let wanted: Vec<Hash256> = {
                let st = lock(&shared.state);
                inv.items
                    .into_iter()
                    .filter(|h| match inv.kind {
                        InvKind::Block => {
                            !st.orphans.contains_key(&BlockHash(*h))
                                && !shared.store.has_block(&BlockHash(*h)).unwrap_or(true)
                        }
                        InvKind::Tx => !st.mempool.contains(&Txid(*h)),
                    })
                    .collect()
            };
            if !wanted.is_empty() {
                if inv.kind == InvKind::Block {
                    sync.in_flight += wanted.len();
                }
                for chunk in wanted.chunks(MAX_INV_ITEMS) {
                    shared.send_to(
                        id,
                        Message::GetData(GetData {
                            addr_from: shared.me.clone(),
                            kind: inv.kind,
                            items: chunk.to_vec(),
                        }),
                    );
                }
            }
        }
        Message::GetData(g) => {
            let mut missing = Vec::new();
            for h in g.items {
                let msg = match g.kind {
                    InvKind::Block => {
                        shared
                            .store
                            .block(&BlockHash(h))
                            .ok()
                            .flatten()
                            .map(|block| {
                                Message::Block(BlockMsg {
                                    addr_from: shared.me.clone(),
                                    block,
                                })
                            })
                    }
                    InvKind::Tx => {
                        lock(&shared.state)
                            .mempool
                            .get(&Txid(h))
                            .cloned()
                            .map(|transaction| {
                                Message::Tx(TxMsg {
                                    addr_from: shared.me.clone(),
                                    transaction,
                                })
                            })
                    }
                };
                match msg {
                    Some(m) => {
                        // Wait for room: a large getdata is answered in full,
                        // but not to a peer that stopped reading (it would
                        // hold this task, and its slot, forever).
                        let tx = lock(&shared.peers).get(&id).map(|p| p.tx.clone());
                        let wait = Duration::from_secs(shared.args.idle_timeout.max(1));
                        // Few large answers queued at once: a block may be
                        // 1 MB, and a full queue of them 1 GB per peer.
                        let size = match &m {
                            Message::Block(b) => b.block.encoded_size(),
                            _ => 0,
                        };
                        let most = usize::try_from(ANSWER_BYTES / size.max(1))
                            .unwrap_or(PEER_QUEUE)
                            .clamp(1, PEER_QUEUE);
                        if let Some(tx) = tx {
                            let room = async {
                                while PEER_QUEUE.saturating_sub(tx.capacity()) >= most {
                                    tokio::time::sleep(Duration::from_millis(5)).await;
                                }
                                tx.send(m).await
                            };
                            match tokio::time::timeout(wait, room).await {
                                Ok(Ok(())) => {}
                                Ok(Err(_)) => {
                                    return Verdict::Disconnect("writer closed".into());
                                }
                                Err(_) => {
                                    return Verdict::Disconnect(format!(
                                        "not reading: getdata answers stalled for {}s",
                                        wait.as_secs()
                                    ));
                                }
                            }
                        }
                    }
                    None => missing.push(h),
                }
            }
            if !missing.is_empty() {
                shared.send_to(
                    id,
                    Message::NotFound(NotFound {
                        kind: g.kind,
                        items: missing,
                    }),
                );
            }
        }
        Message::Block(b) => {
            sync.in_flight = sync.in_flight.saturating_sub(1);
            sync.best_height = sync.best_height.max(b.block.height);
            let s = shared.clone();
            let from = Some(id);
            let result =
                tokio::task::spawn_blocking(move || process_block(&s, b.block, from, addr)).await;
            match result {
                Ok(BlockResult::Ok) => {}
                Ok(BlockResult::Orphan) => shared.send_to(id, shared.getblocks()),
                Ok(BlockResult::Invalid) => sync.score = sync.score.saturating_add(100),
                Err(e) => warn!("block task failed: {e}"),
            }
            if sync.in_flight == 0 && shared.height().is_some_and(|h| sync.best_height > h) {
                shared.send_to(id, shared.getblocks());
            }
        }
        Message::Tx(t) => {
            let txid = t.transaction.txid();
            let s = shared.clone();
            let r = tokio::task::spawn_blocking(move || {
                let mut st = lock(&s.state);
                let State { chain, mempool, .. } = &mut *st;
                match chain {
                    Some(c) => mempool
                        .accept(t.transaction, c.store(), &s.sig_cache)
                        .map(|r| (r, mempool.len())),
                    None => Err(MempoolError::Full),
                }
            })
            .await;
            match r {
                Ok(Ok(((txid, fee), len))) => {
                    info!("accepted transaction {txid} (fee {fee}) from {addr}; mempool {len}");
                    shared.broadcast(
                        Some(id),
                        &Message::Inv(Inv {
                            addr_from: shared.me.clone(),
                            kind: InvKind::Tx,
                            items: vec![txid.0],
                        }),
                    );
                    shared.mint_wake.notify_waiters();
                }
                Ok(Err(MempoolError::AlreadyKnown(_))) => {}
                // A missing input is what an honest peer sends when the
                // transaction was mined, or its parent not yet seen, while it
                // was being relayed: logged, not held against the peer.
                Ok(Err(
                    e @ MempoolError::Invalid {
                        error: TxError::MissingInput { .. },
                        ..
                    },
                )) => info!("rejected transaction {txid} from {addr}: {e}"),
                Ok(Err(e @ MempoolError::Invalid { .. })) => {
                    warn!("rejected transaction {txid} from {addr}: {e}");
                    sync.score = sync.score.saturating_add(10);
                }
                Ok(Err(e)) => info!("rejected transaction {txid} from {addr}: {e}"),
                Err(e) => warn!("transaction task failed: {e}"),
            }
        }
        Message::Addr(a) => {
            let left_out = shared.remember_peers(a.addrs.iter().map(String::as_str));
            if left_out > 0 {
                info!(
                    "peer {addr}: {left_out} new addresses ignored: {MAX_KNOWN_PEERS} peers known already"
                );
            }
        }
        Message::NotFound(n) => {
            debug!("peer {addr} lacks {} items", n.items.len());
            if n.kind == InvKind::Block {
                sync.in_flight = sync.in_flight.saturating_sub(n.items.len());
            }
        }
        Message::Ping(n) => shared.send_to(id, Message::Pong(n)),
        Message::Pong(_) => {}
    }
    Verdict::Keep
}

enum BlockResult {
    Ok,
    Orphan,
    Invalid,
}

/// Validates and connects a block (received, or minted when `from` is
/// `None`), updates the mempool, announces what joined the best chain, and
/// connects orphans that were waiting for it. Runs on the blocking pool.
fn process_block(
    shared: &Shared,
    block: Block,
    from: Option<u64>,
    addr: SocketAddr,
) -> BlockResult {
    let mut st = lock(&shared.state);
    let hash = block.hash();
    if st.chain.is_none() {
        // No chain yet: only a genesis block can start one.
        if block.height != 0 || block.header.prev_block_hash != BlockHash::ZERO {
            return BlockResult::Orphan;
        }
        if let Err(e) = check_block_sanity(&block, now_secs()) {
            warn!("invalid genesis {hash} from {addr}: {e}");
            return BlockResult::Invalid;
        }
        if let Err(e) = shared.store.init_genesis(&block) {
            warn!("cannot store genesis: {e}");
            return BlockResult::Ok;
        }
        match ChainState::new(shared.store.clone(), shared.sig_cache.clone()) {
            Ok(c) => st.chain = Some(c),
            Err(e) => warn!("cannot open chain: {e}"),
        }
        info!(
            "adopted genesis {hash} (difficulty {} bits) from {addr}",
            block.header.bits
        );
        let _ = shared.tip.send(Some(hash));
        return BlockResult::Ok;
    }
    let mut queue = vec![(block, from)];
    let mut result = BlockResult::Ok;
    while let Some((block, from)) = queue.pop() {
        let hash = block.hash();
        let State {
            chain,
            mempool,
            orphans,
        } = &mut *st;
        let Some(chain) = chain.as_ref() else { break };
        let ntx = block.transactions.len();
        match chain.accept_block(&block) {
            Ok(BlockOutcome::Connected(tip)) => {
                mempool.remove_for_block(&block);
                info!(
                    "block {hash} connected at height {} ({ntx} transactions) from {}",
                    tip.height,
                    if from.is_some() {
                        addr.to_string()
                    } else {
                        "this node".into()
                    }
                );
                announce(shared, from, hash);
                let _ = shared.tip.send(Some(hash));
                update_progress(shared, tip.height);
            }
            Ok(BlockOutcome::Reorged {
                disconnected,
                connected,
                tip,
            }) => {
                warn!(
                    "reorg: {} block(s) disconnected, {} connected; tip {} at height {}",
                    disconnected.len(),
                    connected.len(),
                    tip.hash,
                    tip.height
                );
                let mut pending: Vec<_> = disconnected
                    .iter()
                    .rev()
                    .flat_map(|b| b.transactions.iter().skip(1).cloned())
                    .collect();
                pending.extend(mempool.drain());
                for b in &connected {
                    let ids: HashSet<Txid> = b.transactions.iter().map(|t| t.txid()).collect();
                    pending.retain(|t| !ids.contains(&t.txid()));
                }
                for tx in pending {
                    let _ = mempool.accept(tx, chain.store(), &shared.sig_cache);
                }
                announce(shared, from, tip.hash);
                let _ = shared.tip.send(Some(tip.hash));
            }
            Ok(BlockOutcome::Orphan) => {
                if orphans.len() >= MAX_ORPHANS {
                    let now = now_secs();
                    orphans.retain(|_, (_, t)| now.saturating_sub(*t) < ORPHAN_EXPIRY);
                    if orphans.len() >= MAX_ORPHANS
                        && let Some(k) = orphans.keys().next().copied()
                    {
                        orphans.remove(&k);
                    }
                }
                debug!("orphan block {hash} at height {} from {addr}", block.height);
                orphans.insert(hash, (block, now_secs()));
                result = BlockResult::Orphan;
                continue;
            }
            Ok(BlockOutcome::SideBranch) => {
                info!(
                    "block {hash} at height {} stored on a side branch",
                    block.height
                );
            }
            Ok(BlockOutcome::Duplicate) => continue,
            Err(ChainError::Invalid { hash, error }) => {
                warn!("rejected block {hash} from {addr}: {error}");
                result = BlockResult::Invalid;
                continue;
            }
            Err(e @ (ChainError::KnownInvalid(_) | ChainError::InvalidParent { .. })) => {
                warn!("rejected block {hash} from {addr}: {e}");
                result = BlockResult::Invalid;
                continue;
            }
            Err(e) => {
                warn!("cannot process block {hash}: {e}");
                continue;
            }
        }
        // Orphans waiting on this block can go now.
        let children: Vec<BlockHash> = orphans
            .iter()
            .filter(|(_, (b, _))| b.header.prev_block_hash == hash)
            .map(|(h, _)| *h)
            .collect();
        for c in children {
            if let Some((b, _)) = orphans.remove(&c) {
                queue.push((b, None));
            }
        }
    }
    drop(st);
    shared.mint_wake.notify_waiters();
    result
}

/// Blocks behind a peer before an initial-sync progress bar is shown.
const PROGRESS_MIN_BLOCKS: u64 = 100;

fn start_progress(shared: &Shared, ours: u64, theirs: u64) {
    if theirs.saturating_sub(ours) < PROGRESS_MIN_BLOCKS
        || !std::io::IsTerminal::is_terminal(&std::io::stderr())
    {
        return;
    }
    let mut p = lock(&shared.progress);
    if p.is_none() {
        let bar = indicatif::ProgressBar::new(theirs);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "sync {bar:40} {pos}/{len} blocks ({per_sec}, eta {eta})",
        ) {
            bar.set_style(style);
        }
        bar.set_position(ours);
        *p = Some(bar);
    }
}

fn update_progress(shared: &Shared, height: u64) {
    let mut p = lock(&shared.progress);
    if let Some(bar) = p.as_ref() {
        bar.set_position(height);
        if height >= bar.length().unwrap_or(0) {
            bar.finish_and_clear();
            *p = None;
        }
    }
}

fn announce(shared: &Shared, except: Option<u64>, hash: BlockHash) {
    shared.broadcast(
        except,
        &Message::Inv(Inv {
            addr_from: shared.me.clone(),
            kind: InvKind::Block,
            items: vec![hash.0],
        }),
    );
}

// ---------------------------------------------------------------- minting

/// Mints whenever the mempool holds at least the threshold of transactions.
async fn mint_loop(shared: Arc<Shared>) {
    let Some(minter) = shared.minter else { return };
    let mut sd = shared.shutdown.subscribe();
    loop {
        if *sd.borrow() {
            return;
        }
        let template = {
            let st = lock(&shared.state);
            match &st.chain {
                Some(chain) if st.mempool.len() >= shared.args.mint_threshold => {
                    chain.tip().ok().map(|tip| {
                        let (txs, fees) = st.mempool.select(MAX_BLOCK_SIZE - 10_000);
                        Block::template(
                            tip.hash,
                            tip.height + 1,
                            chain.params().difficulty,
                            now_secs() as u32,
                            minter.0,
                            SUBSIDY.saturating_add(fees),
                            txs,
                        )
                    })
                }
                _ => None,
            }
        };
        let Some(mut block) =
            template.filter(|b| b.transactions.len() > shared.args.mint_threshold.min(1))
        else {
            tokio::select! {
                _ = shared.mint_wake.notified() => {}
                _ = sd.changed() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        };
        let ntx = block.transactions.len() - 1;
        info!(
            "minting a block of {ntx} transactions at height {}",
            block.height
        );
        let cancel = Arc::new(AtomicBool::new(false));
        let c2 = cancel.clone();
        let prev = block.header.prev_block_hash;
        let mut tip_rx = shared.tip.subscribe();
        let mut sd2 = shared.shutdown.subscribe();
        let watcher = tokio::spawn(async move {
            loop {
                tokio::select! {
                    r = tip_rx.changed() => {
                        if r.is_err() || *tip_rx.borrow() != Some(prev) { break; }
                    }
                    _ = sd2.changed() => break,
                }
            }
            c2.store(true, Ordering::Relaxed);
        });
        let started = Instant::now();
        let solved = tokio::task::spawn_blocking(move || {
            let ok = solve_header(&mut block.header, threads(), &cancel);
            (ok, block)
        })
        .await;
        watcher.abort();
        let Ok((true, block)) = solved else {
            info!("minting abandoned: a new tip arrived first");
            continue;
        };
        info!(
            "minted block {} (nonce {}, {:.2}s)",
            block.hash(),
            block.header.nonce,
            started.elapsed().as_secs_f64()
        );
        let s = shared.clone();
        let me = SocketAddr::from(([127, 0, 0, 1], 0));
        let _ = tokio::task::spawn_blocking(move || process_block(&s, block, None, me)).await;
    }
}

// ---------------------------------------------------------------- control

async fn control_loop(shared: Arc<Shared>, listener: UnixListener) {
    let mut sd = shared.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = sd.changed() => return,
            r = listener.accept() => if let Ok((stream, _)) = r {
                let s = shared.clone();
                tokio::spawn(async move {
                    let (rd, mut wr) = stream.into_split();
                    let mut line = String::new();
                    let mut reader = BufReader::new(rd.take(MAX_REQUEST as u64));
                    if reader.read_line(&mut line).await.is_err() {
                        return;
                    }
                    let resp = match serde_json::from_str::<Request>(&line) {
                        Ok(req) => {
                            let s2 = s.clone();
                            tokio::task::spawn_blocking(move || answer(&s2, req))
                                .await
                                .unwrap_or_else(|e| Err(anyhow!("{e}")))
                        }
                        Err(e) => Err(anyhow!("bad request: {e}")),
                    };
                    let resp = match resp {
                        Ok(t) => Response { ok: Some(t), err: None },
                        Err(e) => Response { ok: None, err: Some(format!("{e:#}")) },
                    };
                    let mut out = serde_json::to_string(&resp).unwrap_or_default();
                    out.push('\n');
                    let _ = wr.write_all(out.as_bytes()).await;
                });
            }
        }
    }
}

fn answer(shared: &Arc<Shared>, req: Request) -> Result<String> {
    let peers = lock(&shared.peers).len();
    let mut st = lock(&shared.state);
    let State { chain, mempool, .. } = &mut *st;
    let chain = chain.as_ref().ok_or(crate::store::StoreError::NoChain)?;
    let store = chain.store();
    Ok(match req {
        Request::Status => query::status_text(store, mempool.len(), peers)?,
        Request::Balance(a) => query::balance_text(store, &a.parse()?)?,
        Request::PrintChain(json) => query::printchain_text(store, json)?,
        Request::CheckChain => query::checkchain_text(store)?,
        Request::Coins(a) => {
            let a: Address = a.parse()?;
            serde_json::to_string(&query::spendable_coins(store, mempool, &a.0)?)?
        }
        Request::SubmitTx(tx) => {
            let (txid, fee) = mempool.accept(tx, store, &shared.sig_cache)?;
            info!(
                "accepted transaction {txid} (fee {fee}) from the control socket; mempool {}",
                mempool.len()
            );
            drop(st);
            shared.broadcast(
                None,
                &Message::Inv(Inv {
                    addr_from: shared.me.clone(),
                    kind: InvKind::Tx,
                    items: vec![txid.0],
                }),
            );
            shared.mint_wake.notify_waiters();
            txid.to_string()
        }
    })
}
