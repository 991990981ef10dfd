//! The tokio reactor around the sans-I/O protocol.
//!
//! * [`reactor`]: one task owns the [`Protocol`] and carries out its
//!   outputs; timers become [`crate::protocol::Input::Tick`]s.
//! * [`peer`]: a reader and a writer task per connection.
//! * [`worker`]: the chain worker thread (validation, reorgs, mints and
//!   control queries that need the mempool, off the reactor), fed by
//!   [`queue`]: bounded per peer and in total, drained fairly.
//! * [`server`] and [`control`]: the local control socket.
//! * [`submit`]: `node send`'s P2P path to a remote node.
//! * [`log`]: log lines and the sync progress bar.
//!
//! Graceful shutdown follows tokio's mini-redis: a watch channel tells
//! every task to stop, then the reactor closes the peers, the chain worker
//! finishes its queue and the store is flushed.

pub mod control;
pub mod handle;
pub mod log;
pub mod peer;
pub mod queue;
pub mod reactor;
pub mod server;
pub mod submit;
pub mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::chain::Chain;
use crate::protocol::{Config, Protocol};
use crate::store::PeerRecord;
pub use handle::{NodeEvent, NodeHandle, NodeInfo, Service};
pub use server::Queries;

/// Everything a running node needs besides its store.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The control socket's path.
    pub control: PathBuf,
    /// Most inbound connections at once.
    pub max_inbound: usize,
    /// Threads used for proof of work.
    pub threads: usize,
    /// The protocol's settings.
    pub protocol: Config,
}

/// Runs a node on `chain` until `shutdown` turns true, then stops every
/// task, saves the address book, flushes the store and removes the control
/// socket.
///
/// Errors: the listener or control socket cannot be created; the store
/// cannot be flushed.
pub fn run_node(
    config: NodeConfig,
    chain: Chain,
    queries: Arc<dyn Queries>,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    run_node_with(config, chain, queries, shutdown, Vec::new())
}

/// [`run_node`], also starting `services` (each given a [`NodeHandle`])
/// once the node's channels exist, before it accepts peers.
///
/// Errors: as [`run_node`], and a service that fails to start.
pub fn run_node_with(
    config: NodeConfig,
    chain: Chain,
    queries: Arc<dyn Queries>,
    shutdown: watch::Receiver<bool>,
    services: Vec<Service>,
) -> Result<()> {
    let store = chain.store().clone();
    // The explorer indexes follow the chain on a thread of their own,
    // yielding to a sync's connects.
    let indexer = crate::store::IndexThread::spawn_yielding(store.clone())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // The reactor runs as a task on the runtime's worker threads, beside
    // the peer and control-socket tasks that wake it: a wake from one of
    // them is taken on the same thread, where `block_on` would have to
    // wake the main thread for each message.
    let task_config = config.clone();
    let result = rt.block_on(async move {
        tokio::spawn(async move { serve(&task_config, chain, queries, shutdown, services).await })
            .await
            .map_err(|e| anyhow::anyhow!("the node's reactor task failed: {e}"))?
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    indexer.stop();
    let _ = std::fs::remove_file(&config.control);
    let known: Vec<(String, PeerRecord)> = result?
        .into_iter()
        .map(|(a, r)| (a.to_string(), r))
        .collect();
    if let Err(e) = store.replace_peers(&known) {
        warn!("cannot save the peer records: {e}");
    }
    store.flush()?;
    info!("database flushed; node stopped");
    Ok(())
}

async fn serve(
    config: &NodeConfig,
    chain: Chain,
    queries: Arc<dyn Queries>,
    shutdown: watch::Receiver<bool>,
    services: Vec<Service>,
) -> Result<Vec<(SocketAddr, PeerRecord)>> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let store = chain.store().clone();
    let mut protocol = Protocol::new(config.protocol.clone(), store.clone(), Vec::new());
    protocol.restore_peers(known_peers(&store), reactor::now_ms());
    let (inputs, rx) = mpsc::channel(1024);
    let (jobs, job_rx) = queue::channel();
    let (control, control_rx) = mpsc::channel(64);
    let timings = worker::Timings::default();
    let (w_jobs, w_inputs, threads) = (jobs.clone(), inputs.clone(), config.threads);
    let w_timings = timings.clone();
    // Named: started from a runtime thread, it would otherwise carry that
    // thread's name in `ps` and profiles.
    let worker = std::thread::Builder::new()
        .name("chain".into())
        .spawn(move || worker::run(chain, job_rx, w_jobs, (w_inputs, w_timings), threads))
        .context("cannot start the chain worker thread")?;
    let (events, _) = tokio::sync::broadcast::channel(handle::EVENT_BUFFER);
    let traffic = Arc::new(peer::Traffic::default());
    let handle = NodeHandle {
        traffic: traffic.clone(),
        timings,
        control: control.clone(),
        jobs: jobs.clone(),
        store,
        events: events.clone(),
        shutdown: shutdown.clone(),
        info: node_info(config),
    };
    for service in services {
        service(handle.clone())?;
    }
    // The control socket comes last: once it answers, every service (the
    // HTTP API) is listening too, so whoever waits for it may use them.
    let backends = server::Backends {
        control: control.clone(),
        jobs: jobs.clone(),
        store: handle.store.clone(),
    };
    start_control_socket(&config.control, queries, backends, shutdown.clone())?;
    let bound = listener.local_addr().unwrap_or(config.listen);
    info!(
        "node listening on {bound} (advertised to peers as {})",
        config.protocol.me
    );
    let jobs_stop = jobs.clone();
    let reactor = reactor::Reactor::new(protocol, inputs, jobs, config.max_inbound)
        .with_events(events)
        .with_traffic(traffic);
    let protocol = reactor.run(listener, rx, control_rx, shutdown).await;
    info!("shutting down");
    let known = protocol.addrbook().records(reactor::now_ms());
    drop(protocol);
    // The worker finishes what is queued (nothing accepted is lost), then
    // stops; wait for it off the runtime.
    let _ = jobs_stop.send(worker::Job::Stop);
    let _ = tokio::task::spawn_blocking(move || worker.join()).await;
    Ok(known)
}

/// Static facts about the node `config` starts, started now.
fn node_info(config: &NodeConfig) -> NodeInfo {
    NodeInfo {
        listen: config.listen,
        started: reactor::now_ms(),
        minter: config.protocol.minter,
        mint_threshold: config.protocol.mint_threshold,
        genesis: config.protocol.genesis,
    }
}

/// Binds the control socket at `path` (mode 0600; a stale socket file
/// is replaced) and serves it on `backends` until `shutdown`.
///
/// Errors: the socket cannot be created.
fn start_control_socket(
    path: &std::path::Path,
    queries: Arc<dyn Queries>,
    backends: server::Backends,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).context("cannot create the control socket")?;
    restrict_file(path);
    tokio::spawn(server::serve(listener, queries, backends, shutdown));
    Ok(())
}

/// The peer records an earlier run saved (records with an unreadable
/// address skipped; a tree that cannot be read is logged and the node
/// starts from its seeds, the records to be written again at the next
/// save).
fn known_peers(store: &crate::store::ChainStore) -> Vec<(SocketAddr, PeerRecord)> {
    let records = match store.peers() {
        Ok(records) => records,
        Err(e) => {
            warn!("cannot read the saved peer records: {e}");
            Vec::new()
        }
    };
    records
        .into_iter()
        .filter_map(|(a, r)| Some((a.parse().ok()?, r)))
        .collect()
}

fn restrict_file(p: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600));
}
